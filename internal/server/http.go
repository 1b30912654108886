package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

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
	h := &http.Server{
		Handler:           s.healthHandler(),
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	// Shutdown does not end requests in progress: long polls and event
	// streams of the stream API end when it is closed.
	h.RegisterOnShutdown(func() {
		if a := s.streams.Load(); a != nil {
			a.Close()
		}
	})
	go func() {
		if err := h.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
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
