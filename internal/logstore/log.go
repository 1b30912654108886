package logstore

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/loftmq/loft/internal/fs"
)

// Log is one partition log: an ordered list of segments, the last of which
// (the active one) takes appends. It is safe for concurrent use.
//
// Locks: maint serialises whole-log changes (retention, compaction,
// truncation, close) and is taken before mu; mu guards the fields below it
// and is held only for in-memory work, never across a write or sync.
type Log struct {
	name      string
	dir       string
	fsys      fs.FS
	files     *handles
	policy    FsyncPolicy
	logger    *slog.Logger
	now       func() time.Time
	onSync    func(time.Duration, error) // Options.OnSync
	onCorrupt func(log string)           // Options.OnCorrupt

	maint sync.Mutex

	mu       sync.Mutex
	idle     sync.Cond // signalled when the flusher stops
	cfg      Config
	segs     []*segment  // by base offset; the last is active
	start    int64       // log start offset
	hw       int64       // high watermark: offsets below it are visible
	next     int64       // offset the next append gets
	tailSize int64       // active segment size once pending bytes are written
	pend     *pass       // appends waiting for the flusher
	spare    *pass       // an emptied pass, reused to spare allocations
	passes   *passBudget // the store's room for kept pass buffers
	idleAt   time.Time   // when the flusher last went idle; zero while it runs
	flushing bool
	paused   bool       // appends wait: truncation or close is under way
	unsynced *segment   // holds writes not yet synced (FsyncInterval, FsyncNever)
	writes   uint64     // passes written: a sync clears unsynced only if none came during it
	broken   error      // a failed write left bytes to cut before the next one
	gappy    bool       // compacted once: batches may leave offset gaps (see strictLocked)
	orphans  []*segment // segments dropped after a failure, files to remove
	closed   bool
}

// Name returns the log's name within its store.
func (l *Log) Name() string { return l.name }

// Config returns the log's configuration.
func (l *Log) Config() Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// SetConfig changes the log's configuration durably; it applies to the
// next append and the next retention or compaction pass.
func (l *Log) SetConfig(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	l.maint.Lock() // one config write at a time, in order
	defer l.maint.Unlock()
	if err := l.saveConfig(c); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg = c
	return nil
}

// StartOffset returns the first offset of the log that may be read.
func (l *Log) StartOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.start
}

// HighWatermark returns the offset after the last visible record: durable
// with FsyncAlways, written otherwise.
func (l *Log) HighWatermark() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hw
}

// Size returns the visible bytes of all segments.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// Segments returns the number of segments, for tests and metrics.
func (l *Log) Segments() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.segs)
}

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// find returns the index of the segment holding offset: the last whose base
// is at most offset. The caller holds mu and knows offset >= segs[0].base.
func (l *Log) find(offset int64) int {
	return sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
}

// openLog opens the log in dir, recovering its active segment, or with
// create makes a new one with configuration cfg; an existing log keeps its
// stored configuration, cfg standing in for a missing one.
func openLog(fsys fs.FS, files *handles, dir, name string, cfg Config, create bool, opts *Options) (*Log, error) {
	l := &Log{
		name: name, dir: dir, fsys: fsys, files: files,
		policy: opts.Fsync, logger: opts.Logger.With("log", name), now: opts.Now,
		onSync: opts.OnSync, onCorrupt: opts.OnCorrupt, cfg: cfg, pend: &pass{}, passes: opts.passes,
	}
	l.idle.L = &l.mu
	if err := fsys.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("logstore: open %s: %w", name, err)
	}
	if create {
		if err := l.saveConfig(cfg); err != nil {
			return nil, err
		}
	} else {
		l.cfg = l.loadConfig(cfg)
	}
	if l.cfg.NoSync {
		l.policy = FsyncPolicy{Mode: FsyncNever}
	}
	if _, err := l.fsys.Stat(path.Join(dir, compactedFile)); err == nil {
		l.gappy = true
	}
	if err := l.recover(); err != nil {
		return nil, fmt.Errorf("logstore: open %s: %w", name, err)
	}
	return l, nil
}

const startOffsetFile = "start-offset"

// compactedFile marks a log that compaction rewrote: its segments may have
// gaps in offsets even after cleanup.policy no longer says compact.
const compactedFile = "compacted"

// strictLocked tells whether every batch of the log must start where the
// one before ended: true unless compaction may have left gaps. The base
// offset is outside the batch CRC, so this is what catches its damage.
// The caller holds mu or is opening the log.
func (l *Log) strictLocked() bool { return !l.cfg.Compact && !l.gappy }

// recover loads the segments of the log directory: indexes of sealed
// segments are loaded or rebuilt; the active segment is scanned, unless its
// index proves a clean shutdown, and cut at the first bad batch.
func (l *Log) recover() error {
	names, err := l.fsys.ReadDir(l.dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if base, ok := parseSegmentName(n); ok {
			l.segs = append(l.segs, newSegment(l.dir, base, l.now()))
		} else if path.Ext(n) == ".tmp" || path.Ext(n) == ".cleaned" {
			l.fsys.Remove(path.Join(l.dir, n)) // an interrupted write or compaction
		}
	}
	if err := l.recoverSegments(); err != nil {
		return err
	}
	if len(l.segs) == 0 {
		l.segs = []*segment{newSegment(l.dir, 0, l.now())} // its file comes with the first append
	}
	for i := 1; i < len(l.segs); i++ {
		if prev := l.segs[i-1]; prev.end > l.segs[i].base {
			return fmt.Errorf("%w: segment %s ends at offset %d, after the next one starts (%d)",
				ErrCorrupt, prev.logPath, prev.end, l.segs[i].base)
		}
	}
	act := l.active()
	l.start, l.hw, l.next, l.tailSize = l.segs[0].base, act.end, act.end, act.size
	if b, err := readSmallFile(l.fsys, path.Join(l.dir, startOffsetFile)); err == nil {
		if v, err := strconv.ParseInt(string(b), 10, 64); err == nil && v > l.start {
			l.start = min(v, l.hw)
		}
	}
	return nil
}

