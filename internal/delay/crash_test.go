package delay

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// A power loss after marks were synced: the messages that fired do not
// fire again, the others all fire.
func TestCrashKeepsSyncedMarks(t *testing.T) {
	d := newDisk(t)
	c := newClock()
	k := newSink()
	s := d.store(k, c, nil)
	var fired, pending []string
	for i := range 300 {
		name := fmt.Sprint("m", i)
		due := c.now().Add(time.Hour)
		if i%3 == 0 {
			due = c.now().Add(-time.Minute)
			fired = append(fired, name)
		} else {
			pending = append(pending, name)
		}
		add(t, s, name, due)
	}
	k.wait(t, len(fired))
	eventually(t, "marks written", func() bool { return marksWritten(s) && s.Pending() == len(pending) })
	_, done := d.logs()
	if err := done.Sync(); err != nil {
		t.Fatal(err)
	}
	d.crash(nil)
	s.Close()

	k2 := newSink()
	s2 := d.store(k2, c, nil)
	if n := s2.Pending(); n != len(pending) {
		t.Fatalf("pending after the crash: %d, want %d", n, len(pending))
	}
	c.advance(s2, 2*time.Hour)
	k2.wait(t, len(pending))
	eventually(t, "nothing pending", func() bool { return s2.Pending() == 0 })
	if got := names(k2.shots()); !slices.Equal(got, pending) {
		t.Fatalf("after the crash fired %d: %v..., want the %d pending in order", len(got), got[:min(len(got), 5)], len(pending))
	}
}

// Power losses at random moments, with torn writes, while messages are
// added and fire and marks are written unsynced: every message whose Add
// completed fires at least once, before the crash or after it.
func TestCrashTorn(t *testing.T) {
	d := newDisk(t)
	c := newClock()
	k := newSink()
	r := rand.New(rand.NewPCG(7, 11))
	s := d.store(k, c, func(cfg *Config) { cfg.snapshotMin = 1 })
	var mu sync.Mutex
	acked := map[string]bool{}
	for round := range 8 {
		// Half due at once, half in an hour; adds not waited for, so
		// that the crash comes with appends, fires and marks in flight.
		n := 200 + r.IntN(200)
		for i := range n {
			name := fmt.Sprintf("r%d-%d", round, i)
			due := c.now().Add(time.Hour)
			if r.IntN(2) == 0 {
				due = c.now().Add(-time.Duration(r.IntN(100)) * time.Millisecond)
			}
			s.Add([]byte(name), due, func(err error) {
				if err == nil {
					mu.Lock()
					acked[name] = true
					mu.Unlock()
				}
			})
			if i == n/2 {
				time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
			}
		}
		time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
		d.crash(r)
		s.Close()

		s = d.store(k, c, func(cfg *Config) { cfg.snapshotMin = 1 })
		c.advance(s, 2*time.Hour)
		eventually(t, "nothing pending", func() bool { return s.Pending() == 0 })
		seen := map[string]bool{}
		for _, g := range k.shots() {
			seen[g.payload] = true
		}
		mu.Lock()
		for name := range acked {
			if !seen[name] {
				t.Fatalf("round %d: %s was added but never fired", round, name)
			}
		}
		t.Logf("round %d: %d acked so far, %d fires", round, len(acked), len(k.shots()))
		mu.Unlock()
	}
}
