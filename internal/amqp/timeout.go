package amqp

// Consumer timeouts: a delivery left unacked longer than its consumer's
// timeout (the queue's x-consumer-timeout, else the server's
// ConsumerTimeout, RabbitMQ's consumer_timeout) cancels that consumer
// alone, with a server-sent basic.cancel, and requeues its unacked
// messages. The channel stays open; a late ack of a requeued delivery is
// ignored rather than treated as an unknown tag.

import (
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/vhost"
)

// consumerTimeout returns the timeout for consumers of q: its own
// x-consumer-timeout, else the server's.
func (c *conn) consumerTimeout(q *vhost.Queue) time.Duration {
	if q.ConsumerTimeout > 0 {
		return q.ConsumerTimeout
	}
	return c.s.cfg.ConsumerTimeout
}

// watch registers cs for timeout checks, starting the connection's
// watcher on first use. omu is held.
func (c *conn) watch(cs *consumer) {
	c.timed = append(c.timed, cs)
	if !c.watching {
		c.watching = true
		go c.watchTimeouts()
	}
}

// watchTimeouts checks the watched consumers until the connection ends,
// at a quarter of the shortest timeout (at least every second).
func (c *conn) watchTimeouts() {
	for {
		c.omu.Lock()
		tick := time.Second
		for _, cs := range c.timed {
			tick = min(tick, max(cs.timeout/4, 10*time.Millisecond))
		}
		c.omu.Unlock()
		select {
		case <-c.done:
			return
		case <-time.After(tick):
		}
		c.expireConsumers(time.Now())
	}
}

// expireConsumers cancels every watched consumer holding a delivery older
// than its timeout and requeues its deliveries.
func (c *conn) expireConsumers(now time.Time) {
	type expired struct {
		cs *consumer
		ds []delivery
	}
	var gone []expired
	c.omu.Lock()
	kept := c.timed[:0]
	for _, cs := range c.timed {
		if cs.cancelled || cs.ch.closed {
			continue
		}
		if !cs.overdue(now) {
			kept = append(kept, cs)
			continue
		}
		gone = append(gone, expired{cs, cs.ch.takeConsumer(cs)})
	}
	clear(c.timed[len(kept):])
	c.timed = kept
	c.omu.Unlock()
	for _, e := range gone {
		c.log.Warn("consumer timed out: cancelled, its unacked deliveries requeued",
			"channel", e.cs.ch.id, "consumer", e.cs.tag, "timeout", e.cs.timeout, "requeued", len(e.ds))
		apply(e.ds, requeueThem)
		if e.cs.q != nil {
			c.vh.Cancel(e.cs.q, e.cs)
		}
	}
}

// overdue reports whether one of cs's deliveries has waited too long.
// omu is held.
func (cs *consumer) overdue(now time.Time) bool {
	if cs.unacked == 0 {
		return false
	}
	limit := now.Add(-cs.timeout).UnixNano()
	for _, d := range cs.ch.unacked {
		if d.cs == cs && d.at < limit {
			return true
		}
	}
	return false
}

// takeConsumer cancels cs on its channel and takes its unacked
// deliveries out, remembering their tags so that a late ack is ignored.
// The client is told with basic.cancel. omu is held.
func (ch *channel) takeConsumer(cs *consumer) []delivery {
	var ds []delivery
	for tag, d := range ch.unacked {
		if d.cs != cs {
			continue
		}
		delete(ch.unacked, tag)
		ch.settled(d)
		if ch.timedOut == nil {
			ch.timedOut = make(map[uint64]struct{})
		}
		ch.timedOut[tag] = struct{}{}
		ds = append(ds, d)
	}
	cs.cancelled = true
	delete(ch.consumers, cs.tag)
	c := ch.c
	if c.cancelNote && c.werr == nil {
		c.out, _ = appendMethod(c.out, ch.id, &frame.BasicCancel{ConsumerTag: cs.tag, NoWait: true})
		c.wake()
	}
	return ds
}
