package broker

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/logstore"
)

func TestProduceReadRoundTrip(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "r", 1, nil)
	p := e.partition(t, "r", 0)
	var want []logstore.Record
	for i := range 5 {
		b := batch(3, i*3, int64(1000+i*10))
		recs, _ := logstore.DecodeRecords(b)
		r := mustProduce(t, p, b)
		if r.BaseOffset != int64(i*3) || r.LogAppendTime != -1 || r.LogStartOffset != 0 {
			t.Fatalf("batch %d: %+v", i, r)
		}
		for j := range recs {
			recs[j].Offset += r.BaseOffset
		}
		want = append(want, recs...)
	}
	if hw := p.HighWatermark(); hw != 15 {
		t.Fatalf("hw %d", hw)
	}
	got := readAll(t, p)
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Offset != want[i].Offset || got[i].Timestamp != want[i].Timestamp ||
			string(got[i].Key) != string(want[i].Key) || string(got[i].Value) != string(want[i].Value) {
			t.Fatalf("record %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// Reading from the middle of a batch returns the whole batch; at the
	// high watermark nothing; past it an error.
	buf, err := p.Read(nil, 4, 1)
	if err != nil || len(logstore.SplitBatches(buf)) != 1 {
		t.Fatalf("read at 4: %d bytes, %v", len(buf), err)
	}
	if first, _ := logstore.DecodeRecords(buf); first[0].Offset != 3 {
		t.Fatalf("read at 4 starts at %d", first[0].Offset)
	}
	if buf, err := p.Read(nil, 15, 100); err != nil || len(buf) != 0 {
		t.Fatalf("read at hw: %d bytes, %v", len(buf), err)
	}
	_, err = p.Read(nil, 16, 100)
	wantErr(t, "read past hw", err, ErrOffsetOutOfRange)
}

func TestProduceValidation(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "v", 1, map[string]string{MaxMessageBytes: "200"})
	e.create(t, "compacted", 1, map[string]string{CleanupPolicy: "compact"})
	p := e.partition(t, "v", 0)
	pc := e.partition(t, "compacted", 0)

	small := batch(1, 0, 1)
	mustProduce(t, p, small)
	big := batch(10, 0, 1)
	if len(big) <= 200 {
		t.Fatalf("test batch is only %d bytes", len(big))
	}
	wantErr(t, "too large", produce(p, big).Err, ErrMessageTooLarge)

	fix := func(b []byte) []byte {
		binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
		return b
	}
	badCRC := batch(1, 0, 1)
	badCRC[len(badCRC)-1] ^= 1
	oldMagic := batch(1, 0, 1)
	oldMagic[offMagic] = 1
	badLen := batch(1, 0, 1)
	binary.BigEndian.PutUint32(badLen[offLength:], 1000)
	control := batch(1, 0, 1)
	control[offAttributes+1] |= attrControl
	txn := batch(1, 0, 1)
	txn[offAttributes+1] |= attrTransactional
	codec := batch(1, 0, 1)
	codec[offAttributes+1] |= 7
	badCount := batch(2, 0, 1)
	binary.BigEndian.PutUint32(badCount[offRecordCount:], 3)
	noEpoch := idemBatch(5, -1, 0, 1, 0, 1)

	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"short", small[:40], ErrCorruptMessage},
		{"empty", nil, ErrCorruptMessage},
		{"bad crc", badCRC, ErrCorruptMessage},
		{"magic 1", oldMagic, ErrCorruptMessage},
		{"bad length", badLen, ErrCorruptMessage},
		{"control batch", fix(control), ErrInvalidRecord},
		{"transactional batch", fix(txn), ErrInvalidRecord},
		{"bad codec", fix(codec), ErrCorruptMessage},
		{"count disagrees", fix(badCount), ErrInvalidRecord},
		{"idempotent without epoch", noEpoch, ErrInvalidRecord},
	}
	for _, tc := range tests {
		wantErr(t, tc.name, produce(p, tc.b).Err, tc.want)
	}
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("hw %d after refused batches", hw)
	}

	// A compacted topic takes keyed records only.
	noKey := logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]logstore.Record{{Offset: 0, Key: []byte("k"), Value: []byte("v")}, {Offset: 1, Value: []byte("v")}})
	wantErr(t, "compacted without key", produce(pc, noKey).Err, ErrInvalidRecord)
	mustProduce(t, pc, batch(2, 0, 1))

	// max.message.bytes changes apply to the next produce.
	if err := e.b.AlterTopicConfigs(ctx, "v", []ConfigOp{{Name: MaxMessageBytes, Op: ConfigDelete}}, false); err != nil {
		t.Fatal(err)
	}
	mustProduce(t, p, batch(10, 0, 1))
}

