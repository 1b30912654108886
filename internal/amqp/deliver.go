package amqp

// Consumers and deliveries: basic.qos, consume, cancel, get, ack, reject,
// nack and recover, and what a closing channel does with its unacked
// messages (requeues them).

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/auth"
	"github.com/loftmq/loft/internal/queue"
	"github.com/loftmq/loft/internal/stream"
	"github.com/loftmq/loft/internal/vhost"
)

// delivery is one unacked message of a channel.
type delivery struct {
	q      *vhost.Queue
	sub    *queue.Queue // where it is settled: q's, or one of its priority levels
	offset int64
	cs     *consumer // nil for basic.get
	at     int64     // unix ns when delivered, for consumer timeouts
}

// consumer is one basic.consume. Its fields are guarded by c.omu, except
// the immutable ones.
type consumer struct {
	ch       *channel
	tag      string
	q        *vhost.Queue
	noAck    bool
	prefetch int // 0: no limit of its own

	unacked   int
	starved   bool          // refused for a full write buffer; on c.starved
	waiting   bool          // refused for want of credit: offer more when it grows
	replyName string        // a direct reply-to consumer's name; see reply.go
	held      bool          // consume-ok not sent yet: no deliveries
	timeout   time.Duration // 0: none; see timeout.go
	cancelled bool
}

// Deliver is called by the queue, under its lock, to offer m.
func (cs *consumer) Deliver(from *queue.Queue, m *queue.Message, redelivered bool, returns int) bool {
	ch := cs.ch
	c := ch.c
	c.omu.Lock()
	defer c.omu.Unlock()
	if cs.cancelled || ch.closed || c.werr != nil || cs.held {
		return false
	}
	if !cs.noAck {
		if (cs.prefetch > 0 && cs.unacked >= cs.prefetch) ||
			(ch.prefetchGlobal > 0 && ch.globalUnacked >= int(ch.prefetchGlobal)) {
			cs.waiting = true
			return false
		}
	}
	if len(c.out) >= outLimit {
		if !cs.starved {
			cs.starved = true
			c.starved = append(c.starved, cs)
		}
		return false
	}
	ch.nextTag++
	tag := ch.nextTag
	out, err := appendMethod(c.out, ch.id, &frame.BasicDeliver{
		ConsumerTag: cs.tag, DeliveryTag: tag, Redelivered: redelivered,
		Exchange: m.Exchange, RoutingKey: m.RoutingKey,
	})
	if err != nil {
		ch.nextTag--
		return false
	}
	c.out = appendContent(out, ch.id, withDeliveryCount(m.Properties, returns), m.Body, c.frameMax)
	if !cs.noAck {
		d := delivery{q: cs.q, sub: from, offset: m.Offset, cs: cs}
		if cs.timeout > 0 {
			d.at = time.Now().UnixNano()
		}
		ch.unacked[tag] = d
		ch.order = append(ch.order, tag)
		cs.unacked++
		ch.globalUnacked++
	}
	c.wake()
	return true
}

// withDeliveryCount returns props with the x-delivery-count header set to
// returns, as RabbitMQ's quorum queues mark a message given back before;
// props unchanged when it never was (or cannot be decoded, which the
// publish path rules out).
func withDeliveryCount(props []byte, returns int) []byte {
	if returns <= 0 {
		return props
	}
	if len(props) < 2 {
		props = []byte{0, 0} // no properties
	}
	p, err := frame.DecodeProperties(props)
	if err != nil {
		return props
	}
	p.Headers = slices.Clone(p.Headers)
	p.Headers.Set("x-delivery-count", int64(returns))
	p.Flags |= frame.FlagHeaders
	out, err := frame.AppendProperties(nil, &p)
	if err != nil {
		return props
	}
	return out
}

// NoAck reports whether deliveries to this consumer need no ack.
func (cs *consumer) NoAck() bool { return cs.noAck }

// Cancelled is called when the consumer's queue is deleted: the client is
// told with basic.cancel if it said it understands one.
func (cs *consumer) Cancelled() {
	ch := cs.ch
	c := ch.c
	c.omu.Lock()
	defer c.omu.Unlock()
	if cs.cancelled || ch.closed {
		return
	}
	cs.cancelled = true
	delete(ch.consumers, cs.tag)
	if c.cancelNote && c.werr == nil {
		c.out, _ = appendMethod(c.out, ch.id, &frame.BasicCancel{ConsumerTag: cs.tag, NoWait: true})
		c.wake()
	}
}

