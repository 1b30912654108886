package alarm

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/syncbuf"
)

// fake is a pair of measurements a test moves by hand.
type fake struct {
	free    atomic.Int64
	used    atomic.Int64
	diskErr atomic.Pointer[error]
}

func (f *fake) diskFree(string) (int64, error) {
	if p := f.diskErr.Load(); p != nil {
		return 0, *p
	}
	return f.free.Load(), nil
}

func (f *fake) memoryUsed() int64 { return f.used.Load() }

// start runs a Monitor on f with a check period far longer than any test,
// so that only m.check, called by the test, changes its state.
func start(t *testing.T, f *fake, disk, mem int64) (*Monitor, *syncbuf.Buffer) {
	t.Helper()
	var log syncbuf.Buffer
	m := Start(Config{
		Dir:                 "/data",
		DiskFreeLimit:       disk,
		MemoryHighWatermark: mem,
		Interval:            time.Hour,
		Logger:              slog.New(slog.NewTextHandler(&log, nil)),
		DiskFree:            f.diskFree,
		MemoryUsed:          f.memoryUsed,
	})
	t.Cleanup(m.Close)
	return m, &log
}

func TestThresholds(t *testing.T) {
	const limit = 1000
	tests := []struct {
		name       string
		disk, mem  int64 // limits
		free, used int64
		want       []Resource
	}{
		{"all fine", limit, limit, 2000, 10, nil},
		{"disk below limit", limit, limit, 999, 10, []Resource{Disk}},
		{"disk at limit is fine", limit, limit, 1000, 10, nil},
		{"memory above watermark", limit, limit, 2000, 1001, []Resource{Memory}},
		{"memory at watermark is fine", limit, limit, 2000, 1000, nil},
		{"both", limit, limit, 0, 5000, []Resource{Disk, Memory}},
		{"disk alarm disabled", 0, limit, 0, 10, nil},
		{"memory alarm disabled", limit, 0, 2000, 1 << 40, nil},
		{"all disabled", 0, 0, 0, 1 << 40, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := new(fake)
			f.free.Store(tt.free)
			f.used.Store(tt.used)
			m, _ := start(t, f, tt.disk, tt.mem)
			// Start checks once before returning.
			if got := m.Active(); !slices.Equal(got, tt.want) {
				t.Errorf("Active() = %v, want %v", got, tt.want)
			}
			if got, want := m.Blocked(), len(tt.want) > 0; got != want {
				t.Errorf("Blocked() = %v, want %v", got, want)
			}
		})
	}
}

