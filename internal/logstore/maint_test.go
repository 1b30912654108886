package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
)

func TestRetentionBySize(t *testing.T) {
	c := newClock()
	s := openStore(t, fs.NewMem(), testOptions(c))
	defer s.Close()
	cfg := smallConfig(4096)
	cfg.RetentionBytes = 10_000
	l, _ := s.Create("t", cfg)
	for i := range 200 {
		mustAppend(t, l, batch(i, 2, c.now().UnixMilli()))
	}
	before := l.Size()
	n, err := l.ApplyRetention(c.now())
	if err != nil || n == 0 {
		t.Fatalf("ApplyRetention: %d segments, %v", n, err)
	}
	if l.Size() < cfg.RetentionBytes || l.Size() >= before {
		t.Fatalf("size %d after retention (was %d), want at least %d", l.Size(), before, cfg.RetentionBytes)
	}
	if l.Size()-4096 >= cfg.RetentionBytes {
		t.Fatalf("size %d: a whole segment more than retention.bytes %d is kept", l.Size(), cfg.RetentionBytes)
	}
	start := l.StartOffset()
	if _, err := l.Read(nil, start-1, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the start offset: %v", err)
	}
	if b, err := l.Read(nil, start, 100); err != nil || baseOf(b) != start {
		t.Fatalf("read at start offset %d: %v", start, err)
	}
}

