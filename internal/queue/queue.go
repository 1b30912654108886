package queue

import (
	"container/heap"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loftmq/loft/internal/logstore"
)

// Errors returned by a Queue, often wrapped with details.
var (
	// ErrClosed: the queue was closed or deleted.
	ErrClosed = errors.New("queue: closed")
	// ErrStorage: the log failed to store a message (a full disk, an I/O
	// error); later messages are tried again, and stored once the log
	// takes appends again.
	ErrStorage = errors.New("queue: storage failed")
	// ErrOverflow: the queue is at its maximum length and refuses new
	// messages (x-overflow reject-publish).
	ErrOverflow = errors.New("queue: maximum length reached")
	// ErrExclusiveConsumer: an exclusive consumer holds the queue, or an
	// exclusive consumer was asked for on a queue that has consumers.
	ErrExclusiveConsumer = errors.New("queue: in exclusive use")
)

// The reasons a message dies, as x-death names them.
const (
	ReasonRejected = "rejected"
	ReasonExpired  = "expired"
	ReasonMaxLen   = "maxlen"
	// ReasonDeliveryLimit is RabbitMQ's name for a message given back more
	// often than x-delivery-limit allows.
	ReasonDeliveryLimit = "delivery_limit"
)

// Overflow is what a queue at its maximum length does with a new message
// (x-overflow).
type Overflow int

const (
	DropHead         Overflow = iota // drop (dead-letter) the oldest ready message
	RejectPublish                    // refuse the new one: its publisher gets basic.nack
	RejectPublishDLX                 // refuse it and dead-letter it
)

// Defaults of Config.
const (
	DefaultCacheBytes = 4 << 20
	readAheadBytes    = 256 << 10
	// ackFlushDelay bounds how long an ack waits to be written to the ack
	// log, so that a stream of single acks costs one append per interval.
	ackFlushDelay = 5 * time.Millisecond
	// snapshotEvery ack records, the ack log is snapshotted and trimmed.
	snapshotEvery = 512
	// trimEvery bounds how often the message log is trimmed to the floor.
	trimEvery = time.Second
)

// Limits are the settings of a queue that may change while it runs: a
// policy sets them (see SetLimits).
type Limits struct {
	// MessageTTL, if positive, expires every message that long after it
	// was published (x-message-ttl); 0 or negative: messages live until
	// their own expiration, if any.
	MessageTTL time.Duration
	// With HasMaxLength, MaxLength bounds the ready messages
	// (x-max-length; unacked ones do not count, as in RabbitMQ) and
	// Overflow says what happens past it.
	HasMaxLength bool
	MaxLength    int64
	// With HasMaxLengthBytes, MaxLengthBytes bounds the body bytes of the
	// ready messages (x-max-length-bytes), under the same Overflow.
	HasMaxLengthBytes bool
	MaxLengthBytes    int64
	Overflow          Overflow
	// With HasDeliveryLimit, a message given back (requeued) more than
	// DeliveryLimit times is dead-lettered, or dropped, instead
	// (x-delivery-limit). Counts are kept in the ack log (see logReturns).
	HasDeliveryLimit bool
	DeliveryLimit    int64
	// DeadLetter, if not nil, is given every message that dies in the
	// queue (rejected without requeue, expired, dropped past the maximum
	// length or the delivery limit) with the reason, RabbitMQ's names. It
	// is called with the queue's lock held: it must not block nor call the
	// queue. It calls stored, from any goroutine but not before returning,
	// once the message's copy is stored where it goes (or dropped): only
	// then is the message acked here, so that a crash in between delivers
	// it again rather than lose it (see die).
	DeadLetter func(m *Message, reason string, stored func())
}

