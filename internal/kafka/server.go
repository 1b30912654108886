package kafka

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/group"
	"github.com/loftmq/loft/internal/listener"
)

// DefaultMaxRequestBytes is Kafka's socket.request.max.bytes: the largest
// request frame accepted when Config.MaxRequestBytes is 0.
const DefaultMaxRequestBytes = 100 << 20

// DefaultIdleTimeout is Kafka's connections.max.idle.ms: how long a
// connection may go without sending a complete request, while none of its
// requests is being served, when Config.IdleTimeout is 0.
const DefaultIdleTimeout = 10 * time.Minute

// DefaultWriteTimeout is how long a client may read nothing while a
// response waits for it, when Config.WriteTimeout is 0.
const DefaultWriteTimeout = 30 * time.Second

// closeGrace bounds how long Close waits for in-flight responses (Produce
// requests waiting for their fsync, a Fetch long poll giving up) before it
// cuts the remaining connections.
const closeGrace = 5 * time.Second

// nodeID is the one broker's id: a single node is its own controller,
// coordinator and the leader of every partition.
const nodeID = 0

// ErrClosed is returned by Serve once Close has been called.
var ErrClosed = errors.New("kafka: server closed")

// Config configures a Server. The zero value works, except that Metadata
// then reports an empty cluster id (see ClusterID).
type Config struct {
	// AdvertisedAddr is the host:port that Metadata, FindCoordinator and
	// DescribeCluster tell clients to connect to. Empty means the address
	// the listener is bound to (the host name, if bound to every interface).
	AdvertisedAddr string
	// MaxRequestBytes bounds one request frame; 0 is DefaultMaxRequestBytes.
	MaxRequestBytes int32
	// IdleTimeout closes a connection that has sent no complete request
	// for this long while none of its requests is being served; 0 is
	// DefaultIdleTimeout. A request whose first bytes have arrived must
	// be complete within IdleTimeout or requestReadTimeout, the shorter.
	IdleTimeout time.Duration
	// WriteTimeout closes a connection whose client reads nothing for
	// this long while a response waits for it; 0 is DefaultWriteTimeout.
	WriteTimeout time.Duration
	// ClusterID is the stable id Metadata and DescribeCluster report.
	ClusterID string
}

// Server serves the Kafka protocol on the listeners given to Serve.
type Server struct {
	cfg    Config
	broker *broker.Broker
	groups *group.Coordinator
	logger *slog.Logger

	conns listener.Server
	stats counters // see stats.go
	// refuse makes Produce answer KAFKA_STORAGE_ERROR: free disk is
	// below --disk-free-limit (RefuseProduce).
	refuse atomic.Bool

	mu      sync.Mutex
	advHost string // host and port reported to clients, set by the first Serve
	advPort int32
}

// RefuseProduce makes Produce answer KAFKA_STORAGE_ERROR for every
// partition while on, as a broker whose log directory is failing does:
// the disk alarm. Clients retry, and succeed once it clears.
func (s *Server) RefuseProduce(on bool) {
	if s.refuse.Swap(on) != on {
		if on {
			s.logger.Warn("refusing produce requests: free disk space below the limit")
		} else {
			s.logger.Info("taking produce requests again")
		}
	}
}

// New returns a Server answering from b and g. A nil logger discards logs.
func New(cfg Config, b *broker.Broker, g *group.Coordinator, logger *slog.Logger) *Server {
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, broker: b, groups: g, logger: logger.With("proto", "kafka")}
	s.conns = listener.Server{
		NewConn: func(nc net.Conn, id uint64) listener.Conn { return newConn(s, nc, id) },
		Logger:  s.logger,
		Grace:   closeGrace,
	}
	if cfg.AdvertisedAddr != "" {
		s.setAdvertised(cfg.AdvertisedAddr)
	}
	return s
}

// Serve accepts connections on ln until Close, serving each on its own
// goroutines. It returns ErrClosed after Close, or the error that stopped
// accepting. ln is closed when Serve returns.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.advHost == "" {
		s.setAdvertised(listenerAddr(ln.Addr()))
	}
	advertised := net.JoinHostPort(s.advHost, strconv.Itoa(int(s.advPort)))
	s.mu.Unlock()
	err := s.conns.Serve(ln, "advertised", advertised)
	if errors.Is(err, listener.ErrClosed) {
		return ErrClosed
	}
	return err
}

// Close stops accepting, stops reading requests, lets every connection
// write the responses of requests already read (for at most closeGrace),
// then closes the connections. It returns once every connection goroutine
// has ended. The broker and the coordinator are left open: their owner
// closes them after this.
func (s *Server) Close() error {
	s.conns.Close()
	return nil
}

// The listener.Conn methods of a connection.
func (c *conn) Serve() { c.serve() }
func (c *conn) Drain() { c.stopReading() }
func (c *conn) Kill()  { c.kill() }

// CloseConnections cuts every open connection at once, without waiting for
// in-flight responses, as a network failure would. Tests use it to make
// clients reconnect and retry.
func (s *Server) CloseConnections() { s.conns.KillAll() }

// setAdvertised records the host and port reported to clients.
func (s *Server) setAdvertised(addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		s.logger.Warn("bad advertised address, using it as a host name", "addr", addr, "err", err)
		host, port = addr, "9092"
	}
	p, _ := strconv.ParseUint(port, 10, 16)
	s.advHost, s.advPort = host, int32(p)
}

// hostPort returns the advertised host and port; safe after Serve started.
func (s *Server) hostPort() (string, int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.advHost, s.advPort
}

// listenerAddr is the address to advertise for a listener bound to a: an
// unspecified IP (every interface) cannot be dialled, so the host name
// stands in for it, as Kafka does.
func listenerAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	return net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}