func TestRaiseClearSubscribe(t *testing.T) {
	f := new(fake)
	f.free.Store(5000)
	f.used.Store(10)
	m, log := start(t, f, 1000, 1000)

	var got [][]Resource
	cancel := m.Subscribe(func(active []Resource) { got = append(got, active) })

	steps := []struct {
		free, used int64
		want       []Resource // Active after the check
		notified   bool
	}{
		{5000, 10, nil, false},
		{500, 10, []Resource{Disk}, true},
		{400, 10, []Resource{Disk}, false}, // still low: no news
		{400, 2000, []Resource{Disk, Memory}, true},
		{5000, 2000, []Resource{Memory}, true},
		{5000, 10, nil, true},
		{5000, 10, nil, false},
	}
	for i, s := range steps {
		f.free.Store(s.free)
		f.used.Store(s.used)
		before := len(got)
		m.check()
		if a := m.Active(); !slices.Equal(a, s.want) {
			t.Fatalf("step %d: Active() = %v, want %v", i, a, s.want)
		}
		if notified := len(got) > before; notified != s.notified {
			t.Fatalf("step %d: notified = %v, want %v", i, notified, s.notified)
		}
		if s.notified && !slices.Equal(got[len(got)-1], s.want) {
			t.Fatalf("step %d: subscriber got %v, want %v", i, got[len(got)-1], s.want)
		}
	}

	cancel()
	f.free.Store(0)
	m.check()
	if len(got) != 4 {
		t.Errorf("subscriber called %d times, want 4 (none after cancel)", len(got))
	}
	cancel() // a second cancel is harmless

	out := log.String()
	for _, want := range []string{
		`level=WARN msg="resource limit alarm set; publishers will be blocked until it clears" resource=disk value=500 limit=1000`,
		`level=WARN msg="resource limit alarm set; publishers will be blocked until it clears" resource=memory value=2000 limit=1000`,
		`level=INFO msg="resource limit alarm cleared" resource=disk value=5000 limit=1000`,
		`level=INFO msg="resource limit alarm cleared" resource=memory value=10 limit=1000`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestSubscriberMayCallBack(t *testing.T) {
	f := new(fake)
	f.free.Store(5000)
	m, _ := start(t, f, 1000, 0)
	var blocked []bool
	var cancel func()
	cancel = m.Subscribe(func([]Resource) {
		blocked = append(blocked, m.Blocked())
		cancel()
	})
	f.free.Store(0)
	m.check()
	f.free.Store(5000)
	m.check()
	if !slices.Equal(blocked, []bool{true}) {
		t.Errorf("subscriber saw Blocked() = %v, want [true] and no call after its cancel", blocked)
	}
}

func TestEachSubscriberOwnsItsSlice(t *testing.T) {
	f := new(fake)
	f.free.Store(0)
	f.used.Store(0)
	m, _ := start(t, f, 1000, 1000)
	var second []Resource
	m.Subscribe(func(a []Resource) { clear(a) })
	m.Subscribe(func(a []Resource) { second = a })
	m.Subscribe(func(a []Resource) { clear(a) })
	f.used.Store(5000)
	m.check()
	if want := []Resource{Disk, Memory}; !slices.Equal(second, want) {
		t.Errorf("second subscriber got %v, want %v", second, want)
	}
}

func TestDiskErrorKeepsStateAndLogsOnce(t *testing.T) {
	f := new(fake)
	f.free.Store(0)
	m, log := start(t, f, 1000, 0)
	err := errors.New("statfs /data: no such file or directory")
	f.diskErr.Store(&err)
	for range 3 {
		m.check()
	}
	if !m.Blocked() {
		t.Error("a failed measurement cleared the disk alarm")
	}
	if n := strings.Count(log.String(), "cannot measure free disk space"); n != 1 {
		t.Errorf("error logged %d times, want once:\n%s", n, log)
	}
	f.diskErr.Store(nil)
	f.free.Store(5000)
	m.check()
	if m.Blocked() {
		t.Error("disk alarm not cleared once measurable again")
	}
}

// TestPeriodicCheck runs the monitor's own goroutine: an alarm raised and
// cleared between checks reaches the subscriber without the test calling
// check, and Close stops the checks.
func TestPeriodicCheck(t *testing.T) {
	f := new(fake)
	f.free.Store(5000)
	m := Start(Config{
		DiskFreeLimit: 1000,
		Interval:      time.Millisecond,
		Logger:        slog.New(slog.DiscardHandler),
		DiskFree:      f.diskFree,
		MemoryUsed:    f.memoryUsed,
	})
	defer m.Close()
	changes := make(chan []Resource, 10)
	m.Subscribe(func(a []Resource) { changes <- a })

	f.free.Store(10)
	if got := <-changes; !slices.Equal(got, []Resource{Disk}) {
		t.Fatalf("first change %v, want [disk]", got)
	}
	f.free.Store(5000)
	if got := <-changes; got != nil {
		t.Fatalf("second change %v, want nil", got)
	}
	m.Close()
	m.Close() // idempotent
	f.free.Store(10)
	time.Sleep(20 * time.Millisecond)
	if m.Blocked() {
		t.Error("checks went on after Close")
	}
}

func TestDisabledMonitorNeedsNoMeasurements(t *testing.T) {
	m := Start(Config{
		DiskFree:   func(string) (int64, error) { panic("measured disk") },
		MemoryUsed: func() int64 { panic("measured memory") },
	})
	m.Close()
	if m.Blocked() {
		t.Error("a monitor with no limits is blocked")
	}
}

func TestResourceString(t *testing.T) {
	for r, want := range map[Resource]string{Disk: "disk", Memory: "memory", 7: "unknown"} {
		if got := r.String(); got != want {
			t.Errorf("Resource(%d).String() = %q, want %q", int(r), got, want)
		}
	}
}

func TestMemoryUsed(t *testing.T) {
	// Whatever the runtime holds, it is more than the heap this test
	// keeps alive and less than a terabyte.
	keep := make([]byte, 8<<20)
	got := MemoryUsed()
	if got < int64(len(keep)) || got > 1<<40 {
		t.Errorf("MemoryUsed() = %d, want between %d and 1TiB", got, len(keep))
	}
	_ = keep[len(keep)-1]
}
