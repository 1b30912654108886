package logstore

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/fs/faultfs"
)

// faultyLog opens log "t" on a Mem behind a switchable fault injector.
func faultyLog(t *testing.T, cfg Config) (*fs.Mem, *faultfs.Switch, *Store, *Log) {
	t.Helper()
	mem := fs.NewMem()
	sw := &faultfs.Switch{}
	s := openStore(t, faultfs.New(mem, sw), testOptions(newClock()))
	l, err := s.Create("t", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return mem, sw, s, l
}

// checkLog verifies that the log holds exactly want, in order, at
// consecutive offsets.
func checkLog(t *testing.T, l *Log, want [][]byte) {
	t.Helper()
	got := readAll(t, l, l.StartOffset())
	if len(got) != len(want) {
		t.Fatalf("log holds %d batches, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
}

func TestFailedAppendLeavesLogConsistent(t *testing.T) {
	enospc := syscall.ENOSPC
	tests := []struct {
		name string
		inj  faultfs.Injector
		want error
	}{
		{"write ENOSPC", faultfs.OnOp(faultfs.OpWrite, enospc), enospc},
		{"short write", faultfs.OnOp(faultfs.OpWrite, faultfs.Short(enospc)), enospc},
		{"sync EIO", faultfs.OnOp(faultfs.OpSync, syscall.EIO), syscall.EIO},
		{"create of next segment", faultfs.OnOp(faultfs.OpCreate, enospc), enospc},
		{"dir sync of next segment", faultfs.OnOp(faultfs.OpSyncDir, syscall.EIO), syscall.EIO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem, sw, s, l := faultyLog(t, smallConfig(2048))
			var want [][]byte
			for i := range 10 {
				b := batch(i, 2, 0)
				mustAppend(t, l, b)
				want = append(want, b)
			}
			sw.Set(tt.inj)
			// Enough to need a new segment, for the create and dir faults.
			failed := false
			for i := range 20 {
				b := batch(100+i, 2, 0)
				if _, err := l.Append(b); err != nil {
					if !errors.Is(err, tt.want) {
						t.Fatalf("append error %v, want %v", err, tt.want)
					}
					failed = true
					break
				}
				want = append(want, b)
			}
			if !failed {
				t.Fatal("no append failed under the fault")
			}
			sw.Clear()
			checkLog(t, l, want) // the failed append left no trace
			for i := range 5 {
				b := batch(200+i, 3, 0)
				off := mustAppend(t, l, b)
				if off != l.HighWatermark()-3 {
					t.Fatalf("append after the fault at %d, high watermark %d", off, l.HighWatermark())
				}
				want = append(want, b)
			}
			checkLog(t, l, want)
			// What was acknowledged is durable; nothing unacknowledged
			// comes back.
			mem.Crash()
			s2 := openStore(t, mem, testOptions(newClock()))
			defer s2.Close()
			l2, _ := s2.Log("t")
			checkLog(t, l2, want)
			s.Close()
		})
	}
}

// TestRepairRetriesUntilTheDiskRecovers: when the cut of a failed write
// fails too, appends keep failing cleanly until it succeeds.
func TestRepairRetriesUntilTheDiskRecovers(t *testing.T) {
	mem, sw, _, l := faultyLog(t, DefaultConfig())
	var want [][]byte
	for i := range 5 {
		b := batch(i, 1, 0)
		mustAppend(t, l, b)
		want = append(want, b)
	}
	sw.Set(faultfs.Any(
		faultfs.OnOp(faultfs.OpWrite, faultfs.Short(syscall.EIO)),
		faultfs.OnOp(faultfs.OpTruncate, syscall.EIO),
	))
	for i := range 3 {
		if _, err := l.Append(batch(10+i, 1, 0)); err == nil {
			t.Fatal("append succeeded while writes fail")
		}
	}
	sw.Clear()
	b := batch(99, 1, 0)
	if off := mustAppend(t, l, b); off != 5 {
		t.Fatalf("append after repair at %d, want 5", off)
	}
	want = append(want, b)
	checkLog(t, l, want)
	mem.Crash()
	s2 := openStore(t, mem, testOptions(newClock()))
	defer s2.Close()
	l2, _ := s2.Log("t")
	checkLog(t, l2, want)
}

// TestConcurrentAppendsUnderRandomFaults: many appenders, faults coming and
// going; every acknowledged batch is in the log at its offset, before and
// after a power loss, and nothing else is.
func TestConcurrentAppendsUnderRandomFaults(t *testing.T) {
	mem, sw, _, l := faultyLog(t, smallConfig(8192))
	var mu sync.Mutex
	acked := map[int64][]byte{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				b := batch(g*1000+i, 1+i%3, 0)
				if off, err := l.Append(b); err == nil {
					mu.Lock()
					acked[off] = b
					mu.Unlock()
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for range 30 {
		sw.Set(faultfs.Random(rng, 0.3, faultfs.Any(
			faultfs.OnOp(faultfs.OpWrite, faultfs.Short(syscall.ENOSPC)),
			faultfs.OnOp(faultfs.OpSync, syscall.EIO),
		)))
		spin(2000)
		sw.Clear()
		spin(2000)
	}
	wg.Wait()
	sw.Clear()
	if len(acked) < 100 {
		t.Fatalf("only %d appends succeeded: the test did not exercise much", len(acked))
	}
	verify := func(l *Log) {
		t.Helper()
		n := 0
		for _, b := range readAll(t, l, 0) {
			want, ok := acked[baseOf(b)]
			if !ok {
				t.Fatalf("batch at %d was never acknowledged", baseOf(b))
			}
			if !bytes.Equal(b, want) {
				t.Fatalf("batch at %d differs from the acknowledged one", baseOf(b))
			}
			n++
		}
		if n != len(acked) {
			t.Fatalf("%d batches in the log, %d acknowledged", n, len(acked))
		}
	}
	verify(l)
	mem.Crash()
	s2 := openStore(t, mem, testOptions(newClock()))
	defer s2.Close()
	l2, _ := s2.Log("t")
	verify(l2)
}

// spin lets the appenders run for a while without timing anything.
func spin(n int) {
	for range n {
		runtimeGosched()
	}
}