// Config configures Open.
type Config struct {
	Name string // for logs
	// Log holds the messages; Acks the acknowledgement state. A nil Acks
	// keeps acks in memory only, for queues that do not outlive the broker.
	Log, Acks *logstore.Log
	// CacheBytes bounds the cache of the newest messages (default
	// DefaultCacheBytes).
	CacheBytes int
	Limits
	// Now is the clock expiry is judged by (default time.Now).
	Now func() time.Time
	// SingleActiveConsumer (x-single-active-consumer) delivers to one
	// consumer at a time, the earliest registered; when it goes, the next
	// takes over.
	SingleActiveConsumer bool
	// With Deduplicate (x-message-deduplication), a message whose
	// DedupKey is that of a message in the queue, ready or unacked, is
	// not enqueued but reported stored, so that its publisher sees
	// success. DedupKey reads a stored message's key when the queue is
	// opened. DedupLimit, if positive, bounds the keys remembered
	// (x-cache-size): past it the oldest are forgotten.
	Deduplicate bool
	DedupKey    func(m *Message) string
	DedupLimit  int
	// Budget, if not nil, bounds the caches of every queue sharing it:
	// past it, each queue keeps only what it must (messages not yet
	// durable), so many queues cannot add up to unbounded memory.
	Budget *Budget
	Logger *slog.Logger
}

// Budget is a byte limit shared by the caches of many queues.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// NewBudget returns a budget of limit bytes.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

func (b *Budget) add(n int) {
	if b != nil {
		b.used.Add(int64(n))
	}
}

func (b *Budget) over() bool { return b != nil && b.used.Load() > b.limit }

// Queue is one queue: its log and the subscription over it.
type Queue struct {
	name       string
	log, acks  *logstore.Log
	logger     *slog.Logger
	cacheLimit int
	budget     *Budget
	ttl        int64 // ms; -1: none
	maxLen     int64 // -1: none
	maxBytes   int64 // -1: none
	overflow   Overflow
	// deliveryLimit is x-delivery-limit, -1 for none; returns counts how
	// often each unacked or requeued message was given back.
	deliveryLimit int64
	returns       map[int64]int32
	singleActive  bool
	dedupLimit    int
	deadLetter    func(m *Message, reason string, stored func())
	now           func() time.Time
	// failed is the last append error, nil once an append succeeds again;
	// dropping is set while a goroutine is on its way to forget the
	// messages whose append failed (see appendFailed).
	failed   atomic.Pointer[error]
	dropping atomic.Bool
	stats    counters // see stats.go

	mu     sync.Mutex
	closed bool
	end    int64 // offset after the last message enqueued
	next   int64 // cursor: the lowest offset never taken from the log
	floor  int64 // every offset below is acked
	acked  ranges
	// forgotten holds the offsets of messages delivered and then dropped
	// by dropFrom: the first ack, reject, requeue or dead-letter of such
	// an offset is the consumer settling the forgotten message, not the
	// one that took its offset, and is ignored.
	forgotten map[int64]struct{}
	ready     int64           // messages that may be delivered
	unacked   map[int64]int32 // offset → body size
	// readyBytes is the body bytes of the ready messages, kept exactly
	// when x-max-length-bytes needs it (see Open).
	readyBytes int64
	// requeued holds offsets below next that are ready again, delivered
	// lowest first.
	requeued offsetHeap
	// delivered is the offset after the highest one ever handed out;
	// bootDelivered its value when the queue was opened: an unacked offset
	// below it may have reached a consumer before the restart.
	delivered, bootDelivered int64
	// bootEnd is the end at Open: a transient message below it belongs to
	// an earlier run of the broker and is dropped.
	bootEnd int64

	cache      []*Message // the newest messages, offsets [cacheBase, end)
	cacheBase  int64
	cacheBytes int
	ra         []*Message // read-ahead from the log, offsets from raBase
	raBase     int64

	consumers []Consumer
	exclusive bool // consumers[0] is an exclusive consumer
	rr        int

	ackPending []span
	ackTimer   *time.Timer
	ackWritten chan struct{} // closed when the latest ack append is written (or failed)
	// settled is closed, and replaced, each time a message append
	// completes, so that WriteAcks can wait for acked messages to become
	// durable without taking the queue's lock in the log's callback.
	settled    atomic.Pointer[chan struct{}]
	expiry     *time.Timer // set while expiring messages wait at the head
	mayExpire  bool        // a TTL is set or a message with an expiration came
	ackRecords int
	trimmed    time.Time
	dying      int // messages handed to the dead-letter hook, not yet stored
	// bytesCounted: readyBytes is exact. It is kept as messages come and
	// go, but after a restart only once the backlog was read back, which
	// a queue does when a byte limit needs it (Open, SetLimits).
	bytesCounted bool

	// dedupKeys maps the deduplication keys of the messages in the queue
	// to their offsets (nil unless Deduplicate); dedupOrder holds them
	// oldest first; see dedup.go.
	dedupKeys  map[string]int64
	dedupOrder []dedupRef
	dedupSwept int
}

