package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/loftmq/loft/internal/alarm"
	"github.com/loftmq/loft/internal/amqp"
	"github.com/loftmq/loft/internal/auth"
	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/config"
	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/group"
	"github.com/loftmq/loft/internal/httpapi"
	"github.com/loftmq/loft/internal/kafka"
	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/meta"
	"github.com/loftmq/loft/internal/metrics"
	"github.com/loftmq/loft/internal/streamapi"
	"github.com/loftmq/loft/internal/vhost"
)

// ShutdownTimeout bounds graceful shutdown. Past it Run gives up waiting
// and returns ErrShutdownTimeout; the process is expected to exit, which
// releases the lock and leaves recovery to the next start.
const ShutdownTimeout = 10 * time.Second

var (
	// ErrShutdownTimeout reports a shutdown that did not finish in time.
	ErrShutdownTimeout = errors.New("server: shutdown timed out")
	// ErrRunTwice reports a second call to Run on one Server.
	ErrRunTwice = errors.New("server: Run called twice")
)

// DataDirInUseError reports a data directory locked by another process.
// It wraps the error from fs.FS.Lock, so errors.Is(err, fs.ErrLocked) holds.
type DataDirInUseError struct {
	DataDir string
	PID     int // the holder, or 0 if unknown
	Err     error
}

func (e *DataDirInUseError) Error() string {
	holder := "another loft process"
	if e.PID > 0 {
		holder += fmt.Sprintf(" (pid %d)", e.PID)
	}
	return fmt.Sprintf("data dir %s is in use by %s: LOCK is held", e.DataDir, holder)
}

func (e *DataDirInUseError) Unwrap() error { return e.Err }

// Server is one Loft process: create it with New, start it with Run.
type Server struct {
	cfg    config.Config
	logger *slog.Logger
	fsys   fs.FS

	shutdownTimeout time.Duration
	started         atomic.Bool
	ready           atomic.Bool                   // what /readyz reports
	readyc          chan struct{}                 // closed when ready first becomes true
	httpAddr        net.Addr                      // set before readyc closes
	kafkaAddr       net.Addr                      // set before readyc closes
	amqpAddr        net.Addr                      // set before readyc closes
	api             atomic.Pointer[httpapi.API]   // the HTTP API, once the model is open
	streams         atomic.Pointer[streamapi.API] // the native stream API, likewise
	alarms          atomic.Pointer[alarm.Monitor] // once started

	// Version is the broker's version, for the HTTP API's overview; set
	// it before Run.
	Version string
	metrics *metrics.Collector // served at /metrics; reads the model once open
}

// New checks cfg and returns a Server that has not touched the disk or the
// network yet: all of that happens in Run, so that every startup failure
// comes out of one place. A nil logger discards logs.
func New(cfg config.Config, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		cfg:             cfg,
		logger:          logger,
		fsys:            fs.OS(),
		shutdownTimeout: ShutdownTimeout,
		readyc:          make(chan struct{}),
		metrics:         metrics.New(logger),
	}, nil
}

// Ready is closed once the store is open and every listener is accepting.
func (s *Server) Ready() <-chan struct{} { return s.readyc }

// HTTPAddr is the address the HTTP listener bound (useful with port 0), or
// nil when it is disabled. It is valid once Ready is closed.
func (s *Server) HTTPAddr() net.Addr { return s.httpAddr }

// KafkaAddr is the address the Kafka listener bound, or nil when it is
// disabled. It is valid once Ready is closed.
func (s *Server) KafkaAddr() net.Addr { return s.kafkaAddr }

// AMQPAddr is the address the AMQP listener bound, or nil when it is
// disabled. It is valid once Ready is closed.
func (s *Server) AMQPAddr() net.Addr { return s.amqpAddr }

