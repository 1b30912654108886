package client

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// consumer is one handler and its queue.
type consumer struct {
	c       *Client
	queue   string
	declare func(ch *amqp.Channel, loft bool) error
	// handle runs the handler on m; a request handler also returns the
	// reply's body.
	handle  func(ctx context.Context, m Message) (reply []byte, err error)
	replies bool // requests: reply to every message, errors included
	// batch, set for batch handlers instead of handle, decodes a batch,
	// runs the handler on the messages that decode, and returns the
	// decoding errors by index and the handler's error.
	batch func(ctx context.Context, ms []Message) (bad map[int]error, err error)
	opts  handlerSettings

	mu      sync.Mutex
	running map[string]chan struct{} // ids being handled, for Idempotent
}

// claim waits until no other delivery of id is being handled in this
// process, marks id as being handled and returns the function that
// unmarks it.
func (k *consumer) claim(id string) func() {
	for {
		k.mu.Lock()
		busy, ok := k.running[id]
		if !ok {
			if k.running == nil {
				k.running = map[string]chan struct{}{}
			}
			done := make(chan struct{})
			k.running[id] = done
			k.mu.Unlock()
			return func() {
				k.mu.Lock()
				delete(k.running, id)
				k.mu.Unlock()
				close(done)
			}
		}
		k.mu.Unlock()
		<-busy
	}
}

// Delivery is what a handler may want to know about the message it runs
// on, beyond its decoded body.
type Delivery struct {
	Queue   string  // the queue it came from: the consumer, for a Store
	Message Message // the message, body included
	Attempt int     // 1 on the first delivery, 2 on the first retry, ...
	// StreamOffset is the message's offset in its stream (ReadStream).
	StreamOffset int64
}

type deliveryKey struct{}

// DeliveryFrom returns the delivery a handler's ctx belongs to, e.g. to
// record its id in the handler's own database transaction.
func DeliveryFrom(ctx context.Context) (Delivery, bool) {
	d, ok := ctx.Value(deliveryKey{}).(Delivery)
	return d, ok
}

// permanentError marks a failure that no retry can fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that the message is dead-lettered at once instead
// of retried: for a message that can never succeed, e.g. one that does
// not decode.
func Permanent(err error) error { return permanentError{err} }

// Subscribe makes h handle the events published on topic, a topic
// exchange pattern ("orders.placed", "orders.*", "orders.#"): the service
// gets each such event once, in its queue EventQueue(service, topic),
// which all its instances share. A message whose body does not decode
// into T is dead-lettered.
func Subscribe[T any](ctx context.Context, c *Client, topic string, h func(context.Context, T) error, opts ...HandlerOption) error {
	q := EventQueue(c.cfg.service, topic)
	return c.add(ctx, &consumer{
		queue:   q,
		declare: declareEvents(q, topic),
		handle: func(ctx context.Context, m Message) ([]byte, error) {
			v, err := decode[T](c, m)
			if err != nil {
				return nil, err
			}
			return nil, h(ctx, v)
		},
	}, opts)
}

// Handle makes h handle the commands of type T (its Go type's name, or
// ForType's) sent to this service with Send.
func Handle[T any](ctx context.Context, c *Client, h func(context.Context, T) error, opts ...HandlerOption) error {
	return c.add(ctx, c.commandConsumer(reflect.TypeFor[T](), func(ctx context.Context, m Message) ([]byte, error) {
		v, err := decode[T](c, m)
		if err != nil {
			return nil, err
		}
		return nil, h(ctx, v)
	}, false, opts), opts)
}

// Serve makes h answer the requests of type Req (its Go type's name, or
// ForType's) made to this service with Request: what h returns is the
// reply. An error is the reply too (the requester's Request returns a
// *RemoteError); requests are not retried, since their requester waits.
func Serve[Req, Resp any](ctx context.Context, c *Client, h func(context.Context, Req) (Resp, error), opts ...HandlerOption) error {
	return c.add(ctx, c.commandConsumer(reflect.TypeFor[Req](), func(ctx context.Context, m Message) ([]byte, error) {
		v, err := decode[Req](c, m)
		if err != nil {
			return nil, err
		}
		resp, err := h(ctx, v)
		if err != nil {
			return nil, err
		}
		body, err := c.cfg.codec.Marshal(resp)
		if err != nil {
			return nil, fmt.Errorf("client: encode reply %T: %w", resp, err)
		}
		return body, nil
	}, true, opts), opts)
}