// Open opens a queue over its logs, replaying the ack log.
func Open(cfg Config) (*Queue, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	q := &Queue{
		name: cfg.Name, log: cfg.Log, acks: cfg.Acks,
		logger:        cfg.Logger.With("queue", cfg.Name),
		cacheLimit:    cfg.CacheBytes,
		budget:        cfg.Budget,
		ttl:           -1,
		maxLen:        -1,
		maxBytes:      -1,
		deliveryLimit: -1,
		singleActive:  cfg.SingleActiveConsumer,
		dedupLimit:    cfg.DedupLimit,
		now:           cfg.Now,
		unacked:       make(map[int64]int32),
		trimmed:       time.Now(),
	}
	q.setLimits(cfg.Limits)
	if q.acks != nil {
		if err := q.replayAcks(); err != nil {
			return nil, err
		}
		if q.forgetPastEnd(q.log.HighWatermark()) {
			q.logger.Warn("queue: the ack log held acks of messages a crash took; forgotten", "end", q.log.HighWatermark())
			if err := q.resetAckLog(); err != nil {
				return nil, err
			}
		}
	}
	q.floor = max(q.floor, q.log.StartOffset())
	q.advanceFloor()
	for o := range q.returns {
		if acked, _ := q.acked.has(o); acked || o < q.floor {
			delete(q.returns, o)
		}
	}
	q.end = q.log.HighWatermark()
	q.bootEnd = q.end
	q.next, q.cacheBase, q.raBase = q.floor, q.end, q.end
	q.ready = q.end - q.floor - q.acked.count(q.floor, q.end)
	q.bootDelivered = q.delivered
	if cfg.Deduplicate {
		q.dedupKeys = make(map[string]int64)
	}
	// Only a queue bounded in bytes needs its ready bytes, and its backlog
	// is bounded by that too: reading it back is cheap. A deduplicating
	// queue reads its keys back, the price of its promise.
	countBytes := q.maxBytes >= 0
	q.bytesCounted = countBytes
	if countBytes || (cfg.Deduplicate && cfg.DedupKey != nil) {
		err := q.scanLive(func(m *Message) {
			if countBytes {
				q.readyBytes += int64(len(m.Body))
			}
			if q.dedupKeys != nil && cfg.DedupKey != nil {
				if key := cfg.DedupKey(m); key != "" {
					q.remember(key, m.Offset)
				}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	q.mayExpire = q.ttl >= 0
	q.armExpiry()
	return q, nil
}

// replayAcks rebuilds the acked set from the ack log.
func (q *Queue) replayAcks() error {
	var buf []byte
	for off := q.acks.StartOffset(); off < q.acks.HighWatermark(); {
		var err error
		buf, err = q.acks.Read(buf[:0], off, 1<<20)
		if ce := (*logstore.CorruptError)(nil); errors.As(err, &ce) && ce.To > off {
			// Acks lost to damage: their messages are delivered again,
			// as after a crash that lost them.
			q.logger.Error("queue: skipped ack records damaged on disk; their messages may be redelivered",
				"from_offset", off, "to_offset", ce.To)
			off = ce.To
			continue
		}
		if err != nil {
			return fmt.Errorf("queue %s: read ack log: %w", q.name, err)
		}
		if len(buf) == 0 {
			break
		}
		for _, b := range logstore.SplitBatches(buf) {
			recs, err := logstore.DecodeRecords(b)
			if err != nil {
				return fmt.Errorf("queue %s: read ack log: %w", q.name, err)
			}
			for _, r := range recs {
				if r.Offset < off {
					continue
				}
				off = r.Offset + 1
				if len(r.Value) > 0 && r.Value[0] == ackReturns {
					rs, err := parseReturnsRecord(r.Value)
					if err != nil {
						q.logger.Warn("queue: skipping a malformed returns record", "offset", r.Offset)
						continue
					}
					if q.returns == nil {
						q.returns = make(map[int64]int32)
					}
					for _, e := range rs {
						q.returns[e.offset] = e.returns
					}
					continue
				}
				a, err := parseAckRecord(r.Value)
				if err != nil {
					q.logger.Warn("queue: skipping a malformed ack record", "offset", r.Offset)
					continue
				}
				q.floor = max(q.floor, a.floor)
				q.delivered = max(q.delivered, a.delivered)
				for _, s := range a.spans {
					q.acked.add(s.from, s.to)
				}
			}
		}
	}
	return nil
}

// setLimits sets the limits; q.mu is held, or q is not yet shared.
func (q *Queue) setLimits(l Limits) {
	q.ttl, q.maxLen, q.maxBytes, q.deliveryLimit = -1, -1, -1, -1
	if l.MessageTTL > 0 {
		q.ttl = l.MessageTTL.Milliseconds() // a TTL under 1 ms is 0: expire unless taken at once
	}
	if l.HasMaxLength {
		q.maxLen = max(l.MaxLength, 0)
	}
	if l.HasMaxLengthBytes {
		q.maxBytes = max(l.MaxLengthBytes, 0)
	}
	if l.HasDeliveryLimit {
		q.deliveryLimit = max(l.DeliveryLimit, 0)
	}
	q.overflow, q.deadLetter = l.Overflow, l.DeadLetter
}

// SetLimits changes the limits of a running queue, as a policy does, and
// applies them at once: past a new maximum length the oldest ready
// messages go, as they would have on arrival. A first byte limit reads
// the backlog back once to count its bytes.
func (q *Queue) SetLimits(l Limits) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if l.HasMaxLengthBytes && !q.bytesCounted {
		var live int64
		if err := q.scanLive(func(m *Message) { live += int64(len(m.Body)) }); err != nil {
			return err
		}
		for _, size := range q.unacked {
			live -= int64(size)
		}
		q.readyBytes, q.bytesCounted = max(live, 0), true
	}
	q.setLimits(l)
	q.mayExpire = q.mayExpire || q.ttl >= 0
	q.dropOverflow()
	if q.expiry != nil {
		q.expiry.Stop()
		q.expiry = nil
	}
	q.armExpiry()
	q.dispatchLocked()
	return nil
}

// scanLive reads back from the log, at Open, every message still in the
// queue, and gives it to fn.
func (q *Queue) scanLive(fn func(m *Message)) error {
	var buf []byte
	var err error
	for off := q.floor; off < q.end; {
		if ok, to := q.acked.has(off); ok {
			off = to
			continue
		}
		buf, err = q.log.Read(buf[:0], off, 1<<20)
		if ce := (*logstore.CorruptError)(nil); errors.As(err, &ce) && ce.To > off {
			off = ce.To // damaged: delivery skips these messages (skipDamaged)
			continue
		}
		if err != nil {
			return fmt.Errorf("queue %s: read back: %w", q.name, err)
		}
		ms, err := decode(nil, buf)
		if err != nil || len(ms) == 0 {
			return fmt.Errorf("queue %s: read back at %d: %v", q.name, off, err)
		}
		from := off
		for _, m := range ms {
			if m.Offset < off {
				continue
			}
			if ok, _ := q.acked.has(m.Offset); !ok && (m.Persistent || m.Offset >= q.bootEnd) {
				fn(m)
			}
			off = m.Offset + 1
		}
		if off == from {
			return fmt.Errorf("queue %s: read back: no message at %d", q.name, off)
		}
	}
	return nil
}

// Name returns the name the queue was opened with.
func (q *Queue) Name() string { return q.name }

// Enqueue appends a message, encoded by Encode, to the queue; m describes
// it and is copied. done is called once, when the message is durable (as
// the log's fsync policy defines it) or has failed; it must not block. The
// message may be delivered before it is durable, as RabbitMQ does: a
// consumer may see a message whose publisher is then told it failed.
//
// A failed append fails every append queued behind it, and the log gives
// their offsets to the next messages: the queue forgets the failed ones
// (see dropFrom) and goes on, so that it takes messages again as soon as
// the log does (a disk with free space again).
func (q *Queue) Enqueue(batch []byte, m *Message, done func(error)) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		done(ErrClosed)
		return
	}
	if q.dedupKeys != nil && m.DedupKey != "" && q.duplicate(m.DedupKey) {
		q.mu.Unlock()
		done(nil)
		return
	}
	full := (q.maxLen >= 0 && q.ready >= q.maxLen) ||
		(q.maxBytes >= 0 && q.readyBytes+int64(len(m.Body)) > q.maxBytes)
	if full && q.overflow != DropHead {
		if q.overflow == RejectPublishDLX && q.deadLetter != nil {
			q.stats.deadLettered.Add(1)
			q.deadLetter(m, ReasonMaxLen, func() {}) // never in the queue: nothing to ack
		}
		q.mu.Unlock()
		done(ErrOverflow)
		return
	}
	mm := *m
	base := q.log.AppendAsync(batch, func(_ int64, err error) {
		q.signalSettled()
		if err != nil {
			err = fmt.Errorf("%w: %v", ErrStorage, err)
			q.appendFailed(&mm, err)
		} else if q.failed.Load() != nil && q.failed.Swap(nil) != nil {
			q.logger.Info("queue: appends succeed again")
		}
		done(err)
	})
	if base < 0 {
		q.mu.Unlock()
		return
	}
	if base < q.end {
		// An append failed since the last one, and the log took back
		// its offsets and those after it.
		q.dropFrom(base)
	}
	mm.Offset = base
	q.mayExpire = q.mayExpire || m.Expires != 0
	q.end = base + 1
	q.addToCache(&mm)
	if q.dedupKeys != nil && m.DedupKey != "" {
		q.remember(m.DedupKey, base)
	}
	q.stats.published.Add(1)
	q.ready++
	q.readyBytes += int64(len(m.Body))
	q.dispatchLocked()
	q.dropOverflow()
	q.armExpiry()
	q.mu.Unlock()
}

// appendFailed is the failure of the append of m, called from the log's
// flusher, which must not wait for q.mu: a goroutine forgets m and what
// followed it, unless an Enqueue has done so already and m's offset has
// gone to another message.
func (q *Queue) appendFailed(m *Message, err error) {
	if q.failed.Swap(&err) == nil {
		q.logger.Error("queue: append failed; publishers are refused until the log takes appends again", "err", err)
	}
	if !q.dropping.CompareAndSwap(false, true) {
		return // one is on its way; it forgets everything from the first failure on
	}
	go func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.dropping.Store(false)
		if i := m.Offset - q.cacheBase; !q.closed && i >= 0 && i < int64(len(q.cache)) && q.cache[i] == m {
			q.dropFrom(m.Offset)
		}
	}()
}

