package logstore

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/loftmq/loft/internal/fs"
)

// Store holds the logs of one data directory, each in a subdirectory named
// after it, and runs their background work: the periodic sync of
// FsyncInterval, retention and compaction. It is safe for concurrent use.
type Store struct {
	fsys  fs.FS
	dir   string
	opts  Options
	files *handles

	mu     sync.Mutex
	logs   map[string]*Log
	closed bool

	stop chan struct{}
	done sync.WaitGroup
}

// deletedSuffix marks a log directory being deleted; '~' is not allowed in
// names, so it never clashes with a live log.
const deletedSuffix = "~deleted"

// Open opens, recovering if needed, every log below dir, creating dir if it
// does not exist.
func Open(fsys fs.FS, dir string, opts Options) (*Store, error) {
	opts.setDefaults()
	if err := opts.Defaults.Validate(); err != nil {
		return nil, err
	}
	if err := fsys.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("logstore: open %s: %w", dir, err)
	}
	if err := fsys.SyncDir(path.Dir(dir)); err != nil {
		return nil, fmt.Errorf("logstore: open %s: %w", dir, err)
	}
	s := &Store{
		fsys: fsys, dir: dir, opts: opts,
		files: &handles{fsys: fsys, max: opts.MaxOpenFiles},
		logs:  make(map[string]*Log),
		stop:  make(chan struct{}),
	}
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("logstore: open %s: %w", dir, err)
	}
	start := time.Now()
	var live []string
	for _, name := range names {
		if strings.HasSuffix(name, deletedSuffix) {
			if err := fsys.RemoveAll(path.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("logstore: finish deleting %s: %w", name, err)
			}
			continue
		}
		if checkName(name) == nil {
			live = append(live, name)
		}
	}
	if err := s.openLogs(live); err != nil {
		s.closeLogs()
		return nil, err
	}
	opts.Logger.Info("logstore: opened", "dir", dir, "logs", len(s.logs), "fsync", opts.Fsync.String(), "took", time.Since(start))
	s.startBackground()
	return s, nil
}

func checkName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 255 {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q: only letters, digits, '.', '_' and '-'", ErrBadName, name)
		}
	}
	return nil
}

// Create creates a new, empty log.
func (s *Store) Create(name string, cfg Config) (*Log, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if _, ok := s.logs[name]; ok {
		return nil, fmt.Errorf("%w: %s", ErrExists, name)
	}
	l, err := openLog(s.fsys, s.files, path.Join(s.dir, name), name, cfg, true, &s.opts)
	if err != nil {
		return nil, err
	}
	if err := s.fsys.SyncDir(s.dir); err != nil {
		l.Close()
		return nil, fmt.Errorf("logstore: create %s: %w", name, err)
	}
	s.logs[name] = l
	return l, nil
}

// Log returns the named log.
func (s *Store) Log(name string) (*Log, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.logs[name]
	return l, ok
}

// Logs returns the names of all logs, sorted.
func (s *Store) Logs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.logs))
	for n := range s.logs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Delete closes and removes a log and its files. A crash part-way leaves a
// directory that the next Open finishes removing.
func (s *Store) Delete(name string) error {
	s.mu.Lock()
	l, ok := s.logs[name]
	if ok {
		delete(s.logs, name)
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	l.Close()
	gone := path.Join(s.dir, name+deletedSuffix)
	if err := s.fsys.Rename(l.dir, gone); err != nil {
		return fmt.Errorf("logstore: delete %s: %w", name, err)
	}
	if err := s.fsys.SyncDir(s.dir); err != nil {
		return fmt.Errorf("logstore: delete %s: %w", name, err)
	}
	if err := s.fsys.RemoveAll(gone); err != nil {
		return fmt.Errorf("logstore: delete %s: %w", name, err)
	}
	return nil
}

// Close stops background work, completes in-flight appends, syncs and
// closes every log.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.done.Wait()
	return s.closeLogs()
}

// openLogs opens (recovering) the named logs, openWorkers at a time:
// after a crash each active segment is read through and its checksums
// verified, and a data directory of a thousand logs holding gigabytes
// would otherwise wait for one read after another. On error, the logs
// opened so far are in s.logs for the caller to close.
func (s *Store) openLogs(names []string) error {
	return parallel(names, openWorkers, func(name string) error {
		l, err := openLog(s.fsys, s.files, path.Join(s.dir, name), name, s.opts.Defaults, false, &s.opts)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.logs[name] = l
		s.mu.Unlock()
		return nil
	})
}

// openWorkers bounds the logs opened at once.
const openWorkers = 8

func (s *Store) closeLogs() error {
	s.mu.Lock()
	logs := make([]*Log, 0, len(s.logs))
	for _, l := range s.logs {
		logs = append(logs, l)
	}
	s.mu.Unlock()
	// Closing syncs each log's tail and writes its index durably: a few
	// fsyncs each. Done a few dozen at a time, they share the file
	// system's journal commits, so that a store of ten thousand logs
	// closes in seconds rather than minutes.
	return parallel(logs, closeWorkers, (*Log).Close)
}

// parallel calls fn on every item, at most workers at a time, and returns
// the first error; an error does not stop the other calls.
func parallel[T any](items []T, workers int, fn func(T) error) error {
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan T)
	for range min(workers, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				if err := fn(it); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, it := range items {
		work <- it
	}
	close(work)
	wg.Wait()
	return firstErr
}

// closeWorkers bounds the logs closed at once.
const closeWorkers = 32

func (s *Store) each(fn func(*Log)) {
	s.mu.Lock()
	logs := make([]*Log, 0, len(s.logs))
	for _, l := range s.logs {
		logs = append(logs, l)
	}
	s.mu.Unlock()
	for _, l := range logs {
		fn(l)
	}
}

// startBackground runs the syncer of FsyncInterval (or, under
// FsyncAlways, that of the NoSync logs) and the cleaner.
func (s *Store) startBackground() {
	sync := func(l *Log) {
		if err := l.Sync(); err != nil {
			s.opts.Logger.Error("logstore: periodic sync failed", "log", l.name, "err", err)
		}
	}
	switch {
	case s.opts.Fsync.Mode == FsyncInterval:
		s.every(s.opts.Fsync.Interval, sync)
	case s.opts.Fsync.Mode == FsyncAlways && s.opts.NoSyncInterval > 0:
		s.every(s.opts.NoSyncInterval, func(l *Log) {
			if l.Config().NoSync {
				sync(l)
			}
		})
	}
	// Logs idle for a second give back their pass buffers.
	s.every(time.Second, func(l *Log) { l.trimIdle(time.Now(), time.Second) })
	if s.opts.CleanInterval > 0 {
		s.every(s.opts.CleanInterval, func(l *Log) {
			if _, err := l.Clean(s.opts.Now()); err != nil {
				s.opts.Logger.Error("logstore: cleaning failed", "log", l.name, "err", err)
			}
		})
	}
}

func (s *Store) every(d time.Duration, fn func(*Log)) {
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.each(fn)
			}
		}
	}()
}
