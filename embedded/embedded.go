// Package embedded runs a real Loft broker inside the calling process, on
// free loopback ports and a temporary data directory, so that a service's
// tests talk to the real thing (AMQP 0-9-1, Kafka and HTTP, the same code
// `loft serve` runs) without starting anything outside the test:
//
//	func TestOrders(t *testing.T) {
//		b := embedded.Start(t)
//		conn, err := amqp.Dial(b.AMQPURL())
//		...
//	}
//
// The broker stops, and its temporary data directory is removed, when the
// test ends.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/config"
	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/server"
)

// startTimeout bounds how long Start and Run wait for the broker to serve.
const startTimeout = 30 * time.Second

// Broker is a running embedded broker.
type Broker struct {
	dataDir string
	temp    bool // dataDir was made by Run and goes with Close
	amqp    string
	kafka   string
	http    string
	cancel  context.CancelFunc
	done    chan error // Run's result, once
	once    sync.Once  // Close's work
	err     error      // Run's result, set by Close
}

type settings struct {
	dataDir string
	logger  *slog.Logger
	fsync   bool
}

// An Option changes how the broker runs.
type Option func(*settings)

// WithDataDir keeps the broker's data in dir instead of a temporary
// directory, so that a second broker started on the same dir after Close
// finds the first one's durable queues, messages and topics.
func WithDataDir(dir string) Option { return func(s *settings) { s.dataDir = dir } }

// WithLogger sends the broker's logs to l; by default they are discarded.
func WithLogger(l *slog.Logger) Option { return func(s *settings) { s.logger = l } }

// WithoutFsync makes appends durable only when the operating system
// writes them back, not before each acknowledgement: faster tests, for
// tests that do not kill the machine. The default fsyncs, as `loft serve`.
func WithoutFsync() Option { return func(s *settings) { s.fsync = false } }

// Start runs a broker for the duration of tb: it fails tb if the broker
// cannot start, and stops the broker when tb's cleanup runs.
func Start(tb testing.TB, opts ...Option) *Broker {
	tb.Helper()
	b, err := Run(context.Background(), opts...)
	if err != nil {
		tb.Fatalf("embedded: %v", err)
	}
	tb.Cleanup(func() {
		if err := b.Close(); err != nil {
			tb.Errorf("embedded: %v", err)
		}
	})
	return b
}

// Run starts a broker and returns once it serves on all its listeners.
// ctx bounds the start only; stop the broker with Close.
func Run(ctx context.Context, opts ...Option) (*Broker, error) {
	s := settings{fsync: true}
	for _, o := range opts {
		o(&s)
	}
	b := &Broker{dataDir: s.dataDir, done: make(chan error, 1)}
	if b.dataDir == "" {
		dir, err := os.MkdirTemp("", "loft-embedded-")
		if err != nil {
			return nil, fmt.Errorf("temporary data dir: %w", err)
		}
		b.dataDir, b.temp = filepath.Join(dir, "data"), true
	}
	cfg := config.Default()
	cfg.DataDir = b.dataDir
	cfg.AMQPAddr, cfg.KafkaAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if !s.fsync {
		cfg.Fsync = logstore.FsyncPolicy{Mode: logstore.FsyncNever}
	}
	// The tests of a whole package may run many brokers side by side on
	// a busy machine; an alarm tripped by the machine would block them.
	cfg.MemoryHighWatermark, cfg.DiskFreeLimit = 0, 0
	srv, err := server.New(cfg, s.logger)
	if err != nil {
		return nil, b.discard(err)
	}
	srv.Version = "embedded"
	runCtx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go func() { b.done <- srv.Run(runCtx) }()

	ctx, stop := context.WithTimeout(ctx, startTimeout)
	defer stop()
	select {
	case <-srv.Ready():
	case err := <-b.done:
		cancel()
		if err == nil {
			err = errors.New("stopped before it was ready")
		}
		return nil, b.discard(err)
	case <-ctx.Done():
		cancel()
		err := <-b.done
		return nil, b.discard(errors.Join(fmt.Errorf("not ready: %w", ctx.Err()), err))
	}
	b.amqp = srv.AMQPAddr().String()
	b.kafka = srv.KafkaAddr().String()
	b.http = srv.HTTPAddr().String()
	return b, nil
}

// discard removes a temporary data dir after a failed start.
func (b *Broker) discard(err error) error {
	if b.temp {
		err = errors.Join(err, os.RemoveAll(filepath.Dir(b.dataDir)))
	}
	return err
}

// AMQPURL is the URL AMQP 0-9-1 clients dial: the default user guest on
// the default vhost.
func (b *Broker) AMQPURL() string { return "amqp://guest:guest@" + b.amqp + "/" }

// AMQPAddr is the AMQP listener's host:port.
func (b *Broker) AMQPAddr() string { return b.amqp }

// KafkaAddr is the Kafka listener's host:port, a seed broker for Kafka
// clients.
func (b *Broker) KafkaAddr() string { return b.kafka }

// HTTPURL is the base URL of the HTTP API (the management API under
// /api/, the stream API under /api/v1/, metrics at /metrics).
func (b *Broker) HTTPURL() string { return "http://" + b.http }

// DataDir is the broker's data directory.
func (b *Broker) DataDir() string { return b.dataDir }

// Close stops the broker gracefully (its clients see their connections
// closed) and removes its data dir if it was a temporary one. It returns
// the first error of the broker's run, and later calls return it again.
func (b *Broker) Close() error {
	b.once.Do(func() {
		b.cancel()
		b.err = <-b.done
		if b.temp {
			b.err = errors.Join(b.err, os.RemoveAll(filepath.Dir(b.dataDir)))
		}
	})
	return b.err
}
