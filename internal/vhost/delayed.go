package vhost

// Delayed delivery: an exchange of type x-delayed-message routes as its
// x-delayed-type (direct, fanout, topic, headers) says, but a message with
// a positive x-delay header (milliseconds) is first held in the
// exchange's delay store (internal/delay), durably for a durable exchange,
// and routed through the exchange's bindings as they are when it is due.
// The publisher is confirmed once the message is held.
//
// The store's logs are __delay.<id> (the held messages) and
// __delay.<id>.done (which have fired), in the durable store for a
// durable exchange and in the transient one otherwise.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/delay"
	"github.com/loftmq/loft/internal/logstore"
)

const (
	delayedKind    = "x-delayed-message"
	delayLogPrefix = "__delay."
	// maxDelay bounds x-delay: about 34 years.
	maxDelay = int64(1) << 40
)

// delayedType reads x-delayed-type, the routing a delayed exchange does.
func delayedType(args frame.Table) (string, error) {
	v, _ := args.Get("x-delayed-type")
	kind, _ := v.(string)
	switch kind {
	case "direct", "fanout", "topic", "headers":
		return kind, nil
	}
	return "", fmt.Errorf("%w: invalid argument, 'x-delayed-type' must be an existing exchange type (direct, fanout, topic or headers), got '%v'", ErrArgument, v)
}

// delayOf returns the x-delay of p in ms, 0 for none.
func delayOf(p *Publishing) int64 {
	v, ok := p.Headers.Get("x-delay")
	if !ok {
		return 0
	}
	ms, isInt := asInt(v)
	if !isInt || ms <= 0 {
		return 0
	}
	return min(ms, maxDelay)
}

// openDelay opens (or, when create, creates) a delayed exchange's store,
// which starts firing at once: call it once the queues and bindings it
// routes to are in place.
func (h *Hosts) openDelay(v *Vhost, x *Exchange, create bool) error {
	store := h.opts.Store
	if !x.Durable {
		store = h.opts.Transient
	}
	open := func(name string, noSync bool) (*logstore.Log, error) {
		if l, ok := store.Log(name); ok && !create {
			return l, nil
		}
		cfg := logstore.Config{SegmentBytes: 16 << 20, RetentionAge: -1, RetentionBytes: -1, Delete: true,
			IndexIntervalBytes: 4096, NoSync: noSync}
		return store.Create(name, cfg)
	}
	name := delayLogPrefix + x.delayID
	l, err := open(name, false)
	if err != nil {
		return fmt.Errorf("%w: exchange %s: %v", ErrStorage, x.Name, err)
	}
	// A lost mark only fires its message again: no fsync of its own.
	done, err := open(name+".done", true)
	if err != nil {
		return fmt.Errorf("%w: exchange %s: %v", ErrStorage, x.Name, err)
	}
	x.delay, err = delay.Open(delay.Config{
		Name: x.Name, Log: l, Done: done, Logger: h.logger,
		Fire: func(payload []byte, done func(error)) { v.fire(x, payload, done) },
	})
	if err != nil {
		return fmt.Errorf("%w: exchange %s: %v", ErrStorage, x.Name, err)
	}
	return nil
}

// closeDelay stops a delayed exchange's store and, when drop, deletes its
// logs. It runs without the vhost's lock: closing waits for a fire in
// progress, which takes that lock.
func (h *Hosts) closeDelay(x *Exchange, drop bool) {
	if x.delay == nil {
		return
	}
	x.delay.Close()
	if !drop {
		return
	}
	store := h.opts.Store
	if !x.Durable {
		store = h.opts.Transient
	}
	for _, name := range []string{delayLogPrefix + x.delayID, delayLogPrefix + x.delayID + ".done"} {
		if err := store.Delete(name); err != nil && !errors.Is(err, logstore.ErrNotFound) {
			h.logger.Warn("vhost: cannot delete a delay log; it is removed at the next start", "exchange", x.Name, "log", name, "err", err)
		}
	}
}

// hold puts p in x's delay store, to be routed in ms milliseconds.
func (x *Exchange) hold(p *Publishing, ms int64, done func(error)) {
	x.delay.Add(encodeHeld(p), time.Now().Add(time.Duration(ms)*time.Millisecond), done)
}

// fire routes a held message that is due through x, as it is now.
func (v *Vhost) fire(x *Exchange, payload []byte, done func(error)) {
	p, err := decodeHeld(payload)
	if err != nil {
		v.h.logger.Error("vhost: a held message cannot be read; dropped", "exchange", x.Name, "err", err)
		done(nil)
		return
	}
	p.Exchange, p.fired = x.Name, true
	headers, err := frame.DecodeProperties(p.Properties)
	if err == nil {
		p.Headers, p.MessageID, p.Priority = headers.Headers, headers.MessageID, headers.Priority
	}
	n, err := v.publish(p, nil, done)
	if err != nil || n == 0 {
		// The exchange is gone, or routes the message nowhere: dropped,
		// as the plugin drops it.
		done(nil)
	}
}

// A held message: flags (1 = persistent), expiration ms (-1: none), the
// routing key, the properties, and the body.
func encodeHeld(p *Publishing) []byte {
	b := make([]byte, 0, 1+8+2+len(p.RoutingKey)+4+len(p.Properties)+len(p.Body))
	var flags byte
	if p.Persistent {
		flags |= 1
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(p.Expiration))
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.RoutingKey)))
	b = append(b, p.RoutingKey...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.Properties)))
	b = append(b, p.Properties...)
	return append(b, p.Body...)
}

var errHeld = errors.New("vhost: malformed held message")

func decodeHeld(b []byte) (*Publishing, error) {
	if len(b) < 1+8+2 {
		return nil, errHeld
	}
	p := &Publishing{Persistent: b[0]&1 != 0, Expiration: int64(binary.BigEndian.Uint64(b[1:9]))}
	n := int(binary.BigEndian.Uint16(b[9:11]))
	b = b[11:]
	if len(b) < n+4 {
		return nil, errHeld
	}
	p.RoutingKey, b = string(b[:n]), b[n:]
	m := int(binary.BigEndian.Uint32(b[:4]))
	b = b[4:]
	if m > len(b) {
		return nil, errHeld
	}
	p.Properties, p.Body = b[:m], b[m:]
	return p, nil
}
