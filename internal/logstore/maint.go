package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strconv"
	"time"
)

// Sync makes every written append durable. FsyncInterval calls it on a
// timer; with FsyncAlways there is never anything to do.
func (l *Log) Sync() error {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return nil
	}
	return l.syncActive()
}

// syncActive syncs the segment holding unsynced writes. The mark is
// cleared only once the sync succeeded, and only if no write came in
// meanwhile, so that "nothing unsynced" is never said early.
func (l *Log) syncActive() error {
	l.mu.Lock()
	s, writes := l.unsynced, l.writes
	l.mu.Unlock()
	if s == nil {
		return nil
	}
	f, err := l.files.acquire(s)
	if err == nil {
		err = l.syncData(f)
		l.files.release(s)
	}
	if errors.Is(err, errRetired) {
		err = nil // deleted or rewritten: nothing left to sync
	}
	if err != nil {
		return fmt.Errorf("logstore: sync %s: %w", s.logPath, err)
	}
	l.mu.Lock()
	if l.writes == writes {
		l.unsynced = nil
	}
	l.mu.Unlock()
	return nil
}

// quiesce stops new appends and waits until the flusher is idle; the caller
// holds mu and must call resume.
func (l *Log) quiesce() {
	l.paused = true
	for l.flushing {
		l.idle.Wait()
	}
}

func (l *Log) resume() {
	l.paused = false
	l.idle.Broadcast()
}

