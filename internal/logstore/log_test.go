package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
)

func TestAppendAssignsConsecutiveOffsets(t *testing.T) {
	c := newClock()
	s := openStore(t, fs.NewMem(), testOptions(c))
	defer s.Close()
	l, err := s.Create("t-0", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	next := int64(0)
	for i, n := range []int{1, 3, 1, 10, 2} {
		b := batch(i, n, c.now().UnixMilli())
		off := mustAppend(t, l, b)
		if off != next {
			t.Fatalf("batch %d: base %d, want %d", i, off, next)
		}
		if baseOf(b) != off {
			t.Fatalf("batch %d: base offset field %d not rewritten to %d", i, baseOf(b), off)
		}
		want = append(want, b)
		next += int64(n)
	}
	if hw := l.HighWatermark(); hw != next {
		t.Fatalf("high watermark %d, want %d", hw, next)
	}
	got := readAll(t, l, 0)
	if len(got) != len(want) {
		t.Fatalf("read %d batches, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
}

func TestAppendRejectsBadBatches(t *testing.T) {
	c := newClock()
	s := openStore(t, fs.NewMem(), testOptions(c))
	defer s.Close()
	l, _ := s.Create("t", DefaultConfig())
	good := batch(0, 2, 1)
	tests := map[string][]byte{
		"empty":     nil,
		"short":     good[:40],
		"truncated": good[:len(good)-1],
		"magic":     func() []byte { b := bytes.Clone(good); b[offMagic] = 1; return b }(),
		"crc":       func() []byte { b := bytes.Clone(good); b[len(b)-1] ^= 1; return b }(),
		"length":    func() []byte { b := bytes.Clone(good); b[offLength+3]++; return b }(),
		"trailing":  append(bytes.Clone(good), 0),
	}
	for name, b := range tests {
		if _, err := l.Append(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Append error %v, want ErrCorrupt", name, err)
		}
	}
	if hw := l.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d after rejected appends", hw)
	}
	if off := mustAppend(t, l, good); off != 0 {
		t.Fatalf("good batch at %d, want 0", off)
	}
}

func TestReadLimits(t *testing.T) {
	c := newClock()
	s := openStore(t, fs.NewMem(), testOptions(c))
	defer s.Close()
	l, _ := s.Create("t", smallConfig(1<<20))
	size := len(batch(0, 5, 0))
	for i := range 20 {
		mustAppend(t, l, batch(i, 5, 0))
	}
	tests := []struct {
		name             string
		offset           int64
		maxBytes         int
		batches, firstAt int64
	}{
		{"one batch when maxBytes is tiny", 0, 1, 1, 0},
		{"whole batches only", 0, 2*size + size/2, 2, 0},
		{"from the batch holding the offset", 7, 1, 1, 5},
		{"to the end", 50, 1 << 20, 10, 50},
		{"last record", 99, 1 << 20, 1, 95},
	}
	for _, tt := range tests {
		b, err := l.Read(nil, tt.offset, tt.maxBytes)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := SplitBatches(b)
		if int64(len(got)) != tt.batches || baseOf(got[0]) != tt.firstAt {
			t.Errorf("%s: %d batches from %d, want %d from %d", tt.name, len(got), baseOf(got[0]), tt.batches, tt.firstAt)
		}
	}
	if b, err := l.Read(nil, 100, 100); err != nil || len(b) != 0 {
		t.Errorf("read at high watermark: %d bytes, %v; want nothing", len(b), err)
	}
	for _, off := range []int64{-1, 101} {
		if _, err := l.Read(nil, off, 100); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Errorf("read at %d: %v, want ErrOffsetOutOfRange", off, err)
		}
	}
}

func TestRollAndReopen(t *testing.T) {
	c := newClock()
	mem := fs.NewMem()
	s := openStore(t, mem, testOptions(c))
	l, _ := s.Create("t", smallConfig(4096))
	var want [][]byte
	for i := range 200 {
		b := batch(i, 1+i%4, c.now().UnixMilli())
		mustAppend(t, l, b)
		want = append(want, b)
	}
	if n := l.Segments(); n < 10 {
		t.Fatalf("%d segments, want many with 4 KiB segments", n)
	}
	check := func(l *Log) {
		t.Helper()
		got := readAll(t, l, 0)
		if len(got) != len(want) {
			t.Fatalf("read %d batches, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("batch %d differs", i)
			}
		}
		// Every offset is found through the sparse index.
		for off := int64(0); off < l.HighWatermark(); off += 7 {
			b, err := l.Read(nil, off, 1)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := parseHeader(b)
			if h.base > off || h.last() < off {
				t.Fatalf("read %d returned batch [%d, %d]", off, h.base, h.last())
			}
		}
	}
	check(l)
	segs := l.Segments()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, mem, testOptions(c))
	defer s.Close()
	l, ok := s.Log("t")
	if !ok {
		t.Fatal("log gone after reopen")
	}
	if l.Segments() != segs {
		t.Fatalf("%d segments after reopen, want %d", l.Segments(), segs)
	}
	check(l)
	next := l.HighWatermark()
	if off := mustAppend(t, l, batch(999, 1, 0)); off != next {
		t.Fatalf("append after reopen at %d, want %d", off, next)
	}
}

