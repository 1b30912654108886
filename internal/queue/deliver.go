package queue

import (
	"container/heap"
	"errors"
	"time"

	"github.com/loftmq/loft/internal/logstore"
)

// Consumer receives a queue's messages. Its methods are called with the
// queue's mutex held: they must not block nor call the queue.
type Consumer interface {
	// Deliver offers m to the consumer, which takes it and returns true,
	// or returns false when it has no credit now; it is then offered
	// messages again after it calls Dispatch. returns counts the times m
	// was delivered and given back (requeued) before: the x-delivery-count.
	Deliver(q *Queue, m *Message, redelivered bool, returns int) bool
	// NoAck reports whether delivered messages count as acked at once.
	NoAck() bool
}

// AddConsumer adds c to the consumers the queue delivers to, round-robin.
// An exclusive consumer needs a queue without consumers and keeps others
// out until removed.
func (q *Queue) AddConsumer(c Consumer, exclusive bool) error {
	return q.addConsumer(c, exclusive, true)
}

// addConsumer is AddConsumer, offering c messages at once if dispatch.
func (q *Queue) addConsumer(c Consumer, exclusive, dispatch bool) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if q.exclusive || (exclusive && len(q.consumers) > 0) {
		return ErrExclusiveConsumer
	}
	q.consumers = append(q.consumers, c)
	q.exclusive = exclusive
	if dispatch {
		q.dispatchLocked()
	}
	return nil
}

// RemoveConsumer removes c and returns how many consumers are left. The
// messages c holds unacked stay so until acked or requeued.
func (q *Queue) RemoveConsumer(c Consumer) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, have := range q.consumers {
		if have == c {
			q.consumers = append(q.consumers[:i], q.consumers[i+1:]...)
			if q.rr > i {
				q.rr--
			}
			break
		}
	}
	if len(q.consumers) == 0 {
		q.exclusive = false
		q.rr = 0
	}
	q.dispatchLocked() // a single active consumer's successor takes over
	return len(q.consumers)
}

// Dispatch offers ready messages to the consumers: call it when a
// consumer's credit grows.
func (q *Queue) Dispatch() {
	q.mu.Lock()
	q.dispatchLocked()
	q.mu.Unlock()
}

func (q *Queue) dispatchLocked() {
	for len(q.consumers) > 0 && q.ready > 0 && !q.closed {
		m, requeued := q.peek()
		if m == nil {
			return
		}
		redelivered := requeued || m.Offset < q.bootDelivered
		n := len(q.consumers)
		if q.singleActive {
			n = 1 // only the first consumer, the active one, is offered messages
			q.rr = 0
		}
		taken := false
		for i := range n {
			c := q.consumers[(q.rr+i)%n]
			if !c.Deliver(q, m, redelivered, int(q.returns[m.Offset])) {
				continue
			}
			q.rr = (q.rr + i + 1) % n
			q.take(m, requeued, c.NoAck())
			q.stats.delivery(redelivered)
			taken = true
			break
		}
		if !taken {
			return
		}
	}
}

// Get takes the next ready message for basic.get: it is unacked unless
// noAck, and settled on from, q itself. It returns nil when none is ready,
// and the count of messages still ready.
func (q *Queue) Get(noAck bool) (from *Queue, m *Message, redelivered bool, returns, remaining int, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return q, nil, false, 0, 0, ErrClosed
	}
	if q.ready == 0 {
		return q, nil, false, 0, 0, nil
	}
	m, requeued := q.peek()
	if m == nil {
		if errp := q.failed.Load(); errp != nil {
			return q, nil, false, 0, 0, *errp
		}
		return q, nil, false, 0, int(q.ready), nil
	}
	returns = int(q.returns[m.Offset])
	q.take(m, requeued, noAck)
	redelivered = requeued || m.Offset < q.bootDelivered
	q.stats.delivery(redelivered)
	return q, m, redelivered, returns, int(q.ready), nil
}

