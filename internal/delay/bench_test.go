package delay

import (
	"encoding/binary"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/logstore"
)

// BenchmarkPendingMillion adds a million 1 KiB messages due ten seconds
// later (or up to a second more), on the real file system with
// unsynced logs, and reports:
//
//   - heap-B/pending: heap bytes, after GC, per pending message, the log
//     engine's own per-segment state included; entries-B/pending, the
//     part that is the store's heap array;
//   - open-ms: reopening the store over them (replay and scan);
//   - late-p50-ms, late-p99-ms, late-max-ms: how long after due each fired;
//     fires/s, the rate from the first fire to the last. Once messages fall
//     due faster than the store can read them back, lateness is the backlog.
//
// Run it once: go test -run '^$' -bench PendingMillion -benchtime 1x.
func BenchmarkPendingMillion(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 20_000
	}
	// fixed: one delay for all, so messages fall due in offset order;
	// spread: delays spread over a second, so they fall due scattered
	// over the last second's adds, each read back on its own.
	for _, spread := range []time.Duration{0, time.Second} {
		name := "fixed"
		if spread > 0 {
			name = "spread=" + spread.String()
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				benchPending(b, n, spread)
			}
		})
	}
}

func benchPending(b *testing.B, n int, spread time.Duration) {
	const (
		delay  = 10 * time.Second
		window = 4096 // adds not yet durable, as a publisher's confirm window
	)
	ls, err := logstore.Open(fs.OS(), b.TempDir(), logstore.Options{Logger: quiet(), CleanInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer ls.Close()
	cfg := logstore.DefaultConfig()
	cfg.SegmentBytes, cfg.RetentionAge, cfg.NoSync = 64<<20, -1, true
	msgs, err := ls.Create("d", cfg)
	if err != nil {
		b.Fatal(err)
	}
	done, err := ls.Create("d.done", cfg)
	if err != nil {
		b.Fatal(err)
	}
	late := make([]time.Duration, n)
	var fired atomic.Int64
	all := make(chan struct{})
	var first, last time.Time // of the fires; written by the firing goroutine only
	fire := func(p []byte, f func(error)) {
		now := time.Now()
		due := time.Unix(0, int64(binary.BigEndian.Uint64(p)))
		i := fired.Add(1) - 1
		if i == 0 {
			first = now
		}
		if int(i) < n {
			late[i] = now.Sub(due)
		}
		f(nil)
		if int(i) == n-1 {
			last = now
			close(all)
		}
	}
	open := func() *Store {
		s, err := Open(Config{Name: "bench", Log: msgs, Done: done, Fire: fire, Logger: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	s := open()
	heapBefore := heapAlloc()

	sem := make(chan struct{}, window)
	payload := make([]byte, 1024)
	start := time.Now()
	seq := uint64(0x9e3779b97f4a7c15)
	for range n {
		seq ^= seq << 13
		seq ^= seq >> 7
		seq ^= seq << 17
		due := time.Now().Add(delay + time.Duration(seq%uint64(spread+1)))
		binary.BigEndian.PutUint64(payload, uint64(due.UnixNano()))
		sem <- struct{}{}
		s.Add(payload, due, func(err error) {
			if err != nil {
				b.Error(err)
			}
			<-sem
		})
	}
	for range window {
		sem <- struct{}{}
	}
	added := time.Since(start)
	pending := s.Pending()
	perPending := float64(heapAlloc()-heapBefore) / float64(pending)
	s.mu.Lock()
	entryBytes := float64(cap(s.heap)) * 16 / float64(pending)
	s.mu.Unlock()

	s.Close()
	t0 := time.Now()
	s = open()
	opened := time.Since(t0)
	defer s.Close()
	if fired.Load() > 0 || added > delay {
		b.Logf("adding took %v: %d fired before the restart", added, fired.Load())
	}

	select {
	case <-all:
	case <-time.After(delay + spread + 5*time.Minute):
		b.Fatalf("%d of %d fired", fired.Load(), n)
	}
	slices.Sort(late)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(perPending, "heap-B/pending")
	b.ReportMetric(entryBytes, "entries-B/pending")
	b.ReportMetric(float64(pending), "pending")
	b.ReportMetric(float64(n)/added.Seconds(), "adds/s")
	b.ReportMetric(ms(opened), "open-ms")
	b.ReportMetric(float64(n)/last.Sub(first).Seconds(), "fires/s")
	b.ReportMetric(ms(late[n/2]), "late-p50-ms")
	b.ReportMetric(ms(late[n*99/100]), "late-p99-ms")
	b.ReportMetric(ms(late[n-1]), "late-max-ms")
}

func heapAlloc() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