// dropFrom forgets the messages at offsets from on, whose append failed:
// the log gives their offsets to the next messages. Such a message may
// have been delivered (it was in the cache): the consumer's ack of it is
// ignored, even once its offset has gone to another message (see
// forgotten), and an ack that came before was never written to the ack
// log, which takes only acks of durable messages (see flushAcksLocked).
// q.mu is held.
func (q *Queue) dropFrom(from int64) {
	if from >= q.end {
		return
	}
	size := func(o int64) int64 {
		if i := o - q.cacheBase; i >= 0 && i < int64(len(q.cache)) {
			return int64(len(q.cache[i].Body))
		}
		return 0
	}
	for o := max(from, q.next); o < q.end; o++ {
		if acked, _ := q.acked.has(o); !acked {
			q.ready--
			q.readyBytes -= size(o)
		}
	}
	kept := q.requeued[:0]
	for _, o := range q.requeued {
		if o < from {
			kept = append(kept, o)
			continue
		}
		q.ready--
		q.readyBytes -= size(o)
	}
	q.requeued = kept
	heap.Init(&q.requeued)
	for o := from; o < q.end; o++ {
		if _, ok := q.unacked[o]; ok {
			if q.forgotten == nil {
				q.forgotten = make(map[int64]struct{})
			}
			q.forgotten[o] = struct{}{}
			delete(q.unacked, o)
		}
		delete(q.returns, o)
	}
	q.acked.dropFrom(from)
	q.floor = min(q.floor, from)
	q.ackPending, _ = splitAt(q.ackPending, from)
	if i := from - q.cacheBase; i < int64(len(q.cache)) {
		i = max(i, 0)
		for _, m := range q.cache[i:] {
			q.cacheBytes -= m.size()
			q.budget.add(-m.size())
		}
		clear(q.cache[i:])
		q.cache = q.cache[:i]
	}
	if i := from - q.raBase; i >= 0 && i < int64(len(q.ra)) {
		clear(q.ra[i:])
		q.ra = q.ra[:i]
	}
	q.ready, q.readyBytes = max(q.ready, 0), max(q.readyBytes, 0)
	q.next, q.delivered = min(q.next, from), min(q.delivered, from)
	q.end = from
	if len(q.cache) == 0 {
		q.cacheBase = from
	}
}

