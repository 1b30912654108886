package delay

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/logstore"
)

// Messages fire in due order, FIFO among equal due times, and never
// before due. Real time: the store's own timer does the waiting.
func TestFiresInDueOrder(t *testing.T) {
	d := newDisk(t)
	k := newSink()
	s := d.store(k, nil, nil)
	base := time.Now().Add(500 * time.Millisecond)
	adds := []struct {
		name string
		at   time.Duration
	}{
		{"c", 40 * time.Millisecond}, {"a1", 0}, {"b1", 20*time.Millisecond + 300*time.Microsecond},
		{"a2", 0}, {"d", 60 * time.Millisecond}, {"a3", 0}, {"b2", 20*time.Millisecond + 300*time.Microsecond},
	}
	due := map[string]time.Time{}
	for _, a := range adds {
		due[a.name] = base.Add(a.at)
		add(t, s, a.name, due[a.name])
	}
	if time.Now().After(base) {
		t.Fatalf("adding took past the first due time: the order cannot be checked")
	}
	got := k.wait(t, len(adds))
	want := []string{"a1", "a2", "a3", "b1", "b2", "c", "d"}
	if !slices.Equal(names(got), want) {
		t.Fatalf("fired %v, want %v", names(got), want)
	}
	for _, g := range got {
		if g.at.Before(due[g.payload]) {
			t.Errorf("%s fired %v before due", g.payload, due[g.payload].Sub(g.at))
		}
	}
	eventually(t, "nothing pending", func() bool { return s.Pending() == 0 })
}

// A message already due, or due at the zero time, fires at once.
func TestPastDueFiresAtOnce(t *testing.T) {
	d := newDisk(t)
	k := newSink()
	s := d.store(k, nil, nil)
	start := time.Now()
	add(t, s, "old", start.Add(-time.Hour))
	add(t, s, "zero", time.Time{})
	got := names(k.wait(t, 2))
	slices.Sort(got)
	if !slices.Equal(got, []string{"old", "zero"}) {
		t.Fatalf("fired %v, want old and zero", got)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("past-due messages took %v to fire", took)
	}
}

