package listener

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// echo is a Conn that echoes bytes; Drain ends it unless stubborn.
type echo struct {
	nc       net.Conn
	stubborn bool
	drained  atomic.Bool
	killed   atomic.Bool
}

func (e *echo) Serve() { io.Copy(e.nc, e.nc) }
func (e *echo) Drain() {
	e.drained.Store(true)
	if !e.stubborn {
		e.nc.Close()
	}
}
func (e *echo) Kill() { e.killed.Store(true); e.nc.Close() }

func TestServeDrainAndKill(t *testing.T) {
	for _, stubborn := range []bool{false, true} {
		var conns []*echo
		made := make(chan struct{}, 1)
		s := &Server{
			NewConn: func(nc net.Conn, _ uint64) Conn {
				e := &echo{nc: nc, stubborn: stubborn}
				conns = append(conns, e)
				made <- struct{}{}
				return e
			},
			Logger: slog.New(slog.DiscardHandler),
			Grace:  100 * time.Millisecond,
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- s.Serve(ln) }()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("hi"))
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
			t.Fatalf("echo: %q, %v", buf, err)
		}
		<-made
		s.Close() // returns only once the connection goroutine has ended
		if err := <-served; !errors.Is(err, ErrClosed) {
			t.Fatalf("Serve returned %v, want ErrClosed", err)
		}
		e := conns[0]
		if !e.drained.Load() || e.killed.Load() != stubborn {
			t.Fatalf("stubborn=%v: drained %v, killed %v", stubborn, e.drained.Load(), e.killed.Load())
		}
		ln2, _ := net.Listen("tcp", "127.0.0.1:0")
		if err := s.Serve(ln2); !errors.Is(err, ErrClosed) {
			t.Fatalf("Serve after Close: %v", err)
		}
	}
}
