package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsClient drives NATS JetStream through nats.go's jetstream package: a
// file-storage stream per topology, asynchronous publishes whose acks the
// harness awaits, durable pull consumers with explicit acks pulling
// batches of window. A fan-out is one stream with a durable consumer per
// "queue"; competing consumers share one durable consumer. Every publisher
// and consumer has a connection.
type natsClient struct{ url string }

// connect opens a connection that reports its loss, and asynchronous
// errors such as a slow consumer, through fail instead of reconnecting.
func (c *natsClient) connect(fail func(error)) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(c.url, nats.Timeout(10*time.Second), nats.NoReconnect(),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				fail(fmt.Errorf("disconnected: %w", err))
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { fail(err) }))
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

func consumerName(q int) string { return fmt.Sprintf("bench-%d", q) }

func (c *natsClient) setup(ctx context.Context, t topology) error {
	nc, js, err := c.connect(func(error) {})
	if err != nil {
		return err
	}
	defer nc.Close()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     t.name,
		Subjects: []string{t.name},
		Storage:  jetstream.FileStorage,
	}); err != nil {
		return fmt.Errorf("create stream: %w", err)
	}
	// The pull batch (window) plays AMQP's prefetch; MaxAckPending keeps
	// the server's default (the earlier test/amqpbench found 256 slowed and once
	// stalled nats-server 2.9.10's consumer).
	for q := range t.queues {
		if _, err := js.CreateOrUpdateConsumer(ctx, t.name, jetstream.ConsumerConfig{
			Durable:   consumerName(q),
			AckPolicy: jetstream.AckExplicitPolicy,
		}); err != nil {
			return fmt.Errorf("create consumer: %w", err)
		}
	}
	return nil
}

func (c *natsClient) teardown(ctx context.Context, t topology) error {
	nc, js, err := c.connect(func(error) {})
	if err != nil {
		return err
	}
	defer nc.Close()
	return js.DeleteStream(ctx, t.name)
}

func (c *natsClient) consume(ctx context.Context, t topology, q int, deliver func([]byte), fail func(error)) (func(), error) {
	nc, js, err := c.connect(fail)
	if err != nil {
		return nil, err
	}
	cons, err := js.Consumer(ctx, t.name, consumerName(q))
	if err != nil {
		nc.Close()
		return nil, err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(window))
	if err != nil {
		nc.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := it.Next()
			if err != nil {
				if !errors.Is(err, jetstream.ErrMsgIteratorClosed) && !errors.Is(err, nats.ErrConnectionClosed) {
					fail(fmt.Errorf("next message: %w", err))
				}
				return
			}
			deliver(m.Data())
			if err := m.Ack(); err != nil {
				if !errors.Is(err, nats.ErrConnectionClosed) {
					fail(fmt.Errorf("ack: %w", err))
				}
				return
			}
		}
	}()
	return func() {
		it.Stop()
		nc.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}, nil
}

func (c *natsClient) publisher(_ context.Context, t topology, fail func(error)) (publisher, error) {
	nc, js, err := c.connect(fail)
	if err != nil {
		return nil, err
	}
	p := &natsPublisher{nc: nc, js: js, subject: t.name,
		acks: make(chan natsAck, window), quit: make(chan struct{})}
	go p.awaitAcks()
	return p, nil
}

type natsPublisher struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	subject string
	acks    chan natsAck // in publish order
	quit    chan struct{}
}

type natsAck struct {
	future    jetstream.PubAckFuture
	confirmed func(error)
}

func (p *natsPublisher) publish(body []byte, confirmed func(error)) error {
	f, err := p.js.PublishAsync(p.subject, body)
	if err != nil {
		return err
	}
	select {
	case p.acks <- natsAck{f, confirmed}:
		return nil
	case <-p.quit:
		return errStopped
	}
}

// awaitAcks hands each publish its ack, in publish order: a later ack
// waits behind an earlier one, which is how the window is counted.
func (p *natsPublisher) awaitAcks() {
	for {
		select {
		case a := <-p.acks:
			select {
			case <-a.future.Ok():
				a.confirmed(nil)
			case err := <-a.future.Err():
				a.confirmed(err)
			case <-p.quit:
				return
			}
		case <-p.quit:
			return
		}
	}
}

func (p *natsPublisher) close() {
	close(p.quit)
	p.nc.Close()
}