// Run starts the server and blocks until ctx is cancelled, then shuts down
// gracefully and returns nil. It returns an error if startup fails (with
// everything it had taken released), if a listener fails while serving, or
// if shutdown does not finish within ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	if s.started.Swap(true) {
		return ErrRunTwice
	}
	var steps []step // shutdown steps, in the order they must run
	stop := func() error { return shutdownWithin(s.shutdownTimeout, reversed(steps)) }

	begin := time.Now()
	s.logger.Info("starting", "data_dir", s.cfg.DataDir, "fsync", s.cfg.Fsync.String())
	if err := mkdirDurable(s.fsys, s.cfg.DataDir); err != nil {
		return fmt.Errorf("server: create data dir: %w", err)
	}
	lock, err := s.lock()
	if err != nil {
		return err
	}
	steps = append(steps, step{"release lock", func(context.Context) error { return lock.Close() }})
	if undo, ok := limitMemory(s.cfg.MemoryHighWatermark); ok {
		steps = append(steps, undo)
	}

	serveErr := make(chan error, 1)
	if s.cfg.HTTPAddr != "" {
		h, err := s.startHTTP(serveErr)
		if err != nil {
			return errors.Join(err, stop())
		}
		steps = append(steps, step{"stop http listener", h.Shutdown})
	}

	store, err := logstore.Open(s.fsys, filepath.Join(s.cfg.DataDir, "logs"),
		logstore.Options{Fsync: s.cfg.Fsync, Logger: s.logger, OnSync: s.metrics.Syncs().Observe,
			OnCorrupt: s.metrics.Corruption().Observe, PassBufferBudget: passBufferBudget(s.cfg.MemoryHighWatermark, 32)})
	if err != nil {
		return errors.Join(fmt.Errorf("server: open store: %w", err), stop())
	}
	// The store closes after the listeners have stopped (steps run in
	// reverse), so no append can arrive once it has started closing.
	steps = append(steps, step{"close store", func(context.Context) error { return store.Close() }})
	md, err := meta.Open(store)
	if err != nil {
		return errors.Join(fmt.Errorf("server: open metadata: %w", err), stop())
	}
	steps = append(steps, step{"close metadata", func(context.Context) error { return md.Close() }})
	// The broker and the coordinator close before the metadata store they
	// write to, and after the listeners that call them.
	b, err := broker.Open(store, md, broker.Options{
		AutoCreateTopics:  s.cfg.KafkaAutoCreateTopics,
		DefaultPartitions: s.cfg.KafkaDefaultPartitions,
		Logger:            s.logger,
	})
	if err != nil {
		return errors.Join(fmt.Errorf("server: open broker: %w", err), stop())
	}
	steps = append(steps, step{"close broker", func(context.Context) error { return b.Close() }})
	g, err := group.New(md, group.Options{Logger: s.logger})
	if err != nil {
		return errors.Join(fmt.Errorf("server: open group coordinator: %w", err), stop())
	}
	steps = append(steps, step{"close group coordinator", func(context.Context) error { return g.Close() }})
	users, err := auth.Open(ctx, md)
	if err != nil {
		return errors.Join(fmt.Errorf("server: open auth: %w", err), stop())
	}
	hosts, err := s.openHosts(store, md, b, &steps)
	if err != nil {
		return errors.Join(err, stop())
	}
	s.streams.Store(streamapi.New(streamapi.Config{Broker: b, Groups: g, Users: users, Logger: s.logger}))
	api := httpapi.New(httpapi.Config{Users: users, Hosts: hosts, Logger: s.logger,
		Version: s.Version, Alarms: s.activeAlarms})
	s.api.Store(api)
	steps = append(steps, step{"stop http api sampling", func(context.Context) error { api.Close(); return nil }})
	sources := &metrics.Sources{Queues: hosts, Partitions: b, Groups: g}

	var k *kafka.Server
	var a *amqp.Server
	if s.cfg.KafkaAddr != "" {
		k, err = s.startKafka(ctx, md, b, g, serveErr)
		if err != nil {
			return errors.Join(err, stop())
		}
		// First to stop: no request reaches the broker once it closes.
		steps = append(steps, step{"stop kafka listener", func(context.Context) error { return k.Close() }})
		sources.Kafka = k
	} else {
		s.logger.Debug("listener disabled", "proto", "kafka")
	}
	if s.cfg.AMQPAddr != "" {
		a, err = s.startAMQP(users, hosts, serveErr)
		if err != nil {
			return errors.Join(err, stop())
		}
		// Stops before the stores its connections will read and write.
		steps = append(steps, step{"stop amqp listener", func(context.Context) error { return a.Close() }})
		s.api.Load().SetAMQP(a)
		sources.AMQP = a
	} else {
		s.logger.Debug("listener disabled", "proto", "amqp")
	}
	if a != nil || k != nil {
		mon := s.startAlarms(a, k, hosts)
		s.alarms.Store(mon)
		steps = append(steps, step{"stop resource alarms", func(context.Context) error { mon.Close(); return nil }})
	}

	// Scrapes read the model until shutdown begins, not while it closes.
	s.metrics.SetSources(sources)
	steps = append(steps, step{"detach metrics", func(context.Context) error { s.metrics.SetSources(nil); return nil }})

	s.ready.Store(true)
	close(s.readyc)
	s.logger.Info("ready", "took", time.Since(begin))

	var runErr error
	select {
	case <-ctx.Done():
		s.logger.Info("shutting down", "cause", context.Cause(ctx))
	case runErr = <-serveErr:
		s.logger.Error("listener failed, shutting down", "err", runErr)
	}
	s.ready.Store(false) // tell load balancers first
	if err := errors.Join(runErr, stop()); err != nil {
		return err
	}
	s.logger.Info("stopped")
	return nil
}

