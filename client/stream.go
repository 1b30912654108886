package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Offset is where a stream read starts.
type Offset struct{ arg any }

// First starts at the oldest message the stream keeps.
func First() Offset { return Offset{"first"} }

// Last starts at the newest message.
func Last() Offset { return Offset{"last"} }

// Next starts with what is published from now on.
func Next() Offset { return Offset{"next"} }

// At starts at offset n (a message's StreamOffset).
func At(n int64) Offset { return Offset{n} }

// Since starts at the first message published at or after t.
func Since(t time.Time) Offset { return Offset{t} }

// StreamError is a handler's failure while reading a stream: Offset is
// the message's, to resume from once fixed.
type StreamError struct {
	Stream string
	Offset int64
	Err    error
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("client: stream %s at offset %d: %v", e.Stream, e.Offset, e.Err)
}

func (e *StreamError) Unwrap() error { return e.Err }

// DeclareStream makes sure the durable stream exists (an AMQP queue of
// type stream: an append-only log consumers read from an offset, without
// removing anything) and records in it every event published on the
// given topics, so that they can be replayed later with ReadStream.
func (c *Client) DeclareStream(ctx context.Context, stream string, topics ...string) error {
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	return s.declare(func(ch *amqp.Channel, _ bool) error {
		if _, err := ch.QueueDeclare(stream, true, false, false, false, amqp.Table{"x-queue-type": "stream"}); err != nil {
			return err
		}
		for _, t := range topics {
			if err := ch.QueueBind(stream, t, eventsExchange, false, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReadStream runs h on the stream's messages from offset from on, in
// order, until ctx ends (it then returns nil) or h fails (a *StreamError
// with the failed message's offset). A lost connection resumes after the
// last message h finished. DeliveryFrom gives h the message's offset.
func ReadStream[T any](ctx context.Context, c *Client, stream string, from Offset, h func(context.Context, T) error) error {
	next := from
	for {
		s, err := c.session(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		last, err := readStream(ctx, c, s, stream, next, h)
		var se *StreamError
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &se):
			return err
		case errors.Is(err, errConnectionLost):
			if last >= 0 {
				next = At(last + 1)
			}
			waitClosed(ctx, s)
		default:
			return err
		}
	}
}

// readStream consumes the stream on s until ctx ends, h fails or the
// connection goes, returning the offset of the last message handled (-1
// for none).
func readStream[T any](ctx context.Context, c *Client, s *session, stream string, from Offset, h func(context.Context, T) error) (int64, error) {
	last := int64(-1)
	ch, err := s.conn.Channel()
	if err != nil {
		return last, errConnectionLost
	}
	defer ch.Close()
	if err := ch.Qos(256, 0, false); err != nil {
		return last, errConnectionLost
	}
	deliveries, err := ch.Consume(stream, "", false, false, false, false, amqp.Table{"x-stream-offset": from.arg})
	if err != nil {
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code != amqp.ChannelError && ae.Code != amqp.FrameError {
			return last, fmt.Errorf("client: read stream %s: %w", stream, err)
		}
		return last, errConnectionLost
	}
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case d, ok := <-deliveries:
			if !ok {
				return last, errConnectionLost
			}
			m := fromDelivery(&d)
			off := int64(intHeader(d.Headers["x-stream-offset"]))
			if o, ok := d.Headers["x-stream-offset"].(int64); ok {
				off = o
			}
			hctx := context.WithValue(extractTrace(ctx, &m), deliveryKey{}, Delivery{Queue: stream, Message: m, Attempt: 1, StreamOffset: off})
			v, err := decode[T](c, m)
			if err == nil {
				err = h(hctx, v)
			}
			if err != nil {
				return last, &StreamError{Stream: stream, Offset: off, Err: err}
			}
			_ = d.Ack(false)
			last = off
		}
	}
}