func TestLogAppendTime(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "lat", 1, map[string]string{MessageTimestampType: LogAppendTime})
	e.create(t, "ct", 1, nil)
	p := e.partition(t, "lat", 0)
	now := e.clock.Now().UnixMilli()
	b := batch(3, 0, 5)
	r := mustProduce(t, p, b)
	if r.LogAppendTime != now {
		t.Fatalf("LogAppendTime %d, want %d", r.LogAppendTime, now)
	}
	buf, err := p.Read(nil, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	stored := logstore.SplitBatches(buf)[0]
	h := readHeader(stored)
	if h.attrs&attrLogAppendTime == 0 || h.maxTime != now {
		t.Fatalf("stored attrs %#x max timestamp %d", h.attrs, h.maxTime)
	}
	recs, err := logstore.DecodeRecords(stored) // checks the CRC
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Timestamp != now {
			t.Fatalf("record timestamp %d, want %d", rec.Timestamp, now)
		}
	}

	// A CreateTime topic keeps the producer's timestamps, and drops a
	// LogAppendTime flag a client set.
	pc := e.partition(t, "ct", 0)
	flagged := batch(2, 0, 5)
	flagged[offAttributes+1] |= attrLogAppendTime
	binary.BigEndian.PutUint32(flagged[offCRC:], crc32.Checksum(flagged[offAttributes:], castagnoli))
	if r := mustProduce(t, pc, flagged); r.LogAppendTime != -1 {
		t.Fatalf("CreateTime topic answered LogAppendTime %d", r.LogAppendTime)
	}
	recs = readAll(t, pc)
	if recs[0].Timestamp != 5 || recs[1].Timestamp != 6 {
		t.Fatalf("timestamps %d %d", recs[0].Timestamp, recs[1].Timestamp)
	}
}

func TestWait(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "w", 2, nil)
	p := e.partition(t, "w", 0)
	other := e.partition(t, "w", 1)
	ch := p.Wait()
	mustProduce(t, other, batch(1, 0, 1))
	select {
	case <-ch:
		t.Fatal("woken by another partition")
	default:
	}
	woke := make(chan int64)
	go func() {
		<-ch
		woke <- p.HighWatermark()
	}()
	mustProduce(t, p, batch(2, 0, 1))
	select {
	case hw := <-woke:
		if hw != 2 {
			t.Fatalf("woken at hw %d", hw)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not woken by a produce")
	}
	// A fresh channel waits for the next advance.
	ch = p.Wait()
	select {
	case <-ch:
		t.Fatal("new channel already closed")
	default:
	}
	mustProduce(t, p, batch(1, 0, 1))
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("not woken")
	}
}

