package logstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"

	"github.com/loftmq/loft/internal/fs"
)

// FuzzRecover opens a log whose active segment holds arbitrary bytes. The
// first byte of the input picks what surrounds them:
//
//	0  the bytes are the only segment
//	1  a sealed segment of valid batches, with its index, comes before them
//	2  they follow valid batches in the segment, whose index from a clean
//	   shutdown is now stale
//	3  the bytes are the only segment, and also its index file
//
// Recovery must neither panic nor fail, keep what was valid, and leave a
// log of whole, valid batches that takes appends, durably.
func FuzzRecover(f *testing.F) {
	for _, seed := range fuzzRecoverSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		variant, data := byte(0), in
		if len(in) > 0 {
			variant, data = in[0]%4, in[1:]
		}
		mem := fs.NewMem()
		prefix := fuzzSeed(t, mem, variant, data)
		opts := Options{Logger: fuzzLogger(), CleanInterval: -1}

		s, err := Open(mem, "data", opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		l, ok := s.Log("t")
		if !ok {
			t.Fatal("log t missing")
		}
		hw := l.HighWatermark()
		got := fuzzReadAll(t, l)
		if !bytes.HasPrefix(got, prefix) {
			t.Fatalf("the %d bytes of valid batches before the damage did not survive recovery", len(prefix))
		}

		// The log takes an append at the high watermark and reads it back.
		b := fuzzBatch(hw, 3)
		base, err := l.Append(b)
		if err != nil {
			t.Fatalf("Append after recovery (high watermark %d): %v", hw, err)
		}
		if base != hw {
			t.Fatalf("Append after recovery at %d, want the high watermark %d", base, hw)
		}
		back, err := l.Read(nil, base, 1)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("Read(%d) after the append: %d bytes, %v; want the %d bytes appended", base, len(back), err, len(b))
		}
		want := append(got, b...)
		hw = l.HighWatermark()

		// Power loss now loses nothing: the cut and the append were synced,
		// and a second recovery finds the same log.
		mem.Crash()
		s2, err := Open(mem, "data", opts)
		if err != nil {
			t.Fatalf("Open after a crash: %v", err)
		}
		defer s2.Close()
		l2, _ := s2.Log("t")
		if h := l2.HighWatermark(); h != hw {
			t.Fatalf("high watermark %d after a crash, want %d", h, hw)
		}
		if again := fuzzReadAll(t, l2); !bytes.Equal(again, want) {
			t.Fatalf("after a crash the log reads %d bytes, want the %d it had", len(again), len(want))
		}
	})
}

// fuzzSeed lays out the log directory of one input and returns the bytes
// of valid batches recovery must keep.
func fuzzSeed(t *testing.T, mem *fs.Mem, variant byte, data []byte) []byte {
	t.Helper()
	const dir = "data/t/"
	seg0, idx0, end := fuzzCleanLog()
	write := func(name string, b []byte) {
		if err := mem.WriteFile(dir+name, b); err != nil {
			t.Fatal(err)
		}
	}
	switch variant {
	case 0:
		write(fuzzSegName(0, "log"), data)
		return nil
	case 1:
		write(fuzzSegName(0, "log"), seg0)
		write(fuzzSegName(0, "index"), idx0)
		write(fuzzSegName(end, "log"), data)
		return seg0
	case 2:
		write(fuzzSegName(0, "log"), append(bytes.Clone(seg0), data...))
		write(fuzzSegName(0, "index"), idx0)
		return seg0
	default:
		write(fuzzSegName(0, "log"), data)
		write(fuzzSegName(0, "index"), data)
		return nil
	}
}

func fuzzSegName(base int64, ext string) string { return fmt.Sprintf("%020d.%s", base, ext) }

// fuzzCleanLog returns the segment and index files of a log of three
// batches (offsets 0 to 5) closed cleanly, and its end offset.
func fuzzCleanLog() (seg, idx []byte, end int64) {
	c := fuzzClean()
	return c.seg, c.idx, c.end
}

