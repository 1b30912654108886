package logstore

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/loftmq/loft/internal/fs"
)

// The benchmarks run on the real disk, through fs.OS: group commit is worth
// only what it saves on real fdatasyncs. Data goes below $LOFT_BENCH_DIR,
// or a fresh directory in os.TempDir(), and is removed afterwards. Compare
// figures of one run only, as ratios: BenchmarkFsyncReference measures what
// the same disk does at the same moment. docs/BENCHMARKS.md has the method
// and the latest results.

// benchDir returns a fresh directory on the disk under test, removed when
// the benchmark function returns.
func benchDir(b *testing.B) string {
	b.Helper()
	root := os.Getenv("LOFT_BENCH_DIR")
	if root == "" {
		root = os.TempDir()
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		b.Fatal(err)
	}
	dir, err := os.MkdirTemp(root, "loft-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// benchStore opens a store in a fresh directory with one log, "bench".
func benchStore(b *testing.B, mode FsyncMode) (*Store, *Log) {
	b.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Open(fs.OS(), benchDir(b), Options{Fsync: FsyncPolicy{Mode: mode}, Logger: logger, CleanInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	l, err := s.Create("bench", DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	return s, l
}

// benchBatch returns a batch of n records with 1 KiB values of random
// bytes (incompressible, should compression ever come in).
func benchBatch(n int, r *rand.ChaCha8) []byte {
	recs := make([]Record, n)
	for i := range recs {
		v := make([]byte, 1024)
		r.Read(v)
		recs[i] = Record{Offset: int64(i), Timestamp: 1_700_000_000_000, Value: v}
	}
	return AppendBatch(nil, BatchOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
}

// BenchmarkAppend measures durable appends (FsyncAlways) from concurrent
// appenders, each calling Append in a loop: b.N is the total number of
// batches, appends/s how many were acknowledged per second, MB/s (from
// SetBytes) the acknowledged bytes.
func BenchmarkAppend(b *testing.B) {
	for _, records := range []int{1, 100} {
		for _, appenders := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("records=%d/appenders=%d", records, appenders), func(b *testing.B) {
				benchAppend(b, records, appenders)
			})
		}
	}
}

func benchAppend(b *testing.B, records, appenders int) {
	_, l := benchStore(b, FsyncAlways)
	r := rand.NewChaCha8([32]byte{1})
	batches := make([][]byte, appenders)
	for i := range batches {
		batches[i] = benchBatch(records, r)
	}
	b.SetBytes(int64(len(batches[0])))
	b.ReportAllocs()

	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		start   = make(chan struct{})
		failure atomic.Value
	)
	for _, batch := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for next.Add(1) <= int64(b.N) {
				// Append rewrites the base offset in place; the batch is
				// ours again once it returns.
				if _, err := l.Append(batch); err != nil {
					failure.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	b.ResetTimer()
	close(start)
	wg.Wait()
	b.StopTimer()
	if err := failure.Load(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkFsyncReference is the physical reference for BenchmarkAppend:
// one writer appending to a file with WriteAt and calling fdatasync (fs.OS's
// Sync) after each write, on the same disk. syncs/s is the rate a log
// without group commit could acknowledge at.
func BenchmarkFsyncReference(b *testing.B) {
	for _, size := range []int{1 << 10, 100 << 10} {
		b.Run(fmt.Sprintf("size=%dKiB", size>>10), func(b *testing.B) {
			f, err := fs.OS().Create(filepath.Join(benchDir(b), "reference"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, size)
			rand.NewChaCha8([32]byte{2}).Read(buf)
			b.SetBytes(int64(size))
			b.ResetTimer()
			var pos int64
			for range b.N {
				if _, err := f.WriteAt(buf, pos); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				pos += int64(size)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "syncs/s")
		})
	}
}

// BenchmarkRead measures sequential reads of a log in the page cache:
// 256 MiB of 100-record batches (~100 KiB each), read whole from the start
// in Reads of at most 1 MiB into one reused buffer. One iteration is one
// pass over the log; MB/s is the read rate.
func BenchmarkRead(b *testing.B) {
	const logBytes = 256 << 20
	_, l := benchStore(b, FsyncNever)
	batch := benchBatch(100, rand.NewChaCha8([32]byte{3}))
	for size := 0; size < logBytes; size += len(batch) {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	// Written back now, so that writeback does not run under the reads.
	if err := l.Sync(); err != nil {
		b.Fatal(err)
	}
	start, hw := l.StartOffset(), l.HighWatermark()
	var buf []byte
	pass := func(b *testing.B) int64 {
		var n int64
		for off := start; off < hw; {
			var err error
			buf, err = l.Read(buf[:0], off, 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			if len(buf) == 0 {
				b.Fatalf("Read(%d): nothing below the high watermark %d", off, hw)
			}
			for rest := buf; len(rest) > 0; {
				h, err := parseHeader(rest)
				if err != nil {
					b.Fatal(err)
				}
				off = h.end()
				rest = rest[h.size:]
			}
			n += int64(len(buf))
		}
		return n
	}
	total := pass(b) // warms the page cache
	b.Run("batch=100KiB/read=1MiB", func(b *testing.B) {
		b.SetBytes(total)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if n := pass(b); n != total {
				b.Fatalf("a pass read %d bytes, want %d", n, total)
			}
		}
	})
}
