package vhost

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/meta"
	"github.com/loftmq/loft/internal/route"
)

// ExchangeDecl is an exchange.declare.
type ExchangeDecl struct {
	Name       string
	Type       string
	Passive    bool
	Durable    bool
	AutoDelete bool
	Internal   bool
	Args       frame.Table
}

// ErrUnknownType: the exchange type is not one the broker has.
var ErrUnknownType = route.ErrKind

// DeclareExchange declares an exchange, or checks an existing one is
// equivalent.
func (v *Vhost) DeclareExchange(d ExchangeDecl) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	if x, ok := v.exchanges[d.Name]; ok {
		if d.Passive {
			return nil
		}
		return x.equivalent(v.name, d)
	}
	if d.Passive {
		return fmt.Errorf("%w: no exchange '%s' in vhost '%s'", ErrNotFound, d.Name, v.name)
	}
	if strings.HasPrefix(d.Name, "amq.") {
		return fmt.Errorf("%w: exchange name '%s' contains reserved prefix 'amq.*'", ErrAccess, d.Name)
	}
	x, err := newExchange(d.Name, d.Type, d.Durable, d.AutoDelete, d.Internal, d.Args)
	if err != nil {
		return err
	}
	if p := v.policyFor(x.Name, false); p != nil {
		x.Policy = p.Name
		x.alternate, _ = argString(effective(x.Args, p, false), "alternate-exchange")
	}
	if x.Type == delayedKind {
		x.delayID = newID()
	}
	if d.Durable {
		if x.dedup != nil {
			x.dedupID = newID()
			if err := v.h.openDedupLog(x, true); err != nil {
				return err
			}
		}
		err := v.apply(put(exchangeKey(v.name, d.Name), exchangeRecord{
			Version: 1, Type: d.Type, AutoDelete: d.AutoDelete, Internal: d.Internal, Args: encodeTable(d.Args),
			DedupID: x.dedupID, DelayID: x.delayID,
		}))
		if err != nil {
			v.h.dropDedupLog(x)
			return err
		}
	}
	if x.delayID != "" {
		if err := v.h.openDelay(v, x, true); err != nil {
			if d.Durable {
				v.apply(meta.Delete(exchangeKey(v.name, d.Name)))
			}
			return err
		}
	}
	v.exchanges[d.Name] = x
	return nil
}

// inequivalent is the error for a redeclaration that differs in arg.
func inequivalent(vhost, kind, name, arg string, got, have any) error {
	return fmt.Errorf("%w: inequivalent arg '%s' for %s '%s' in vhost '%s': received '%v' but current is '%v'",
		ErrInequivalent, arg, kind, name, vhost, got, have)
}

func (x *Exchange) equivalent(vhost string, d ExchangeDecl) error {
	bad := func(arg string, got, have any) error { return inequivalent(vhost, "exchange", x.Name, arg, got, have) }
	switch {
	case d.Type != x.Type:
		return bad("type", d.Type, x.Type)
	case d.Durable != x.Durable:
		return bad("durable", d.Durable, x.Durable)
	case d.AutoDelete != x.AutoDelete:
		return bad("auto_delete", d.AutoDelete, x.AutoDelete)
	case d.Internal != x.Internal:
		return bad("internal", d.Internal, x.Internal)
	}
	return argsEquivalent(vhost, "exchange", x.Name, d.Args, x.Args, exchangeArgs)
}

// The arguments RabbitMQ compares when a queue or exchange is declared
// again; any other argument may differ.
var (
	queueArgs = []string{
		"x-expires", "x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key",
		"x-max-length", "x-max-length-bytes", "x-max-in-memory-length", "x-max-in-memory-bytes",
		"x-max-priority", "x-overflow", "x-queue-mode", "x-queue-type", "x-single-active-consumer",
		"x-delivery-limit", "x-queue-master-locator", "x-quorum-initial-group-size",
		"x-max-age", "x-stream-max-segment-size-bytes", "x-consumer-timeout",
		"x-message-deduplication",
	}
	exchangeArgs = []string{"alternate-exchange", "x-delayed-type"}
)