func (ch *channel) qos(m *frame.BasicQos) error {
	if m.PrefetchSize != 0 {
		return channelError(frame.NotImplemented, m, "prefetch_size!=0 (%d)", m.PrefetchSize)
	}
	c := ch.c
	c.omu.Lock()
	if m.Global {
		ch.prefetchGlobal = m.PrefetchCount
	} else {
		ch.prefetch = m.PrefetchCount
	}
	c.omu.Unlock()
	if err := c.sendOrStop(ch.id, &frame.BasicQosOK{}); err != nil {
		return err
	}
	c.omu.Lock()
	for _, cs := range ch.consumers {
		if !m.Global {
			continue // applies to consumers made from now on
		}
		cs.waiting = true
	}
	c.omu.Unlock()
	ch.redispatch()
	return nil
}

func (ch *channel) consume(m *frame.BasicConsume) error {
	if m.Queue == replyQueue {
		return ch.consumeReplies(m)
	}
	c := ch.c
	q, err := ch.readQueue(m, m.Queue)
	if err != nil {
		return err
	}
	var from stream.Offset
	if q.IsStream() {
		// As RabbitMQ: a stream is read with acks and a prefetch, from
		// x-stream-offset.
		c.omu.Lock()
		prefetch := ch.prefetch
		c.omu.Unlock()
		if m.NoAck || prefetch == 0 {
			return channelError(frame.PreconditionFailed, m, "consumer prefetch count is not set for stream queue '%s' (and no-ack is not supported)", q.Name)
		}
		if from, err = vhost.StreamOffset(m.Arguments, time.Now()); err != nil {
			return modelError(m, err)
		}
	}
	tag := m.ConsumerTag
	c.omu.Lock()
	if tag == "" {
		tag = consumerTag()
	}
	if _, dup := ch.consumers[tag]; dup {
		c.omu.Unlock()
		return connError(frame.NotAllowed, m, "attempt to reuse consumer tag '%s'", tag)
	}
	// The consumer is held until consume-ok is out: the queue may accept
	// it at once, but its first delivery must not precede the answer, and
	// a refusal must come instead of the answer.
	cs := &consumer{ch: ch, tag: tag, q: q, noAck: m.NoAck, prefetch: int(ch.prefetch), held: true}
	if !m.NoAck && !q.IsStream() {
		cs.timeout = c.consumerTimeout(q)
	}
	ch.consumers[tag] = cs
	c.omu.Unlock()
	if q.IsStream() {
		err = c.vh.ConsumeStream(q, cs, from)
	} else {
		err = c.vh.Consume(q, cs, m.Exclusive)
	}
	if err != nil {
		c.omu.Lock()
		delete(ch.consumers, tag)
		cs.cancelled = true
		c.omu.Unlock()
		return modelError(m, err)
	}
	c.omu.Lock()
	cs.held = false
	if cs.timeout > 0 {
		c.watch(cs)
	}
	if !m.NoWait {
		c.out, _ = appendMethod(c.out, ch.id, &frame.BasicConsumeOK{ConsumerTag: tag})
		c.wake()
	}
	c.omu.Unlock()
	q.Sub().Dispatch()
	return nil
}

// consumerTag makes a tag as RabbitMQ does: amq.ctag- and 22 characters.
func consumerTag() string {
	var b [16]byte
	rand.Read(b[:])
	return "amq.ctag-" + base64.RawURLEncoding.EncodeToString(b[:])
}

func (ch *channel) cancel(m *frame.BasicCancel) error {
	c := ch.c
	c.omu.Lock()
	cs, ok := ch.consumers[m.ConsumerTag]
	if ok {
		delete(ch.consumers, m.ConsumerTag)
		cs.cancelled = true
		if cs == ch.replyConsumer {
			ch.replyConsumer = nil
		}
	}
	c.omu.Unlock()
	if ok && cs.replyName != "" {
		c.s.replies.remove(cs.replyName)
	}
	if ok && cs.q != nil {
		c.vh.Cancel(cs.q, cs)
	}
	return ch.reply(m.NoWait, &frame.BasicCancelOK{ConsumerTag: m.ConsumerTag})
}

// readQueue returns the queue a consume or get reads from, once the user
// may read it.
func (ch *channel) readQueue(m frame.Method, name string) (*vhost.Queue, error) {
	name, err := ch.queueName(m, name)
	if err != nil {
		return nil, err
	}
	if err := ch.check(m, auth.Queue(name), auth.Read); err != nil {
		return nil, err
	}
	q, err := ch.c.vh.Queue(name, ch.c.id)
	if err != nil {
		return nil, modelError(m, err)
	}
	return q, nil
}

