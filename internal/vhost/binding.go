package vhost

import (
	"fmt"
	"slices"
	"strings"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/meta"
)

// BindQueue binds queue to exchange with key and arguments. owner is the
// connection asking, for exclusive queues.
func (v *Vhost) BindQueue(queue, exchange, key string, args frame.Table, owner uint64) error {
	return v.bind(dest{queue: true, name: queue}, exchange, key, args, owner, false)
}

// UnbindQueue removes a binding; a binding that does not exist is no error.
func (v *Vhost) UnbindQueue(queue, exchange, key string, args frame.Table, owner uint64) error {
	return v.bind(dest{queue: true, name: queue}, exchange, key, args, owner, true)
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
	if d.queue {
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
	m := tableMap(args)
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
		r := bindingRecord{Version: 1, Source: source, Dest: d.name, ToQueue: d.queue, Key: key, Args: args}
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
	if d.queue {
		if q, ok := v.queues[d.name]; !ok || !q.stored() {
			return nil
		}
	} else if to, ok := v.exchanges[d.name]; !ok || !to.Durable {
		return nil
	}
	r := bindingRecord{Source: x.Name, Dest: d.name, ToQueue: d.queue, Key: key, Args: canonicalArgs(args)}
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
