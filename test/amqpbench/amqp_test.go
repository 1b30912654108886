package amqpbench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/loftproc"
	amqp "github.com/rabbitmq/amqp091-go"
)

// startLoft runs loft serve (fsync always) on a fresh data dir on the disk
// under test. LOFT_BENCH_LOFT_ARGS adds flags, later ones winning: e.g.
// "--fsync never" to see what durability costs.
func startLoft(b *testing.B) client {
	dir := dataDir(b, "loft-data-")
	args := append([]string{"--fsync", "always", "--log-level", "warn"}, strings.Fields(os.Getenv("LOFT_BENCH_LOFT_ARGS"))...)
	p := loftproc.Start(b, loftBin, dir, args...)
	return &amqpClient{url: "amqp://guest:guest@" + p.AMQP + "/", pid: p.Pid()}
}

// amqpClient drives an AMQP 0-9-1 broker (Loft, RabbitMQ) with
// amqp091-go: a durable queue behind the default exchange, persistent
// messages, publisher confirms, a manually acknowledging consumer. Publisher
// and consumer have a connection each.
type amqpClient struct {
	url  string
	args amqp.Table // queue.declare arguments: x-queue-type for quorum queues
	pid  int        // the broker's process, when started as one here (Loft)
}

// brokerPid returns the broker's process id, or 0 when unknown.
func (c *amqpClient) brokerPid() int { return c.pid }

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
func closeAMQP(conn *amqp.Connection) { conn.CloseDeadline(time.Now().Add(5 * time.Second)) }

// watch reports a broker-initiated close of the channel or its connection
// (540 NOT_IMPLEMENTED, 406 PRECONDITION_FAILED, ...) through fail. A close
// of our own reports nothing.
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

func (c *amqpClient) declare(q string) error {
	conn, ch, err := dialAMQP(c.url)
	if err != nil {
		return err
	}
	defer closeAMQP(conn)
	if _, err := ch.QueueDeclare(q, true, false, false, false, c.args); err != nil {
		return fmt.Errorf("queue.declare: %w", err)
	}
	return nil
}

func (c *amqpClient) consume(q string, deliver func([]byte), fail func(error)) (func(), error) {
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
	deliveries, err := ch.Consume(q, "bench", false, false, false, false, nil)
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

func (c *amqpClient) publisher(q string, fail func(error)) (publisher, error) {
	conn, ch, err := dialAMQP(c.url)
	if err != nil {
		return nil, err
	}
	watch(conn, ch, fail)
	if err := ch.Confirm(false); err != nil {
		closeAMQP(conn)
		return nil, fmt.Errorf("confirm.select: %w", err)
	}
	p := &amqpPublisher{conn: conn, ch: ch, queue: q, pending: make(map[uint64]func(error))}
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
	conn  *amqp.Connection
	ch    *amqp.Channel
	queue string

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
	err := p.ch.PublishWithContext(context.Background(), "", p.queue, false, false, amqp.Publishing{
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