func (ch *channel) get(m *frame.BasicGet) error {
	c := ch.c
	q, err := ch.readQueue(m, m.Queue)
	if err != nil {
		return err
	}
	if q.IsStream() {
		return connError(frame.NotImplemented, m, "basic.get not supported by stream queues ('%s')", q.Name)
	}
	from, msg, redelivered, returns, left, err := q.Sub().Get(m.NoAck)
	if err != nil {
		return modelError(m, err)
	}
	if msg == nil {
		return c.sendOrStop(ch.id, &frame.BasicGetEmpty{})
	}
	c.omu.Lock()
	defer c.omu.Unlock()
	ch.nextTag++
	tag := ch.nextTag
	out, err := appendMethod(c.out, ch.id, &frame.BasicGetOK{
		DeliveryTag: tag, Redelivered: redelivered, Exchange: msg.Exchange,
		RoutingKey: msg.RoutingKey, MessageCount: uint32(left),
	})
	if err != nil {
		return connError(frame.InternalError, m, "%v", err)
	}
	c.out = appendContent(out, ch.id, withDeliveryCount(msg.Properties, returns), msg.Body, c.frameMax)
	if !m.NoAck {
		ch.unacked[tag] = delivery{q: q, sub: from, offset: msg.Offset}
		ch.order = append(ch.order, tag)
	}
	c.wake()
	return nil
}

// take removes from the channel's unacked deliveries the one tagged tag,
// or with multiple every one up to tag (all of them for 0), and returns
// them. omu is held.
func (ch *channel) take(tag uint64, multiple bool, dst []delivery) ([]delivery, bool) {
	if !multiple {
		d, ok := ch.unacked[tag]
		if !ok {
			if _, late := ch.timedOut[tag]; late {
				delete(ch.timedOut, tag) // requeued on timeout: nothing to do
				return dst, true
			}
			return dst, false
		}
		delete(ch.unacked, tag)
		ch.settled(d)
		if len(ch.order) > 2*len(ch.unacked)+64 {
			ch.compactOrder()
		}
		return append(dst, d), true
	}
	if tag == 0 {
		tag = ch.nextTag
	} else if _, ok := ch.unacked[tag]; !ok {
		if _, late := ch.timedOut[tag]; !late {
			return dst, false
		}
	}
	for t := range ch.timedOut {
		if t <= tag {
			delete(ch.timedOut, t)
		}
	}
	i := 0
	for ; i < len(ch.order) && ch.order[i] <= tag; i++ {
		if d, ok := ch.unacked[ch.order[i]]; ok {
			delete(ch.unacked, ch.order[i])
			ch.settled(d)
			dst = append(dst, d)
		}
	}
	ch.order = append(ch.order[:0], ch.order[i:]...)
	return dst, true
}

// settled updates credit for a delivery no longer unacked. omu is held.
func (ch *channel) settled(d delivery) {
	if d.cs != nil {
		d.cs.unacked--
		ch.globalUnacked--
	}
}

func (ch *channel) compactOrder() {
	kept := ch.order[:0]
	for _, t := range ch.order {
		if _, ok := ch.unacked[t]; ok {
			kept = append(kept, t)
		}
	}
	ch.order = kept
}

func (ch *channel) ack(m frame.Method, tag uint64, multiple bool) error {
	if ch.tx != nil {
		if !ch.known(tag, multiple) {
			return channelError(frame.PreconditionFailed, m, "unknown delivery tag %d", tag)
		}
		ch.tx.acks = append(ch.tx.acks, txAck{tag: tag, multiple: multiple})
		return nil
	}
	return ch.settle(m, tag, multiple, false, false)
}

func (ch *channel) reject(m frame.Method, tag uint64, multiple, requeue bool) error {
	if ch.tx != nil {
		if !ch.known(tag, multiple) {
			return channelError(frame.PreconditionFailed, m, "unknown delivery tag %d", tag)
		}
		ch.tx.acks = append(ch.tx.acks, txAck{tag: tag, multiple: multiple, reject: true, requeue: requeue})
		return nil
	}
	return ch.settle(m, tag, multiple, true, requeue)
}

// known reports whether an ack of tag (with multiple) names unacked
// deliveries, as RabbitMQ checks it when the ack arrives, in a
// transaction too.
func (ch *channel) known(tag uint64, multiple bool) bool {
	if multiple && tag == 0 {
		return true
	}
	ch.c.omu.Lock()
	defer ch.c.omu.Unlock()
	_, ok := ch.unacked[tag]
	return ok
}

