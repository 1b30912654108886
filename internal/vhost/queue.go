package vhost

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/meta"
	"github.com/loftmq/loft/internal/queue"
)

// QueueDecl is a queue.declare.
type QueueDecl struct {
	Name       string // empty: the server names the queue
	Passive    bool
	Durable    bool
	Exclusive  bool
	AutoDelete bool
	Args       frame.Table
	Owner      uint64 // the declaring connection
}

// Consumer is a queue consumer that can be told its queue was deleted.
type Consumer interface {
	queue.Consumer
	// Cancelled is called, without locks held, when the queue is deleted.
	Cancelled()
}

func lockedErr(q *Queue, vhost string) error {
	return fmt.Errorf("%w: cannot obtain exclusive access to locked queue '%s' in vhost '%s'", ErrLocked, q.Name, vhost)
}

// DeclareQueue declares a queue, or checks that an existing one is
// equivalent, and returns it.
func (v *Vhost) DeclareQueue(d QueueDecl) (*Queue, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, ErrClosed
	}
	if q, ok := v.queues[d.Name]; ok {
		if q.Exclusive && q.Owner != d.Owner {
			return nil, lockedErr(q, v.name)
		}
		q.touch()
		if d.Passive {
			return q, nil
		}
		return q, q.equivalent(v.name, d)
	}
	if d.Passive {
		return nil, fmt.Errorf("%w: no queue '%s' in vhost '%s'", ErrNotFound, d.Name, v.name)
	}
	if _, err := messageTTL(d.Args); err != nil {
		return nil, err
	}
	if _, err := lengthLimit(d.Args); err != nil {
		return nil, err
	}
	if _, err := queueExpires(d.Args); err != nil {
		return nil, err
	}
	if _, err := positiveMillis(d.Args, "x-consumer-timeout"); err != nil {
		return nil, err
	}
	kind, err := queueType(d.Args)
	if err != nil {
		return nil, err
	}
	if kind == "stream" {
		if err := checkStream(d); err != nil {
			return nil, err
		}
	}
	if _, err := queuePriority(d.Args); err != nil {
		return nil, err
	}
	if _, _, err := queueDedup(d.Args); err != nil {
		return nil, err
	}
	if v, ok := d.Args.Get("x-single-active-consumer"); ok {
		if _, isBool := v.(bool); !isBool {
			return nil, fmt.Errorf("%w: invalid arg 'x-single-active-consumer': %v", ErrArgument, v)
		}
	}
	if d.Name == "" {
		d.Name = serverName()
	} else if strings.HasPrefix(d.Name, "amq.") {
		return nil, fmt.Errorf("%w: queue name '%s' contains reserved prefix 'amq.'", ErrAccess, d.Name)
	}
	q := &Queue{
		Name: d.Name, Durable: d.Durable, Exclusive: d.Exclusive, AutoDelete: d.AutoDelete,
		Args: d.Args, Owner: d.Owner, id: newID(),
	}
	v.applyQueuePolicy(q)
	if err := v.h.openQueue(v, q, true); err != nil {
		return nil, err
	}
	if q.stored() {
		err := v.apply(put(queueKey(v.name, q.Name), queueRecord{
			Version: 1, ID: q.id, AutoDelete: q.AutoDelete, Args: encodeTable(q.Args),
		}))
		if err != nil {
			q.q.Close()
			v.h.dropQueueLogs(q)
			return nil, err
		}
	}
	v.queues[q.Name] = q
	q.expires, _ = queueExpires(q.Effective())
	q.ConsumerTimeout, _ = positiveMillis(q.Effective(), "x-consumer-timeout")
	v.armExpiry(q)
	return q, nil
}

// queuePriority reads x-max-priority: an integer from 1 to 255, or 0 when
// absent (no priorities).
func queuePriority(args frame.Table) (int, error) {
	v, ok := args.Get("x-max-priority")
	if !ok {
		return 0, nil
	}
	n, isInt := asInt(v)
	if !isInt || n < 1 || n > 255 {
		return 0, fmt.Errorf("%w: invalid arg 'x-max-priority': %v (an integer from 1 to 255)", ErrArgument, v)
	}
	return int(n), nil
}