// recoverSegments loads every segment. A segment whose index matches it
// was complete when last closed or sealed: it is trusted, and damage in it
// is found when read. The others are surveyed with CRC checks: damage
// followed by a valid batch is a hole (see damage.go), kept and reported;
// damage with nothing valid after it ends the segment. In the trailing run
// of segments without index — those being written when the process
// stopped: the active segment, and with fsync policies other than always a
// segment just rolled away from — such damage is a torn write, cut, with
// the segments after it, which cannot have been durable before it. A
// segment without index before a trusted one lost only its index: its
// damaged end is kept as a hole, never cut.
func (l *Log) recoverSegments() error {
	trusted := make([]bool, len(l.segs))
	sizes := make([]int64, len(l.segs))
	tail := len(l.segs) // start of the trailing run without index
	for i, s := range l.segs {
		s.onDisk = true
		size, err := l.fsys.Stat(s.logPath)
		if err != nil {
			return err
		}
		sizes[i] = size
		trusted[i] = s.loadIndex(l.fsys, size)
		if trusted[i] {
			tail = len(l.segs)
		} else if tail == len(l.segs) {
			tail = i
		}
	}
	for i, s := range l.segs {
		last := i == len(l.segs)-1
		s.sealed = !last
		if trusted[i] {
			continue
		}
		res, err := l.rebuild(s, sizes[i])
		if err != nil {
			return err
		}
		if res.tail != nil && !errors.Is(res.tail, ErrCorrupt) {
			return fmt.Errorf("logstore: read %s: %w", s.logPath, res.tail)
		}
		s.holes = res.holes
		if res.tail == nil || i < tail || l.durableAfter(i, sizes) {
			if res.tail != nil {
				// Damaged to its end, yet not the last thing written: a
				// hole up to the next segment.
				s.holes = append(s.holes, hole{pos: res.valid, end: sizes[i], from: s.end, to: l.segs[i+1].base, why: res.tail})
				s.size = sizes[i]
			}
			for _, h := range s.holes {
				l.report(s, h)
			}
			if !last {
				if err := s.writeIndex(l.fsys); err != nil {
					l.logger.Warn("logstore: cannot save rebuilt index", "segment", s.logPath, "err", err)
				}
			}
			continue
		}
		for _, h := range s.holes {
			l.report(s, h)
		}
		// A torn tail: cut it, and drop what follows.
		if err := l.cut(s, res.valid, sizes[i], res.tail); err != nil {
			return err
		}
		if err := l.remove(l.segs[i+1:]); err != nil {
			return err
		}
		l.segs = l.segs[:i+1]
		s.sealed = false
		return nil
	}
	return nil
}

// durableAfter tells, under FsyncAlways, whether a segment after segs[i]
// holds a valid batch. Such a batch was synced, and so acknowledged, only
// after all of segs[i] had been synced: damage in segs[i] is then
// corruption to report, not a torn write to cut. With other policies a
// later segment may reach the disk before an earlier one, and nothing in
// either was promised durable.
func (l *Log) durableAfter(i int, sizes []int64) bool {
	if l.policy.Mode != FsyncAlways {
		return false
	}
	for j := i + 1; j < len(l.segs); j++ {
		f, err := l.fsys.Open(l.segs[j].logPath)
		if err != nil {
			continue
		}
		_, _, valid := resync(f, 0, sizes[j], l.segs[j].base, l.segs[j].base)
		f.Close()
		if valid {
			return true
		}
	}
	return false
}

// rebuild surveys a segment, rebuilding its index in memory.
func (l *Log) rebuild(s *segment, size int64) (surveyResult, error) {
	f, err := l.fsys.Open(s.logPath)
	if err != nil {
		return surveyResult{}, err
	}
	defer f.Close()
	interval := l.cfg.IndexIntervalBytes
	return survey(f, size, s.base, l.strictLocked(), func(h header, pos int64, _ []byte) bool {
		s.add(h, pos, interval)
		return true
	}), nil
}

// cut truncates a segment at the end of its last valid batch: what follows
// was never acknowledged (a torn write) or is damage we cannot trust.
func (l *Log) cut(s *segment, valid, size int64, why error) error {
	l.logger.Warn("logstore: recovery cut the log tail",
		"segment", s.logPath, "position", valid, "bytes", size-valid, "offset", s.end,
		"later_segments_dropped", len(l.segs)-1-l.find(s.base), "reason", why)
	f, err := l.fsys.OpenFile(s.logPath)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(valid); err != nil {
		return err
	}
	return f.Sync()
}

func readSmallFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := f.Size()
	if err != nil {
		return nil, err
	}
	if n > 1<<20 {
		return nil, fmt.Errorf("logstore: %s: %d bytes, too large", name, n)
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil && n > 0 {
		return nil, err
	}
	return b, nil
}
