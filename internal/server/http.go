package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loftmq/loft/internal/httpx"
	"github.com/loftmq/loft/internal/streamapi"
)

// Timeouts of the HTTP listener. A client that trickles its headers or
// never reads its response must not hold a connection (and a goroutine)
// forever.
const (
	httpReadHeaderTimeout = 5 * time.Second
	httpReadTimeout       = 30 * time.Second
	httpWriteTimeout      = 30 * time.Second
	httpIdleTimeout       = 2 * time.Minute
	// httpMaxHeaderBytes bounds a request's header block (net/http allows
	// 4 KiB more); a larger one is answered 431. The APIs need a few
	// hundred bytes; net/http's default, 1 MiB, would let each stalled
	// connection hold that much.
	httpMaxHeaderBytes = 64 << 10
)

// startHTTP binds the HTTP listener and serves it in the background. A
// bind failure is returned at once, as a startup error; a failure while
// serving goes to serveErr, which Run watches.
//
// It serves the health endpoints, the metrics at /metrics (internal/metrics)
// and, once the model is open, the HTTP API under /api/ (internal/httpapi).
func (s *Server) startHTTP(serveErr chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("server: http listener: %w", err)
	}
	s.httpAddr = ln.Addr()
	log := s.logger.With("proto", "http")
	h := &http.Server{
		Handler:           refuseLargeBodies(log, s.healthHandler()),
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		ConnContext:       withWatchedConn,
		ConnState:         func(nc net.Conn, st http.ConnState) { connStateChanged(log, nc, st) },
	}
	// Shutdown does not end requests in progress: long polls and event
	// streams of the stream API end when it is closed.
	h.RegisterOnShutdown(func() {
		if a := s.streams.Load(); a != nil {
			a.Close()
		}
	})
	go func() {
		if err := h.Serve(watchedListener{ln}); !errors.Is(err, http.ErrServerClosed) {
			select { // the first failure is enough to shut down
			case serveErr <- fmt.Errorf("server: http listener: %w", err):
			default:
			}
		}
	}()
	s.logger.Info("listening", "proto", "http", "addr", ln.Addr().String())
	return h, nil
}

// starting answers a request to an API that is not up yet.
func starting(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, `{"error":"unavailable","reason":"the broker is starting"}`+"\n")
}

// healthHandler serves GET /healthz (the process is alive) and GET /readyz
// (the store is open and every listener is up; 503 during startup and
// shutdown, so a load balancer stops sending before the listeners close).
func (s *Server) healthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			writeText(w, http.StatusServiceUnavailable, "not ready")
			return
		}
		if active := s.activeAlarms(); len(active) > 0 {
			writeText(w, http.StatusServiceUnavailable, "resource alarm: "+strings.Join(active, ", "))
			return
		}
		writeText(w, http.StatusOK, "ok")
	})
	// Like RabbitMQ's prometheus plugin and most exporters, /metrics asks
	// for no credentials: it names queues, topics and groups but holds no
	// message and no secret; restrict it on the network if that matters.
	mux.Handle("GET /metrics", s.metrics)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		api := s.api.Load()
		if api == nil {
			starting(w)
			return
		}
		api.ServeHTTP(w, r)
	})
	// The longer pattern wins: /api/v1/ is the native stream API.
	mux.HandleFunc(streamapi.Prefix, func(w http.ResponseWriter, r *http.Request) {
		api := s.streams.Load()
		if api == nil {
			starting(w)
			return
		}
		api.ServeHTTP(w, r)
	})
	if s.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	io.WriteString(w, body)
}

// refuseLargeBodies answers 413 at once to a request that declares a body
// larger than any endpoint reads (httpx.MaxBody), instead of letting the
// handler read it up to the limit or wait for it until the read timeout.
func refuseLargeBodies(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(watchedConnKey{}).(*watchedConn); ok {
			c.handled.Store(true)
			c.received.Store(0)
		}
		if r.ContentLength > httpx.MaxBody {
			log.Warn("request body too large, refused", "client", r.RemoteAddr,
				"method", r.Method, "path", r.URL.Path, "content_length", r.ContentLength, "max", httpx.MaxBody)
			w.Header().Set("Connection", "close")
			httpx.Error(w, http.StatusRequestEntityTooLarge, "bad_request",
				fmt.Sprintf("request body of %d bytes: at most %d", r.ContentLength, httpx.MaxBody))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &watchedBody{ReadCloser: r.Body, log: log, r: r}
		}
		h.ServeHTTP(w, r)
	})
}