var fuzzClean = sync.OnceValue(func() (c struct {
	seg, idx []byte
	end      int64
}) {
	mem := fs.NewMem()
	s, err := Open(mem, "data", Options{Logger: fuzzLogger(), CleanInterval: -1})
	if err != nil {
		panic(err)
	}
	l, err := s.Create("t", DefaultConfig())
	if err != nil {
		panic(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := l.Append(fuzzBatch(0, i)); err != nil {
			panic(err)
		}
	}
	c.end = l.HighWatermark()
	if err := s.Close(); err != nil {
		panic(err)
	}
	if c.seg, err = mem.ReadFile("data/t/" + fuzzSegName(0, "log")); err != nil {
		panic(err)
	}
	if c.idx, err = mem.ReadFile("data/t/" + fuzzSegName(0, "index")); err != nil {
		panic(err)
	}
	return c
})

// fuzzReadAll reads the log from its start offset to its high watermark
// and checks that it is a run of whole batches with valid CRCs and
// increasing offsets, where damage kept between valid batches reads as a
// *CorruptError naming the offsets to step over; it returns their bytes.
func fuzzReadAll(t *testing.T, l *Log) []byte {
	t.Helper()
	start, hw := l.StartOffset(), l.HighWatermark()
	if hw < start {
		t.Fatalf("high watermark %d below the start offset %d", hw, start)
	}
	var all []byte
	next := start
	for next < hw {
		b, err := l.Read(nil, next, 1<<16)
		var ce *CorruptError
		if errors.As(err, &ce) && ce.From <= next && ce.To > next {
			next = ce.To
			continue
		}
		if err != nil {
			t.Fatalf("Read(%d), high watermark %d: %v", next, hw, err)
		}
		if len(b) == 0 {
			t.Fatalf("Read(%d): nothing below the high watermark %d", next, hw)
		}
		for rest := b; len(rest) > 0; {
			h, err := parseHeader(rest)
			if err == nil && h.size > int64(len(rest)) {
				err = fmt.Errorf("a batch of %d bytes, %d returned", h.size, len(rest))
			}
			if err == nil {
				_, err = checkBatch(rest[:h.size])
			}
			if err != nil {
				t.Fatalf("Read(%d) returned a bad batch: %v", next, err)
			}
			if h.last() < next {
				t.Fatalf("Read(%d) returned batch [%d, %d]: offsets must increase", next, h.base, h.last())
			}
			next = h.end()
			rest = rest[h.size:]
		}
		all = append(all, b...)
	}
	if next != hw {
		t.Fatalf("batches end at %d, the high watermark is %d", next, hw)
	}
	return all
}

// fuzzBatch returns a valid batch of n records at base.
func fuzzBatch(base int64, n int) []byte {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{
			Offset:    int64(i),
			Timestamp: 1_700_000_000_000 + int64(i),
			Key:       []byte{byte('a' + i)},
			Value:     bytes.Repeat([]byte{byte(i)}, 10+i),
		}
	}
	b := AppendBatch(nil, BatchOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	binary.BigEndian.PutUint64(b, uint64(base))
	return b
}

// fuzzBatches returns valid batches of 1, 2, ... records with consecutive
// offsets from base.
func fuzzBatches(base int64, n int) []byte {
	var out []byte
	for i := 1; i <= n; i++ {
		out = append(out, fuzzBatch(base, i)...)
		base += int64(i)
	}
	return out
}

func fuzzRecoverSeeds() [][]byte {
	v0 := func(parts ...[]byte) []byte { return append([]byte{0}, bytes.Join(parts, nil)...) }
	one := fuzzBatch(0, 2)
	three := fuzzBatches(0, 3)
	flipped := bytes.Clone(three)
	mid := len(fuzzBatch(0, 1))
	flipped[mid+offCRC+2] ^= 0x10 // the second batch's CRC
	huge := bytes.Clone(one)
	binary.BigEndian.PutUint32(huge[offLength:], maxBatchSize)
	setCRC(huge)
	negDelta := bytes.Clone(one)
	binary.BigEndian.PutUint32(negDelta[offLastDelta:], uint32(0xffffffff))
	setCRC(negDelta)
	backwards := append(fuzzBatch(5, 1), fuzzBatch(2, 1)...)
	_, _, end := fuzzCleanLog()
	return [][]byte{
		{},
		v0(one),
		v0(three),
		v0(three, []byte("garbage after the last batch")),
		v0(three, one[:len(one)/2]),
		v0(three[:len(three)-1]),
		v0(flipped),
		v0(one, huge),
		v0(negDelta),
		v0(one, negDelta),
		v0(backwards),
		v0(fuzzBatch(1000, 2)),
		v0(fuzzBatch(math.MaxInt64-1, 3)), // the last offset overflows
		v0(one, fuzzBatch(math.MaxInt64, 1)),
		append([]byte{1}, fuzzBatches(end, 3)...),
		append([]byte{1}, three...), // offsets below the segment's base
		append([]byte{2}, fuzzBatches(end, 2)...),
		append([]byte{2}, []byte{0, 0, 0}...),
		append([]byte{3}, three...),
	}
}

func fuzzLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
