package alarm

import (
	"errors"
	"log/slog"
	"sync"
	"time"
)

// ErrUnsupported is returned by the measurements this platform cannot make.
var ErrUnsupported = errors.New("alarm: not supported on this platform")

// Resource is a resource that can be alarmed on.
type Resource int

const (
	Disk Resource = iota
	Memory
	numResources
)

func (r Resource) String() string {
	switch r {
	case Disk:
		return "disk"
	case Memory:
		return "memory"
	}
	return "unknown"
}

// DefaultInterval is the check period when Config.Interval is not positive.
const DefaultInterval = time.Second

// Config says what to watch. Its zero value watches nothing.
type Config struct {
	// Dir is a directory on the file system whose free space is watched,
	// normally the data directory.
	Dir string
	// DiskFreeLimit raises the disk alarm while fewer bytes than this are
	// free; 0 disables the disk alarm.
	DiskFreeLimit int64
	// MemoryHighWatermark raises the memory alarm while the process holds
	// more bytes than this; 0 disables the memory alarm.
	MemoryHighWatermark int64
	// Interval is the check period; DefaultInterval if not positive.
	Interval time.Duration
	// Logger receives a Warn when an alarm is raised and an Info when it
	// clears; slog.Default() if nil.
	Logger *slog.Logger

	// DiskFree and MemoryUsed replace the real measurements, for tests;
	// nil means DiskFree and MemoryUsed of this package.
	DiskFree   func(dir string) (int64, error)
	MemoryUsed func() int64
}

// Monitor raises and clears alarms. It is safe for concurrent use.
type Monitor struct {
	cfg       Config
	log       *slog.Logger
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	// diskErr is the last disk measurement error logged, so a persistent
	// failure is logged once rather than every check. Owned by the checker.
	diskErr string

	mu     sync.Mutex
	active [numResources]bool
	subs   map[*subscription]struct{}
}

type subscription struct{ fn func(active []Resource) }

// Start checks both resources once, so that Active is accurate when it
// returns, and then every cfg.Interval until Close. With both limits 0 it
// starts no goroutine.
func Start(cfg Config) *Monitor {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DiskFree == nil {
		cfg.DiskFree = DiskFree
	}
	if cfg.MemoryUsed == nil {
		cfg.MemoryUsed = MemoryUsed
	}
	m := &Monitor{
		cfg:  cfg,
		log:  cfg.Logger,
		stop: make(chan struct{}),
		done: make(chan struct{}),
		subs: make(map[*subscription]struct{}),
	}
	if cfg.DiskFreeLimit <= 0 && cfg.MemoryHighWatermark <= 0 {
		close(m.done)
		return m
	}
	m.log.Info("resource alarms enabled", "dir", cfg.Dir,
		"disk_free_limit", cfg.DiskFreeLimit, "memory_high_watermark", cfg.MemoryHighWatermark,
		"interval", cfg.Interval)
	m.check()
	go m.run()
	return m
}

// Close stops the checks and waits for a notification under way to end.
// Alarms raised stay raised in Active. Close must not be called from a
// subscriber.
func (m *Monitor) Close() {
	m.closeOnce.Do(func() { close(m.stop) })
	<-m.done
}

// Active returns the alarms currently raised, in Resource order; nil if
// none.
func (m *Monitor) Active() []Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.activeLocked()
}

// Blocked reports whether any alarm is raised.
func (m *Monitor) Blocked() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, on := range m.active {
		if on {
			return true
		}
	}
	return false
}

// Subscribe calls fn with the alarms raised (nil when the last one clears)
// after every change, from the
// monitor's goroutine, so fn must not block: it should hand the news to its
// own goroutine. It is not called for the state at the time of subscribing;
// read Active after Subscribe for that. cancel stops the calls: none starts
// after cancel returns, though one already under way may still be running.
// fn may call Active, Blocked and cancel.
func (m *Monitor) Subscribe(fn func(active []Resource)) (cancel func()) {
	s := &subscription{fn: fn}
	m.mu.Lock()
	m.subs[s] = struct{}{}
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		delete(m.subs, s)
		m.mu.Unlock()
	}
}

func (m *Monitor) run() {
	defer close(m.done)
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.check()
		}
	}
}

// check measures each enabled resource and notifies subscribers once if
// any alarm changed.
func (m *Monitor) check() {
	changed := false
	if limit := m.cfg.DiskFreeLimit; limit > 0 {
		free, err := m.cfg.DiskFree(m.cfg.Dir)
		if err != nil {
			m.diskFailed(err)
		} else {
			m.diskErr = ""
			changed = m.set(Disk, free < limit, free, limit) || changed
		}
	}
	if limit := m.cfg.MemoryHighWatermark; limit > 0 {
		used := m.cfg.MemoryUsed()
		changed = m.set(Memory, used > limit, used, limit) || changed
	}
	if changed {
		m.notify()
	}
}

// diskFailed keeps the disk alarm as it was: a file system that cannot be
// measured is no evidence that space has come back, or run out.
func (m *Monitor) diskFailed(err error) {
	if err.Error() == m.diskErr {
		return
	}
	m.diskErr = err.Error()
	m.log.Error("cannot measure free disk space; disk alarm left as it is",
		"dir", m.cfg.Dir, "err", err)
}

// set records whether r is alarmed and reports whether that changed.
func (m *Monitor) set(r Resource, on bool, value, limit int64) bool {
	m.mu.Lock()
	was := m.active[r]
	m.active[r] = on
	m.mu.Unlock()
	switch {
	case on && !was:
		m.log.Warn("resource limit alarm set; publishers will be blocked until it clears",
			"resource", r.String(), "value", value, "limit", limit)
	case !on && was:
		m.log.Info("resource limit alarm cleared",
			"resource", r.String(), "value", value, "limit", limit)
	default:
		return false
	}
	return true
}

// notify calls each subscriber with its own copy of the active alarms. The
// lock is not held during a call, so fn may call back into the Monitor; a
// subscription is checked just before its call so that cancel takes effect
// at once.
func (m *Monitor) notify() {
	m.mu.Lock()
	subs := make([]*subscription, 0, len(m.subs))
	for s := range m.subs {
		subs = append(subs, s)
	}
	m.mu.Unlock()
	for _, s := range subs {
		m.mu.Lock()
		_, live := m.subs[s]
		active := m.activeLocked()
		m.mu.Unlock()
		if live {
			s.fn(active)
		}
	}
}

func (m *Monitor) activeLocked() []Resource {
	var out []Resource
	for r, on := range m.active {
		if on {
			out = append(out, Resource(r))
		}
	}
	return out
}
