package logstore

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
)

// keyed builds a batch of records with the given keys and values (a nil
// value is a tombstone), compressed with codec.
func keyed(t *testing.T, codec int, ts int64, kv ...string) []byte {
	t.Helper()
	var recs []Record
	for i := 0; i < len(kv); i += 2 {
		r := Record{Offset: int64(i / 2), Timestamp: ts, Key: []byte(kv[i])}
		if kv[i+1] != "<nil>" {
			r.Value = []byte(kv[i+1])
		}
		recs = append(recs, r)
	}
	b := AppendBatch(nil, BatchOptions{ProducerID: -1}, recs)
	if codec == codecNone {
		return b
	}
	body, err := compress(codec, b[batchHeaderSize:])
	if err != nil {
		t.Fatal(err)
	}
	out := append(b[:batchHeaderSize:batchHeaderSize], body...)
	binary.BigEndian.PutUint16(out[offAttributes:], uint16(codec))
	binary.BigEndian.PutUint32(out[offLength:], uint32(len(out)-lengthPrefix))
	setCRC(out)
	return out
}

// state reads the whole log and returns, per key, the offsets and values
// of its records, in order.
func state(t *testing.T, l *Log) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, b := range readAll(t, l, l.StartOffset()) {
		recs, err := DecodeRecords(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			v := "<nil>"
			if r.Value != nil {
				v = string(r.Value)
			}
			out[string(r.Key)] = append(out[string(r.Key)], fmt.Sprintf("%d=%s", r.Offset, v))
		}
	}
	return out
}

func TestCompactKeepsLatestPerKey(t *testing.T) {
	for _, codec := range []int{codecNone, codecGzip, codecSnappy, codecLZ4, codecZstd} {
		t.Run(fmt.Sprint("codec ", codec), func(t *testing.T) {
			c := newClock()
			mem := fs.NewMem()
			s := openStore(t, mem, testOptions(c))
			cfg := smallConfig(1024)
			cfg.Compact, cfg.Delete = true, false
			cfg.DeleteRetention = time.Hour
			l, _ := s.Create("t", cfg)
			ts := c.now().UnixMilli()
			// 40 rounds over keys a..e: offset 5r+i holds key i, value r.
			for r := range 40 {
				mustAppend(t, l, keyed(t, codec, ts,
					"a", fmt.Sprint(r), "b", fmt.Sprint(r), "c", fmt.Sprint(r), "d", fmt.Sprint(r), "e", fmt.Sprint(r)))
			}
			// Delete d; the tombstone is at offset 200.
			mustAppend(t, l, keyed(t, codec, ts, "d", "<nil>"))
			// A last round of a only, so a's latest is in the active segment.
			mustAppend(t, l, keyed(t, codec, ts, "a", "last"))
			hw := l.HighWatermark()
			segs := l.Segments()
			n, err := l.Compact(c.now())
			if err != nil || n == 0 {
				t.Fatalf("Compact: %d segments, %v", n, err)
			}
			if l.HighWatermark() != hw || l.Segments() != segs {
				t.Fatalf("compaction changed the high watermark (%d→%d) or segment count (%d→%d)",
					hw, l.HighWatermark(), segs, l.Segments())
			}
			got := state(t, l)
			// The active segment is never compacted, so keys whose latest
			// record is there may keep older records there too; the sealed
			// segments keep only latest records.
			last := got["b"][len(got["b"])-1]
			if last != "196=39" {
				t.Fatalf("b's latest is %s, want 196=39", last)
			}
			l.mu.Lock()
			activeBase := l.active().base
			l.mu.Unlock()
			for _, k := range []string{"a", "b", "c", "e"} {
				sealed := 0
				for _, r := range got[k] {
					var off int64
					fmt.Sscanf(r, "%d=", &off)
					if off < activeBase {
						sealed++
					}
				}
				if len(got[k]) > sealed && sealed > 0 || sealed > 1 {
					t.Errorf("key %s keeps %d superseded records in sealed segments (active from %d): %v",
						k, sealed, activeBase, got[k])
				}
			}
			if d := got["d"]; len(d) == 0 || d[len(d)-1] != "200=<nil>" {
				t.Errorf("tombstone of d lost before its retention: %v", d)
			}
			// After delete.retention, the tombstone goes too (once it is in a
			// sealed segment: push it there with more appends).
			for r := range 20 {
				mustAppend(t, l, keyed(t, codec, ts, "x", fmt.Sprint(r)))
			}
			c.advance(2 * time.Hour)
			if _, err := l.Compact(c.now()); err != nil {
				t.Fatal(err)
			}
			got = state(t, l)
			if d := got["d"]; len(d) != 0 {
				t.Errorf("key d still present after delete.retention: %v", d)
			}
			// Every offset still reads, across the gaps.
			for off := l.StartOffset(); off < l.HighWatermark(); off++ {
				if _, err := l.Read(nil, off, 1); err != nil {
					t.Fatalf("read %d after compaction: %v", off, err)
				}
			}
			want := got
			s.Close()
			s = openStore(t, mem, testOptions(c))
			defer s.Close()
			l, _ = s.Log("t")
			if fmt.Sprint(state(t, l)) != fmt.Sprint(want) {
				t.Fatal("state differs after reopen")
			}
		})
	}
}

func TestCompactRunsBesideAppendsAndReads(t *testing.T) {
	c := newClock()
	s := openStore(t, fs.NewMem(), testOptions(c))
	defer s.Close()
	cfg := smallConfig(2048)
	cfg.Compact = true
	l, _ := s.Create("t", cfg)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(2)
	go func() { // appender
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := l.Append(keyed(t, codecNone, 0, fmt.Sprint("k", i%7), fmt.Sprint(i))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() { // reader
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for off := l.StartOffset(); off < l.HighWatermark(); {
				b, err := l.Read(nil, off, 4096)
				if err != nil {
					t.Error(err)
					return
				}
				if len(b) == 0 {
					break
				}
				bs := SplitBatches(b)
				end, _ := BatchEnd(bs[len(bs)-1])
				off = end
			}
		}
	}()
	compacted := 0
	for compacted < 20 {
		n, err := l.Compact(c.now())
		if err != nil {
			t.Fatal(err)
		}
		compacted += n
		spin(100)
	}
	close(stop)
	wg.Wait()
	// Each key's records are in offset order and the newest is last.
	for k, recs := range state(t, l) {
		if len(recs) == 0 {
			t.Errorf("key %s vanished", k)
		}
	}
}
