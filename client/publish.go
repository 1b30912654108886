package client

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// pending is one publish waiting for its confirm. It outlives its
// connection: one that drops takes its unconfirmed publishes to the next.
type pending struct {
	ctx       context.Context // the caller's; once done, nobody waits
	exchange  string          // "" with in set: the session's front for in
	in        string          // the exchange to reach through the session's front
	key       string
	mandatory bool
	msg       amqp.Publishing
	done      chan error // buffered: finish never blocks
	once      sync.Once
}

func (p *pending) finish(err error) { p.once.Do(func() { p.done <- err }) }

// publisher is a channel in confirm mode and its unconfirmed publishes.
type publisher struct {
	ch     *amqp.Channel
	broken func() // closes the session: a publisher channel that failed is no use

	mu       sync.Mutex
	inflight map[uint64]*pending // by delivery tag
	returned map[string]bool     // message ids returned as unroutable, until confirmed
	dead     bool
}

func newPublisher(ch *amqp.Channel, broken func()) *publisher {
	pb := &publisher{ch: ch, broken: broken, inflight: map[uint64]*pending{}, returned: map[string]bool{}}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 256))
	returns := ch.NotifyReturn(make(chan amqp.Return, 64))
	go pb.settle(confirms, returns)
	return pb
}

// settle matches confirms to publishes until the channel closes. The
// broker sends a mandatory message's basic.return before its basic.ack,
// and amqp091-go hands both over in that order from one goroutine, so a
// return is always seen before the confirm it belongs to.
func (pb *publisher) settle(confirms <-chan amqp.Confirmation, returns <-chan amqp.Return) {
	defer pb.broken()
	for {
		select {
		case r, ok := <-returns:
			if ok {
				pb.mu.Lock()
				pb.returned[r.MessageId] = true
				pb.mu.Unlock()
			}
		case c, ok := <-confirms:
			if !ok {
				return
			}
			for more := true; more; {
				select {
				case r, ok := <-returns:
					if ok {
						pb.mu.Lock()
						pb.returned[r.MessageId] = true
						pb.mu.Unlock()
					} else {
						more = false
					}
				default:
					more = false
				}
			}
			pb.confirm(c)
		}
	}
}

func (pb *publisher) confirm(c amqp.Confirmation) {
	pb.mu.Lock()
	p := pb.inflight[c.DeliveryTag]
	delete(pb.inflight, c.DeliveryTag)
	var returned bool
	if p != nil {
		returned = pb.returned[p.msg.MessageId]
		delete(pb.returned, p.msg.MessageId)
	}
	pb.mu.Unlock()
	switch {
	case p == nil:
	case !c.Ack:
		p.finish(ErrNacked)
	case returned:
		x := p.exchange
		if x == "" {
			x = p.in
		}
		p.finish(fmt.Errorf("%w: nothing is bound to %q on %s", ErrNoRoute, p.key, x))
	default:
		p.finish(nil)
	}
}

// send publishes p, reporting false if the channel is gone (p then waits
// for the next connection).
func (pb *publisher) send(p *pending, exchange string) bool {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.dead {
		return false
	}
	tag := pb.ch.GetNextPublishSeqNo()
	// The context only bounds handing the frames to the socket; what
	// bounds the caller is its own wait for the confirm.
	if err := pb.ch.PublishWithContext(context.Background(), exchange, p.key, p.mandatory, false, p.msg); err != nil {
		pb.dead = true
		go pb.broken()
		return false
	}
	pb.inflight[tag] = p
	return true
}

// abandon marks the publisher dead and returns its unconfirmed publishes
// in the order they were sent.
func (pb *publisher) abandon() []*pending {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	pb.dead = true
	tags := make([]uint64, 0, len(pb.inflight))
	for t := range pb.inflight {
		tags = append(tags, t)
	}
	slices.Sort(tags)
	left := make([]*pending, len(tags))
	for i, t := range tags {
		left[i] = pb.inflight[t]
	}
	pb.inflight = map[uint64]*pending{}
	return left
}