// commandConsumer is the consumer of the commands or requests of Go type
// t sent to this service.
func (c *Client) commandConsumer(t reflect.Type, handle func(context.Context, Message) ([]byte, error), replies bool, opts []HandlerOption) *consumer {
	hs := handlerDefaults()
	for _, o := range opts {
		o(&hs)
	}
	typ := hs.msgType
	if typ == "" {
		typ = typeName(t)
	}
	q := CommandQueue(c.cfg.service, typ)
	return &consumer{
		queue: q,
		declare: func(ch *amqp.Channel, loft bool) error {
			if err := declareQueue(ch, loft, q); err != nil {
				return err
			}
			return ch.QueueBind(q, q, commandsExchange, false, nil)
		},
		handle:  handle,
		replies: replies,
	}
}

// declareEvents declares the queue q of a service's events on topic.
func declareEvents(q, topic string) func(*amqp.Channel, bool) error {
	return func(ch *amqp.Channel, loft bool) error {
		if err := declareQueue(ch, loft, q); err != nil {
			return err
		}
		return ch.QueueBind(q, topic, eventsExchange, false, nil)
	}
}

func decode[T any](c *Client, m Message) (T, error) {
	var v T
	if err := c.cfg.codec.Unmarshal(m.Body, &v); err != nil {
		return v, Permanent(fmt.Errorf("client: decode %s message %s into %T: %w", m.Type, m.ID, v, err))
	}
	return v, nil
}

// add registers k: it declares its queue now if connected (so that a
// refused declaration is an error here), and starts it if Run runs.
func (c *Client) add(ctx context.Context, k *consumer, opts []HandlerOption) error {
	k.c = c
	k.opts = handlerDefaults()
	for _, o := range opts {
		o(&k.opts)
	}
	if k.opts.prefetch == 0 {
		k.opts.prefetch = 2 * k.opts.concurrency
	}
	c.mu.Lock()
	s := c.conn
	c.mu.Unlock()
	if s != nil {
		declared := make(chan error, 1)
		go func() { declared <- s.declare(k.declare) }()
		select {
		case err := <-declared:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil {
		return ErrClosed
	}
	c.consumers = append(c.consumers, k)
	if c.running != nil && c.conn != nil {
		c.startConsumer(c.conn, k)
	}
	return nil
}

// Run runs the registered handlers (and those registered while it runs)
// until ctx is done; then it stops taking messages, waits for the ones
// being handled to finish (at most WithDrainTimeout) and returns. The
// messages fetched ahead but not started go back to their queue.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running != nil {
		c.mu.Unlock()
		return errors.New("client: Run is already running")
	}
	run, stop := context.WithCancel(ctx)
	defer stop()
	c.running = run
	if c.conn != nil {
		for _, k := range c.consumers {
			c.startConsumer(c.conn, k)
		}
	}
	c.mu.Unlock()

	select {
	case <-run.Done():
	case <-c.ctx.Done():
	}
	stop()
	c.mu.Lock()
	c.running = nil
	c.mu.Unlock()
	drained := make(chan struct{})
	go func() {
		c.handlers.Wait()
		close(drained)
	}()
	select {
	case <-drained:
		return nil
	case <-time.After(c.cfg.drain):
		return fmt.Errorf("client: handlers still running %v after Run's context ended", c.cfg.drain)
	}
}

// startConsumer consumes k's queue on s until s closes or Run's context
// ends. c.mu must be held.
func (c *Client) startConsumer(s *session, k *consumer) {
	run := c.running
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		if err := k.consume(run, s); err != nil && run.Err() == nil {
			c.cfg.logger.Warn("client: consumer stopped", "queue", k.queue, "err", err)
		}
	}()
}