func TestListOffset(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "l", 1, map[string]string{SegmentBytes: "1024", RetentionMs: "-1"})
	p := e.partition(t, "l", 0)

	off, ts, found, err := p.ListOffset(TimestampMax)
	if err != nil || found {
		t.Fatalf("max timestamp of an empty log: %d %d %v %v", off, ts, found, err)
	}
	if off, _, found, _ := p.ListOffset(TimestampLatest); off != 0 || !found {
		t.Fatalf("latest of empty: %d %v", off, found)
	}
	if _, _, found, _ := p.ListOffset(0); found {
		t.Fatal("by time in an empty log found something")
	}

	// Batches of 3 records, timestamps 100.. in steps of 10 per batch, with
	// one batch of an older peak: max timestamp is in batch 4.
	stamps := []int64{100, 110, 120, 130, 500, 140, 150, 160, 170, 180}
	for i, s := range stamps {
		mustProduce(t, p, batch(3, i*3, s))
	}
	if segs := func() int { l, _ := e.ls.Log("l-0"); return l.Segments() }(); segs < 2 {
		t.Fatalf("want several segments, have %d", segs)
	}
	check := func(ts, wantOff, wantTS int64, wantFound bool) {
		t.Helper()
		off, gotTS, found, err := p.ListOffset(ts)
		if err != nil || off != wantOff || gotTS != wantTS || found != wantFound {
			t.Fatalf("ListOffset(%d) = %d, %d, %v, %v; want %d, %d, %v", ts, off, gotTS, found, err, wantOff, wantTS, wantFound)
		}
	}
	check(TimestampEarliest, 0, -1, true)
	check(TimestampLatest, 30, -1, true)
	check(TimestampMax, 14, 502, true) // batch 4, its third record
	check(0, 0, 100, true)
	check(101, 1, 101, true)
	check(103, 3, 110, true)
	check(123, 9, 130, true)
	check(133, 12, 500, true) // batch 4 (offsets 12..14, 500..502) comes before 140 at offset 15
	check(183, 12, 500, true)
	check(502, 14, 502, true)
	check(503, -1, -1, false)

	// DeleteRecordsBefore moves the start; earliest follows, reads below fail.
	low, err := p.DeleteRecordsBefore(ctx, 7)
	if err != nil || low != 7 {
		t.Fatalf("DeleteRecordsBefore: %d %v", low, err)
	}
	check(TimestampEarliest, 7, -1, true)
	check(0, 7, 121, true)
	_, err = p.Read(nil, 6, 100)
	wantErr(t, "read below start", err, ErrOffsetOutOfRange)
	if r := readAll(t, p); r[0].Offset != 7 {
		t.Fatalf("first record %d", r[0].Offset)
	}
	low, err = p.DeleteRecordsBefore(ctx, 3) // below the start: no-op
	if err != nil || low != 7 {
		t.Fatalf("DeleteRecordsBefore below start: %d %v", low, err)
	}
	_, err = p.DeleteRecordsBefore(ctx, 31)
	wantErr(t, "delete past hw", err, ErrOffsetOutOfRange)
	if r := mustProduce(t, p, batch(1, 0, 1)); r.LogStartOffset != 7 {
		t.Fatalf("produce reports log start %d", r.LogStartOffset)
	}
	low, err = p.DeleteRecordsBefore(ctx, -1)
	if err != nil || low != 31 {
		t.Fatalf("DeleteRecordsBefore(-1): %d %v", low, err)
	}
	check(TimestampMax, -1, -1, false)

	// The start survives a restart.
	e = e.reopen(t)
	p = e.partition(t, "l", 0)
	if p.LogStartOffset() != 31 || p.HighWatermark() != 31 {
		t.Fatalf("after restart: start %d hw %d", p.LogStartOffset(), p.HighWatermark())
	}
}

func TestListOffsetExtremeTimestamps(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "x", 1, nil)
	p := e.partition(t, "x", 0)
	mustProduce(t, p, batch(1, 0, math.MaxInt64))
	mustProduce(t, p, batch(1, 0, -1))
	if off, ts, found, err := p.ListOffset(TimestampMax); off != 0 || ts != math.MaxInt64 || !found || err != nil {
		t.Fatalf("max: %d %d %v %v", off, ts, found, err)
	}
}

func TestLogAppendTimeListOffset(t *testing.T) {
	e := openEnv(t, fs.NewMem(), nil)
	e.create(t, "lat", 1, map[string]string{MessageTimestampType: LogAppendTime})
	p := e.partition(t, "lat", 0)
	t0 := e.clock.Now().UnixMilli()
	mustProduce(t, p, batch(3, 0, 1))
	e.clock.Add(time.Second)
	mustProduce(t, p, batch(3, 0, 1))
	if off, ts, found, _ := p.ListOffset(t0 + 1); off != 3 || ts != t0+1000 || !found {
		t.Fatalf("by time: %d %d %v", off, ts, found)
	}
	if off, ts, found, _ := p.ListOffset(TimestampMax); off != 3 || ts != t0+1000 || !found {
		t.Fatalf("max: %d %d %v", off, ts, found)
	}
}