// wasForgotten reports whether o is a forgotten delivery (see forgotten),
// and forgets it. q.mu is held.
func (q *Queue) wasForgotten(o int64) bool {
	if _, ok := q.forgotten[o]; !ok {
		return false
	}
	delete(q.forgotten, o)
	return true
}

// dropOverflow drops the oldest ready messages past the maximum length,
// dead-lettering them with reason maxlen.
func (q *Queue) dropOverflow() {
	for (q.maxLen >= 0 && q.ready > q.maxLen) || (q.maxBytes >= 0 && q.readyBytes > q.maxBytes) {
		m, requeued := q.peek()
		if m == nil {
			return
		}
		switch {
		case q.deadLetter == nil:
			q.take(m, requeued, true)
		case q.dying < maxDying:
			q.take(m, requeued, false)
			q.die(m, ReasonMaxLen)
		default:
			// A burst beyond what may wait to be stored: at most once,
			// as in RabbitMQ, rather than hold publishers up.
			q.take(m, requeued, true)
			q.stats.deadLettered.Add(1)
			q.deadLetter(m, ReasonMaxLen, func() {})
		}
	}
}

// addToCache adds the newest message and evicts old ones: those the cursor
// has passed, and the oldest while over budget, but only once durable, so
// that a message not in the cache can always be read from the log.
func (q *Queue) addToCache(m *Message) {
	if m.Offset != q.cacheBase+int64(len(q.cache)) {
		// A gap (should not happen): start the cache again at m.
		q.dropCache()
		q.cacheBase = m.Offset
	}
	q.cache = append(q.cache, m)
	q.cacheBytes += m.size()
	q.budget.add(m.size())
	hw := int64(-1)
	i := 0
	for ; i < len(q.cache); i++ {
		o := q.cacheBase + int64(i)
		if o >= q.next && q.cacheBytes <= q.cacheLimit && !q.budget.over() {
			break
		}
		if hw < 0 {
			hw = q.log.HighWatermark()
		}
		if o >= hw {
			break
		}
		q.cacheBytes -= q.cache[i].size()
		q.budget.add(-q.cache[i].size())
		q.cache[i] = nil
	}
	if i > 0 {
		q.cache = q.cache[i:]
		q.cacheBase += int64(i)
		if cap(q.cache) > 2*len(q.cache)+1024 {
			q.cache = append([]*Message(nil), q.cache...)
		}
	}
}