// consume delivers k's queue to its handler on a channel of s.
func (k *consumer) consume(run context.Context, s *session) error {
	ch, err := s.conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close() // what was fetched and not started goes back
	if err := ch.Qos(k.opts.prefetch, 0, false); err != nil {
		return err
	}
	tag := "loft-" + NewID()
	deliveries, err := ch.Consume(k.queue, tag, false, false, false, false, nil)
	if err != nil {
		return err
	}
	if k.batch != nil {
		return k.batches(run, ch, tag, deliveries)
	}
	return k.dispatch(run, ch, tag, deliveries)
}

// dispatch hands deliveries to the handler's workers until run ends or
// the deliveries do.
func (k *consumer) dispatch(run context.Context, ch *amqp.Channel, tag string, deliveries <-chan amqp.Delivery) error {
	lanes := make([]chan amqp.Delivery, k.opts.concurrency)
	var wg sync.WaitGroup
	for i := range lanes {
		lanes[i] = make(chan amqp.Delivery)
		if i > 0 && !k.opts.ordered {
			lanes[i] = lanes[0] // one lane shared by every worker
		}
		wg.Add(1)
		go func(lane <-chan amqp.Delivery) {
			defer wg.Done()
			for d := range lane {
				k.process(ch, &d)
			}
		}(lanes[i])
	}
	defer func() {
		if k.opts.ordered {
			for _, l := range lanes {
				close(l)
			}
		} else {
			close(lanes[0])
		}
		wg.Wait()
	}()
	for {
		select {
		case <-run.Done():
			return ch.Cancel(tag, false)
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("deliveries ended (connection lost or queue deleted)")
			}
			lane := lanes[0]
			if k.opts.ordered {
				lane = lanes[laneOf(&d, len(lanes))]
			}
			select {
			case lane <- d:
			case <-run.Done():
				return ch.Cancel(tag, false)
			}
		}
	}
}

