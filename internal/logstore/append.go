package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	iofs "io/fs"
	"sync/atomic"
	"time"

	"github.com/loftmq/loft/internal/fs"
)

// pass is a group of appends the flusher writes together: their bytes in
// one buffer, cut into parts where a segment rolled.
type pass struct {
	buf     []byte
	parts   []part
	batches []queued
	held    int64 // bytes of buf counted against the store's passBudget
}

// part is a run of pass.buf written to one segment at one position.
type part struct {
	seg      *segment
	from, to int   // range of pass.buf
	pos      int64 // position in the segment of pass.buf[from]
	batches  int   // pass.batches[:batches] end at or before this part's end
}

type queued struct {
	h    header
	seg  *segment
	pos  int64
	done func(base int64, err error)
}

// maxIdlePassBytes bounds the buffer a log idle for a while keeps for its
// next pass (see trimIdle); buffers up to this size are kept without
// counting against the store's passBudget.
const maxIdlePassBytes = 64 << 10

// passBudget is the room all logs of a store share for pass buffers larger
// than maxIdlePassBytes kept from one pass to the next. A busy log keeps
// its buffers: dropping them after every pass made each pass grow one from
// nothing, copying its bytes several times over, and cost 1 KiB messages
// 15% of their throughput. But a flood into a hundred queues grows every
// queue's buffers to megabytes at once, and kept without a bound they
// added 60–75 MiB to a broker held under a 256 MiB watermark. Past the
// budget a log drops its large buffers, as an idle one does.
type passBudget struct {
	limit int64
	used  atomic.Int64
}

func (b *passBudget) take(n int64) bool {
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

// recycle empties p for the next pass, keeping its buffer if it is small
// or the store's budget has room for it. The caller holds mu.
func (l *Log) recycle(p *pass) {
	p.reset()
	l.drop(p, false)
	if c := int64(cap(p.buf)); c > maxIdlePassBytes {
		if l.passes.take(c) {
			p.held = c
		} else {
			p.buf = nil
		}
	}
}

// drop gives p's counted bytes back to the budget, and with buf its buffer
// too. The caller holds mu.
func (l *Log) drop(p *pass, buf bool) {
	l.passes.used.Add(-p.held)
	p.held = 0
	if buf {
		p.buf = nil
	}
}

// trimIdle drops the large pass buffers of a log whose flusher has been
// idle for at least after: ten thousand logs that each once saw a burst
// would otherwise hold them at rest.
func (l *Log) trimIdle(now time.Time, after time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.flushing || l.idleAt.IsZero() || now.Sub(l.idleAt) < after {
		return
	}
	l.releasePasses()
}

// releasePasses lets go of the spare pass and of the pending pass's buffer
// when that is empty and large. The caller holds mu.
func (l *Log) releasePasses() {
	if l.spare != nil {
		l.drop(l.spare, true)
		l.spare = nil
	}
	if p := l.pend; p != nil && len(p.batches) == 0 && cap(p.buf) > maxIdlePassBytes {
		l.drop(p, true)
	}
}

func (p *pass) reset() {
	p.buf, p.parts = p.buf[:0], p.parts[:0]
	clear(p.batches) // drop the callbacks for the collector
	p.batches = p.batches[:0]
}

// Append appends one RecordBatch v2, assigning it the next offsets, and
// returns its base offset once the batch is durable (FsyncAlways) or written.
// The batch's base offset field is rewritten in place; b may be reused when
// Append returns.
func (l *Log) Append(b []byte) (int64, error) {
	type result struct {
		base int64
		err  error
	}
	ch := make(chan result, 1)
	l.AppendAsync(b, func(base int64, err error) { ch <- result{base, err} })
	r := <-ch
	return r.base, r.err
}

// AppendAsync is Append without waiting: done is called once, with the base
// offset or the error, when the batch is durable or has failed. Calls to done
// for one log are made in offset order from one goroutine and must not block.
// b may be reused as soon as AppendAsync returns.
//
// It returns the base offset assigned, so that a caller ordering its own
// state by offset need not wait for done, or -1 when the append failed at
// once (done has then been called, on the caller's goroutine). Appends
// queued behind one that fails also fail: their offsets were assigned after
// it, and are assigned again to later appends.
func (l *Log) AppendAsync(b []byte, done func(base int64, err error)) int64 {
	if len(b) >= 8 {
		// Whatever base a producer sent is replaced; 0 keeps the header
		// check's overflow test about the batch itself.
		binary.BigEndian.PutUint64(b[offBaseOffset:], 0)
	}
	h, err := checkBatch(b)
	if err != nil {
		done(-1, err)
		return -1
	}
	l.mu.Lock()
	for l.paused {
		l.idle.Wait()
	}
	if l.closed {
		l.mu.Unlock()
		done(-1, ErrClosed)
		return -1
	}
	var sealed []sealedIndex
	if l.tailSize > 0 && l.shouldRoll(h.size) {
		prev := l.active()
		l.roll()
		if !l.flushing {
			sealed = l.maybeSeal(prev, nil) // all of it is settled already
		}
	}
	seg := l.active()
	h.base = l.next
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(h.base))

	p := l.pend
	if n := len(p.parts); n == 0 || p.parts[n-1].seg != seg {
		p.parts = append(p.parts, part{seg: seg, from: len(p.buf), pos: l.tailSize})
	}
	p.buf = append(p.buf, b...)
	p.batches = append(p.batches, queued{h: h, seg: seg, pos: l.tailSize, done: done})
	last := &p.parts[len(p.parts)-1]
	last.to, last.batches = len(p.buf), len(p.batches)
	l.tailSize += h.size
	l.next = h.end()
	if !l.flushing {
		l.flushing = true
		l.idleAt = time.Time{}
		go l.flush()
	}
	l.mu.Unlock()
	for _, si := range sealed {
		l.saveSealed(si)
	}
	return h.base
}