// settle acks, or rejects, deliveries. A rejected message is requeued or
// dropped; dead-lettering is not there yet.
func (ch *channel) settle(m frame.Method, tag uint64, multiple, reject, requeue bool) error {
	c := ch.c
	c.omu.Lock()
	ds, ok := ch.take(tag, multiple, nil)
	c.omu.Unlock()
	if !ok {
		return channelError(frame.PreconditionFailed, m, "unknown delivery tag %d", tag)
	}
	how := outcomeOf(reject, requeue)
	apply(ds, how)
	ch.noteAcked(ds, how)
	ch.redispatch()
	return nil
}

// noteAcked remembers the queues of deliveries just acked or rejected,
// whose acks writeAcks is to write. Requeues need no such care: one
// forgotten only allows the message one more delivery.
func (ch *channel) noteAcked(ds []delivery, how outcome) {
	if how == requeueThem {
		return
	}
	for _, d := range ds {
		if d.sub != nil && !slices.Contains(ch.ackedIn, d.sub) {
			ch.ackedIn = append(ch.ackedIn, d.sub)
		}
	}
}

// writeAcks writes the channel's acks to their queues' ack logs and
// waits until they are written, so that an ack followed by a round trip on
// the channel (any synchronous method answered, tx.commit-ok,
// connection.close-ok) survives a crash of the broker's process. Between
// round trips acks are written within a few milliseconds, unwaited.
func (ch *channel) writeAcks() {
	for _, q := range ch.ackedIn {
		q.WriteAcks()
	}
	clear(ch.ackedIn)
	ch.ackedIn = ch.ackedIn[:0]
}

// What settling does with deliveries.
type outcome int

const (
	ackThem     outcome = iota // basic.ack
	requeueThem                // reject or nack with requeue, recover, a closing channel
	rejectThem                 // reject or nack without requeue: dead-lettered, if the queue says where
)

func outcomeOf(reject, requeue bool) outcome {
	switch {
	case !reject:
		return ackThem
	case requeue:
		return requeueThem
	}
	return rejectThem
}

// apply settles deliveries, queue by queue.
func apply(ds []delivery, how outcome) {
	for len(ds) > 0 {
		q := ds[0].sub
		if q == nil {
			// From a stream: an ack only gave credit back.
			ds = ds[1:]
			continue
		}
		offsets := make([]int64, 0, len(ds))
		rest := ds[:0]
		for _, d := range ds {
			if d.sub == q {
				offsets = append(offsets, d.offset)
			} else {
				rest = append(rest, d)
			}
		}
		switch how {
		case ackThem:
			q.Ack(offsets...)
		case requeueThem:
			q.Requeue(offsets...)
		case rejectThem:
			q.Reject(offsets...)
		}
		ds = rest
	}
}

// redispatch offers messages to the channel's consumers that ran out of
// credit, now that it grew.
func (ch *channel) redispatch() {
	c := ch.c
	var one [1]*vhost.Queue
	qs := one[:0]
	c.omu.Lock()
	for _, cs := range ch.consumers {
		if cs.waiting && cs.q != nil {
			cs.waiting = false
			if !slices.Contains(qs, cs.q) {
				qs = append(qs, cs.q)
			}
		}
	}
	c.omu.Unlock()
	for _, q := range qs {
		q.Sub().Dispatch()
	}
}

// recover requeues every unacked delivery of the channel. Redelivering to
// the same consumer (requeue=false) is not supported, as in RabbitMQ.
func (ch *channel) recover(m frame.Method, requeue, sync bool) error {
	if !requeue {
		return channelError(frame.NotImplemented, m, "requeue=false")
	}
	c := ch.c
	c.omu.Lock()
	ds, _ := ch.take(0, true, nil)
	c.omu.Unlock()
	apply(ds, requeueThem)
	if sync {
		return c.sendOrStop(ch.id, &frame.BasicRecoverOK{})
	}
	return nil
}

// release ends the channel's deliveries: consumers are cancelled and
// unacked messages requeued, in their original places.
func (ch *channel) release() {
	c := ch.c
	c.omu.Lock()
	if ch.closed {
		c.omu.Unlock()
		return
	}
	ch.closed = true
	ds, _ := ch.take(0, true, nil)
	consumers := make([]*consumer, 0, len(ch.consumers))
	for _, cs := range ch.consumers {
		cs.cancelled = true
		consumers = append(consumers, cs)
	}
	clear(ch.consumers)
	ch.replyConsumer = nil
	c.omu.Unlock()
	// Requeue before cancelling: the messages are back in their places
	// before another consumer (a single active consumer's successor)
	// can be offered any.
	apply(ds, requeueThem)
	for _, cs := range consumers {
		if cs.replyName != "" {
			c.s.replies.remove(cs.replyName)
		}
		if cs.q != nil {
			c.vh.Cancel(cs.q, cs)
		}
	}
}