// A payload is handed back exactly, empty ones included.
func TestPayloadExact(t *testing.T) {
	d := newDisk(t)
	var got [][]byte
	done := make(chan struct{}, 3)
	msgs, dl := d.logs()
	s, err := Open(Config{Name: "d", Log: msgs, Done: dl, Logger: quiet(), Fire: func(p []byte, f func(error)) {
		got = append(got, p)
		f(nil)
		done <- struct{}{}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := make([]byte, 100_000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	now := time.Now()
	for i, p := range [][]byte{nil, {}, big} {
		s.Add(p, now.Add(time.Duration(i)*time.Millisecond), func(err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	for range 3 {
		<-done
	}
	if len(got[0]) != 0 || len(got[1]) != 0 || !slices.Equal(got[2], big) {
		t.Fatalf("payloads changed: lengths %d %d %d", len(got[0]), len(got[1]), len(got[2]))
	}
}

// After a clean restart, pending messages fire and fired ones do not.
// Due times are random, so fired offsets are scattered above the floor,
// and snapshots are taken at every tidy pass.
func TestRestart(t *testing.T) {
	d := newDisk(t)
	c := newClock()
	k := newSink()
	fast := func(cfg *Config) { cfg.snapshotMin = 1 }
	s := d.store(k, c, fast)
	r := rand.New(rand.NewPCG(1, 2))
	type msg struct {
		name string
		due  time.Time
		off  int
	}
	var now, later []msg
	for i := range 600 {
		m := msg{name: fmt.Sprint("m", i), off: i}
		if r.IntN(2) == 0 {
			m.due = c.now().Add(-time.Duration(r.IntN(1000)) * time.Millisecond)
			now = append(now, m)
		} else {
			m.due = c.now().Add(time.Hour + time.Duration(r.IntN(20))*time.Millisecond)
			later = append(later, m)
		}
		add(t, s, m.name, m.due)
	}
	k.wait(t, len(now))
	eventually(t, "fired marks written", func() bool { return marksWritten(s) && s.Pending() == len(later) })
	time.Sleep(30 * time.Millisecond) // a few tidy passes: snapshots and trims
	s.Close()
	d.restart()

	k2 := newSink()
	s2 := d.store(k2, c, fast)
	if n := s2.Pending(); n != len(later) {
		t.Fatalf("pending after restart: %d, want %d", n, len(later))
	}
	c.advance(s2, 2*time.Hour)
	k2.wait(t, len(later))
	slices.SortStableFunc(later, func(a, b msg) int { return a.due.Compare(b.due) })
	want := make([]string, len(later))
	for i, m := range later {
		want[i] = m.name
	}
	eventually(t, "nothing pending", func() bool { return s2.Pending() == 0 })
	if got := k2.shots(); !slices.Equal(names(got), want) {
		t.Fatalf("after restart fired %d messages %v..., want %d %v...", len(got), names(got)[:5], len(want), want[:5])
	}
	first := names(k.shots())
	wantFirst := make([]string, len(now))
	for i, m := range now {
		wantFirst[i] = m.name
	}
	slices.Sort(first)
	slices.Sort(wantFirst)
	if !slices.Equal(first, wantFirst) {
		t.Fatalf("before restart fired %d messages, want the %d past due", len(first), len(wantFirst))
	}
}

// A message whose fire fails is fired again after the back-off, and
// counts as pending until it succeeds.
func TestRetry(t *testing.T) {
	d := newDisk(t)
	k := newSink()
	k.fail = func(_ string, attempt int) error {
		if attempt < 3 {
			return errors.New("downstream unavailable")
		}
		return nil
	}
	s := d.store(k, nil, nil)
	add(t, s, "x", time.Now())
	got := k.wait(t, 3)
	if !slices.Equal(names(got), []string{"x", "x", "x"}) {
		t.Fatalf("fired %v", names(got))
	}
	for i := 1; i < 3; i++ {
		if gap := got[i].at.Sub(got[i-1].at); gap < 20*time.Millisecond {
			t.Errorf("retry %d came after %v, before the back-off", i, gap)
		}
	}
	eventually(t, "nothing pending", func() bool { return s.Pending() == 0 })
	time.Sleep(50 * time.Millisecond)
	if n := len(k.shots()); n != 3 {
		t.Fatalf("fired %d times after succeeding on the third", n)
	}
}

// MaxInFlight bounds the fires not yet done.
func TestMaxInFlight(t *testing.T) {
	d := newDisk(t)
	k := newSink()
	k.hold = true
	s := d.store(k, nil, func(c *Config) { c.MaxInFlight = 3 })
	now := time.Now()
	for i := range 10 {
		add(t, s, fmt.Sprint(i), now.Add(-time.Second))
	}
	k.wait(t, 3)
	time.Sleep(50 * time.Millisecond)
	if n := len(k.shots()); n != 3 {
		t.Fatalf("%d fired with 3 allowed in flight and none done", n)
	}
	k.release(1)
	k.wait(t, 4)
	for n := 4; n < 10; n++ {
		k.release(1)
		k.wait(t, n+1)
	}
	k.release(3)
	eventually(t, "nothing pending", func() bool { return s.Pending() == 0 })
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.top > 3 {
		t.Fatalf("%d fires in flight at once, limit 3", k.top)
	}
	if want := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}; !slices.Equal(names(k.got), want) {
		t.Fatalf("fired %v", names(k.got))
	}
}

// Once messages have fired, the message log is trimmed to the floor and
// the done log to its latest snapshot.
func TestTrim(t *testing.T) {
	d := newDisk(t)
	k := newSink()
	c := newClock()
	s := d.store(k, c, func(c *Config) { c.snapshotMin = 1 })
	msgs, done := d.logs()
	body := string(make([]byte, 200))
	for i := range 100 {
		add(t, s, body, c.now().Add(time.Hour+time.Duration(i%7)*time.Millisecond))
	}
	segs := msgs.Segments()
	c.advance(s, 2*time.Hour)
	k.wait(t, 100)
	eventually(t, "the message log trimmed", func() bool { return msgs.StartOffset() == msgs.HighWatermark()-1 })
	if segs < 4 || msgs.Segments() > 1 {
		t.Fatalf("segments: %d before the trim, %d after", segs, msgs.Segments())
	}
	eventually(t, "the done log trimmed", func() bool { return done.StartOffset() > 1 })
}

// Fire is not called once Close has returned.
func TestNoFireAfterClose(t *testing.T) {
	d := newDisk(t)
	var closed, late atomic.Bool
	var fired atomic.Int64
	msgs, dl := d.logs()
	s, err := Open(Config{Name: "d", Log: msgs, Done: dl, Logger: quiet(), Fire: func(_ []byte, f func(error)) {
		if closed.Load() {
			late.Store(true)
		}
		fired.Add(1)
		f(nil)
	}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 2000 {
		s.Add([]byte("x"), now.Add(time.Duration(i%50)*time.Millisecond), func(error) {})
	}
	time.Sleep(20 * time.Millisecond)
	s.Close()
	closed.Store(true)
	time.Sleep(80 * time.Millisecond)
	if late.Load() {
		t.Fatal("Fire called after Close returned")
	}
	errc := make(chan error, 1)
	s.Add([]byte("y"), now, func(err error) { errc <- err })
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close: %v, want ErrClosed", err)
	}
	t.Logf("%d fired before Close", fired.Load())
}

// A failed append reaches Add's caller as ErrStorage.
func TestAddStorageError(t *testing.T) {
	d := newDisk(t)
	s := d.store(newSink(), nil, nil)
	msgs, _ := d.logs()
	msgs.Close()
	errc := make(chan error, 1)
	s.Add([]byte("x"), time.Now(), func(err error) { errc <- err })
	if err := <-errc; !errors.Is(err, ErrStorage) || !errors.Is(err, logstore.ErrClosed) {
		t.Fatalf("Add on a closed log: %v, want ErrStorage wrapping logstore.ErrClosed", err)
	}
}

func TestOpenChecksConfig(t *testing.T) {
	d := newDisk(t)
	msgs, done := d.logs()
	kept, err := d.ls.Create("kept", logstore.DefaultConfig()) // 7 days' retention
	if err != nil {
		t.Fatal(err)
	}
	fire := func([]byte, func(error)) {}
	for name, cfg := range map[string]Config{
		"no fire":       {Log: msgs, Done: done},
		"no done log":   {Log: msgs, Fire: fire},
		"log retention": {Log: kept, Done: done, Fire: fire},
		"done retained": {Log: msgs, Done: kept, Fire: fire},
	} {
		if _, err := Open(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Open: %v, want ErrConfig", name, err)
		}
	}
}
