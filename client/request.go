package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// directReplyTo is RabbitMQ's pseudo-queue for replies that go straight
// to the requesting channel, which Loft serves too.
const directReplyTo = "amq.rabbitmq.reply-to"

// RemoteError is the error a request's handler returned, carried back in
// the reply.
type RemoteError struct {
	Service string // who answered
	Message string // the handler's error text
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("client: %s answered with an error: %s", e.Service, e.Message)
}

// answer is what a waiting request gets: a reply or why none comes.
type answer struct {
	msg Message
	err error
}

// replies is a session's channel for requests and their replies: with
// direct reply-to, a request must be published on the channel that
// consumes its reply.
type replies struct {
	ch *amqp.Channel

	mu      sync.Mutex
	waiting map[string]chan answer // by correlation id
	dead    error
}

// startReplies opens the session's reply channel.
func (s *session) startReplies() error {
	ch, err := s.conn.Channel()
	if err != nil {
		return fmt.Errorf("client: reply channel: %w", err)
	}
	deliveries, err := ch.Consume(directReplyTo, "", true, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("client: consume %s: %w", directReplyTo, err)
	}
	r := &replies{ch: ch, waiting: map[string]chan answer{}}
	returns := ch.NotifyReturn(make(chan amqp.Return, 16))
	go func() {
		for d := range deliveries {
			r.deliver(d.CorrelationId, answer{msg: fromDelivery(&d)})
		}
		r.fail(errConnectionLost)
	}()
	go func() {
		for ret := range returns {
			r.deliver(ret.CorrelationId, answer{err: fmt.Errorf("%w: nothing is bound to %q", ErrNoRoute, ret.RoutingKey)})
		}
	}()
	s.replies = r
	return nil
}

func (r *replies) deliver(corr string, a answer) {
	r.mu.Lock()
	w := r.waiting[corr]
	delete(r.waiting, corr)
	r.mu.Unlock()
	if w != nil {
		w <- a // buffered, one answer per wait
	}
}

// fail ends every wait with err: the channel is gone.
func (r *replies) fail(err error) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead == nil {
		r.dead = err
	}
	for corr, w := range r.waiting {
		w <- answer{err: err}
		delete(r.waiting, corr)
	}
}

// call publishes a request and returns where its answer will come.
func (r *replies) call(exchange, key string, p amqp.Publishing) (chan answer, error) {
	w := make(chan answer, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead != nil {
		return nil, r.dead
	}
	r.waiting[p.CorrelationId] = w
	if err := r.ch.Publish(exchange, key, true, false, p); err != nil {
		delete(r.waiting, p.CorrelationId)
		return nil, errConnectionLost
	}
	return w, nil
}

func (r *replies) forget(corr string) {
	r.mu.Lock()
	delete(r.waiting, corr)
	r.mu.Unlock()
}

// Request sends req to service and returns its reply, decoded into Resp,
// or ctx's error when none comes in time (the request then expires in the
// service's queue rather than being served late). A connection lost while
// waiting sends the request again on the next one. The handler is the one
// Serve registered for req's type on service.
func Request[Resp any](ctx context.Context, c *Client, service string, req any, opts ...PublishOption) (Resp, error) {
	var zero Resp
	m, err := c.message(ctx, req, opts)
	if err != nil {
		return zero, err
	}
	if m.CorrelationID == "" {
		m.CorrelationID = NewID()
	}
	m.ReplyTo = directReplyTo
	key := CommandQueue(service, m.Type)
	done := c.outgoing(ctx, key, &m)
	resp, err := request[Resp](ctx, c, service, key, &m)
	done(err)
	return resp, err
}

// request sends m to key and waits for the reply.
func request[Resp any](ctx context.Context, c *Client, service, key string, m *Message) (Resp, error) {
	var zero Resp
	p := m.publishing()
	p.DeliveryMode = amqp.Transient // a request is only worth serving while its requester waits
	for {
		if dl, ok := ctx.Deadline(); ok {
			ms := time.Until(dl).Milliseconds()
			if ms <= 0 {
				return zero, fmt.Errorf("client: request %s to %s: %w", m.Type, service, context.DeadlineExceeded)
			}
			p.Expiration = strconv.FormatInt(ms, 10)
		}
		s, err := c.session(ctx)
		if err != nil {
			return zero, fmt.Errorf("client: request %s to %s: %w", m.Type, service, err)
		}
		// Not through the deduplicating exchange: a request sent again
		// after a lost connection must reach the service again, since
		// the first reply went to the lost channel.
		wait, err := s.replies.call(commandsExchange, key, p)
		if errors.Is(err, errConnectionLost) {
			if !waitClosed(ctx, s) {
				return zero, fmt.Errorf("client: request %s to %s: %w", m.Type, service, ctx.Err())
			}
			continue
		}
		if err != nil {
			return zero, err
		}
		var a answer
		select {
		case a = <-wait:
		case <-ctx.Done():
			s.replies.forget(m.CorrelationID)
			return zero, fmt.Errorf("client: request %s to %s: %w", m.Type, service, ctx.Err())
		}
		if errors.Is(a.err, errConnectionLost) {
			continue
		}
		if a.err != nil {
			return zero, fmt.Errorf("client: request %s to %s: %w", m.Type, service, a.err)
		}
		if text, ok := a.msg.Headers[HeaderError].(string); ok {
			from, _ := a.msg.Headers[HeaderService].(string)
			return zero, &RemoteError{Service: from, Message: text}
		}
		var resp Resp
		if err := c.cfg.codec.Unmarshal(a.msg.Body, &resp); err != nil {
			return zero, fmt.Errorf("client: decode reply from %s into %T: %w", service, resp, err)
		}
		return resp, nil
	}
}

// waitClosed waits for s to close (a new session then comes), reporting
// false if ctx ends first.
func waitClosed(ctx context.Context, s *session) bool {
	select {
	case <-s.done:
		return true
	case <-ctx.Done():
		return false
	}
}