// startKafka binds the Kafka listener and serves it in the background. A
// bind failure is returned at once, as a startup error; a failure while
// serving goes to serveErr, which Run watches.
func (s *Server) startKafka(ctx context.Context, md *meta.Store, b *broker.Broker, g *group.Coordinator, serveErr chan<- error) (*kafka.Server, error) {
	id, err := kafka.ClusterID(ctx, md)
	if err != nil {
		return nil, fmt.Errorf("server: kafka listener: %w", err)
	}
	ln, err := net.Listen("tcp", s.cfg.KafkaAddr)
	if err != nil {
		return nil, fmt.Errorf("server: kafka listener: %w", err)
	}
	s.kafkaAddr = ln.Addr()
	srv := kafka.New(kafka.Config{
		AdvertisedAddr:  s.cfg.KafkaAdvertisedAddr,
		MaxRequestBytes: s.cfg.KafkaMaxRequestBytes,
		IdleTimeout:     s.cfg.KafkaIdleTimeout,
		ClusterID:       id,
	}, b, g, s.logger)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, kafka.ErrClosed) {
			select { // the first failure is enough to shut down
			case serveErr <- fmt.Errorf("server: kafka listener: %w", err):
			default:
			}
		}
	}()
	return srv, nil
}

// startAMQP binds the AMQP listener and serves it in the background, as
// startKafka does.
func (s *Server) startAMQP(users *auth.Store, hosts *vhost.Hosts, serveErr chan<- error) (*amqp.Server, error) {
	ln, err := net.Listen("tcp", s.cfg.AMQPAddr)
	if err != nil {
		return nil, fmt.Errorf("server: amqp listener: %w", err)
	}
	s.amqpAddr = ln.Addr()
	srv := amqp.New(amqp.Config{ConsumerTimeout: s.cfg.ConsumerTimeout,
		MaxUnstored: unstoredBudget(s.cfg.MemoryHighWatermark)}, users, hosts, s.logger)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, amqp.ErrClosed) {
			select { // the first failure is enough to shut down
			case serveErr <- fmt.Errorf("server: amqp listener: %w", err):
			default:
			}
		}
	}()
	return srv, nil
}

// openHosts opens the AMQP model: durable queues in store, transient ones
// in a store of their own under the data directory that is emptied at
// every start and never synced (nothing in it may outlive the process);
// stream queues are topics of b.
func (s *Server) openHosts(store *logstore.Store, md *meta.Store, b *broker.Broker, steps *[]step) (*vhost.Hosts, error) {
	dir := filepath.Join(s.cfg.DataDir, "transient")
	if err := s.fsys.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("server: empty transient store: %w", err)
	}
	transient, err := logstore.Open(s.fsys, dir, logstore.Options{
		Fsync: logstore.FsyncPolicy{Mode: logstore.FsyncNever}, Logger: s.logger, CleanInterval: -1,
		PassBufferBudget: passBufferBudget(s.cfg.MemoryHighWatermark, 64),
	})
	if err != nil {
		return nil, fmt.Errorf("server: open transient store: %w", err)
	}
	*steps = append(*steps, step{"close transient store", func(context.Context) error {
		err := transient.Close()
		return errors.Join(err, s.fsys.RemoveAll(dir))
	}})
	hosts, err := vhost.Open(vhost.Options{Store: store, Transient: transient, Meta: md, Broker: b,
		CacheBudget: cacheBudget(s.cfg.MemoryHighWatermark), Logger: s.logger})
	if err != nil {
		return nil, fmt.Errorf("server: open queues: %w", err)
	}
	*steps = append(*steps, step{"close queues", func(context.Context) error { hosts.Close(); return nil }})
	return hosts, nil
}

