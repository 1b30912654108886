package amqp

import (
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/loftmq/loft/internal/auth"
	"github.com/loftmq/loft/internal/listener"
	"github.com/loftmq/loft/internal/vhost"
)

// Defaults for the zero Config, as RabbitMQ's.
const (
	DefaultChannelMax       = 2047
	DefaultFrameMax         = 131072
	DefaultHeartbeat        = 60 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultFrameTimeout     = 30 * time.Second
	DefaultMaxUnstored      = 256 << 20
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
	// FrameTimeout bounds the time from a frame's first byte to its last
	// on a connection without heartbeats; 0 is DefaultFrameTimeout.
	FrameTimeout time.Duration
	// ConsumerTimeout is how long a delivery may stay unacked before its
	// consumer is cancelled and its deliveries requeued; 0: no limit. A
	// queue's x-consumer-timeout argument takes precedence.
	ConsumerTimeout time.Duration
	// MaxUnstored bounds the message bytes all connections together may
	// have published and not yet stored; 0 is DefaultMaxUnstored. Past
	// it, a connection with anything of its own unstored stops reading
	// until that is stored (each connection is bounded on its own, too).
	MaxUnstored int64
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
	if c.FrameTimeout <= 0 {
		c.FrameTimeout = DefaultFrameTimeout
	}
	if c.MaxUnstored <= 0 {
		c.MaxUnstored = DefaultMaxUnstored
	}
	return c
}

// Server serves AMQP 0-9-1 on the listeners given to Serve.
type Server struct {
	cfg     Config
	users   *auth.Store
	hosts   *vhost.Hosts
	logger  *slog.Logger
	block   blockState
	replies replyRegistry
	stats   counters // see stats.go
	// unstored is the bytes every connection has published and not yet
	// stored; see conn.waitStored.
	unstored atomic.Int64

	conns listener.Server
}

// New returns a Server authenticating against users and serving the
// exchanges and queues of hosts. A nil logger discards logs.
func New(cfg Config, users *auth.Store, hosts *vhost.Hosts, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg.withDefaults(), users: users, hosts: hosts, logger: logger.With("proto", "amqp")}
	s.conns = listener.Server{
		NewConn: func(nc net.Conn, id uint64) listener.Conn { return newConn(s, nc, id) },
		Logger:  s.logger,
		Grace:   closeGrace,
	}
	return s
}

// Serve accepts connections on ln until Close, serving each on its own
// goroutines. It returns ErrClosed after Close, or the error that stopped
// accepting. ln is closed when Serve returns.
func (s *Server) Serve(ln net.Listener) error {
	err := s.conns.Serve(ln)
	if errors.Is(err, listener.ErrClosed) {
		return ErrClosed
	}
	return err
}

// Close stops accepting, sends connection.close 320 CONNECTION_FORCED to
// every open connection, waits at most closeGrace for the clients'
// close-ok, then cuts what is left. It returns once every connection
// goroutine has ended. The auth store is left open.
func (s *Server) Close() error {
	s.conns.Close()
	return nil
}

// The listener.Conn methods of a connection.
func (c *conn) Serve() { c.serve() }
func (c *conn) Drain() { c.shutdown() }
func (c *conn) Kill()  { c.kill() }
