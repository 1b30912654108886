package vhost

// Dead-lettering: a queue declared with x-dead-letter-exchange hands the
// messages that die in it (rejected without requeue, expired) to the
// vhost, which publishes them to that exchange, with the routing key
// x-dead-letter-routing-key or their own, recording how they died in the
// x-death header as RabbitMQ does. Unlike RabbitMQ it is at-least-once:
// the dead message is acked in its queue only once its copy is stored
// where the dead-letter exchange routes it (or routed nowhere), so a crash
// in between dead-letters it again instead of losing it.

import (
	"slices"
	"sync"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/queue"
)

// deadLetters is the hand-off between queues, which find dead messages
// under their own lock, and the goroutine that republishes them, which
// takes vhost and queue locks of its own.
type deadLetters struct {
	mu       sync.Mutex
	pending  []deadLetter
	stored   []func() // copies stored: their originals are acked here
	wake     chan struct{}
	done     chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once
}

type deadLetter struct {
	v      *Vhost
	q      *Queue
	m      *queue.Message
	reason string
	at     time.Time
	stored func() // tells the queue the copy is stored
}

func newDeadLetters() *deadLetters {
	d := &deadLetters{wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go d.run()
	return d
}

func (d *deadLetters) push(dl deadLetter) {
	d.mu.Lock()
	d.pending = append(d.pending, dl)
	d.mu.Unlock()
	d.signal()
}

// finish has the worker call stored: it takes the dead message's queue
// lock, which the log engine's goroutine completing the copy must not.
func (d *deadLetters) finish(stored func()) {
	d.mu.Lock()
	d.stored = append(d.stored, stored)
	d.mu.Unlock()
	d.signal()
}

func (d *deadLetters) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *deadLetters) run() {
	defer close(d.stopped)
	for {
		select {
		case <-d.wake:
		case <-d.done:
			return
		}
		d.mu.Lock()
		batch, stored := d.pending, d.stored
		d.pending, d.stored = nil, nil
		d.mu.Unlock()
		for _, f := range stored {
			f()
		}
		for _, dl := range batch {
			dl.v.republish(dl)
		}
	}
}

func (d *deadLetters) stop() {
	d.stopOnce.Do(func() { close(d.done) })
	<-d.stopped
}

// deadLetterHook returns the hook q's subscription calls, or nil when q
// has no dead-letter exchange.
func (h *Hosts) deadLetterHook(v *Vhost, q *Queue) func(*queue.Message, string, func()) {
	if _, ok := argString(q.Effective(), "x-dead-letter-exchange"); !ok {
		return nil
	}
	return func(m *queue.Message, reason string, stored func()) {
		h.dl.push(deadLetter{v: v, q: q, m: m, reason: reason, at: time.Now(), stored: stored})
	}
}

func argString(t frame.Table, key string) (string, bool) {
	v, ok := t.Get(key)
	if !ok {
		return "", false
	}
	switch s := v.(type) {
	case string:
		return s, true
	case []byte:
		return string(s), true
	}
	return "", false
}

// republish publishes a dead message to its queue's dead-letter exchange.
func (v *Vhost) republish(dl deadLetter) {
	args := dl.q.Effective()
	dlx, _ := argString(args, "x-dead-letter-exchange")
	key, ok := argString(args, "x-dead-letter-routing-key")
	if !ok {
		key = dl.m.RoutingKey
	}
	props, headers, priority, err := deathProperties(dl)
	if err != nil {
		v.h.logger.Warn("vhost: cannot dead-letter a message with unreadable properties; dropped",
			"queue", dl.q.Name, "offset", dl.m.Offset, "err", err)
		dl.stored()
		return
	}
	deaths, _ := headers.Get("x-death")
	p := &Publishing{
		Exchange: dlx, RoutingKey: key, Properties: props, Headers: headers,
		Persistent: dl.m.Persistent, Expiration: -1, Priority: priority, Body: dl.m.Body,
	}
	// A message that went round a cycle of queues without ever being
	// rejected would go round for ever: RabbitMQ drops it, and so do we.
	keep := func(q *Queue) bool { return !isCycle(deaths, q.Name) }
	n, err := v.publish(p, keep, func(err error) {
		if err != nil {
			// The copy is lost to a storage failure: the original goes
			// too, rather than stay unacked until a restart.
			v.h.logger.Warn("vhost: dead letter not stored; dropped", "queue", dl.q.Name, "exchange", dlx, "err", err)
		}
		v.h.dl.finish(dl.stored)
	})
	if err != nil {
		v.h.logger.Debug("vhost: dead letter dropped", "queue", dl.q.Name, "exchange", dlx, "err", err)
	}
	if err != nil || n == 0 {
		dl.stored() // routed nowhere: gone, as in RabbitMQ
	}
}