func TestRetentionByAge(t *testing.T) {
	c := newClock()
	mem := fs.NewMem()
	s := openStore(t, mem, testOptions(c))
	cfg := smallConfig(4096)
	cfg.RetentionAge = time.Hour
	l, _ := s.Create("t", cfg)
	for i := range 100 {
		mustAppend(t, l, batch(i, 2, c.now().UnixMilli()))
	}
	old := l.HighWatermark()
	c.advance(50 * time.Minute)
	for i := range 100 {
		mustAppend(t, l, batch(i, 2, c.now().UnixMilli()))
	}
	if n, _ := l.ApplyRetention(c.now()); n != 0 {
		t.Fatalf("deleted %d segments before anything expired", n)
	}
	c.advance(20 * time.Minute) // the first 100 batches are 70 minutes old
	if n, err := l.ApplyRetention(c.now()); err != nil || n == 0 {
		t.Fatalf("ApplyRetention: %d, %v", n, err)
	}
	if start := l.StartOffset(); start > old || start < old-20 {
		t.Fatalf("start offset %d, want just below %d", start, old)
	}
	// A quiet log empties: the expired active segment is rolled and deleted.
	c.advance(2 * time.Hour)
	if _, err := l.ApplyRetention(c.now()); err != nil {
		t.Fatal(err)
	}
	hw := l.HighWatermark()
	if l.StartOffset() != hw || l.Size() != 0 {
		t.Fatalf("start %d, size %d after everything expired; want start %d, empty", l.StartOffset(), l.Size(), hw)
	}
	// The next offset survives a crash with no record left to show it.
	mem.Crash()
	s = openStore(t, mem, testOptions(c))
	l, _ = s.Log("t")
	if l.StartOffset() != hw || l.HighWatermark() != hw {
		t.Fatalf("after crash: start %d hw %d, want %d", l.StartOffset(), l.HighWatermark(), hw)
	}
	if off := mustAppend(t, l, batch(0, 1, c.now().UnixMilli())); off != hw {
		t.Fatalf("append after full retention at %d, want %d", off, hw)
	}
	s.Close()
	s = openStore(t, mem, testOptions(c))
	defer s.Close()
	l, _ = s.Log("t")
	if l.StartOffset() != hw || l.HighWatermark() != hw+1 {
		t.Fatalf("after reopen: start %d hw %d, want %d and %d", l.StartOffset(), l.HighWatermark(), hw, hw+1)
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	c := newClock()
	mem := fs.NewMem()
	s := openStore(t, mem, testOptions(c))
	cfg := smallConfig(4096)
	cfg.RetentionAge = -1
	l, _ := s.Create("t", cfg)
	for i := range 100 {
		mustAppend(t, l, batch(i, 2, 0))
	}
	segs := l.Segments()
	if _, err := l.DeleteRecordsBefore(l.HighWatermark() + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("delete past the end: %v", err)
	}
	start, err := l.DeleteRecordsBefore(101)
	if err != nil || start != 101 {
		t.Fatalf("DeleteRecordsBefore: %d, %v", start, err)
	}
	if l.Segments() >= segs {
		t.Fatalf("%d segments, no fewer than %d", l.Segments(), segs)
	}
	if _, err := l.Read(nil, 100, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	mem.Crash() // the start offset must be durable
	s = openStore(t, mem, testOptions(c))
	defer s.Close()
	l, _ = s.Log("t")
	if l.StartOffset() != 101 {
		t.Fatalf("start offset %d after crash, want 101", l.StartOffset())
	}
	b, err := l.Read(nil, 101, 1)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := parseHeader(b); h.base > 101 || h.last() < 101 {
		t.Fatalf("read 101 gave batch [%d, %d]", h.base, h.last())
	}
}

func TestTruncateSuffix(t *testing.T) {
	c := newClock()
	mem := fs.NewMem()
	s := openStore(t, mem, testOptions(c))
	l, _ := s.Create("t", smallConfig(4096))
	var want [][]byte
	for i := range 100 {
		b := batch(i, 2, 0)
		mustAppend(t, l, b)
		want = append(want, b)
	}
	// Offset 61 is inside batch 30 ([60, 61]): the log ends at 60.
	end, err := l.TruncateSuffix(61)
	if err != nil || end != 60 {
		t.Fatalf("TruncateSuffix(61) = %d, %v; want 60", end, err)
	}
	if got := readAll(t, l, 0); len(got) != 30 || !bytes.Equal(got[29], want[29]) {
		t.Fatalf("%d batches after truncation, want 30", len(got))
	}
	if off := mustAppend(t, l, batch(1000, 3, 0)); off != 60 {
		t.Fatalf("append after truncation at %d, want 60", off)
	}
	s.Close()
	s = openStore(t, mem, testOptions(c))
	defer s.Close()
	l, _ = s.Log("t")
	if hw := l.HighWatermark(); hw != 63 {
		t.Fatalf("high watermark %d after reopen, want 63", hw)
	}
	if got := readAll(t, l, 0); len(got) != 31 {
		t.Fatalf("%d batches after reopen, want 31", len(got))
	}
}

func TestOffsetForTime(t *testing.T) {
	c := newClock()
	s := openStore(t, fs.NewMem(), testOptions(c))
	defer s.Close()
	l, _ := s.Create("t", smallConfig(4096))
	// Batch i holds offsets [3i, 3i+2] with timestamps 1000+10i+{0,1,2}.
	for i := range 100 {
		recs := make([]Record, 3)
		for j := range recs {
			recs[j] = Record{Offset: int64(j), Timestamp: int64(1000 + 10*i + j), Value: []byte("v")}
		}
		mustAppend(t, l, AppendBatch(nil, BatchOptions{ProducerID: -1}, recs))
	}
	tests := []struct {
		ts   int64
		want int64
		ok   bool
	}{
		{0, 0, true}, {1000, 0, true}, {1001, 1, true}, {1003, 3, true},
		{1500, 150, true}, {1502, 152, true}, {1505, 153, true}, {1992, 299, true}, {1993, 0, false},
	}
	for _, tt := range tests {
		got, ok, err := l.OffsetForTime(tt.ts)
		if err != nil || ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("OffsetForTime(%d) = %d, %v, %v; want %d, %v", tt.ts, got, ok, err, tt.want, tt.ok)
		}
	}
}

func TestOpenFilesStayBounded(t *testing.T) {
	// 10,000 partitions, each appended to and read, through 64 handles.
	c := newClock()
	opts := testOptions(c)
	opts.MaxOpenFiles = 64
	mem := fs.NewMem()
	s := openStore(t, mem, opts)
	b := batch(0, 1, 0)
	for i := range 10_000 {
		l, err := s.Create(fmt.Sprintf("p-%d", i), DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, l, b)
		if _, err := l.Read(nil, 0, 100); err != nil {
			t.Fatal(err)
		}
		if n := s.files.openCount(); n > 64 {
			t.Fatalf("%d files open after %d logs, bound is 64", n, i+1)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, mem, opts)
	defer s.Close()
	if n := len(s.Logs()); n != 10_000 {
		t.Fatalf("%d logs after reopen", n)
	}
	if n := s.files.openCount(); n > 64 {
		t.Fatalf("%d files open after reopen", n)
	}
}
