package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// amqpClient drives an AMQP 0-9-1 broker (Loft, RabbitMQ) through
// amqp091-go: durable queues, persistent messages, publisher confirms,
// consumers acknowledging every message on its own (multiple=false) with a
// prefetch of window. Every publisher and consumer has a connection.
type amqpClient struct {
	url  string
	args amqp.Table // queue.declare arguments: x-queue-type for quorum queues
}

var errNack = errors.New("broker nacked the message")

func dialAMQP(url string) (*amqp.Connection, *amqp.Channel, error) {
	conn, err := amqp.DialConfig(url, amqp.Config{
		Heartbeat: 10 * time.Second,
		Locale:    "en_US",
		Dial:      amqp.DefaultDial(10 * time.Second),
	})
	if err != nil {
		return nil, nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		closeAMQP(conn)
		return nil, nil, fmt.Errorf("channel.open: %w", err)
	}
	return conn, ch, nil
}

// closeAMQP closes conn without waiting long for a broker that has stopped
// answering.
func closeAMQP(conn *amqp.Connection) { _ = conn.CloseDeadline(time.Now().Add(5 * time.Second)) }

// serverVersion asks the broker for the version it announces in
// connection.start.
func serverVersion(url string) (string, error) {
	conn, _, err := dialAMQP(url)
	if err != nil {
		return "", err
	}
	defer closeAMQP(conn)
	product, _ := conn.Properties["product"].(string)
	version, _ := conn.Properties["version"].(string)
	return product + " " + version, nil
}

// watch reports a broker-initiated close of the channel or its connection
// (540 NOT_IMPLEMENTED, 406 PRECONDITION_FAILED, ...) through fail.
func watch(conn *amqp.Connection, ch *amqp.Channel, fail func(error)) {
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		select {
		case err, ok := <-chClosed:
			if ok && err != nil {
				fail(fmt.Errorf("broker closed the channel: %w", err))
			}
		case err, ok := <-connClosed:
			if ok && err != nil {
				fail(fmt.Errorf("broker closed the connection: %w", err))
			}
		}
	}()
}

// queueName is queue q of t: t's name for a single queue, name-q behind a
// fanout exchange.
func queueName(t topology, q int) string {
	if t.queues == 1 {
		return t.name
	}
	return fmt.Sprintf("%s-%d", t.name, q)
}

// withChannel runs f on a fresh connection, giving up when ctx ends.
func (c *amqpClient) withChannel(ctx context.Context, f func(*amqp.Channel) error) error {
	done := make(chan error, 1)
	go func() {
		conn, ch, err := dialAMQP(c.url)
		if err != nil {
			done <- err
			return
		}
		defer closeAMQP(conn)
		done <- f(ch)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *amqpClient) setup(ctx context.Context, t topology) error {
	return c.withChannel(ctx, func(ch *amqp.Channel) error {
		if t.queues > 1 {
			if err := ch.ExchangeDeclare(t.name, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
				return fmt.Errorf("exchange.declare: %w", err)
			}
		}
		for q := range t.queues {
			name := queueName(t, q)
			if _, err := ch.QueueDeclare(name, true, false, false, false, c.args); err != nil {
				return fmt.Errorf("queue.declare %s: %w", name, err)
			}
			if t.queues > 1 {
				if err := ch.QueueBind(name, "", t.name, false, nil); err != nil {
					return fmt.Errorf("queue.bind %s: %w", name, err)
				}
			}
		}
		return nil
	})
}

func (c *amqpClient) teardown(ctx context.Context, t topology) error {
	return c.withChannel(ctx, func(ch *amqp.Channel) error {
		for q := range t.queues {
			if _, err := ch.QueueDelete(queueName(t, q), false, false, false); err != nil {
				return err
			}
		}
		if t.queues > 1 {
			return ch.ExchangeDelete(t.name, false, false)
		}
		return nil
	})
}

func (c *amqpClient) consume(_ context.Context, t topology, q int, deliver func([]byte), fail func(error)) (func(), error) {
	conn, ch, err := dialAMQP(c.url)
	if err != nil {
		return nil, err
	}
	watch(conn, ch, fail)
	if err := ch.Qos(window, 0, false); err != nil {
		closeAMQP(conn)
		return nil, fmt.Errorf("basic.qos: %w", err)
	}
	cancelled := ch.NotifyCancel(make(chan string, 1))
	// Not ConsumeWithContext: its context would cancel the consumer when
	// it ends, where this one lives until stop closes the connection.
	deliveries, err := ch.Consume(queueName(t, q), "", false, false, false, false, nil)
	if err != nil {
		closeAMQP(conn)
		return nil, fmt.Errorf("basic.consume: %w", err)
	}
	go func() {
		// A broker-side basic.cancel (the queue deleted, say) ends the
		// deliveries without closing the channel.
		if tag, ok := <-cancelled; ok {
			fail(fmt.Errorf("broker cancelled consumer %q", tag))
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for d := range deliveries {
			deliver(d.Body)
			if err := d.Ack(false); err != nil {
				fail(fmt.Errorf("basic.ack: %w", err))
				return
			}
		}
	}()
	return func() {
		closeAMQP(conn)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}, nil
}

func (c *amqpClient) publisher(_ context.Context, t topology, fail func(error)) (publisher, error) {
	conn, ch, err := dialAMQP(c.url)
	if err != nil {
		return nil, err
	}
	watch(conn, ch, fail)
	if err := ch.Confirm(false); err != nil {
		closeAMQP(conn)
		return nil, fmt.Errorf("confirm.select: %w", err)
	}
	p := &amqpPublisher{conn: conn, ch: ch, pending: make(map[uint64]func(error))}
	if t.queues == 1 {
		p.key = t.name // through the default exchange
	} else {
		p.exchange = t.name
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, window))
	go func() {
		for cf := range confirms {
			p.mu.Lock()
			confirmed := p.pending[cf.DeliveryTag]
			delete(p.pending, cf.DeliveryTag)
			p.mu.Unlock()
			switch {
			case confirmed == nil:
				fail(fmt.Errorf("confirmation of delivery tag %d, which is not in flight", cf.DeliveryTag))
			case cf.Ack:
				confirmed(nil)
			default:
				confirmed(errNack)
			}
		}
	}()
	return p, nil
}

type amqpPublisher struct {
	conn          *amqp.Connection
	ch            *amqp.Channel
	exchange, key string

	mu      sync.Mutex
	pending map[uint64]func(error) // by delivery tag
}

// publish is called from one goroutine only, so the delivery tag read
// before publishing is the one the broker will confirm.
func (p *amqpPublisher) publish(body []byte, confirmed func(error)) error {
	tag := p.ch.GetNextPublishSeqNo()
	p.mu.Lock()
	p.pending[tag] = confirmed
	p.mu.Unlock()
	err := p.ch.PublishWithContext(context.Background(), p.exchange, p.key, false, false, amqp.Publishing{
		DeliveryMode: amqp.Persistent,
		Body:         body,
	})
	if err != nil {
		p.mu.Lock()
		delete(p.pending, tag)
		p.mu.Unlock()
	}
	return err
}

func (p *amqpPublisher) close() { closeAMQP(p.conn) }