// laneOf is the worker a delivery's key goes to.
func laneOf(d *amqp.Delivery, n int) int {
	key, _ := d.Headers[HeaderKey].(string)
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// process runs the handler on d and settles it: ack on success, a reply
// for a request, a delayed retry or a dead letter on failure.
func (k *consumer) process(ch *amqp.Channel, d *amqp.Delivery) {
	c := k.c
	m := fromDelivery(d)
	ctx := extractTrace(c.ctx, &m)
	if k.opts.store != nil && m.ID != "" {
		// A redelivery can arrive on a new channel while this process
		// still runs the first delivery: wait for it, then ask the store.
		defer k.claim(m.ID)()
		seen, err := k.opts.store.Seen(ctx, k.queue, m.ID)
		if err != nil {
			c.cfg.logger.Warn("client: dedup store failed; message goes back", "queue", k.queue, "id", m.ID, "err", err)
			_ = d.Nack(false, true)
			return
		}
		if seen {
			_ = d.Ack(false)
			return
		}
	}
	ctx = context.WithValue(ctx, deliveryKey{}, Delivery{Queue: k.queue, Message: m, Attempt: intHeader(d.Headers[HeaderAttempt]) + 1})
	hctx, done := c.cfg.hooks.handling(ctx, k.queue, &m)
	reply, err := k.run(hctx, m)
	done(err)
	if k.replies && m.ReplyTo != "" {
		k.reply(ctx, d, &m, reply, err)
		return
	}
	if err == nil {
		if k.opts.store != nil && m.ID != "" {
			if err := k.opts.store.Done(ctx, k.queue, m.ID); err != nil {
				c.cfg.logger.Warn("client: dedup store failed to record a processed message", "queue", k.queue, "id", m.ID, "err", err)
			}
		}
		_ = d.Ack(false)
		return
	}
	k.fail(ctx, d, &m, err)
}

// run calls the handler, turning a panic into an error.
func (k *consumer) run(ctx context.Context, m Message) (reply []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("client: handler panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return k.handle(ctx, m)
}

// reply answers a request with the handler's result, or its error.
func (k *consumer) reply(ctx context.Context, d *amqp.Delivery, m *Message, body []byte, herr error) {
	c := k.c
	r := Message{ID: NewID(), CorrelationID: m.CorrelationID, ContentType: c.cfg.codec.ContentType(), Body: body}
	if herr != nil {
		r.Headers = map[string]any{HeaderError: herr.Error(), HeaderService: c.cfg.service}
		r.Body = nil
	}
	pdone := c.outgoing(ctx, m.ReplyTo, &r)
	p := r.publishing()
	p.DeliveryMode = amqp.Transient // a reply is only for a requester that is still there
	err := c.publish(ctx, "", false, m.ReplyTo, false, p)
	pdone(err)
	if err != nil {
		c.cfg.logger.Warn("client: reply not sent", "queue", k.queue, "id", m.ID, "err", err)
	}
	_ = d.Ack(false)
}

// fail sends a failed message back for a later attempt, or dead-letters
// it after its last one or a permanent error; the original is acked once
// the broker has the copy, and requeued at once if it cannot take it.
func (k *consumer) fail(ctx context.Context, d *amqp.Delivery, m *Message, herr error) {
	c := k.c
	attempt := intHeader(d.Headers[HeaderAttempt]) + 1
	p := copyDelivery(d)
	p.Headers[HeaderAttempt] = int64(attempt)
	p.Headers[HeaderError] = truncate(herr.Error(), 1024)
	var perm permanentError
	var err error
	if attempt >= k.opts.attempts || errors.As(herr, &perm) {
		p.Headers[HeaderService] = c.cfg.service
		p.Headers[HeaderQueue] = k.queue
		c.cfg.logger.Warn("client: message dead-lettered", "queue", k.queue, "id", m.ID, "attempts", attempt, "err", herr)
		err = c.publish(ctx, deadExchange, false, k.queue, false, p)
	} else {
		delay := k.opts.firstDelay << (attempt - 1)
		if delay > k.opts.maxDelay || delay <= 0 {
			delay = k.opts.maxDelay
		}
		c.cfg.logger.Info("client: handler failed; retrying later", "queue", k.queue, "id", m.ID, "attempt", attempt, "in", delay, "err", herr)
		err = c.retryLater(ctx, k.queue, p, delay)
	}
	if err != nil {
		c.cfg.logger.Warn("client: could not store the retry; requeueing", "queue", k.queue, "id", m.ID, "err", err)
		_ = d.Nack(false, true)
		return
	}
	_ = d.Ack(false)
}

// retryLater has the broker deliver p to queue q after delay: through the
// delayed exchange on Loft, elsewhere through q.wait, whose messages
// expire into q (RabbitMQ expires only at a queue's head, so there a short
// wait may sit behind a longer one).
func (c *Client) retryLater(ctx context.Context, q string, p amqp.Publishing, delay time.Duration) error {
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	if s.loft {
		p.Headers["x-delay"] = delay.Milliseconds()
		return c.publish(ctx, retryExchange, false, q, false, p)
	}
	p.Expiration = strconv.FormatInt(delay.Milliseconds(), 10)
	return c.publish(ctx, "", false, q+".wait", false, p)
}

// copyDelivery is d as a persistent publishing, headers copied.
func copyDelivery(d *amqp.Delivery) amqp.Publishing {
	h := make(amqp.Table, len(d.Headers)+4)
	for k, v := range d.Headers {
		h[k] = v
	}
	return amqp.Publishing{
		Headers:         h,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		DeliveryMode:    amqp.Persistent,
		Priority:        d.Priority,
		CorrelationId:   d.CorrelationId,
		ReplyTo:         d.ReplyTo,
		MessageId:       d.MessageId,
		Timestamp:       d.Timestamp,
		Type:            d.Type,
		AppId:           d.AppId,
		Body:            d.Body,
	}
}

func intHeader(v any) int {
	switch n := v.(type) {
	case int8:
		return int(n)
	case int16:
		return int(n)
	case int32:
		return int(n)
	case int64:
		return int(n)
	case int:
		return n
	case uint8:
		return int(n)
	case uint16:
		return int(n)
	case uint32:
		return int(n)
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
