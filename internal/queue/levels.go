package queue

import (
	"fmt"
	"sync"
)

// Sub is what a queue's owner needs of it: a plain Queue, or Levels for a
// queue with priorities. Messages are settled (acked, requeued, rejected)
// on the Queue that delivered them.
type Sub interface {
	Enqueue(batch []byte, m *Message, done func(error))
	AddConsumer(c Consumer, exclusive bool) error
	RemoveConsumer(c Consumer) int
	Dispatch()
	// Get takes the next ready message for basic.get, and returns the
	// Queue to settle it on.
	Get(noAck bool) (from *Queue, m *Message, redelivered bool, returns, remaining int, err error)
	Counts() (ready, unacked, consumers int)
	Purge() int
	Delete() []Consumer
	Close()
	// SetLimits changes the limits while the queue runs (a policy).
	SetLimits(l Limits) error
}

// Levels is a queue with priorities (x-max-priority), as RabbitMQ builds
// one: a Queue per priority level, each its own log, so that every level
// keeps the bounded memory, FIFO order and restart behaviour of a plain
// queue. A message goes to the level of its priority (capped at the
// maximum); consumers are registered on every level and offered the
// highest level's messages first, whenever they gain credit. A level is
// opened on its first message.
type Levels struct {
	open func(level int) (*Queue, error)

	mu        sync.RWMutex
	levels    []*Queue // by priority; nil until used
	consumers []levelConsumer
	closed    bool
}

type levelConsumer struct {
	c         Consumer
	exclusive bool
}

// OpenLevels returns a queue of levels 0..max. open opens (creating if
// need be) a level's Queue; existing lists the levels that have stored
// messages, which are opened now.
func OpenLevels(max int, existing []int, open func(level int) (*Queue, error)) (*Levels, error) {
	l := &Levels{open: open, levels: make([]*Queue, max+1)}
	for _, i := range existing {
		if i < 0 || i > max {
			continue
		}
		q, err := open(i)
		if err != nil {
			l.Close()
			return nil, err
		}
		l.levels[i] = q
	}
	return l, nil
}

// Level returns the level a message of priority p goes to.
func (l *Levels) Level(p int) int { return min(max(p, 0), len(l.levels)-1) }

// Enqueue appends m to the level of m.Priority.
func (l *Levels) Enqueue(batch []byte, m *Message, done func(error)) {
	i := l.Level(int(m.Priority))
	l.mu.RLock()
	q := l.levels[i]
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		done(ErrClosed)
		return
	}
	if q == nil {
		var err error
		if q, err = l.level(i); err != nil {
			done(err)
			return
		}
	}
	q.Enqueue(batch, m, done)
}

// level opens level i, registering the consumers on it.
func (l *Levels) level(i int) (*Queue, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if q := l.levels[i]; q != nil {
		return q, nil
	}
	q, err := l.open(i)
	if err != nil {
		return nil, fmt.Errorf("%w: priority %d: %v", ErrStorage, i, err)
	}
	for _, lc := range l.consumers {
		q.addConsumer(lc.c, lc.exclusive, false)
	}
	l.levels[i] = q
	return q, nil
}

// each calls fn on the open levels, highest first.
func (l *Levels) each(fn func(q *Queue) bool) {
	l.mu.RLock()
	qs := make([]*Queue, 0, len(l.levels))
	for i := len(l.levels) - 1; i >= 0; i-- {
		if l.levels[i] != nil {
			qs = append(qs, l.levels[i])
		}
	}
	l.mu.RUnlock()
	for _, q := range qs {
		if !fn(q) {
			return
		}
	}
}

// AddConsumer adds c to every level.
func (l *Levels) AddConsumer(c Consumer, exclusive bool) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	for _, lc := range l.consumers {
		if lc.exclusive || exclusive {
			l.mu.Unlock()
			return ErrExclusiveConsumer
		}
	}
	l.consumers = append(l.consumers, levelConsumer{c, exclusive})
	// Registered without dispatching, then offered messages highest level
	// first.
	for _, q := range l.levels {
		if q != nil {
			q.addConsumer(c, exclusive, false)
		}
	}
	l.mu.Unlock()
	l.Dispatch()
	return nil
}

// RemoveConsumer removes c from every level.
func (l *Levels) RemoveConsumer(c Consumer) int {
	l.mu.Lock()
	for i, lc := range l.consumers {
		if lc.c == c {
			l.consumers = append(l.consumers[:i], l.consumers[i+1:]...)
			break
		}
	}
	left := len(l.consumers)
	l.mu.Unlock()
	l.each(func(q *Queue) bool { q.RemoveConsumer(c); return true })
	return left
}

// Dispatch offers ready messages, the highest level's first.
func (l *Levels) Dispatch() {
	l.each(func(q *Queue) bool { q.Dispatch(); return true })
}

// Get takes the next message of the highest level that has one ready.
func (l *Levels) Get(noAck bool) (from *Queue, m *Message, redelivered bool, returns, remaining int, err error) {
	l.each(func(q *Queue) bool {
		if from != nil {
			r, _, _ := q.Counts()
			remaining += r
			return true
		}
		var left int
		_, m, redelivered, returns, left, err = q.Get(noAck)
		remaining += left
		if m != nil || err != nil {
			from = q
		}
		return err == nil
	})
	return from, m, redelivered, returns, remaining, err
}

// Counts sums the levels' counts.
func (l *Levels) Counts() (ready, unacked, consumers int) {
	l.each(func(q *Queue) bool {
		r, u, _ := q.Counts()
		ready += r
		unacked += u
		return true
	})
	l.mu.RLock()
	consumers = len(l.consumers)
	l.mu.RUnlock()
	return ready, unacked, consumers
}

// ReleaseCache releases every level's cache.
func (l *Levels) ReleaseCache() {
	l.each(func(q *Queue) bool { q.ReleaseCache(); return true })
}

// Purge purges every level.
func (l *Levels) Purge() int {
	n := 0
	l.each(func(q *Queue) bool { n += q.Purge(); return true })
	return n
}

// Delete deletes every level and returns the consumers.
func (l *Levels) Delete() []Consumer {
	l.mu.Lock()
	l.closed = true
	cs := make([]Consumer, 0, len(l.consumers))
	for _, lc := range l.consumers {
		cs = append(cs, lc.c)
	}
	l.consumers = nil
	qs := l.levels
	l.mu.Unlock()
	for _, q := range qs {
		if q != nil {
			q.Delete()
		}
	}
	return cs
}

// SetLimits sets the limits of every open level; a level opened later
// gets them from its opener.
func (l *Levels) SetLimits(lim Limits) error {
	var first error
	l.each(func(q *Queue) bool {
		if err := q.SetLimits(lim); err != nil && first == nil {
			first = err
		}
		return true
	})
	return first
}

// Close closes every level.
func (l *Levels) Close() {
	l.mu.Lock()
	l.closed = true
	qs := l.levels
	l.mu.Unlock()
	for _, q := range qs {
		if q != nil {
			q.Close()
		}
	}
}