// net/http answers a request it cannot parse (400, 431 for headers over
// MaxHeaderBytes, 501, 505) and drops one that does not arrive in time
// without calling a handler and without a log line. watchedConn and
// connStateChanged give those a log line: a connection that ends after
// reading bytes of a request that reached no handler is logged with what
// net/http answered or why reading stopped.

// watchedListener hands net/http watched connections.
type watchedListener struct{ net.Listener }

func (l watchedListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &watchedConn{Conn: nc}, nil
}

// watchedConn remembers what the log line of a refused request needs.
type watchedConn struct {
	net.Conn
	handled  atomic.Bool  // a handler took the latest request
	received atomic.Int64 // bytes read since then
	mu       sync.Mutex
	status   string // the status line net/http wrote since then
	readErr  error  // the read error that ended the connection
}

func (c *watchedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.received.Add(int64(n))
	if err != nil {
		c.mu.Lock()
		c.readErr = err
		c.mu.Unlock()
	}
	return n, err
}

func (c *watchedConn) Write(b []byte) (int, error) {
	if !c.handled.Load() && bytes.HasPrefix(b, []byte("HTTP/1.1 ")) {
		line, _, _ := bytes.Cut(b[len("HTTP/1.1 "):], []byte("\r\n"))
		c.mu.Lock()
		c.status = string(line)
		c.mu.Unlock()
	}
	return c.Conn.Write(b)
}

// CloseWrite lets net/http half-close the connection after answering 431,
// so that the client reads the answer before the socket closes.
func (c *watchedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

type watchedConnKey struct{}

func withWatchedConn(ctx context.Context, nc net.Conn) context.Context {
	return context.WithValue(ctx, watchedConnKey{}, nc)
}

// connStateChanged starts a request's watch when net/http has read its
// first bytes (StateActive) and, when the connection closes, logs a
// request that reached no handler.
func connStateChanged(log *slog.Logger, nc net.Conn, st http.ConnState) {
	c, ok := nc.(*watchedConn)
	if !ok {
		return
	}
	switch st {
	case http.StateActive:
		c.handled.Store(false)
		c.mu.Lock()
		c.status = ""
		c.mu.Unlock()
	case http.StateIdle:
		c.received.Store(0)
	case http.StateClosed:
		c.logEnd(log)
	}
}

// logEnd logs why a connection ended while a request was incomplete or
// refused, and nothing for the ordinary ends: between requests, or after
// a request a handler answered. (A body that does not come in time is
// logged by watchedBody, as the handler reads it.)
func (c *watchedConn) logEnd(log *slog.Logger) {
	if c.handled.Load() {
		return
	}
	c.mu.Lock()
	status, readErr := c.status, c.readErr
	c.mu.Unlock()
	received := c.received.Load()
	client := c.RemoteAddr().String()
	timedOut := errors.Is(readErr, os.ErrDeadlineExceeded)
	switch {
	case timedOut && received == 0:
		log.Info("no request received in time, closing the connection", "client", client)
	case timedOut:
		// net/http answers 400 to a request line cut by the deadline.
		log.Warn("request headers not received in time, closing the connection",
			"client", client, "received", received, "timeout", httpReadHeaderTimeout, "status", status)
	case status != "":
		log.Warn("bad request refused, closing the connection", "client", client, "status", status)
	case received > 0 && readErr != nil:
		log.Info("client closed the connection in the middle of a request",
			"client", client, "received", received, "err", readErr)
	}
}

// watchedBody logs a request body that stops coming: the read deadline
// (ReadTimeout) passes while the handler waits for it.
type watchedBody struct {
	io.ReadCloser
	log    *slog.Logger
	r      *http.Request
	logged bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.logged && errors.Is(err, os.ErrDeadlineExceeded) {
		b.logged = true
		b.log.Warn("request body not received in time, closing the connection", "client", b.r.RemoteAddr,
			"method", b.r.Method, "path", b.r.URL.Path, "timeout", httpReadTimeout)
	}
	return n, err
}
