package vhost

import (
	"fmt"
	"slices"
	"strings"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/meta"
)

// TopicPrefix, before a Kafka topic's name in queue.bind, makes the topic
// the binding's destination: messages the exchange routes there are
// produced to the topic, to the partition Kafka's default partitioner
// gives their routing key.
const TopicPrefix = "kafka:"

// BindQueue binds queue (or the topic of a kafka:<topic> name) to
// exchange with key and arguments. owner is the connection asking, for
// exclusive queues.
func (v *Vhost) BindQueue(queue, exchange, key string, args frame.Table, owner uint64) error {
	return v.bind(queueDest(queue), exchange, key, args, owner, false)
}

// UnbindQueue removes a binding; a binding that does not exist is no error.
func (v *Vhost) UnbindQueue(queue, exchange, key string, args frame.Table, owner uint64) error {
	return v.bind(queueDest(queue), exchange, key, args, owner, true)
}

// queueDest is the destination queue.bind names: a queue, or a topic.
func queueDest(name string) dest {
	if topic, ok := strings.CutPrefix(name, TopicPrefix); ok {
		return dest{topic: true, name: topic}
	}
	return dest{queue: true, name: name}
}

// BindExchange binds destination to source, an exchange-to-exchange binding.
func (v *Vhost) BindExchange(destination, source, key string, args frame.Table) error {
	return v.bind(dest{name: destination}, source, key, args, 0, false)
}

// UnbindExchange removes an exchange-to-exchange binding.
func (v *Vhost) UnbindExchange(destination, source, key string, args frame.Table) error {
	return v.bind(dest{name: destination}, source, key, args, 0, true)
}

func (v *Vhost) bind(d dest, source, key string, args frame.Table, owner uint64, unbind bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	durableDest := false
	if d.topic {
		if v.h.opts.Broker == nil {
			return fmt.Errorf("%w: no Kafka topics here", ErrNotImplemented)
		}
		if _, ok := v.h.opts.Broker.Topic(d.name); !ok && !unbind {
			return fmt.Errorf("%w: no topic '%s'", ErrNotFound, d.name)
		}
		durableDest = true // a topic always is
	} else if d.queue {
		q, ok := v.queues[d.name]
		if !ok {
			return fmt.Errorf("%w: no queue '%s' in vhost '%s'", ErrNotFound, d.name, v.name)
		}
		if q.Exclusive && q.Owner != owner {
			return lockedErr(q, v.name)
		}
		durableDest = q.stored()
	} else {
		x, ok := v.exchanges[d.name]
		if !ok {
			return fmt.Errorf("%w: no exchange '%s' in vhost '%s'", ErrNotFound, d.name, v.name)
		}
		durableDest = x.Durable
	}
	x, ok := v.exchanges[source]
	if !ok {
		return fmt.Errorf("%w: no exchange '%s' in vhost '%s'", ErrNotFound, source, v.name)
	}
	if source == "" || (!d.queue && d.name == "") {
		return fmt.Errorf("%w: operation not permitted on the default exchange", ErrAccess)
	}
	m := args.Map()
	if unbind {
		var ops []meta.Op
		if x.Durable && durableDest {
			ops = v.bindingDeleteOp(x, d, key, m)
		}
		if err := v.apply(ops...); err != nil {
			return err
		}
		if x.router.Unbind(d, key, m) {
			v.autoDeleteExchanges([]*Exchange{x})
		}
		return nil
	}
	isNew, err := x.router.Bind(d, key, m)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrArgument, err)
	}
	if isNew && x.Durable && durableDest {
		args := canonicalArgs(m)
		r := bindingRecord{Version: 1, Source: source, Dest: d.name, ToQueue: d.queue, ToTopic: d.topic, Key: key, Args: args}
		if err := v.apply(put(bindingKey(v.name, r), r)); err != nil {
			x.router.Unbind(d, key, m)
			return err
		}
	}
	return nil
}

// bindingDeleteOp returns the op removing a binding's record, if it has
// one. args may be a map (from the router) or a table.
func (v *Vhost) bindingDeleteOp(x *Exchange, d dest, key string, args map[string]any) []meta.Op {
	if !x.Durable {
		return nil
	}
	switch {
	case d.topic:
	case d.queue:
		if q, ok := v.queues[d.name]; !ok || !q.stored() {
			return nil
		}
	default:
		if to, ok := v.exchanges[d.name]; !ok || !to.Durable {
			return nil
		}
	}
	r := bindingRecord{Source: x.Name, Dest: d.name, ToQueue: d.queue, ToTopic: d.topic, Key: key, Args: canonicalArgs(args)}
	return []meta.Op{meta.Delete(bindingKey(v.name, r))}
}

// canonicalArgs encodes binding arguments with their keys sorted, so that
// a binding's record key does not depend on the order they were sent in.
func canonicalArgs(m map[string]any) []byte {
	if len(m) == 0 {
		return nil
	}
	t := make(frame.Table, 0, len(m))
	for k, v := range m {
		t = append(t, frame.Field{Key: k, Value: v})
	}
	slices.SortFunc(t, func(a, b frame.Field) int { return strings.Compare(a.Key, b.Key) })
	return encodeTable(t)
}
