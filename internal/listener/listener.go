package listener

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// ErrClosed is returned by Serve once Close has been called.
var ErrClosed = errors.New("listener: closed")

// Conn is one connection as its protocol serves it.
type Conn interface {
	// Serve runs the connection until it ends.
	Serve()
	// Drain begins a graceful end: stop taking new work, finish what is
	// under way, then end Serve.
	Drain()
	// Kill ends the connection at once.
	Kill()
}

// Server accepts connections on the listeners given to Serve. Set its
// fields before the first Serve.
type Server struct {
	// NewConn makes the Conn serving nc; id numbers connections for logs.
	NewConn func(nc net.Conn, id uint64) Conn
	Logger  *slog.Logger
	// Grace bounds how long Close waits for drained connections to end
	// before it kills them.
	Grace time.Duration

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[Conn]struct{}
	closed    bool
	wg        sync.WaitGroup // every connection's goroutine
	nextID    uint64
	closeOnce sync.Once
}

// Serve accepts connections on ln until Close, serving each on its own
// goroutine, and logs "listening" with attrs. It returns ErrClosed after
// Close, or the error that stopped accepting. ln is closed when Serve
// returns.
func (s *Server) Serve(ln net.Listener, attrs ...any) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	if s.listeners == nil {
		s.listeners, s.conns = make(map[net.Listener]struct{}), make(map[Conn]struct{})
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	s.Logger.Info("listening", append([]any{"addr", ln.Addr().String()}, attrs...)...)
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
				s.Logger.Warn("accept failed, retrying", "err", err, "delay", delay)
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
	s.nextID++
	c := s.NewConn(nc, s.nextID)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.Serve()
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

// Close stops accepting, drains every connection, waits at most Grace for
// them to end, then kills what is left. It returns once every connection
// goroutine has ended.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		for ln := range s.listeners {
			ln.Close()
		}
		conns := make([]Conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()

		for _, c := range conns {
			c.Drain()
		}
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
			return
		case <-time.After(s.Grace):
		}
		s.KillAll()
		<-done
	})
}

// KillAll ends every open connection at once, as a network failure would.
func (s *Server) KillAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Kill()
	}
}
