package kafka

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/group"
)

// DefaultMaxRequestBytes is Kafka's socket.request.max.bytes: the largest
// request frame accepted when Config.MaxRequestBytes is 0.
const DefaultMaxRequestBytes = 100 << 20

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
	// ClusterID is the stable id Metadata and DescribeCluster report.
	ClusterID string
}

// Server serves the Kafka protocol on the listeners given to Serve.
type Server struct {
	cfg    Config
	broker *broker.Broker
	groups *group.Coordinator
	logger *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closed    bool
	advHost   string // host and port reported to clients, set by the first Serve
	advPort   int32
	connWG    sync.WaitGroup // every connection's goroutines
	nextConn  uint64
	closeOnce sync.Once
}

// New returns a Server answering from b and g. A nil logger discards logs.
func New(cfg Config, b *broker.Broker, g *group.Coordinator, logger *slog.Logger) *Server {
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:       cfg,
		broker:    b,
		groups:    g,
		logger:    logger.With("proto", "kafka"),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
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
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	s.listeners[ln] = struct{}{}
	if s.advHost == "" {
		s.setAdvertised(listenerAddr(ln.Addr()))
	}
	advertised := net.JoinHostPort(s.advHost, strconv.Itoa(int(s.advPort)))
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	s.logger.Info("listening", "addr", ln.Addr().String(), "advertised", advertised)
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

// Close stops accepting, stops reading requests, lets every connection
// write the responses of requests already read (for at most closeGrace),
// then closes the connections. It returns once every connection goroutine
// has ended. The broker and the coordinator are left open: their owner
// closes them after this.
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
			c.stopReading()
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

// CloseConnections cuts every open connection at once, without waiting for
// in-flight responses, as a network failure would. Tests use it to make
// clients reconnect and retry.
func (s *Server) CloseConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.kill()
	}
}

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
