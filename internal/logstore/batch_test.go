package logstore

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/loftmq/loft/internal/fs"
)

// kmsgBatch builds a batch the way a Kafka client does, with franz-go's
// kmsg encoder: the reference for the layout the engine reads in place.
func kmsgBatch(values ...string) []byte {
	var records []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i), Key: []byte{byte('a' + i)}, Value: []byte(v),
			Headers: []kmsg.Header{{Key: "h", Value: []byte(v)}}}
		body := r.AppendTo(nil)
		r.Length = int32(len(body) - 1) // the zero Length varint is one byte
		records = r.AppendTo(records)
	}
	b := kmsg.RecordBatch{
		FirstOffset: 77, PartitionLeaderEpoch: -1, Magic: 2,
		LastOffsetDelta: int32(len(values) - 1), FirstTimestamp: 1000, MaxTimestamp: 1000 + int64(len(values)) - 1,
		ProducerID: 9, ProducerEpoch: 2, FirstSequence: 5, NumRecords: int32(len(values)), Records: records,
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

func TestBatchLayoutMatchesKmsg(t *testing.T) {
	raw := kmsgBatch("one", "two", "three")
	h, err := checkBatch(raw)
	if err != nil {
		t.Fatalf("a kmsg-encoded batch does not check: %v", err)
	}
	if h.base != 77 || h.lastDelta != 2 || h.count != 3 || h.firstTime != 1000 || h.maxTime != 1002 {
		t.Fatalf("header read in place: %+v", h)
	}
	// Appended, read back and decoded by kmsg: same batch at the new offset.
	s := openStore(t, fs.NewMem(), testOptions(newClock()))
	defer s.Close()
	l, _ := s.Create("t", DefaultConfig())
	mustAppend(t, l, batch(0, 5, 0))
	off := mustAppend(t, l, bytes.Clone(raw))
	got, err := l.Read(nil, off, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(got); err != nil {
		t.Fatal(err)
	}
	if kb.FirstOffset != 5 || kb.NumRecords != 3 || kb.ProducerID != 9 || kb.FirstSequence != 5 {
		t.Fatalf("kmsg decodes the stored batch as %+v", kb)
	}
	if !bytes.Equal(got[8:], raw[8:]) {
		t.Fatal("stored batch differs from the appended one beyond the base offset")
	}
	// The engine's record decoder agrees with kmsg's encoder.
	recs, err := DecodeRecords(got)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"one", "two", "three"} {
		r := recs[i]
		if r.Offset != 5+int64(i) || string(r.Value) != v || r.Timestamp != 1000+int64(i) ||
			len(r.Headers) != 1 || string(r.Headers[0].Value) != v {
			t.Fatalf("record %d decoded as %+v", i, r)
		}
	}
	// And AppendBatch's output is what kmsg reads.
	ours := AppendBatch(nil, BatchOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]Record{{Offset: 0, Timestamp: 5, Key: []byte("k"), Value: []byte("v"), Headers: []RecordHeader{{"x", []byte("y")}}}})
	if err := kb.ReadFrom(ours); err != nil {
		t.Fatal(err)
	}
	var kr kmsg.Record
	if err := kr.ReadFrom(kb.Records); err != nil {
		t.Fatal(err)
	}
	if kb.NumRecords != 1 || kb.ProducerID != -1 || string(kr.Key) != "k" || string(kr.Value) != "v" || kr.Headers[0].Key != "x" {
		t.Fatalf("kmsg reads AppendBatch's batch as %+v / %+v", kb, kr)
	}
}
