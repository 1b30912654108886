package vhost

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/queue"
	"github.com/loftmq/loft/internal/route"
	"github.com/loftmq/loft/internal/stream"
)

// Publishing is one message to route.
type Publishing struct {
	Exchange   string
	RoutingKey string
	// Properties are the encoded basic properties, stored as they are;
	// Headers their decoded headers table, for headers exchanges.
	Properties []byte
	Headers    frame.Table
	Persistent bool
	// MessageID is the message-id property, a deduplication key when an
	// exchange is told to use it.
	MessageID string
	// Expiration is the message's time to live in ms (its AMQP expiration
	// property), or -1 for none.
	Expiration int64
	// Priority is the priority property, for queues with priorities.
	Priority uint8
	Body     []byte
	// fired marks a delayed message that is due: routed, not held again.
	fired bool
}

// routeScratch is reused across publishes to spare allocations.
type routeScratch struct {
	queues  []*Queue
	topics  []*broker.Topic
	dests   []dest
	visited []string
	batch   []byte
}

var scratchPool = sync.Pool{New: func() any { return new(routeScratch) }}

// Publish routes p and appends it to every queue it reaches. It returns
// how many queues that is; when that is more than none, done is called
// once, when the message is stored in all of them, with the first error.
// done must not block, and may be called before Publish returns.
func (v *Vhost) Publish(p *Publishing, done func(error)) (int, error) {
	return v.publish(p, nil, done)
}

// publish is Publish, leaving out the queues keep refuses (when not nil).
func (v *Vhost) publish(p *Publishing, keep func(*Queue) bool, done func(error)) (int, error) {
	s := scratchPool.Get().(*routeScratch)
	defer func() {
		clear(s.queues)
		clear(s.topics)
		s.queues, s.topics, s.dests, s.visited = s.queues[:0], s.topics[:0], s.dests[:0], s.visited[:0]
		scratchPool.Put(s)
	}()
	v.mu.RLock()
	defer v.mu.RUnlock()
	x, ok := v.exchanges[p.Exchange]
	if !ok {
		return 0, fmt.Errorf("%w: no exchange '%s' in vhost '%s'", ErrNotFound, p.Exchange, v.name)
	}
	if x.Internal {
		return 0, fmt.Errorf("%w: cannot publish to internal exchange '%s' in vhost '%s'", ErrAccess, p.Exchange, v.name)
	}
	if x.delay != nil && !p.fired {
		if ms := delayOf(p); ms > 0 {
			x.hold(p, ms, done)
			return 1, nil
		}
	}
	if x.dedup != nil && x.dedup.seen(p, time.Now()) {
		// A duplicate: not routed, but accepted, so that a publisher
		// retrying after a lost confirm sees success.
		done(nil)
		return 1, nil
	}
	if p.Exchange == "" {
		if q, ok := v.queues[p.RoutingKey]; ok {
			s.queues = append(s.queues, q)
		}
	} else {
		var headers map[string]any
		v.route(x, p, &headers, s)
	}
	if keep != nil {
		kept := s.queues[:0]
		for _, q := range s.queues {
			if keep(q) {
				kept = append(kept, q)
			}
		}
		clear(s.queues[len(kept):])
		s.queues = kept
	}
	if len(s.queues)+len(s.topics) == 0 {
		return 0, nil
	}
	m := queue.Message{
		Timestamp: time.Now().UnixMilli(), Exchange: p.Exchange, RoutingKey: p.RoutingKey,
		Properties: p.Properties, Body: p.Body, Persistent: p.Persistent,
	}
	if p.Expiration >= 0 {
		m.Expires = m.Timestamp + p.Expiration
	}
	if slices.ContainsFunc(s.queues, func(q *Queue) bool { return q.dedup }) {
		m.DedupKey, _ = headerKey(p.Headers)
	}
	m.Priority = p.Priority
	n := len(s.queues) + len(s.topics)
	one := done
	if n > 1 {
		one = (&join{left: int32(n), done: done}).one
	}
	if len(s.queues) > 0 {
		s.batch = queue.Encode(s.batch[:0], &m)
		for _, q := range s.queues {
			q.q.Enqueue(s.batch, &m, one)
		}
	}
	if len(s.topics) > 0 {
		produce(s.topics, &m, one)
	}
	return n, nil
}

// route adds to s.queues the queues x routes p to, following
// exchange-to-exchange bindings and alternate exchanges, each exchange
// once.
func (v *Vhost) route(x *Exchange, p *Publishing, headers *map[string]any, s *routeScratch) {
	for _, name := range s.visited {
		if name == x.Name {
			return
		}
	}
	s.visited = append(s.visited, x.Name)
	if x.router.Kind() == route.Headers && *headers == nil {
		*headers = p.Headers.Map()
		if *headers == nil {
			*headers = map[string]any{}
		}
	}
	from := len(s.dests)
	s.dests = x.router.Route(p.RoutingKey, *headers, s.dests)
	found := false
	for i := from; i < len(s.dests); i++ {
		d := s.dests[i]
		if d.topic {
			t, ok := v.h.opts.Broker.Topic(d.name)
			if !ok {
				continue // deleted through Kafka: the binding waits for it
			}
			found = true
			if !slices.Contains(s.topics, t) {
				s.topics = append(s.topics, t)
			}
			continue
		}
		if d.queue {
			q, ok := v.queues[d.name]
			if !ok {
				continue
			}
			found = true
			if !slices.Contains(s.queues, q) {
				s.queues = append(s.queues, q)
			}
			continue
		}
		if next, ok := v.exchanges[d.name]; ok {
			before := len(s.queues) + len(s.topics)
			v.route(next, p, headers, s)
			found = found || len(s.queues)+len(s.topics) > before
		}
	}
	if !found && x.alternate != "" {
		if alt, ok := v.exchanges[x.alternate]; ok {
			v.route(alt, p, headers, s)
		}
	}
}

// produce appends m to each topic, in the partition Kafka's default
// partitioner gives its routing key; done is called once per topic.
func produce(topics []*broker.Topic, m *queue.Message, done func(error)) {
	for _, t := range topics {
		p, ok := t.Partition(broker.PartitionFor([]byte(m.RoutingKey), t.NumPartitions()))
		if !ok {
			done(fmt.Errorf("%w: topic %s has no partition for the message", ErrStorage, t.Name()))
			continue
		}
		stream.Produce(p, m, done)
	}
}

// join calls done once every one of left appends has completed.
type join struct {
	left  int32
	first atomic.Pointer[error]
	done  func(error)
}

func (j *join) one(err error) {
	if err != nil {
		j.first.CompareAndSwap(nil, &err)
	}
	if atomic.AddInt32(&j.left, -1) == 0 {
		var e error
		if p := j.first.Load(); p != nil {
			e = *p
		}
		j.done(e)
	}
}