// deathProperties returns the dead message's properties with x-death and
// x-first-death-* recorded and its expiration removed (kept in x-death as
// original-expiration, so that it does not expire again where it goes), its
// headers, and its priority.
func deathProperties(dl deadLetter) ([]byte, frame.Table, uint8, error) {
	props := dl.m.Properties
	if len(props) < 2 {
		props = []byte{0, 0} // none
	}
	decoded, err := frame.DecodeProperties(props)
	if err != nil {
		return nil, nil, 0, err
	}
	p := &decoded
	headers := slices.Clone(p.Headers)
	var deaths []any
	if v, ok := headers.Get("x-death"); ok {
		deaths, _ = v.([]any)
	}
	var entry frame.Table
	for i, d := range deaths {
		t, ok := d.(frame.Table)
		if !ok {
			continue
		}
		if q, _ := argString(t, "queue"); q != dl.q.Name {
			continue
		}
		if r, _ := argString(t, "reason"); r != dl.reason {
			continue
		}
		entry = slices.Clone(t)
		deaths = slices.Delete(slices.Clone(deaths), i, i+1)
		break
	}
	if entry == nil {
		entry = frame.Table{
			{Key: "count", Value: int64(0)},
			{Key: "reason", Value: dl.reason},
			{Key: "queue", Value: dl.q.Name},
			{Key: "time", Value: dl.at.Truncate(time.Second).UTC()},
			{Key: "exchange", Value: dl.m.Exchange},
			{Key: "routing-keys", Value: []any{dl.m.RoutingKey}},
		}
		if p.Flags&frame.FlagExpiration != 0 {
			entry.Set("original-expiration", p.Expiration)
		}
	}
	count, _ := entry.Get("count")
	n, _ := asInt(count)
	entry.Set("count", n+1)
	entry.Set("time", dl.at.Truncate(time.Second).UTC())
	deaths = append([]any{entry}, deaths...)
	headers.Set("x-death", deaths)
	if _, ok := headers.Get("x-first-death-reason"); !ok {
		headers.Set("x-first-death-reason", dl.reason)
		headers.Set("x-first-death-queue", dl.q.Name)
		headers.Set("x-first-death-exchange", dl.m.Exchange)
	}
	p.Headers = headers
	p.Flags |= frame.FlagHeaders
	p.Flags &^= frame.FlagExpiration
	p.Expiration = ""
	out, err := frame.AppendProperties(nil, p)
	if err != nil {
		return nil, nil, 0, err
	}
	return out, headers, p.Priority, nil
}

// isCycle reports whether dead-lettering to queue would close a loop: the
// message died in it before, and never because a consumer rejected it.
func isCycle(deaths any, queue string) bool {
	list, _ := deaths.([]any)
	seen := false
	for _, d := range list {
		t, ok := d.(frame.Table)
		if !ok {
			continue
		}
		if r, _ := argString(t, "reason"); r == "rejected" {
			return false
		}
		if q, _ := argString(t, "queue"); q == queue {
			seen = true
		}
	}
	return seen
}