// peek returns the message to deliver next without taking it, and whether
// it is a requeued one; nil when none can be had now.
func (q *Queue) peek() (*Message, bool) {
	for len(q.requeued) > 0 {
		o := q.requeued[0]
		m := q.fetch(o)
		if m != nil && !q.expired(m) {
			return m, true
		}
		// Expired, or unreadable: it cannot be delivered again; gone.
		if m != nil && q.deadLetter != nil {
			if q.dying >= maxDying {
				return nil, false // expire more once copies are stored
			}
			heap.Pop(&q.requeued)
			q.ready--
			q.readyBytes -= int64(len(m.Body))
			q.unacked[o] = int32(len(m.Body))
			q.die(m, ReasonExpired)
			continue
		}
		if m != nil {
			q.readyBytes -= int64(len(m.Body))
		}
		heap.Pop(&q.requeued)
		q.ready--
		q.ackLocked(o)
	}
	q.next = max(q.next, q.floor) // the floor may pass acked offsets ahead of the cursor
	for q.next < q.end {
		if ok, to := q.acked.has(q.next); ok {
			q.next = to
			continue
		}
		m, err := q.fetchErr(q.next)
		if m == nil {
			if ce := (*logstore.CorruptError)(nil); errors.As(err, &ce) && ce.To > q.next {
				q.skipDamaged(ce)
				continue
			}
			return nil, false
		}
		stale := !m.Persistent && m.Offset < q.bootEnd
		if stale || q.expired(m) {
			// A transient message of an earlier run (forgotten), or an
			// expired one (dead-lettered): gone.
			dies := !stale && q.deadLetter != nil
			if dies && q.dying >= maxDying {
				return nil, false // expire more once copies are stored
			}
			q.next++
			q.ready--
			q.readyBytes -= int64(len(m.Body))
			if dies {
				q.unacked[m.Offset] = int32(len(m.Body))
				q.die(m, ReasonExpired)
			} else {
				q.ackLocked(m.Offset)
			}
			continue
		}
		return m, false
	}
	return nil, false
}

// expiresAt is when m expires in this queue, in ms, or 0 for never: the
// earlier of its own expiration and the queue's message TTL.
func (q *Queue) expiresAt(m *Message) int64 {
	at := m.Expires
	if q.ttl >= 0 && (at == 0 || m.Timestamp+q.ttl < at) {
		at = m.Timestamp + q.ttl
	}
	return at
}

// expired reports whether m has expired. A message whose expiry is this
// very millisecond may still go to a consumer waiting for it, as RabbitMQ
// delivers a message with TTL 0 if it can at once. The clock is read only
// for messages that can expire.
func (q *Queue) expired(m *Message) bool {
	at := q.expiresAt(m)
	return at != 0 && q.now().UnixMilli() > at
}

// armExpiry makes sure expired messages at the head go even when nobody
// consumes: a timer fires when the head expires. Messages behind an
// unexpired head wait for it, as in RabbitMQ.
func (q *Queue) armExpiry() {
	if !q.mayExpire || q.expiry != nil || q.ready == 0 || q.closed {
		return
	}
	m, _ := q.peek()
	if m == nil {
		return
	}
	at := q.expiresAt(m)
	if at == 0 {
		return
	}
	wait := time.Duration(at-q.now().UnixMilli()+1) * time.Millisecond
	q.expiry = time.AfterFunc(max(wait, time.Millisecond), func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.expiry = nil
		if !q.closed {
			q.peek() // drops what has expired at the head
			q.armExpiry()
		}
	})
}

// take marks m, returned by peek, delivered.
func (q *Queue) take(m *Message, requeued, noAck bool) {
	if requeued {
		heap.Pop(&q.requeued)
	} else {
		q.next = m.Offset + 1
	}
	q.ready--
	q.readyBytes -= int64(len(m.Body))
	q.delivered = max(q.delivered, m.Offset+1)
	if noAck {
		q.ackLocked(m.Offset)
	} else {
		q.unacked[m.Offset] = int32(len(m.Body))
	}
}

// fetch returns the message at offset o from the cache, the read-ahead or
// the log; nil if it cannot be read (not yet durable, or damaged).
func (q *Queue) fetch(o int64) *Message {
	m, _ := q.fetchErr(o)
	return m
}

// fetchErr is fetch, with the read's error when there was one: a
// *logstore.CorruptError for damaged messages.
func (q *Queue) fetchErr(o int64) (*Message, error) {
	if i := o - q.cacheBase; i >= 0 && i < int64(len(q.cache)) {
		return q.cache[i], nil
	}
	if i := o - q.raBase; i >= 0 && i < int64(len(q.ra)) {
		return q.ra[i], nil
	}
	if o >= q.log.HighWatermark() {
		return nil, nil
	}
	buf, err := q.log.Read(nil, o, readAheadBytes)
	if err != nil {
		if !errors.Is(err, logstore.ErrCorrupt) { // the log reported damage itself
			q.logger.Error("queue: cannot read a message", "offset", o, "err", err)
		}
		return nil, err
	}
	clear(q.ra)
	q.ra, err = decode(q.ra[:0], buf)
	if err != nil {
		q.logger.Error("queue: cannot decode a message", "offset", o, "err", err)
	}
	// Batches hold one message each, so offsets run without gaps; keep
	// the read-ahead from o on.
	for len(q.ra) > 0 && q.ra[0].Offset < o {
		q.ra = q.ra[1:]
	}
	if len(q.ra) == 0 || q.ra[0].Offset != o {
		q.ra = q.ra[:0]
		q.raBase = q.end
		return nil, nil
	}
	q.raBase = o
	for i, m := range q.ra {
		if m.Offset != o+int64(i) {
			q.ra = q.ra[:i]
			break
		}
	}
	return q.ra[0], nil
}

