package delay

import (
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/logstore"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// disk is a log store over an in-memory file system that can be
// restarted, or crashed and restarted.
type disk struct {
	t    *testing.T
	fsys *fs.Mem
	ls   *logstore.Store
}

func newDisk(t *testing.T) *disk {
	d := &disk{t: t, fsys: fs.NewMem()}
	d.open()
	return d
}

func (d *disk) open() {
	ls, err := logstore.Open(d.fsys, "data", logstore.Options{Logger: quiet(), CleanInterval: -1})
	if err != nil {
		d.t.Fatal(err)
	}
	d.ls = ls
	d.t.Cleanup(func() { ls.Close() })
}

// logs returns the message log (synced appends) and the done log (NoSync),
// creating them the first time.
func (d *disk) logs() (msgs, done *logstore.Log) {
	get := func(name string, noSync bool) *logstore.Log {
		if l, ok := d.ls.Log(name); ok {
			return l
		}
		cfg := logstore.DefaultConfig()
		cfg.SegmentBytes, cfg.RetentionAge, cfg.NoSync = 4096, -1, noSync
		l, err := d.ls.Create(name, cfg)
		if err != nil {
			d.t.Fatal(err)
		}
		return l
	}
	return get("d", false), get("d.done", true)
}

func (d *disk) restart() {
	d.ls.Close()
	d.open()
}

// crash pulls the plug on the store (torn writes if r is not nil) and
// opens it again. The old store must be closed by the caller.
func (d *disk) crash(r *rand.Rand) {
	if r != nil {
		d.fsys.CrashTorn(r)
	} else {
		d.fsys.Crash()
	}
	d.ls.Close() // fails: every handle is dead
	d.open()
}

// store opens a delay store over the disk's logs, firing into k.
func (d *disk) store(k *sink, c *clock, tweak func(*Config)) *Store {
	msgs, done := d.logs()
	cfg := Config{Name: "d", Log: msgs, Done: done, Fire: k.fire, Logger: quiet(),
		retryAfter: 20 * time.Millisecond, tidyEvery: 10 * time.Millisecond}
	if c != nil {
		cfg.Now = c.now
	}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := Open(cfg)
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(s.Close)
	return s
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// advance moves the clock and wakes s, which would otherwise notice within
// maxWait.
func (c *clock) advance(s *Store, d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	s.signal()
}

// shot is one call of Fire.
type shot struct {
	payload string
	at      time.Time
}

// sink is a Fire that records what it is given. With hold, it keeps the
// done functions for the test to call; fail, if set, says which fires
// fail.
type sink struct {
	mu       sync.Mutex
	got      []shot
	hold     bool
	held     []func(error)
	fail     func(payload string, attempt int) error
	attempts map[string]int
	out, top int // outstanding fires, and the most at once
	changed  chan struct{}
	clk      func() time.Time
}

func newSink() *sink {
	return &sink{changed: make(chan struct{}, 1), attempts: map[string]int{}, clk: time.Now}
}

func (k *sink) fire(p []byte, done func(error)) {
	k.mu.Lock()
	name := string(p)
	k.got = append(k.got, shot{name, k.clk()})
	k.attempts[name]++
	k.out++
	k.top = max(k.top, k.out)
	var err error
	if k.fail != nil {
		err = k.fail(name, k.attempts[name])
	}
	finish := func(e error) {
		k.mu.Lock()
		k.out--
		k.mu.Unlock()
		done(e)
	}
	hold := k.hold
	if hold {
		k.held = append(k.held, finish)
	}
	k.mu.Unlock()
	select {
	case k.changed <- struct{}{}:
	default:
	}
	if !hold {
		finish(err)
	}
}

// wait waits until at least n fires were seen and returns them.
func (k *sink) wait(t *testing.T, n int) []shot {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		k.mu.Lock()
		got := append([]shot(nil), k.got...)
		k.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-k.changed:
		case <-deadline:
			t.Fatalf("%d fires after 10s, want %d", len(got), n)
		}
	}
}

func (k *sink) shots() []shot {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]shot(nil), k.got...)
}

// release calls the first n held done functions with nil.
func (k *sink) release(n int) {
	k.mu.Lock()
	fs := k.held[:n]
	k.held = k.held[n:]
	k.mu.Unlock()
	for _, f := range fs {
		f(nil)
	}
}

func names(shots []shot) []string {
	out := make([]string, len(shots))
	for i, s := range shots {
		out[i] = s.payload
	}
	return out
}

// add adds a message and waits until it is durable.
func add(t *testing.T, s *Store, payload string, due time.Time) {
	t.Helper()
	errc := make(chan error, 1)
	s.Add([]byte(payload), due, func(err error) { errc <- err })
	if err := <-errc; err != nil {
		t.Fatalf("Add(%q): %v", payload, err)
	}
}

// eventually polls cond for up to 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// marksWritten reports whether every mark was handed to the done log and
// every append to it completed.
func marksWritten(s *Store) bool {
	s.mu.Lock()
	n := len(s.marks)
	s.mu.Unlock()
	return n == 0 && s.writing.Load() == 0
}
