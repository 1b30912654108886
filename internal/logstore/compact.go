package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"time"
)

// Compact rewrites the sealed segments of a log with cleanup.policy
// compact so that only the latest record of each key remains; tombstones
// (nil values) go too once older than DeleteRetention. Offsets do not
// change: a rewritten batch keeps its base offset and its records their
// offset deltas, leaving gaps that readers step over. Segments holding
// records younger than MinCompactionLag are left alone, and so is the
// active segment. It runs beside appends and reads: each segment is
// rewritten to a new file and swapped in under the lock in one step.
// It returns the number of segments rewritten.
func (l *Log) Compact(now time.Time) (int, error) {
	l.maint.Lock()
	defer l.maint.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	cfg := l.cfg
	views := make([]segView, 0, len(l.segs))
	for _, s := range l.segs {
		if s.base >= l.hw {
			// Rolled to for appends not yet visible: the flusher creates
			// the file with its first bytes, so there may be none to open.
			break
		}
		views = append(views, segView{seg: s, limit: s.size})
	}
	l.mu.Unlock()
	if !cfg.Compact || len(views) < 2 {
		return 0, nil
	}
	latest, err := l.offsetMap(views)
	if err != nil {
		return 0, err
	}
	keep := keepRule{latest: latest, tombstoneCutoff: now.Add(-cfg.DeleteRetention).UnixMilli()}
	n := 0
	for _, v := range views[:len(views)-1] {
		if cfg.MinCompactionLag > 0 && v.seg.maxTime > now.Add(-cfg.MinCompactionLag).UnixMilli() {
			break // this and later segments hold records too young to compact
		}
		if err := l.markCompacted(); err != nil {
			return n, err
		}
		done, err := l.compactSegment(v, keep, cfg.IndexIntervalBytes)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}

// offsetMap maps every key to the offset of its latest record.
func (l *Log) offsetMap(views []segView) (map[string]int64, error) {
	latest := make(map[string]int64)
	for _, v := range views {
		err := l.eachBatch(v, func(h header, _ int64, b []byte) error {
			if h.attrs&attrControl != 0 {
				return nil
			}
			rr, err := records(b, h)
			if err != nil {
				return err
			}
			for {
				r, ok, err := rr.next()
				if err != nil || !ok {
					return err
				}
				if r.Key != nil {
					latest[string(r.Key)] = r.Offset
				}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return latest, nil
}

// eachBatch calls fn for every valid batch of a segment view; a damaged
// batch ends it with an error.
func (l *Log) eachBatch(v segView, fn func(h header, pos int64, b []byte) error) error {
	f, err := l.files.acquire(v.seg)
	if err != nil {
		return err
	}
	defer l.files.release(v.seg)
	var fnErr error
	res := scan(f, v.limit, v.seg.base, true, false, func(h header, pos int64, b []byte) bool {
		fnErr = fn(h, pos, b)
		return fnErr == nil
	})
	if fnErr != nil {
		return fmt.Errorf("logstore: compact %s: %w", v.seg.logPath, fnErr)
	}
	if res.err != nil {
		return fmt.Errorf("logstore: compact %s at %d: %w", v.seg.logPath, res.valid, res.err)
	}
	return nil
}

type keepRule struct {
	latest          map[string]int64
	tombstoneCutoff int64 // tombstones in batches older than this go
}

// filter returns the batch with the records the rule drops removed: b
// itself if none, nil if all.
func (k keepRule) filter(b []byte, h header) ([]byte, error) {
	if h.attrs&attrControl != 0 {
		return b, nil
	}
	rr, err := records(b, h)
	if err != nil {
		return nil, err
	}
	var kept []byte
	count, dropped := 0, false
	for {
		r, raw, ok, err := rr.nextRaw()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		stays := r.Key == nil || k.latest[string(r.Key)] == r.Offset
		if stays && r.Value == nil && h.maxTime < k.tombstoneCutoff {
			stays = false
		}
		if !stays {
			dropped = true
			continue
		}
		kept = append(kept, raw...)
		count++
	}
	switch {
	case !dropped:
		return b, nil
	case count == 0:
		return nil, nil
	}
	body, err := compress(int(h.attrs&attrCompressionMask), kept)
	if err != nil {
		return nil, err
	}
	nb := make([]byte, 0, batchHeaderSize+len(body))
	nb = append(append(nb, b[:batchHeaderSize]...), body...)
	binary.BigEndian.PutUint32(nb[offLength:], uint32(len(nb)-lengthPrefix))
	binary.BigEndian.PutUint32(nb[offRecordCount:], uint32(count))
	setCRC(nb)
	return nb, nil
}

// compactSegment rewrites one sealed segment if the rule drops anything
// from it, and swaps the result in.
func (l *Log) compactSegment(v segView, k keepRule, interval int) (bool, error) {
	old := v.seg
	ns := newSegment(l.dir, old.base, old.created)
	ns.onDisk, ns.sealed = true, true
	var out []byte
	changed := false
	err := l.eachBatch(v, func(h header, _ int64, b []byte) error {
		nb, err := k.filter(b, h)
		if err != nil {
			return err
		}
		if len(nb) != len(b) {
			changed = true
		}
		if nb != nil {
			nh, _ := parseHeader(nb)
			ns.add(nh, int64(len(out)), interval)
			out = append(out, nb...)
		}
		return nil
	})
	if errors.Is(err, errRetired) || (err == nil && !changed) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ns.end = old.end // offsets past the last kept batch stay this segment's
	cleaned := old.logPath + ".cleaned"
	if err := writeCleaned(l, cleaned, out); err != nil {
		return false, err
	}
	// Swap: readers of the old segment either hold its file open (and read
	// the old, still valid, bytes) or are told to look again.
	l.mu.Lock()
	l.files.retire(old)
	err = l.fsys.Rename(cleaned, old.logPath)
	if err == nil {
		for i, s := range l.segs {
			if s == old {
				l.segs[i] = ns
			}
		}
	} else {
		l.files.unretire(old)
	}
	l.mu.Unlock()
	if err != nil {
		l.fsys.Remove(cleaned)
		return false, fmt.Errorf("logstore: compact %s: %w", old.logPath, err)
	}
	if err := l.fsys.SyncDir(l.dir); err != nil {
		return true, err
	}
	if err := ns.writeIndex(l.fsys); err != nil {
		l.logger.Warn("logstore: cannot save index", "segment", ns.logPath, "err", err)
	}
	l.logger.Info("logstore: compacted segment", "segment", ns.logPath, "bytes_before", v.limit, "bytes_after", len(out))
	return true, nil
}

func writeCleaned(l *Log, name string, data []byte) error {
	f, err := l.fsys.Create(name)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		l.fsys.Remove(name)
		return fmt.Errorf("logstore: write %s: %w", name, err)
	}
	return nil
}

// markCompacted records, durably and once, that compaction may leave gaps
// in this log's offsets, before the first segment is rewritten.
func (l *Log) markCompacted() error {
	l.mu.Lock()
	done := l.gappy
	l.mu.Unlock()
	if done {
		return nil
	}
	if err := writeFile(l.fsys, path.Join(l.dir, compactedFile), nil, true); err != nil {
		return fmt.Errorf("logstore: compact %s: %w", l.name, err)
	}
	l.mu.Lock()
	l.gappy = true
	l.mu.Unlock()
	return nil
}