// activeAlarms names the resource alarms in effect.
func (s *Server) activeAlarms() []string {
	mon := s.alarms.Load()
	if mon == nil {
		return nil
	}
	var names []string
	for _, r := range mon.Active() {
		names = append(names, r.String())
	}
	return names
}

// startAlarms watches free disk space and memory, blocking AMQP
// publishers while either is past its limit and refusing Kafka produce
// requests (KAFKA_STORAGE_ERROR) while free disk is short; either
// listener may be nil. When the memory alarm is raised, the queues give
// back their caches (see releaseMemory).
func (s *Server) startAlarms(a *amqp.Server, k *kafka.Server, hosts *vhost.Hosts) *alarm.Monitor {
	mon := alarm.Start(alarm.Config{
		Dir:                 s.cfg.DataDir,
		DiskFreeLimit:       s.cfg.DiskFreeLimit,
		MemoryHighWatermark: s.cfg.MemoryHighWatermark,
		Logger:              s.logger,
	})
	release := releaseMemory(hosts, s.logger)
	apply := func(active []alarm.Resource) {
		if slices.Contains(active, alarm.Memory) {
			release()
		}
		if k != nil {
			k.RefuseProduce(slices.Contains(active, alarm.Disk))
		}
		if a == nil {
			return
		}
		if len(active) == 0 {
			a.Unblock()
			return
		}
		names := make([]string, len(active))
		for i, r := range active {
			names[i] = r.String()
		}
		a.Block("low on " + strings.Join(names, " and "))
	}
	mon.Subscribe(apply)
	apply(mon.Active())
	return mon
}

// mkdirDurable creates dir and its missing parents, and syncs the parent
// of each one created: data acknowledged as durable on a first start must
// not vanish with a directory entry that was never synced.
func mkdirDurable(fsys fs.FS, dir string) error {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := fsys.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fsys.MkdirAll(dir); err != nil {
		return err
	}
	for _, d := range missing {
		if err := fsys.SyncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// lockHolderPID reads the holder's PID from fs's error text ("held by pid
// N"); fs only offers it as a hint in the message.
var lockHolderPID = regexp.MustCompile(`held by pid (\d+)`)

func (s *Server) lock() (io.Closer, error) {
	lock, err := s.fsys.Lock(filepath.Join(s.cfg.DataDir, "LOCK"))
	if errors.Is(err, fs.ErrLocked) {
		e := &DataDirInUseError{DataDir: s.cfg.DataDir, Err: err}
		if m := lockHolderPID.FindStringSubmatch(err.Error()); m != nil {
			e.PID, _ = strconv.Atoi(m[1])
		}
		return nil, e
	}
	if err != nil {
		return nil, fmt.Errorf("server: lock data dir: %w", err)
	}
	return lock, nil
}

// step is one part of shutdown.
type step struct {
	name string
	run  func(ctx context.Context) error
}

func reversed(steps []step) []step {
	out := make([]step, len(steps))
	for i, st := range steps {
		out[len(steps)-1-i] = st
	}
	return out
}

// shutdownWithin runs steps in order and waits at most timeout for them.
// Steps are given a context that expires with the timeout; one that ignores
// it (a store flushing to a stuck disk) is abandoned, still running, and
// the steps after it run only if it ever returns: the lock in particular
// must outlive the writes it protects.
func shutdownWithin(timeout time.Duration, steps []step) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		var errs []error
		for _, st := range steps {
			if err := st.run(ctx); err != nil {
				errs = append(errs, fmt.Errorf("server: %s: %w", st.name, err))
			}
		}
		done <- errors.Join(errs...)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w after %v", ErrShutdownTimeout, timeout)
	}
}
