package metrics

import (
	"sync/atomic"
	"time"
)

// syncBounds are the upper bounds, in seconds, of the fsync histogram's
// buckets: from a fast NVMe flush to a disk in trouble.
var syncBounds = [...]float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
}

// Syncs is a histogram of fdatasync latencies kept with atomics, so that
// the log engine's flushers record into it without a lock. Its zero value
// is ready.
type Syncs struct {
	buckets [len(syncBounds) + 1]atomic.Uint64 // the last: above every bound
	nanos   atomic.Uint64
	failed  atomic.Uint64
}

// Observe records one fdatasync that took d and ended with err; it has
// the signature of logstore.Options.OnSync.
func (s *Syncs) Observe(d time.Duration, err error) {
	if err != nil {
		s.failed.Add(1)
	}
	d = max(d, 0)
	secs := d.Seconds()
	i := 0
	for i < len(syncBounds) && secs > syncBounds[i] {
		i++
	}
	s.buckets[i].Add(1)
	s.nanos.Add(uint64(d))
}

// syncSnapshot is the histogram as Prometheus wants it: cumulative counts
// per upper bound, the total count and sum in seconds.
type syncSnapshot struct {
	count, failed uint64
	sum           float64
	cumulative    map[float64]uint64
}

func (s *Syncs) snapshot() syncSnapshot {
	snap := syncSnapshot{cumulative: make(map[float64]uint64, len(syncBounds)), failed: s.failed.Load()}
	for i, bound := range syncBounds {
		snap.count += s.buckets[i].Load()
		snap.cumulative[bound] = snap.count
	}
	snap.count += s.buckets[len(syncBounds)].Load()
	snap.sum = time.Duration(s.nanos.Load()).Seconds()
	return snap
}