// skipDamaged steps the cursor over messages damaged on disk, from q.next
// to the end of the damage, and drops them as acked. The log has logged
// and counted the damage; the queue says which messages it lost. AMQP has
// no way to tell a consumer that the next message is unreadable, nor for
// it to step past one: a queue that stopped there would hold every intact
// message behind the damage forever.
func (q *Queue) skipDamaged(ce *logstore.CorruptError) {
	from, to := q.next, min(ce.To, q.end)
	lost := 0
	for o := from; o < to; o++ {
		if acked, _ := q.acked.has(o); !acked {
			q.ready--
			q.ackLocked(o)
			lost++
		}
	}
	q.next = max(q.next, to)
	q.logger.Error("queue: skipped messages damaged on disk", "from_offset", from, "to_offset", to,
		"messages", lost, "segment", ce.Segment, "position", ce.Pos)
}

// Ack acknowledges delivered messages; offsets not delivered and
// unacknowledged are ignored.
func (q *Queue) Ack(offsets ...int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, o := range offsets {
		if q.wasForgotten(o) {
			continue
		}
		if _, ok := q.unacked[o]; ok {
			delete(q.unacked, o)
			q.ackLocked(o)
			q.stats.acked.Add(1)
		}
	}
}

// Reject drops delivered messages, as an ack does, but hands each to the
// dead-letter hook, if the queue has one, with reason "rejected".
func (q *Queue) Reject(offsets ...int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, o := range offsets {
		if q.wasForgotten(o) {
			continue
		}
		if _, ok := q.unacked[o]; !ok {
			continue
		}
		if q.deadLetter != nil {
			if m := q.fetch(o); m != nil {
				q.die(m, ReasonRejected) // stays unacked until its copy is stored
				continue
			}
		}
		delete(q.unacked, o)
		q.ackLocked(o)
	}
}

// Requeue makes delivered messages ready again, in their original place:
// they go out before any message behind them.
func (q *Queue) Requeue(offsets ...int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var back []offsetReturns
	for _, o := range offsets {
		if q.wasForgotten(o) {
			continue
		}
		size, ok := q.unacked[o]
		if !ok {
			continue
		}
		delete(q.unacked, o)
		if q.returns == nil {
			q.returns = make(map[int64]int32)
		}
		q.returns[o]++
		if q.deliveryLimit >= 0 && int64(q.returns[o]) > q.deliveryLimit {
			// Given back once too often: a poison message goes to the
			// dead-letter exchange, or away.
			if m := q.fetch(o); m != nil && q.deadLetter != nil {
				q.unacked[o] = size
				q.die(m, ReasonDeliveryLimit)
				continue
			}
			q.ackLocked(o)
			continue
		}
		heap.Push(&q.requeued, o)
		q.ready++
		q.readyBytes += int64(size)
		back = append(back, offsetReturns{o, q.returns[o]})
	}
	q.logReturns(back)
	q.dispatchLocked()
}

// maxDying bounds the messages of a queue handed to the dead-letter hook
// and not yet stored where they go: past it, expiry waits, and a burst of
// drops past the maximum length is dead-lettered at most once.
const maxDying = 1024

// die hands m, held in unacked, to the dead-letter hook; it is acked when
// its copy is stored. q.mu is held.
func (q *Queue) die(m *Message, reason string) {
	q.dying++
	q.stats.deadLettered.Add(1)
	o := m.Offset
	q.deadLetter(m, reason, func() { q.dead(o) })
}

// dead acks a dead-lettered message whose copy is stored, and resumes
// what waited for it.
func (q *Queue) dead(o int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dying--
	if _, ok := q.unacked[o]; ok && !q.wasForgotten(o) {
		delete(q.unacked, o)
		q.ackLocked(o)
	} else {
		q.wasForgotten(o)
	}
	if !q.closed {
		q.dispatchLocked()
		q.armExpiry()
	}
}

// offsetHeap is a min-heap of offsets.
type offsetHeap []int64

func (h offsetHeap) Len() int           { return len(h) }
func (h offsetHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h offsetHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *offsetHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *offsetHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