// argsEquivalent compares declared arguments as RabbitMQ does: each
// argument it checks must be absent on both sides or equal on both,
// numbers by value whatever their width.
func argsEquivalent(vhost, kind, name string, got, have frame.Table, checked []string) error {
	for _, k := range checked {
		gv, gok := got.Get(k)
		hv, hok := have.Get(k)
		if gok == hok && (!gok || sameValue(gv, hv)) {
			continue
		}
		if !gok {
			gv = "none"
		}
		if !hok {
			hv = "none"
		}
		return inequivalent(vhost, kind, name, k, gv, hv)
	}
	return nil
}

// sameValue compares two field values, integers by value.
func sameValue(a, b any) bool {
	ai, aok := asInt(a)
	bi, bok := asInt(b)
	if aok && bok {
		return ai == bi
	}
	if as, ok := a.([]byte); ok {
		a = string(as)
	}
	if bs, ok := b.([]byte); ok {
		b = string(bs)
	}
	return reflect.DeepEqual(a, b)
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int8:
		return int64(n), true
	case uint8:
		return int64(n), true
	case int16:
		return int64(n), true
	case uint16:
		return int64(n), true
	case int32:
		return int64(n), true
	case uint32:
		return int64(n), true
	case int64:
		return n, true
	case int:
		return int64(n), true
	}
	return 0, false
}

// Exchange returns the named exchange.
func (v *Vhost) Exchange(name string) (*Exchange, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	x, ok := v.exchanges[name]
	return x, ok
}

// DeleteExchange deletes an exchange and every binding from or to it.
// Deleting a missing exchange succeeds, as in RabbitMQ 3.
func (v *Vhost) DeleteExchange(name string, ifUnused bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	x, ok := v.exchanges[name]
	if !ok {
		return nil
	}
	if x.builtin {
		return fmt.Errorf("%w: operation not permitted on the default or amq.* exchange '%s'", ErrAccess, name)
	}
	if ifUnused && x.router.Len() > 0 {
		return fmt.Errorf("%w: exchange '%s' in vhost '%s' in use", ErrInUse, name, v.name)
	}
	return v.deleteExchange(x)
}

// deleteExchange removes x, its bindings, and its record. v.mu is held.
func (v *Vhost) deleteExchange(x *Exchange) error {
	var ops []meta.Op
	if x.Durable {
		ops = append(ops, meta.Delete(exchangeKey(v.name, x.Name)))
	}
	for _, b := range x.router.Bindings() {
		ops = append(ops, v.bindingDeleteOp(x, b.Dest, b.Key, b.Args)...)
	}
	to := dest{name: x.Name}
	var sources []*Exchange
	for _, src := range v.exchanges {
		for _, b := range src.router.Bindings() {
			if b.Dest == to {
				ops = append(ops, v.bindingDeleteOp(src, to, b.Key, b.Args)...)
				sources = append(sources, src)
			}
		}
	}
	if err := v.apply(ops...); err != nil {
		return err
	}
	delete(v.exchanges, x.Name)
	v.h.dropDedupLog(x)
	if x.delay != nil {
		// Closing waits for a fire in progress, which needs v.mu.
		go v.h.closeDelay(x, true)
	}
	for _, src := range sources {
		src.router.UnbindDest(to)
	}
	v.autoDeleteExchanges(sources)
	return nil
}

// autoDeleteExchanges deletes the auto-delete exchanges among xs that
// have lost their last binding. v.mu is held.
func (v *Vhost) autoDeleteExchanges(xs []*Exchange) {
	for _, x := range xs {
		if x.AutoDelete && x.router.Len() == 0 && v.exchanges[x.Name] == x {
			if err := v.deleteExchange(x); err != nil {
				v.h.logger.Warn("vhost: cannot auto-delete an exchange", "exchange", x.Name, "err", err)
			}
		}
	}
}
