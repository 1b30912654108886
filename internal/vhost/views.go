package vhost

import (
	"slices"
	"strings"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/queue"
)

// What inspection (the HTTP API) sees of the model: copies made at one
// moment under the vhost's lock, safe to hold.

// QueueView is a queue as inspection shows it.
type QueueView struct {
	Name                           string
	Durable, Exclusive, AutoDelete bool
	Args                           frame.Table
	Policy                         string // the policy applying, if any
	Stream                         bool
	Ready, Unacked, Consumers      int
	// Totals are the queue's running counts (HasTotals false for a
	// stream queue, whose traffic is its topic's).
	Totals    queue.Totals
	HasTotals bool
}

// ExchangeView is an exchange as inspection shows it.
type ExchangeView struct {
	Name, Type                    string
	Durable, AutoDelete, Internal bool
	Args                          frame.Table
	Policy                        string
}

// BindingView is a binding as inspection shows it. DestType is "queue",
// "exchange" or "topic" (a Kafka topic, kafka:<name> in queue.bind).
type BindingView struct {
	Source, Destination, DestType, Key string
	Args                               map[string]any
}

func (q *Queue) view() QueueView {
	qv := QueueView{Name: q.Name, Durable: q.Durable, Exclusive: q.Exclusive, AutoDelete: q.AutoDelete,
		Args: q.Args, Policy: q.Policy, Stream: q.IsStream()}
	qv.Ready, qv.Unacked, qv.Consumers = q.q.Counts()
	if t, ok := q.q.(totaller); ok {
		qv.Totals, qv.HasTotals = t.Totals(), true
	}
	return qv
}

// Lookup returns the named queue, for inspection.
func (v *Vhost) Lookup(name string) (QueueView, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	q, ok := v.queues[name]
	if !ok {
		return QueueView{}, false
	}
	return q.view(), true
}

// Queues returns every queue, by name.
func (v *Vhost) Queues() []QueueView {
	v.mu.RLock()
	out := make([]QueueView, 0, len(v.queues))
	for _, q := range v.queues {
		out = append(out, q.view())
	}
	v.mu.RUnlock()
	slices.SortFunc(out, func(a, b QueueView) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Exchanges returns every exchange, the default and amq.* ones included,
// by name.
func (v *Vhost) Exchanges() []ExchangeView {
	v.mu.RLock()
	out := make([]ExchangeView, 0, len(v.exchanges))
	for _, x := range v.exchanges {
		out = append(out, ExchangeView{Name: x.Name, Type: x.Type, Durable: x.Durable, AutoDelete: x.AutoDelete,
			Internal: x.Internal, Args: x.Args, Policy: x.Policy})
	}
	v.mu.RUnlock()
	slices.SortFunc(out, func(a, b ExchangeView) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Bindings returns every binding: those of the default exchange (one
// per queue, implicit) first, then by source exchange in binding order.
func (v *Vhost) Bindings() []BindingView {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []BindingView
	names := make([]string, 0, len(v.queues))
	for name := range v.queues {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		out = append(out, BindingView{Destination: name, DestType: "queue", Key: name})
	}
	xs := make([]string, 0, len(v.exchanges))
	for name := range v.exchanges {
		if name != "" {
			xs = append(xs, name)
		}
	}
	slices.Sort(xs)
	for _, name := range xs {
		for _, b := range v.exchanges[name].router.Bindings() {
			kind := "exchange"
			switch {
			case b.Dest.queue:
				kind = "queue"
			case b.Dest.topic:
				kind = "topic"
			}
			out = append(out, BindingView{Source: name, Destination: b.Dest.name, DestType: kind, Key: b.Key, Args: b.Args})
		}
	}
	return out
}