func (l *Log) shouldRoll(size int64) bool {
	if l.tailSize+size > l.cfg.SegmentBytes {
		return true
	}
	return l.cfg.SegmentAge > 0 && l.now().Sub(l.active().created) >= l.cfg.SegmentAge
}

// roll starts a new active segment at the next offset. Its file is created
// by the flusher with the first bytes written to it.
func (l *Log) roll() {
	l.segs = append(l.segs, newSegment(l.dir, l.next, l.now()))
	l.tailSize = 0
}

// flush writes pending appends until there are none, one pass at a time;
// appends arriving meanwhile form the next pass. It runs on its own
// goroutine while there is work, so an idle log costs nothing.
func (l *Log) flush() {
	for {
		l.mu.Lock()
		p := l.pend
		if len(p.batches) == 0 {
			l.flushing = false
			l.idleAt = time.Now()
			l.idle.Broadcast()
			l.mu.Unlock()
			return
		}
		l.pend = l.spare
		if l.pend == nil {
			l.pend = &pass{}
		}
		l.spare = nil
		l.mu.Unlock()

		written, err := l.write(p)

		l.mu.Lock()
		ok, failed, sealed := l.settle(p, written, err)
		l.mu.Unlock()
		for _, s := range sealed {
			l.saveSealed(s)
		}
		for _, q := range ok {
			q.done(q.h.base, nil)
		}
		for _, q := range failed {
			q.done(-1, err)
		}
		l.mu.Lock()
		l.recycle(p)
		l.spare = p
		l.mu.Unlock()
	}
}

// write writes the parts of p in order, syncing each as the policy asks,
// and returns how many parts completed.
func (l *Log) write(p *pass) (int, error) {
	if err := l.repair(); err != nil {
		return 0, err
	}
	for i, pt := range p.parts {
		if err := l.writePart(p, pt); err != nil {
			return i, err
		}
	}
	return len(p.parts), nil
}

func (l *Log) writePart(p *pass, pt part) error {
	s := pt.seg
	f, err := l.segmentFile(s)
	if err != nil {
		return err
	}
	defer l.files.release(s)
	if _, err := f.WriteAt(p.buf[pt.from:pt.to], pt.pos); err != nil {
		return fmt.Errorf("logstore: write %s: %w", s.logPath, err)
	}
	if l.policy.Mode != FsyncAlways {
		return nil
	}
	if err := l.syncData(f); err != nil {
		return fmt.Errorf("logstore: sync %s: %w", s.logPath, err)
	}
	return nil
}

// segmentFile acquires s's file, creating it, durably, on first use.
func (l *Log) segmentFile(s *segment) (fs.File, error) {
	if s.onDisk {
		return l.files.acquire(s)
	}
	nf, err := l.fsys.Create(s.logPath)
	if err != nil {
		return nil, fmt.Errorf("logstore: create %s: %w", s.logPath, err)
	}
	// The new name must survive a crash before any byte in it is
	// acknowledged; never-mode makes no such promise but the cost is per
	// segment, not per append.
	if err := l.fsys.SyncDir(l.dir); err != nil {
		nf.Close()
		l.fsys.Remove(s.logPath)
		return nil, fmt.Errorf("logstore: sync dir %s: %w", l.dir, err)
	}
	s.onDisk = true
	l.files.adopt(s, nf)
	return nf, nil
}