// singleActive reads x-single-active-consumer.
func singleActive(args frame.Table) bool {
	v, _ := args.Get("x-single-active-consumer")
	on, _ := v.(bool)
	return on
}

// queueExpires reads x-expires: a positive integer of milliseconds.
func queueExpires(args frame.Table) (time.Duration, error) {
	return positiveMillis(args, "x-expires")
}

// positiveMillis reads an argument that must be a positive integer of
// milliseconds; 0 when absent.
func positiveMillis(args frame.Table, name string) (time.Duration, error) {
	v, ok := args.Get(name)
	if !ok {
		return 0, nil
	}
	ms, isInt := asInt(v)
	if !isInt || ms <= 0 {
		return 0, fmt.Errorf("%w: invalid arg '%s': %v", ErrArgument, name, v)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// touch records a use of q, for x-expires.
func (q *Queue) touch() {
	if q.expires > 0 {
		q.lastUsed.Store(time.Now().UnixNano())
	}
}

// armExpiry starts q's x-expires timer. v.mu is held (or q is not yet
// visible to others).
func (v *Vhost) armExpiry(q *Queue) {
	if q.expires <= 0 || q.expiry != nil {
		return
	}
	q.touch()
	q.expiry = time.AfterFunc(q.expires, func() { v.expireQueue(q) })
}

// expireQueue deletes q if it has gone unused for its x-expires, or
// looks again when it might have.
func (v *Vhost) expireQueue(q *Queue) {
	v.mu.Lock()
	if v.queues[q.Name] != q || v.closed {
		v.mu.Unlock()
		return
	}
	_, _, consumers := q.q.Counts()
	idle := time.Since(time.Unix(0, q.lastUsed.Load()))
	if consumers > 0 || idle < q.expires {
		wait := q.expires - idle
		if consumers > 0 {
			q.touch()
			wait = q.expires
		}
		q.expiry.Reset(wait)
		v.mu.Unlock()
		return
	}
	v.h.logger.Info("vhost: deleting a queue unused for its x-expires", "queue", q.Name, "expires", q.expires)
	cs, err := v.deleteQueue(q)
	v.mu.Unlock()
	if err != nil {
		v.h.logger.Warn("vhost: cannot delete an expired queue", "queue", q.Name, "err", err)
	}
	for _, c := range cs {
		if c, ok := c.(Consumer); ok {
			c.Cancelled()
		}
	}
}

func (q *Queue) equivalent(vhost string, d QueueDecl) error {
	bad := func(arg string, got, have any) error { return inequivalent(vhost, "queue", q.Name, arg, got, have) }
	switch {
	case d.Exclusive != q.Exclusive:
		// RabbitMQ checks exclusive access first, and answers 405 for a
		// differing exclusive flag even to the owner.
		return lockedErr(q, vhost)
	case d.Durable != q.Durable:
		return bad("durable", d.Durable, q.Durable)
	case d.AutoDelete != q.AutoDelete:
		return bad("auto_delete", d.AutoDelete, q.AutoDelete)
	}
	return argsEquivalent(vhost, "queue", q.Name, d.Args, q.Args, queueArgs)
}

// messageTTL reads the x-message-ttl argument: a non-negative integer of
// milliseconds; 0 when absent.
func messageTTL(args frame.Table) (time.Duration, error) {
	v, ok := args.Get("x-message-ttl")
	if !ok {
		return 0, nil
	}
	ms, isInt := asInt(v)
	if !isInt || ms < 0 {
		return 0, fmt.Errorf("%w: invalid arg 'x-message-ttl': %v", ErrArgument, v)
	}
	if ms == 0 {
		// Expire at once unless a consumer takes it now: the queue treats
		// an expiry of this millisecond as not yet past.
		return time.Nanosecond, nil
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// limits are the length and delivery arguments of a queue.
type limits struct {
	has      bool
	max      int64
	overflow queue.Overflow

	hasDeliveryLimit bool
	deliveryLimit    int64

	hasBytes bool
	maxBytes int64
}

// lengthLimit reads x-max-length, x-max-length-bytes, x-overflow and
// x-delivery-limit.
func lengthLimit(args frame.Table) (limits, error) {
	var l limits
	if v, ok := args.Get("x-max-length"); ok {
		n, isInt := asInt(v)
		if !isInt || n < 0 {
			return l, fmt.Errorf("%w: invalid arg 'x-max-length': %v", ErrArgument, v)
		}
		l.has, l.max = true, n
	}
	if v, ok := args.Get("x-delivery-limit"); ok {
		n, isInt := asInt(v)
		if !isInt || n < 0 {
			return l, fmt.Errorf("%w: invalid arg 'x-delivery-limit': %v", ErrArgument, v)
		}
		l.hasDeliveryLimit, l.deliveryLimit = true, n
	}
	if v, ok := args.Get("x-max-length-bytes"); ok {
		n, isInt := asInt(v)
		if !isInt || n < 0 {
			return l, fmt.Errorf("%w: invalid arg 'x-max-length-bytes': %v", ErrArgument, v)
		}
		l.hasBytes, l.maxBytes = true, n
	}
	if v, ok := argString(args, "x-overflow"); ok {
		switch v {
		case "drop-head":
			l.overflow = queue.DropHead
		case "reject-publish":
			l.overflow = queue.RejectPublish
		case "reject-publish-dlx":
			l.overflow = queue.RejectPublishDLX
		default:
			return l, fmt.Errorf("%w: invalid arg 'x-overflow': %s", ErrArgument, v)
		}
	}
	return l, nil
}

// serverName names a queue as RabbitMQ does: amq.gen- and 22 characters.
func serverName() string {
	var b [16]byte
	rand.Read(b[:])
	return "amq.gen-" + base64.RawURLEncoding.EncodeToString(b[:])
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Queue returns the named queue, checking that the connection owner may
// use it.
func (v *Vhost) Queue(name string, owner uint64) (*Queue, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	q, ok := v.queues[name]
	if !ok {
		return nil, fmt.Errorf("%w: no queue '%s' in vhost '%s'", ErrNotFound, name, v.name)
	}
	if q.Exclusive && q.Owner != owner {
		return nil, lockedErr(q, v.name)
	}
	q.touch()
	return q, nil
}

// DeleteQueue deletes a queue and returns how many messages it had ready.
// Deleting a missing queue succeeds, as in RabbitMQ 3.
func (v *Vhost) DeleteQueue(name string, ifUnused, ifEmpty bool, owner uint64) (int, error) {
	v.mu.Lock()
	q, ok := v.queues[name]
	if !ok {
		v.mu.Unlock()
		return 0, nil
	}
	if q.Exclusive && q.Owner != owner {
		v.mu.Unlock()
		return 0, lockedErr(q, v.name)
	}
	ready, _, consumers := q.q.Counts()
	switch {
	case ifUnused && consumers > 0:
		v.mu.Unlock()
		return 0, fmt.Errorf("%w: queue '%s' in vhost '%s' in use", ErrInUse, name, v.name)
	case ifEmpty && ready > 0:
		v.mu.Unlock()
		return 0, fmt.Errorf("%w: queue '%s' in vhost '%s' is not empty", ErrNotEmpty, name, v.name)
	}
	cs, err := v.deleteQueue(q)
	v.mu.Unlock()
	if err != nil {
		return 0, err
	}
	for _, c := range cs {
		if c, ok := c.(Consumer); ok {
			c.Cancelled()
		}
	}
	return ready, nil
}

// deleteQueue removes q, its bindings and its logs, and returns its
// consumers for the caller to tell, once v.mu is released.
func (v *Vhost) deleteQueue(q *Queue) ([]queue.Consumer, error) {
	if q.expiry != nil {
		q.expiry.Stop()
	}
	to := dest{queue: true, name: q.Name}
	var ops []meta.Op
	var sources []*Exchange
	for _, x := range v.exchanges {
		for _, b := range x.router.Bindings() {
			if b.Dest == to {
				ops = append(ops, v.bindingDeleteOp(x, to, b.Key, b.Args)...)
				sources = append(sources, x)
			}
		}
	}
	if q.stored() {
		ops = append(ops, meta.Delete(queueKey(v.name, q.Name)))
	}
	if err := v.apply(ops...); err != nil {
		return nil, err
	}
	for _, x := range sources {
		x.router.UnbindDest(to)
	}
	delete(v.queues, q.Name)
	v.autoDeleteExchanges(sources)
	stream := q.IsStream()
	cs := q.q.Delete()
	if stream {
		v.h.dropStream(q)
	} else {
		v.h.dropQueueLogs(q)
	}
	return cs, nil
}

// PurgeQueue removes a queue's ready messages and returns how many.
func (v *Vhost) PurgeQueue(name string, owner uint64) (int, error) {
	q, err := v.Queue(name, owner)
	if err != nil {
		return 0, err
	}
	if q.IsStream() {
		return 0, fmt.Errorf("%w: queue.purge not supported by stream queues ('%s'); retention trims them", ErrNotImplemented, name)
	}
	return q.q.Purge(), nil
}

// Consume adds c as a consumer of q, which Queue returned.
func (v *Vhost) Consume(q *Queue, c Consumer, exclusive bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.queues[q.Name] != q {
		return fmt.Errorf("%w: no queue '%s' in vhost '%s'", ErrNotFound, q.Name, v.name)
	}
	if err := q.q.AddConsumer(c, exclusive); err != nil {
		return fmt.Errorf("%w: queue '%s' in vhost '%s' in exclusive use", ErrAccess, q.Name, v.name)
	}
	q.consumed = true
	return nil
}

// Cancel removes c from q's consumers; an auto-delete queue that loses its
// last consumer is deleted.
func (v *Vhost) Cancel(q *Queue, c Consumer) {
	v.mu.Lock()
	left := q.q.RemoveConsumer(c)
	q.touch()
	var cs []queue.Consumer
	if left == 0 && q.AutoDelete && q.consumed && v.queues[q.Name] == q {
		var err error
		if cs, err = v.deleteQueue(q); err != nil {
			v.h.logger.Warn("vhost: cannot auto-delete a queue", "queue", q.Name, "err", err)
		}
	}
	v.mu.Unlock()
	for _, c := range cs {
		if c, ok := c.(Consumer); ok {
			c.Cancelled()
		}
	}
}

// DropOwner deletes the exclusive queues of a closed connection.
func (v *Vhost) DropOwner(owner uint64) {
	v.mu.Lock()
	var cs []queue.Consumer
	for _, q := range v.queues {
		if q.Exclusive && q.Owner == owner {
			got, err := v.deleteQueue(q)
			if err != nil {
				v.h.logger.Warn("vhost: cannot delete an exclusive queue", "queue", q.Name, "err", err)
			}
			cs = append(cs, got...)
		}
	}
	v.mu.Unlock()
	for _, c := range cs {
		if c, ok := c.(Consumer); ok {
			c.Cancelled()
		}
	}
}

// queueLimits returns the limits q's arguments, with its policy, set on
// its subscription.
func (h *Hosts) queueLimits(v *Vhost, q *Queue) queue.Limits {
	args := q.Effective()
	ttl, _ := messageTTL(args)
	lim, _ := lengthLimit(args)
	return queue.Limits{
		MessageTTL: ttl, HasMaxLength: lim.has, MaxLength: lim.max, Overflow: lim.overflow,
		HasMaxLengthBytes: lim.hasBytes, MaxLengthBytes: lim.maxBytes,
		HasDeliveryLimit: lim.hasDeliveryLimit, DeliveryLimit: lim.deliveryLimit,
		DeadLetter: h.deadLetterHook(v, q),
	}
}