// Close completes in-flight appends, syncs and closes the log. Appends
// after Close fail with ErrClosed.
func (l *Log) Close() error {
	l.maint.Lock()
	defer l.maint.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.quiesce()
	l.closed = true
	l.releasePasses()
	l.resume()
	l.mu.Unlock()
	var firstErr error
	if err := l.repair(); err != nil {
		firstErr = err
	}
	if err := l.syncActive(); err != nil && firstErr == nil {
		firstErr = err
	}
	l.mu.Lock()
	act := l.active()
	var x *indexFile
	if l.broken == nil && act.onDisk {
		x = act.indexFile() // lets the next open skip scanning: a clean shutdown
	}
	segs := l.segs
	l.mu.Unlock()
	if x != nil {
		// A log opened after a clean stop and not written to since has
		// that index on disk already: writing it again would cost two
		// fsyncs per log, which ten thousand idle logs feel at shutdown.
		data := x.marshal()
		if old, err := readSmallFile(l.fsys, act.indexPath); err != nil || !bytes.Equal(old, data) {
			if err := writeFile(l.fsys, act.indexPath, data, true); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	for _, s := range segs {
		l.files.retire(s)
	}
	return firstErr
}

// ApplyRetention deletes whole segments that fall outside the retention
// limits (age, total size) or below the log start offset, oldest first, and
// returns how many it deleted. An active segment that has expired is rolled
// and deleted too, so a topic that went quiet still empties.
func (l *Log) ApplyRetention(now time.Time) (int, error) {
	l.maint.Lock()
	defer l.maint.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	drop := l.deletable(now)
	if drop == len(l.segs) {
		// Everything expired, the active segment too: roll it away so the
		// quiet log empties. Appends pause for the roll.
		l.quiesce()
		if drop = l.deletable(now); drop == len(l.segs) && l.broken == nil {
			if err := l.rollForRetention(); err != nil {
				l.resume()
				l.mu.Unlock()
				return 0, err
			}
		} else {
			drop = min(drop, len(l.segs)-1)
		}
		l.resume()
	}
	dropped := append([]*segment(nil), l.segs[:drop]...)
	l.segs = l.segs[drop:]
	l.start = max(l.start, l.segs[0].base)
	l.mu.Unlock()
	return drop, l.remove(dropped)
}

// deletable counts the segments, oldest first, that retention or the start
// offset let go; the count includes the active segment only when all of
// them may go. The caller holds mu.
func (l *Log) deletable(now time.Time) int {
	cfg := l.cfg
	var total int64
	for _, s := range l.segs {
		total += s.size
	}
	gone := func(s *segment) bool {
		if s.size == 0 {
			return false
		}
		if s.end <= l.start {
			return true
		}
		if !cfg.Delete {
			return false
		}
		newest := s.maxTime
		if newest < 0 {
			newest = s.created.UnixMilli()
		}
		expired := cfg.RetentionAge >= 0 && now.UnixMilli()-newest > cfg.RetentionAge.Milliseconds()
		oversize := cfg.RetentionBytes >= 0 && total-s.size >= cfg.RetentionBytes
		return expired || oversize
	}
	n := 0
	for n < len(l.segs) && gone(l.segs[n]) {
		total -= l.segs[n].size
		n++
	}
	return n
}

// rollForRetention starts a new, empty active segment so that the old one
// can be deleted. The new segment's file is created at once: with every
// older segment gone, its name is what tells a restart the next offset.
// The caller holds mu with appends paused.
func (l *Log) rollForRetention() error {
	act := l.active()
	l.roll()
	if _, err := l.segmentFile(l.active()); err != nil {
		l.segs = l.segs[:len(l.segs)-1]
		l.tailSize = act.size
		return err
	}
	l.files.release(l.active())
	act.sealed = true // deleted right after: no index to save
	return nil
}

// remove deletes the files of segments no longer in the log. It takes no
// lock: callers may hold mu.
func (l *Log) remove(segs []*segment) error {
	var firstErr error
	for _, s := range segs {
		l.files.retire(s)
		for _, p := range []string{s.logPath, s.indexPath} {
			if err := l.fsys.Remove(p); err != nil && !isNotExist(err) && firstErr == nil {
				firstErr = fmt.Errorf("logstore: remove %s: %w", p, err)
			}
		}
	}
	if len(segs) > 0 {
		if err := l.fsys.SyncDir(l.dir); err != nil && firstErr == nil {
			firstErr = err
		}
		l.logger.Info("logstore: deleted segments", "segments", len(segs), "first", segs[0].base, "end", segs[len(segs)-1].end)
	}
	return firstErr
}

// DeleteRecordsBefore makes offset the log start offset: records below it
// are no longer readable, and the segments wholly below it are deleted. It
// returns the new log start offset.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.mu.Lock()
	if offset > l.hw || offset < 0 {
		hw := l.hw
		l.mu.Unlock()
		return 0, fmt.Errorf("%w: %d beyond the high watermark %d", ErrOffsetOutOfRange, offset, hw)
	}
	if offset <= l.start {
		start := l.start
		l.mu.Unlock()
		return start, nil
	}
	l.start = offset
	l.mu.Unlock()
	// Durable before acknowledged: a restart must not bring the records back.
	if err := writeFile(l.fsys, path.Join(l.dir, startOffsetFile), []byte(strconv.FormatInt(offset, 10)), true); err != nil {
		return 0, fmt.Errorf("logstore: save start offset: %w", err)
	}
	_, err := l.ApplyRetention(l.now())
	return offset, err
}

// TruncateSuffix removes every batch at or after the one holding offset,
// so that the log ends where that batch began, and returns the new end.
// Replication needs it to discard a diverged tail.
func (l *Log) TruncateSuffix(offset int64) (int64, error) {
	l.maint.Lock()
	defer l.maint.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	if offset < l.start {
		return 0, fmt.Errorf("%w: %d below the log start %d", ErrOffsetOutOfRange, offset, l.start)
	}
	l.quiesce()
	defer l.resume()
	if offset >= l.hw {
		return l.hw, nil
	}
	i := l.find(offset)
	s := l.segs[i]
	pos := int64(0)
	if offset > s.base {
		f, err := l.files.acquire(s)
		if err != nil {
			return 0, err
		}
		pos, _, err = l.seekBatch(f, segView{seg: s, limit: s.size, idx: s.idx, holes: s.holes, strict: l.strictLocked()}, offset)
		l.files.release(s)
		var ce *CorruptError
		if err != nil && err != errPastEnd && !errors.As(err, &ce) { // in a hole: cut at its start
			return 0, err
		}
	}
	if err := l.remove(l.segs[i+1:]); err != nil {
		return 0, err
	}
	l.segs = l.segs[:i+1]
	if err := l.shrink(s, pos); err != nil {
		return 0, err
	}
	l.hw, l.next, l.tailSize = s.end, s.end, s.size
	return l.hw, nil
}

// shrink cuts segment s to size bytes and makes it the active segment
// again. The caller holds mu with the flusher quiesced.
func (l *Log) shrink(s *segment, size int64) error {
	if err := l.fsys.Remove(s.indexPath); err != nil && !isNotExist(err) {
		return err
	}
	f, err := l.fsys.OpenFile(s.logPath)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	s.reset()
	s.sealed = false
	interval := l.cfg.IndexIntervalBytes
	res := survey(f, size, s.base, l.strictLocked(), func(h header, pos int64, _ []byte) bool { s.add(h, pos, interval); return true })
	s.holes = res.holes
	return res.tail
}
