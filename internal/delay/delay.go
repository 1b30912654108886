package delay

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loftmq/loft/internal/logstore"
)

// Errors returned by a Store, often wrapped with details.
var (
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("delay: closed")
	// ErrStorage: the message log failed to take a message.
	ErrStorage = errors.New("delay: storage failed")
	// ErrConfig: Open was given a configuration it cannot work with.
	ErrConfig = errors.New("delay: bad config")
)

// Defaults of Config and of the store's pacing.
const (
	DefaultMaxInFlight = 1024
	// retryAfter is how long a message whose fire failed waits to fire
	// again.
	retryAfter = time.Second
	// tidyEvery bounds how often the store snapshots the done log and trims
	// both logs: a trim may roll a segment, which pauses appends.
	tidyEvery = time.Second
	// markDelay bounds how long a fired mark waits to be written, so that a
	// stream of fires costs one append to the done log per interval.
	markDelay = 5 * time.Millisecond
	// maxMarkSpans fired spans waiting are written at once.
	maxMarkSpans = 4096
	// snapshotMin is the least size of the mark records written since the
	// last snapshot that calls for a new one; past it, a snapshot is due
	// once they outgrow it, which keeps the done log within a few
	// snapshots' size at the cost of writing each mark about twice.
	snapshotMin = 64 << 10
	// maxWait bounds a sleep of the firing goroutine, so that a step of the
	// wall clock is noticed within it.
	maxWait = time.Second
	// takeMax bounds the messages taken to fire in one pass.
	takeMax = 256
)

// Config configures Open.
type Config struct {
	Name string // for logs
	// Log holds the pending messages: an append there is what makes Add
	// durable. Done holds which of them have fired; it may be a NoSync log,
	// as a lost mark only fires its message again. Neither may have
	// retention or compaction: the store trims them itself.
	Log, Done *logstore.Log
	// Fire is called, from the store's goroutine, with a message that is
	// due: the payload given to Add, in a slice of its own. The message is
	// marked fired when done(nil) is called; done(err) fires it again
	// later. Fire must not block for long; done may be called from any
	// goroutine, once, and must not block either.
	Fire func(payload []byte, done func(error))
	// Now is the clock due times are judged by (default time.Now).
	Now func() time.Time
	// MaxInFlight bounds the messages fired and not yet done (default
	// DefaultMaxInFlight): however many come due at once, no more payloads
	// than this are in memory.
	MaxInFlight int
	Logger      *slog.Logger

	// For tests: the pacing constants, when not zero.
	retryAfter, tidyEvery time.Duration
	snapshotMin           int
}

func (c *Config) validate() error {
	switch {
	case c.Log == nil || c.Done == nil:
		return fmt.Errorf("%w: %s: both logs are needed", ErrConfig, c.Name)
	case c.Fire == nil:
		return fmt.Errorf("%w: %s: Fire is needed", ErrConfig, c.Name)
	}
	for _, l := range []*logstore.Log{c.Log, c.Done} {
		lc := l.Config()
		if lc.Compact || lc.RetentionAge >= 0 || lc.RetentionBytes >= 0 {
			return fmt.Errorf("%w: %s: log %s must have neither retention nor compaction", ErrConfig, c.Name, l.Name())
		}
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.retryAfter <= 0 {
		c.retryAfter = retryAfter
	}
	if c.tidyEvery <= 0 {
		c.tidyEvery = tidyEvery
	}
	if c.snapshotMin <= 0 {
		c.snapshotMin = snapshotMin
	}
}

// Store holds delayed messages until they are due and fires them.
type Store struct {
	cfg       Config
	log, done *logstore.Log
	logger    *slog.Logger

	mu      sync.Mutex
	closed  bool
	final   bool // Close wrote the last marks: fires done later are forgotten
	heap    entries
	counts  counts
	pending int                // added and not yet marked fired
	flying  map[int64]struct{} // offsets fired and not yet done
	durable int64              // every message below it was added (or fired) and counted
	floor   int64              // every offset below it has fired
	// marks are fired spans not yet written to the done log.
	marks        []span
	markTimer    *time.Timer
	snapshotting bool // held marks wait for the snapshot being made
	markBytes    int  // mark records written since the last snapshot
	snapshotSize int
	failures     int // fires failed since failLogged
	failLogged   time.Time

	snapshotAt atomic.Int64 // done log offset of the latest snapshot
	writing    atomic.Int64 // appends to the done log not yet completed

	rds      [readers]reader // the firing goroutine's
	payloads []read          // of the messages being fired
	wake     chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
}

// Open opens a store over its logs: it replays the done log, reads the
// message log from the floor for the messages not fired, rewrites the done
// log as one snapshot, and starts firing.
func Open(cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Store{
		cfg: cfg, log: cfg.Log, done: cfg.Done,
		logger: cfg.Logger.With("delay", cfg.Name),
		flying: make(map[int64]struct{}),
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
	}
	for i := range s.rds {
		s.rds[i].log = cfg.Log
	}
	start := time.Now()
	if err := s.recover(); err != nil {
		return nil, err
	}
	s.logger.Info("delay: opened", "pending", s.pending, "floor", s.floor, "took", time.Since(start))
	s.wg.Add(2)
	go s.run()
	go s.tidy()
	return s, nil
}

// Add stores payload to fire once due has come; a due time already past
// fires it at once. done is called when the message is durable, with nil,
// or has failed, with an error wrapping ErrStorage or ErrClosed; it is
// called from the log engine's goroutine and must not block.
func (s *Store) Add(payload []byte, due time.Time, done func(error)) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		done(ErrClosed)
		return
	}
	if payload == nil {
		payload = []byte{} // nil would be stored as a tombstone
	}
	ms := millis(due)
	rec := [1]logstore.Record{{Timestamp: ms, Value: payload}}
	batch := logstore.AppendBatch(nil, batchOptions, rec[:])
	s.log.AppendAsync(batch, func(base int64, err error) {
		if err != nil {
			done(fmt.Errorf("%w: %w", ErrStorage, err))
			return
		}
		s.added(entry{due: ms, off: base})
		done(nil)
	})
}

// millis returns t in milliseconds since the epoch, rounded up: a message
// fires when the clock's millisecond reaches its due one, never before due.
func millis(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return ms
}

var batchOptions = logstore.BatchOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}

// added takes in a message now durable. The log engine completes appends
// in offset order, so every offset below e.off is counted already.
func (s *Store) added(e entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.durable = max(s.durable, e.off+1)
	if s.closed {
		return // on disk: the next Open finds it
	}
	s.pending++
	s.counts.add(e.off, 1)
	s.pushLocked(e)
}

// pushLocked adds e to the heap and wakes the firing goroutine if e is now
// the first due.
func (s *Store) pushLocked(e entry) {
	s.heap.push(e)
	if s.heap[0] == e {
		s.signal()
	}
}

func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Pending returns the messages added and not yet marked fired.
func (s *Store) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// floorLocked returns the floor, moving it up to the lowest pending message.
func (s *Store) floorLocked() int64 {
	s.floor = max(s.floor, s.counts.lowest(s.durable))
	return s.floor
}

// Close stops firing: Fire is not called after Close returns. The marks of
// messages done until then are written; those done later fire again after
// a restart. The logs stay open for their owner to close.
func (s *Store) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.markTimer != nil {
		s.markTimer.Stop()
		s.markTimer = nil
	}
	s.flushLocked()
	s.final = true
	s.heap = nil
}
