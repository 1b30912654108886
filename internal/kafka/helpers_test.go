package kafka

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/group"
	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/meta"
	"github.com/loftmq/loft/internal/syncbuf"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testTimeout bounds every wait of a test.
const testTimeout = 60 * time.Second

// stackOpts configures a test stack.
type stackOpts struct {
	fsys              fs.FS // default fs.OS() on a temp dir
	dir               string
	noAutoCreate      bool
	defaultPartitions int32
	maxRequestBytes   int32
	idleTimeout       time.Duration
	writeTimeout      time.Duration
	advertised        string
	minSession        time.Duration // group.min.session.timeout.ms (default 100ms)
}

// stack is a whole Kafka-speaking broker in-process: a log store and
// metadata store on a directory, the broker core, the group coordinator and
// the Kafka listener on 127.0.0.1.
type stack struct {
	t    testing.TB
	opts stackOpts
	logs *logBuffer

	store *logstore.Store
	md    *meta.Store
	b     *broker.Broker
	g     *group.Coordinator
	srv   *Server
	addr  string
	done  chan error // Serve's result
}

// startStack starts a stack; t.Cleanup stops it.
func startStack(t testing.TB, opts stackOpts) *stack {
	t.Helper()
	if opts.fsys == nil {
		opts.fsys = fs.OS()
	}
	if opts.dir == "" {
		opts.dir = t.TempDir()
	}
	if opts.minSession == 0 {
		opts.minSession = 100 * time.Millisecond
	}
	s := &stack{t: t, opts: opts, logs: &logBuffer{}}
	s.start("127.0.0.1:0")
	t.Cleanup(s.stop)
	return s
}

func (s *stack) start(addr string) {
	t := s.t
	t.Helper()
	logger := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	s.store, err = logstore.Open(s.opts.fsys, s.opts.dir, logstore.Options{Logger: logger, CleanInterval: -1})
	if err != nil {
		t.Fatalf("logstore.Open: %v", err)
	}
	if s.md, err = meta.Open(s.store); err != nil {
		t.Fatalf("meta.Open: %v", err)
	}
	s.b, err = broker.Open(s.store, s.md, broker.Options{
		AutoCreateTopics:  !s.opts.noAutoCreate,
		DefaultPartitions: s.opts.defaultPartitions,
		Logger:            logger,
	})
	if err != nil {
		t.Fatalf("broker.Open: %v", err)
	}
	s.g, err = group.New(s.md, group.Options{Logger: logger, MinSessionTimeout: s.opts.minSession})
	if err != nil {
		t.Fatalf("group.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	id, err := ClusterID(ctx, s.md)
	if err != nil {
		t.Fatalf("ClusterID: %v", err)
	}
	s.srv = New(Config{ClusterID: id, MaxRequestBytes: s.opts.maxRequestBytes,
		IdleTimeout: s.opts.idleTimeout, WriteTimeout: s.opts.writeTimeout, AdvertisedAddr: s.opts.advertised}, s.b, s.g, logger)
	var ln net.Listener
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // the old port may linger a moment
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	s.addr = ln.Addr().String()
	s.done = make(chan error, 1)
	go func() { s.done <- s.srv.Serve(ln) }()
}

// stop closes everything, in the order internal/server does. Idempotent.
func (s *stack) stop() {
	if s.srv == nil {
		return
	}
	t := s.t
	s.srv.Close()
	select {
	case err := <-s.done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Serve = %v, want ErrClosed", err)
		}
	case <-time.After(testTimeout):
		t.Errorf("Serve did not return after Close")
	}
	for _, c := range []struct {
		name string
		fn   func() error
	}{{"group", s.g.Close}, {"broker", s.b.Close}, {"meta", s.md.Close}, {"store", s.store.Close}} {
		if err := c.fn(); err != nil {
			t.Errorf("close %s: %v", c.name, err)
		}
	}
	s.srv = nil
}

// restart stops the whole stack and starts it again on the same data and,
// if it can, the same address.
func (s *stack) restart() {
	s.t.Helper()
	addr := s.addr
	s.stop()
	s.start(addr)
}

// client returns a franz-go client of the stack, closed by t.Cleanup.
func (s *stack) client(opts ...kgo.Opt) *kgo.Client {
	s.t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(s.addr), kgo.RetryTimeout(testTimeout)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		s.t.Fatalf("kgo.NewClient: %v", err)
	}
	s.t.Cleanup(cl.Close)
	return cl
}

// admin returns a kadm client of the stack.
func (s *stack) admin() *kadm.Client {
	return kadm.NewClient(s.client())
}

// createTopic creates a topic through the Kafka protocol.
func (s *stack) createTopic(name string, partitions int32, configs map[string]*string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	resp, err := s.admin().CreateTopic(ctx, partitions, 1, configs, name)
	if err != nil || resp.Err != nil {
		s.t.Fatalf("CreateTopic %s: %v / %v", name, err, resp.Err)
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// logBuffer collects log output for assertions; safe for concurrent use.
type logBuffer struct{ syncbuf.Buffer }

// waitLog waits until a log line contains every one of parts.
func (b *logBuffer) waitLog(t testing.TB, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		for _, line := range strings.Split(b.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line contains all of %q; log:\n%s", parts, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
