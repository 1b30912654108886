package metrics

import (
	"errors"
	"testing"
	"time"
)

func TestSyncsBuckets(t *testing.T) {
	var s Syncs
	for _, d := range []time.Duration{
		30 * time.Microsecond,  // ≤ 50µs
		50 * time.Microsecond,  // ≤ 50µs: bounds are inclusive
		700 * time.Microsecond, // ≤ 1ms
		2 * time.Millisecond,   // ≤ 2.5ms
		3 * time.Second,        // above every bound
	} {
		s.Observe(d, nil)
	}
	s.Observe(time.Millisecond, errors.New("EIO"))
	snap := s.snapshot()
	if snap.count != 6 || snap.failed != 1 {
		t.Fatalf("count %d failed %d, want 6 and 1", snap.count, snap.failed)
	}
	want := map[float64]uint64{0.00005: 2, 0.0001: 2, 0.0005: 2, 0.001: 4, 0.0025: 5, 2.5: 5}
	for bound, n := range want {
		if got := snap.cumulative[bound]; got != n {
			t.Errorf("bucket ≤ %gs holds %d, want %d", bound, got, n)
		}
	}
	wantSum := (30*time.Microsecond + 50*time.Microsecond + 700*time.Microsecond + 2*time.Millisecond + 3*time.Second + time.Millisecond).Seconds()
	if d := snap.sum - wantSum; d > 1e-9 || d < -1e-9 {
		t.Errorf("sum %g, want %g", snap.sum, wantSum)
	}
}