// Counts returns the messages ready, delivered and unacknowledged, and
// the consumers.
func (q *Queue) Counts() (ready, unacked, consumers int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int(q.ready), len(q.unacked), len(q.consumers)
}

// Purge removes every ready message and returns how many. Unacknowledged
// messages stay.
func (q *Queue) Purge() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.ready
	for _, o := range q.requeued {
		q.ackLocked(o)
	}
	q.requeued = q.requeued[:0]
	q.next = max(q.next, q.floor)
	for q.next < q.end {
		if ok, to := q.acked.has(q.next); ok {
			q.next = to
			continue
		}
		to := q.end
		if s, ok := q.firstAckedFrom(q.next); ok {
			to = s.from
		}
		q.ackRange(q.next, to)
		q.next = to
	}
	q.ready, q.readyBytes = 0, 0
	return int(n)
}

// firstAckedFrom returns the first acked span at or after o.
func (q *Queue) firstAckedFrom(o int64) (span, bool) {
	for _, s := range q.acked.s {
		if s.to > o {
			return s, true
		}
	}
	return span{}, false
}

// ReleaseCache gives back the memory of every cached message that can be
// read again from the log (all but those not yet durable) and of the
// read-ahead; consumers then read from disk. It is for when memory is
// short: the cache is otherwise trimmed only as messages arrive, so a
// queue that stops receiving keeps what it cached.
func (q *Queue) ReleaseCache() {
	q.mu.Lock()
	defer q.mu.Unlock()
	hw := q.log.HighWatermark()
	i := 0
	for ; i < len(q.cache) && q.cacheBase+int64(i) < hw; i++ {
		q.cacheBytes -= q.cache[i].size()
		q.budget.add(-q.cache[i].size())
	}
	// New arrays, so the old ones' memory can go.
	q.cache = append([]*Message(nil), q.cache[i:]...)
	q.cacheBase += int64(i)
	q.ra, q.raBase = nil, q.end
}

func (q *Queue) dropCache() {
	q.budget.add(-q.cacheBytes)
	clear(q.cache)
	clear(q.ra)
	q.cache, q.ra = q.cache[:0], q.ra[:0]
	q.cacheBase, q.raBase, q.cacheBytes = q.end, q.end, 0
}

// Close stops the queue: pending acks are written, consumers are dropped
// without being told (the broker is stopping). The logs stay open for
// their owner to close.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.flushAcksLocked()
	q.closed = true
	q.consumers = nil
	if q.ackTimer != nil {
		q.ackTimer.Stop()
	}
	if q.expiry != nil {
		q.expiry.Stop()
	}
	q.dropCache()
}

// Delete closes the queue and returns its consumers, which the caller
// tells of the deletion. The caller deletes the logs.
func (q *Queue) Delete() []Consumer {
	q.mu.Lock()
	cs := q.consumers
	q.consumers = nil
	q.ackPending = nil // the logs go too: nothing to write
	q.mu.Unlock()
	q.Close()
	return cs
}
