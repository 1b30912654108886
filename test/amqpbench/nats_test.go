package amqpbench

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startNATS runs nats-server with JetStream, default settings, its store
// in a fresh directory, on a free loopback port.
func startNATS(b *testing.B) client {
	bin := findBinary(b, "nats-server")
	dir := dataDir(b, "nats-data-")
	port := strconv.Itoa(freePort(b))
	cmd := exec.Command(bin, "-js", "-sd", filepath.Join(dir, "store"), "-a", "127.0.0.1", "-p", port)
	p := startProc(b, "nats-server", cmd, filepath.Join(dir, "nats.log"))
	c := &natsClient{url: "nats://127.0.0.1:" + port}
	p.waitReady(b, 30*time.Second, func() error {
		nc, js, err := c.connect(func(error) {})
		if err != nil {
			return err
		}
		defer nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = js.AccountInfo(ctx)
		return err
	})
	return c
}

// natsClient drives NATS JetStream with nats.go's jetstream package: a
// file-storage stream per queue, asynchronous publishes whose acks the
// harness counts, a durable pull consumer with explicit acks, pulling in
// batches of window. Publisher and consumer have a connection each.
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

func (c *natsClient) declare(q string) error {
	nc, js, err := c.connect(func(error) {})
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), stallTimeout)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     q,
		Subjects: []string{q},
		Storage:  jetstream.FileStorage,
	})
	return err
}

func (c *natsClient) consume(q string, deliver func([]byte), fail func(error)) (func(), error) {
	nc, js, err := c.connect(fail)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), stallTimeout)
	defer cancel()
	// The pull batch (window) plays AMQP's prefetch; MaxAckPending keeps
	// the server's default. At 256 it slowed the consumer, and once
	// stalled it (nats-server 2.9.10) until the client's missing-heartbeat
	// check gave up after 30 s.
	cons, err := js.CreateOrUpdateConsumer(ctx, q, jetstream.ConsumerConfig{
		Durable:   "bench",
		AckPolicy: jetstream.AckExplicitPolicy,
	})
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
				if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					fail(fmt.Errorf("next message: %w", err))
				}
				return
			}
			deliver(m.Data())
			if err := m.Ack(); err != nil {
				fail(fmt.Errorf("ack: %w", err))
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

func (c *natsClient) publisher(q string, fail func(error)) (publisher, error) {
	nc, js, err := c.connect(fail)
	if err != nil {
		return nil, err
	}
	p := &natsPublisher{nc: nc, js: js, subject: q,
		acks: make(chan natsAck, window), quit: make(chan struct{})}
	go p.awaitAcks()
	return p, nil
}

type natsPublisher struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	subject string
	acks    chan natsAck // in publish order, which is the stream's
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
		return errors.New("publisher closed")
	}
}

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
