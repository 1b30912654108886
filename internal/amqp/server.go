package amqp

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/loftmq/loft/internal/auth"
)

// Defaults for the zero Config, as RabbitMQ's.
const (
	DefaultChannelMax       = 2047
	DefaultFrameMax         = 131072
	DefaultHeartbeat        = 60 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
)

// closeGrace bounds how long Close waits for clients to answer the
// connection.close it sends before cutting the sockets.
const closeGrace = 2 * time.Second

// Config configures a Server. The zero value works.
type Config struct {
	// ChannelMax is the highest channel id offered in connection.tune;
	// 0 is DefaultChannelMax.
	ChannelMax uint16
	// FrameMax is the largest frame offered in connection.tune; 0 is
	// DefaultFrameMax.
	FrameMax uint32
	// Heartbeat is the interval offered in connection.tune, rounded to
	// seconds; 0 is DefaultHeartbeat, negative offers none.
	Heartbeat time.Duration
	// HandshakeTimeout bounds the handshake, from accepting the socket to
	// connection.open-ok; 0 is DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.ChannelMax == 0 {
		c.ChannelMax = DefaultChannelMax
	}
	if c.FrameMax == 0 {
		c.FrameMax = DefaultFrameMax
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	return c
}

// Server serves AMQP 0-9-1 on the listeners given to Serve.
type Server struct {
	cfg    Config
	users  *auth.Store
	logger *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closed    bool
	connWG    sync.WaitGroup // every connection's goroutines
	nextConn  uint64
	closeOnce sync.Once
}

// New returns a Server authenticating against users. A nil logger
// discards logs.
func New(cfg Config, users *auth.Store, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		cfg:       cfg.withDefaults(),
		users:     users,
		logger:    logger.With("proto", "amqp"),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}
}

// Serve accepts connections on ln until Close, serving each on its own
// goroutines. It returns ErrClosed after Close, or the error that stopped
// accepting. ln is closed when Serve returns.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	s.logger.Info("listening", "addr", ln.Addr().String())
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors or a transient failure: back off
				// instead of spinning, as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logger.Warn("accept failed, retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if !s.track(nc) {
			nc.Close()
			return ErrClosed
		}
	}
}

// track starts serving nc unless the server is closed.
func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.nextConn++
	c := newConn(s, nc, s.nextConn)
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	go func() {
		defer s.connWG.Done()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	return true
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops accepting, sends connection.close 320 CONNECTION_FORCED to
// every open connection, waits at most closeGrace for the clients'
// close-ok, then cuts what is left. It returns once every connection
// goroutine has ended. The auth store is left open.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		for ln := range s.listeners {
			ln.Close()
		}
		conns := make([]*conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()

		for _, c := range conns {
			c.shutdown()
		}
		done := make(chan struct{})
		go func() { s.connWG.Wait(); close(done) }()
		select {
		case <-done:
			return
		case <-time.After(closeGrace):
		}
		s.mu.Lock()
		for c := range s.conns {
			c.kill()
		}
		s.mu.Unlock()
		<-done
	})
	return nil
}
