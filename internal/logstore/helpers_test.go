package logstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
)

// clock is a settable time source for retention and roll tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.UnixMilli(1_700_000_000_000)} }
func quietLogger() *slog.Logger          { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func smallConfig(segBytes int64) Config {
	c := DefaultConfig()
	c.SegmentBytes = segBytes
	c.IndexIntervalBytes = 256
	return c
}
func testOptions(c *clock) Options {
	return Options{Logger: quietLogger(), Now: c.now, CleanInterval: -1}
}

// batch builds a batch of n records whose values say which batch and record
// they are, timestamped ts.
func batch(id, n int, ts int64) []byte {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{
			Offset:    int64(i),
			Timestamp: ts,
			Key:       fmt.Appendf(nil, "k%d", i),
			Value:     fmt.Appendf(nil, "batch %d record %d %s", id, i, bytes.Repeat([]byte("x"), 40)),
		}
	}
	return AppendBatch(nil, BatchOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
}

func openStore(t *testing.T, fsys fs.FS, opts Options) *Store {
	t.Helper()
	s, err := Open(fsys, "data", opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func mustAppend(t *testing.T, l *Log, b []byte) int64 {
	t.Helper()
	off, err := l.Append(b)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return off
}

// readAll reads every batch from offset to the high watermark.
func readAll(t *testing.T, l *Log, from int64) [][]byte {
	t.Helper()
	var out [][]byte
	for off := from; off < l.HighWatermark(); {
		b, err := l.Read(nil, off, 4096)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(b) == 0 {
			t.Fatalf("Read(%d): nothing below the high watermark %d", off, l.HighWatermark())
		}
		for _, bb := range SplitBatches(b) {
			out = append(out, bb)
			h, _ := parseHeader(bb)
			off = h.end()
		}
	}
	return out
}

func baseOf(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) }

func runtimeGosched() { runtime.Gosched() }
