package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Errors the library returns, often wrapped with details.
var (
	// ErrClosed reports use of a closed Client.
	ErrClosed = errors.New("client: closed")
	// ErrNacked reports a message the broker refused to store.
	ErrNacked = errors.New("client: broker refused the message")
	// ErrNoRoute reports a command or request for a service that has no
	// queue: no instance of it ever started.
	ErrNoRoute = errors.New("client: no such service")
)

// Client is one service's connection to the broker. It reconnects by
// itself, re-declares its topology on each new connection and re-publishes
// what was in flight when a connection dropped. A Client is safe for
// concurrent use.
type Client struct {
	url string
	cfg settings

	ctx      context.Context // cancelled by Close
	cancel   context.CancelFunc
	wg       sync.WaitGroup // the supervisor
	handlers sync.WaitGroup // the consumers' goroutines

	mu        sync.Mutex
	conn      *session      // nil while (re)connecting
	connected chan struct{} // closed while conn != nil
	consumers []*consumer
	running   context.Context // Run's context while it runs, else nil
	retry     []*pending      // unconfirmed when their connection dropped
	err       error           // why the last connection attempt failed
}

// Dial connects to the broker at url (amqp://user:pass@host:port/vhost)
// and returns a Client that keeps the connection up until Close. It waits
// for the first connection, so that a wrong URL or password is an error
// here, not a reconnect loop.
func Dial(ctx context.Context, url string, opts ...Option) (*Client, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.service == "" {
		return nil, errors.New("client: WithService is required: queues are named after the service")
	}
	s, err := connect(ctx, url, cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{url: url, cfg: cfg, connected: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := c.attach(s); err != nil {
		s.close()
		c.cancel()
		return nil, err
	}
	c.wg.Add(1)
	go c.supervise(s)
	return c, nil
}

// Loft reports whether the broker is Loft, so that Loft-only features
// (deduplicating exchanges, delayed retries) are in use. Against RabbitMQ
// the library falls back to what RabbitMQ offers without plugins.
func (c *Client) Loft() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil && c.conn.loft
}

// Service is the name this Client's queues are named after.
func (c *Client) Service() string { return c.cfg.service }

// Close stops every handler (without waiting for them: use Run's context
// for a graceful drain), fails calls still waiting with ErrClosed and
// closes the connection.
func (c *Client) Close() error {
	c.cancel()
	c.mu.Lock()
	s := c.conn
	c.mu.Unlock()
	if s != nil {
		s.close()
	}
	c.wg.Wait()
	return nil
}

// supervise keeps a connection up: when the current one drops it dials
// again with backoff, until Close.
func (c *Client) supervise(s *session) {
	defer c.wg.Done()
	for {
		select {
		case <-s.done:
		case <-c.ctx.Done():
			s.close()
			<-s.done
			c.detach(s)
			return
		}
		c.detach(s)
		c.cfg.logger.Warn("client: connection lost; reconnecting", "err", s.err)
		for attempt := 0; ; attempt++ {
			if !sleep(c.ctx, backoff(c.cfg.minBackoff, c.cfg.maxBackoff, attempt)) {
				return
			}
			next, err := connect(c.ctx, c.url, c.cfg)
			if err == nil {
				if err = c.attach(next); err == nil {
					s = next
					c.cfg.logger.Info("client: reconnected", "attempts", attempt+1)
					break
				}
				next.close()
				c.detach(next)
			}
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			c.cfg.logger.Warn("client: reconnect failed", "err", err, "attempt", attempt+1)
		}
	}
}

// attach makes s the current connection: it declares the topology,
// starts the publisher and the consumers, and re-publishes what the last
// connection left unconfirmed.
func (c *Client) attach(s *session) error {
	if err := s.declareBase(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.consumers {
		if err := s.declare(k.declare); err != nil {
			return err
		}
	}
	if err := s.startReplies(); err != nil {
		return err
	}
	retry := c.retry
	c.retry = nil
	for i, p := range retry {
		if !s.pub.send(p, p.target(s)) {
			c.retry = retry[i:] // this connection failed already
			return errConnectionLost
		}
	}
	c.conn = s
	close(c.connected)
	if c.running != nil {
		for _, k := range c.consumers {
			c.startConsumer(s, k)
		}
	}
	return nil
}

// detach forgets s once it is closed, keeping what it left unconfirmed for
// the next connection.
func (c *Client) detach(s *session) {
	left := s.pub.abandon()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == s {
		c.conn = nil
		c.connected = make(chan struct{})
	}
	for _, p := range left {
		if p.ctx.Err() == nil && c.ctx.Err() == nil {
			c.retry = append(c.retry, p)
		} else {
			p.finish(ErrClosed)
		}
	}
	if c.ctx.Err() != nil {
		for _, p := range c.retry {
			p.finish(ErrClosed)
		}
		c.retry = nil
	}
	s.replies.fail(errConnectionLost)
}

// session returns the current connection, waiting for one while
// reconnecting.
func (c *Client) session(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		s, connected, err := c.conn, c.connected, c.err
		c.mu.Unlock()
		if s != nil {
			return s, nil
		}
		select {
		case <-connected:
		case <-ctx.Done():
			if err != nil {
				return nil, fmt.Errorf("%w (last connection attempt: %v)", ctx.Err(), err)
			}
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// backoff is the wait before reconnect attempt n: exponential from min to
// max, with jitter so that a fleet of services does not reconnect in step.
func backoff(min, max time.Duration, n int) time.Duration {
	d := min
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	d = minDuration(d, max)
	return d/2 + rand.N(d/2+1)
}

func minDuration(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// sleep waits d or until ctx is done, reporting whether the full d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// handshakeTimeout bounds connecting and the AMQP handshake, as
// amqp091-go's default dialer does.
const handshakeTimeout = 30 * time.Second

// dialConfig is amqp091-go's configuration for the library's connections;
// ctx bounds the dial and the handshake.
func dialConfig(ctx context.Context, cfg settings) amqp.Config {
	return amqp.Config{
		Heartbeat: 10 * time.Second,
		Locale:    "en_US",
		Properties: amqp.Table{
			"product":         "loft/client",
			"connection_name": cfg.service,
		},
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: handshakeTimeout}
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// amqp091-go clears the deadline once the handshake is done.
			deadline := time.Now().Add(handshakeTimeout)
			if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
				deadline = dl
			}
			if err := conn.SetDeadline(deadline); err != nil {
				conn.Close()
				return nil, err
			}
			return conn, nil
		},
	}
}