func TestRollByAge(t *testing.T) {
	c := newClock()
	s := openStore(t, fs.NewMem(), testOptions(c))
	defer s.Close()
	cfg := DefaultConfig()
	cfg.SegmentAge = time.Hour
	l, _ := s.Create("t", cfg)
	mustAppend(t, l, batch(0, 1, 0))
	c.advance(30 * time.Minute)
	mustAppend(t, l, batch(1, 1, 0))
	if n := l.Segments(); n != 1 {
		t.Fatalf("%d segments before the age limit", n)
	}
	c.advance(31 * time.Minute)
	mustAppend(t, l, batch(2, 1, 0))
	if n := l.Segments(); n != 2 {
		t.Fatalf("%d segments after the age limit, want 2", n)
	}
}

// passBytes is what l holds in pass buffers between passes.
func passBytes(l *Log) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := cap(l.pend.buf)
	if l.spare != nil {
		n += cap(l.spare.buf)
	}
	return n
}

// waitFlushed waits for l's flusher to go idle.
func waitFlushed(t *testing.T, l *Log) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		l.mu.Lock()
		flushing := l.flushing
		l.mu.Unlock()
		if !flushing {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the flusher never went idle")
		}
	}
}

// TestIdleLogGivesBackPassBuffers: a burst grows a log's pass buffers;
// while the log is busy it keeps them, and once it has been idle for a
// while trimIdle lets them go.
func TestIdleLogGivesBackPassBuffers(t *testing.T) {
	c := newClock()
	s := openStore(t, fs.NewMem(), testOptions(c))
	defer s.Close()
	l, _ := s.Create("t", DefaultConfig())
	mustAppend(t, l, batch(0, 8000, 0)) // one pass of a few hundred KiB
	waitFlushed(t, l)
	before := passBytes(l)
	if before <= maxIdlePassBytes {
		t.Fatalf("the burst left %d bytes of pass buffers; the test needs more than %d", before, maxIdlePassBytes)
	}
	l.trimIdle(time.Now(), time.Second)
	if passBytes(l) != before {
		t.Fatal("buffers dropped before the log was idle long enough")
	}
	l.trimIdle(time.Now().Add(2*time.Second), time.Second)
	if after := passBytes(l); after > maxIdlePassBytes {
		t.Fatalf("%d bytes of pass buffers kept after idling, want at most %d", after, maxIdlePassBytes)
	}
	if used := s.opts.passes.used.Load(); used != 0 {
		t.Fatalf("budget still counts %d bytes after the buffers went", used)
	}
	mustAppend(t, l, batch(65, 3, 0)) // and the log goes on
}

// TestPassBuffersShareABudget: the large pass buffers logs keep between
// passes count against one budget per store; past it a log keeps none,
// and closing a log gives its share back.
func TestPassBuffersShareABudget(t *testing.T) {
	c := newClock()
	opts := testOptions(c)
	opts.PassBufferBudget = 1 // no room for any large buffer
	tight := openStore(t, fs.NewMem(), opts)
	defer tight.Close()
	l, _ := tight.Create("t", DefaultConfig())
	mustAppend(t, l, batch(0, 8000, 0))
	waitFlushed(t, l)
	if n := passBytes(l); n > maxIdlePassBytes {
		t.Fatalf("a log kept %d bytes of pass buffers with no budget for them", n)
	}

	roomy := openStore(t, fs.NewMem(), testOptions(c))
	defer roomy.Close()
	var logs []*Log
	held := 0
	for i := range 3 {
		l, err := roomy.Create(fmt.Sprintf("t%d", i), DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, l, batch(i, 8000, 0))
		waitFlushed(t, l)
		logs = append(logs, l)
		held += passBytes(l)
	}
	if used := roomy.opts.passes.used.Load(); used != int64(held) || used <= 3*maxIdlePassBytes {
		t.Fatalf("budget counts %d bytes; the logs hold %d in large buffers", used, held)
	}
	for _, l := range logs {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if used := roomy.opts.passes.used.Load(); used != 0 {
		t.Fatalf("budget still counts %d bytes after the logs closed", used)
	}
}