// publish sends msg and waits for the broker's confirm. A connection that
// drops first takes msg to the next one, re-published with the same
// message id; on Loft the deduplicating exchange drops the copy if the
// first one arrived after all.
func (c *Client) publish(ctx context.Context, exchange string, viaFront bool, key string, mandatory bool, msg amqp.Publishing) error {
	p := &pending{ctx: ctx, key: key, mandatory: mandatory, msg: msg, done: make(chan error, 1)}
	if viaFront {
		p.in = exchange
	} else {
		p.exchange = exchange
	}
	for {
		s, err := c.session(ctx)
		if err != nil {
			return err
		}
		if s.pub.send(p, p.target(s)) {
			break
		}
		select {
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// target is the exchange p goes to on s.
func (p *pending) target(s *session) string {
	if p.in != "" {
		return s.in(p.in)
	}
	return p.exchange
}

// Publish publishes the event v on topic (a topic exchange routing key
// such as "orders.placed"): every service subscribed to a matching topic
// gets it once, and one instance of each handles it. It returns once the
// broker has the event on disk.
func (c *Client) Publish(ctx context.Context, topic string, v any, opts ...PublishOption) error {
	m, err := c.message(ctx, v, opts)
	if err != nil {
		return err
	}
	return c.PublishMessage(ctx, topic, m)
}

// PublishMessage publishes m as an event on topic, as Publish does.
func (c *Client) PublishMessage(ctx context.Context, topic string, m Message) error {
	done := c.outgoing(ctx, topic, &m)
	err := c.publish(ctx, eventsExchange, true, topic, false, m.publishing())
	done(err)
	return err
}

// Send sends the command v to service: one instance of it handles it,
// with the handler registered for v's type. It returns once the broker
// has the command on disk, or ErrNoRoute if the service never registered
// a handler for that type.
func (c *Client) Send(ctx context.Context, service string, v any, opts ...PublishOption) error {
	m, err := c.message(ctx, v, opts)
	if err != nil {
		return err
	}
	return c.SendMessage(ctx, service, m)
}

// SendMessage sends m to service as a command, as Send does; m.Type picks
// the handler.
func (c *Client) SendMessage(ctx context.Context, service string, m Message) error {
	key := CommandQueue(service, m.Type)
	done := c.outgoing(ctx, key, &m)
	err := c.publish(ctx, commandsExchange, true, key, true, m.publishing())
	done(err)
	return err
}

// NewMessage encodes v into a Message with the options, ready to publish:
// with its id, timestamp and the trace context of ctx. It is for
// messages published later, e.g. written to a transactional outbox, that
// must keep their id until then.
func (c *Client) NewMessage(ctx context.Context, v any, opts ...PublishOption) (Message, error) {
	m, err := c.message(ctx, v, opts)
	if err != nil {
		return Message{}, err
	}
	c.stamp(&m)
	injectTrace(ctx, &m)
	return m, nil
}

// message encodes v into a Message with the options.
func (c *Client) message(ctx context.Context, v any, opts []PublishOption) (Message, error) {
	var ps publishSettings
	for _, o := range opts {
		o(&ps)
	}
	body, err := c.cfg.codec.Marshal(v)
	if err != nil {
		return Message{}, fmt.Errorf("client: encode %T: %w", v, err)
	}
	m := Message{
		ID:            ps.id,
		Type:          ps.msgType,
		CorrelationID: ps.corr,
		ContentType:   c.cfg.codec.ContentType(),
		Key:           ps.key,
		Headers:       ps.headers,
		Body:          body,
	}
	if m.Type == "" {
		m.Type = typeName(reflect.TypeOf(v))
	}
	return m, nil
}

// stamp gives a message being published the id and timestamp it lacks.
func (c *Client) stamp(m *Message) {
	if m.ID == "" {
		m.ID = NewID()
	}
	if m.Timestamp.IsZero() {
		m.Timestamp = time.Now()
	}
}

// outgoing readies m for publishing to destination: its id and
// timestamp, the Publishing hook (which may add a tracing span's context)
// and the trace context of ctx, unless the hook or an earlier stamp put
// one. It returns the function to call with the publish's outcome.
func (c *Client) outgoing(ctx context.Context, destination string, m *Message) func(error) {
	c.stamp(m)
	done := c.cfg.hooks.publishing(ctx, destination, m)
	injectTrace(ctx, m)
	return done
}

// typeName is the message type of Go type t: its name, without pointers.
func typeName(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Name() == "" {
		return ""
	}
	return t.Name()
}

// CommandQueue is the queue of service's commands (and requests) of type
// typ; Send routes to it.
func CommandQueue(service, typ string) string { return service + "." + typ }

// EventQueue is service's queue for the events of topic (a topic pattern,
// e.g. "orders.*"); every instance of service consumes from it.
func EventQueue(service, topic string) string { return service + ".events." + topic }