// settle makes the batches of p's first written parts visible and, on
// error, undoes the rest and everything queued after it. It returns the
// appends to complete and to fail. The caller holds mu.
func (l *Log) settle(p *pass, written int, err error) (ok, failed []queued, sealed []sealedIndex) {
	n := 0
	if written > 0 {
		n = p.parts[written-1].batches
	}
	interval := l.cfg.IndexIntervalBytes
	for _, q := range p.batches[:n] {
		q.seg.add(q.h, q.pos, interval)
		l.hw = q.h.end()
	}
	if n > 0 && l.policy.Mode != FsyncAlways {
		// Earlier segments were synced when sealed: only the last written
		// one can hold unsynced bytes.
		l.unsynced = p.batches[n-1].seg
		l.writes++
	}
	ok = p.batches[:n]
	if err != nil {
		failed = append(append([]queued(nil), p.batches[n:]...), l.pend.batches...)
		l.pend.reset()
		l.undo(err)
		l.logger.Error("logstore: append failed", "err", err, "failed", len(failed), "offset", l.hw)
	}
	// Seal what rolls left behind: the unsealed segments before the active.
	for i := len(l.segs) - 2; i >= 0 && !l.segs[i].sealed; i-- {
		sealed = l.maybeSeal(l.segs[i], sealed)
	}
	return ok, failed, sealed
}

// maybeSeal seals s if a roll left it behind and none of its bytes wait in
// the pending pass. The caller holds mu and saves what it returns.
func (l *Log) maybeSeal(s *segment, sealed []sealedIndex) []sealedIndex {
	if s.sealed || s == l.active() || (len(l.pend.parts) > 0 && l.pend.parts[0].seg == s) {
		return sealed
	}
	s.sealed = true
	return append(sealed, sealedIndex{s, s.indexFile()})
}

// undo returns the log to its visible state after a failed write: segments
// rolled to but not yet visible are dropped, the next offset is the high
// watermark again, and the next flush first cuts what the failed write may
// have left behind. The caller holds mu.
func (l *Log) undo(err error) {
	for len(l.segs) > 1 && l.active().size == 0 && l.active().base >= l.hw {
		l.orphans = append(l.orphans, l.active())
		l.segs = l.segs[:len(l.segs)-1]
	}
	l.next, l.tailSize = l.hw, l.active().size
	l.broken = err
}

// repair cuts the bytes a failed write may have left past the visible end
// and removes the files of dropped segments. It runs on the flusher before
// any new write, so nothing is ever written after unvisible garbage.
func (l *Log) repair() error {
	l.mu.Lock()
	broken, orphans, act := l.broken, l.orphans, l.active()
	size := act.size
	l.mu.Unlock()
	if broken == nil {
		return nil
	}
	for _, s := range orphans {
		l.files.retire(s)
		if s.onDisk {
			if err := l.fsys.Remove(s.logPath); err != nil && !isNotExist(err) {
				return fmt.Errorf("logstore: repair after %v: %w", broken, err)
			}
		}
	}
	if act.onDisk {
		f, err := l.files.acquire(act)
		if err != nil {
			return fmt.Errorf("logstore: repair after %v: %w", broken, err)
		}
		err = f.Truncate(size)
		if err == nil {
			err = f.Sync()
		}
		l.files.release(act)
		if err != nil {
			return fmt.Errorf("logstore: repair after %v: %w", broken, err)
		}
	}
	if len(orphans) > 0 {
		if err := l.fsys.SyncDir(l.dir); err != nil {
			return fmt.Errorf("logstore: repair after %v: %w", broken, err)
		}
	}
	l.mu.Lock()
	l.broken, l.orphans = nil, nil
	l.mu.Unlock()
	l.logger.Info("logstore: recovered from failed append", "offset", size)
	return nil
}

// sealedIndex is a segment just sealed and the index to save for it.
type sealedIndex struct {
	seg *segment
	x   *indexFile
}

// saveSealed finishes sealing a segment that takes no more appends: its
// last bytes are made durable before a later segment's (FsyncAlways did so
// already) and its index is saved so the next start need not scan it.
func (l *Log) saveSealed(si sealedIndex) {
	s := si.seg
	if l.policy.Mode != FsyncAlways {
		if f, err := l.files.acquire(s); err == nil {
			f.Sync()
			l.files.release(s)
		}
	}
	if err := writeFile(l.fsys, s.indexPath, si.x.marshal(), false); err != nil {
		l.logger.Warn("logstore: cannot save index", "segment", s.logPath, "err", err)
	}
}

func isNotExist(err error) bool { return errors.Is(err, iofs.ErrNotExist) }
