package queue

import "sync/atomic"

// Totals are a queue's running counts of what happened to its messages
// since it was opened, for metrics. They start again at zero when the
// broker restarts, which Prometheus counters allow.
type Totals struct {
	// Published counts messages appended (a duplicate dropped by
	// deduplication or a message refused at the maximum length is not).
	Published uint64
	// Delivered counts messages handed to consumers or taken by
	// basic.get, with or without ack; Redelivered the part of them that
	// had been delivered before (requeued, or unacked at a restart).
	Delivered, Redelivered uint64
	// Acked counts messages acknowledged by their consumers.
	Acked uint64
	// DeadLettered counts messages handed to the dead-letter exchange:
	// rejected, expired, or past a length or delivery limit.
	DeadLettered uint64
}

// counters are a Queue's Totals, kept with atomics so that a scrape reads
// them without the queue's lock; they are bumped where the queue's lock is
// already held, so they cost an uncontended add.
type counters struct {
	published, delivered, redelivered, acked, deadLettered atomic.Uint64
}

func (c *counters) delivery(redelivered bool) {
	c.delivered.Add(1)
	if redelivered {
		c.redelivered.Add(1)
	}
}

// Totals returns the queue's counts.
func (q *Queue) Totals() Totals {
	return Totals{
		Published:    q.stats.published.Load(),
		Delivered:    q.stats.delivered.Load(),
		Redelivered:  q.stats.redelivered.Load(),
		Acked:        q.stats.acked.Load(),
		DeadLettered: q.stats.deadLettered.Load(),
	}
}

// Totals sums the counts of the open levels.
func (l *Levels) Totals() Totals {
	var t Totals
	l.each(func(q *Queue) bool {
		t = t.add(q.Totals())
		return true
	})
	return t
}

func (t Totals) add(o Totals) Totals {
	return Totals{
		Published:    t.Published + o.Published,
		Delivered:    t.Delivered + o.Delivered,
		Redelivered:  t.Redelivered + o.Redelivered,
		Acked:        t.Acked + o.Acked,
		DeadLettered: t.DeadLettered + o.DeadLettered,
	}
}
