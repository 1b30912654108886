package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Damage on disk: bytes in a segment that do not form a valid batch where
// one should be, with valid batches around them. The engine keeps the
// intact batches on both sides, remembers the damaged range as a hole, and
// answers every read of the offsets it held with a *CorruptError.
//
// A hole is found when recovery scans a segment (one without a trusted
// index), or when a read meets damage in a segment that was trusted: the
// segment is then surveyed once (see examine). Either way it is logged once,
// at Error, and counted through Options.OnCorrupt.
//
// Damage after the last valid batch of the active segment, with nothing
// valid after it, is not a hole: it is the torn tail of a write that was
// never synced (so never acknowledged), and recovery cuts it.

// CorruptError reports damage found on disk. It wraps ErrCorrupt.
type CorruptError struct {
	Log     string // the log's name
	Segment string // the segment file's path
	// Pos and End bound the damaged bytes in Segment.
	Pos, End int64
	// From and To bound the offsets the damaged bytes held: reading any of
	// them fails, and To is the next offset that may be read.
	From, To int64
	Reason   error // what was wrong at Pos
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("logstore: %s: damaged data in %s, bytes [%d, %d), offsets [%d, %d): %v",
		e.Log, e.Segment, e.Pos, e.End, e.From, e.To, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) hold.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// hole is a damaged range of a segment: bytes [pos, end) between valid
// batches (or a valid batch and the segment's end), holding offsets
// [from, to).
type hole struct {
	pos, end int64
	from, to int64
	why      error
}

// holes are a segment's holes by position. A slice is never changed once
// published: a new survey replaces it, so readers may keep a copy.
type holes []hole

// at returns the hole holding position pos, or nil.
func (hs holes) at(pos int64) *hole {
	for i := range hs {
		if hs[i].pos <= pos && pos < hs[i].end {
			return &hs[i]
		}
	}
	return nil
}

// after returns the position of the first hole at or after pos, or limit.
func (hs holes) after(pos, limit int64) int64 {
	for _, h := range hs {
		if h.pos >= pos {
			return min(h.pos, limit)
		}
	}
	return limit
}

// damage is an internal error: damage met at pos that no known hole
// explains. Read surveys the segment and tries again.
type damage struct {
	pos int64
	err error
}

func (d *damage) Error() string { return fmt.Sprintf("position %d: %v", d.pos, d.err) }
func (d *damage) Unwrap() error { return d.err }

// surveyResult is what survey found.
type surveyResult struct {
	holes holes
	valid int64 // end of the last valid batch
	next  int64 // offset after the last valid batch
	tail  error // damage from valid to the size, with no valid batch after; nil if none
}

// survey scans the batches of f from 0 to size with CRC checks (strict as
// scan's), as scan does, calling fn with each valid one, but steps over damage: after a
// batch that does not check out it looks for the next valid batch (resync)
// and records the bytes between as a hole. fn returning false stops the
// survey early.
func survey(f io.ReaderAt, size, base int64, strict bool, fn func(h header, pos int64, b []byte) bool) surveyResult {
	r := surveyResult{next: base}
	pos := int64(0)
	for pos < size {
		stopped := false
		res := scan(io.NewSectionReader(f, pos, size-pos), size-pos, r.next, true, strict, func(h header, rel int64, b []byte) bool {
			r.valid, r.next = pos+rel+h.size, h.end()
			if fn != nil && !fn(h, pos+rel, b) {
				stopped = true
				return false
			}
			return true
		})
		if res.err == nil || stopped {
			return r
		}
		bad := pos + res.valid
		if !errors.Is(res.err, ErrCorrupt) {
			r.tail = res.err // an I/O error: nothing to say about what follows
			return r
		}
		q, h, ok := resync(f, bad+1, size, r.next, base)
		if !ok {
			r.tail = res.err
			return r
		}
		r.holes = append(r.holes, hole{pos: bad, end: q, from: r.next, to: h.base, why: res.err})
		pos, r.next = q, h.base
	}
	return r
}

// resync looks for the first position at or after from where a valid batch
// starts: the magic byte, a length that fits, a base offset at least next
// and within the segment's range (below segBase+2³², as the index's
// relative offsets are) and a matching CRC-32C must all agree, which
// garbage and torn writes practically never do. It returns that position
// and the batch's header.
func resync(f io.ReaderAt, from, size, next, segBase int64) (int64, header, bool) {
	const chunk = 1 << 20
	buf := make([]byte, 0, chunk)
	var bufPos int64
	for pos := from; pos+batchHeaderSize <= size; {
		b, err := window(f, &buf, &bufPos, pos, batchHeaderSize, chunk, size)
		if err != nil {
			return 0, header{}, false
		}
		if b[offMagic] != 2 {
			// Jump to the next byte 2 that could be a magic byte.
			rest := buf[pos-bufPos+offMagic:]
			if i := bytes.IndexByte(rest, 2); i >= 0 {
				pos += int64(i)
			} else {
				pos += int64(len(rest))
			}
			continue
		}
		h, err := parseHeader(b)
		if err != nil || h.base < next || h.base-segBase >= 1<<32 || pos+h.size > size {
			pos++
			continue
		}
		b, err = window(f, &buf, &bufPos, pos, h.size, chunk, size)
		if err != nil {
			return 0, header{}, false
		}
		if _, err := checkBatch(b); err == nil {
			return pos, h, true
		}
		pos++
	}
	return 0, header{}, false
}

// examine surveys the segment of v after a read met damage there that no
// known hole explains, and records what it finds: the holes, and damage
// running to the visible end of the segment as a hole up to the next
// segment's base offset (or the high watermark). New holes are reported.
func (l *Log) examine(v segView) error {
	f, err := l.files.acquire(v.seg)
	if err != nil {
		return err
	}
	r := survey(f, v.limit, v.seg.base, v.strict, nil)
	l.files.release(v.seg)
	if r.tail != nil && !errors.Is(r.tail, ErrCorrupt) {
		return fmt.Errorf("logstore: read %s: %w", v.seg.logPath, r.tail)
	}
	found := r.holes
	if r.tail != nil {
		found = append(found, hole{pos: r.valid, end: v.limit, from: r.next, to: max(r.next, v.nextBase), why: r.tail})
	}
	l.mu.Lock()
	known := v.seg.holes
	v.seg.holes = found
	l.mu.Unlock()
	for _, h := range found {
		if known.at(h.pos) == nil {
			l.report(v.seg, h)
		}
	}
	return nil
}

// report logs a hole and counts it.
func (l *Log) report(s *segment, h hole) {
	l.logger.Error("logstore: damaged data on disk; reads of these offsets fail",
		"segment", s.logPath, "position", h.pos, "bytes", h.end-h.pos,
		"from_offset", h.from, "to_offset", h.to, "err", h.why)
	if l.onCorrupt != nil {
		l.onCorrupt(l.name)
	}
}

// corrupt returns the error for a read of a hole.
func (l *Log) corrupt(s *segment, h *hole) error {
	return &CorruptError{Log: l.name, Segment: s.logPath, Pos: h.pos, End: h.end, From: h.from, To: h.to, Reason: h.why}
}

// unexplained returns the error for damage that a survey of the segment
// did not explain (a hole would have): it names the offset read.
func (l *Log) unexplained(s *segment, d *damage, offset int64) error {
	l.logger.Error("logstore: damaged data on disk", "segment", s.logPath, "position", d.pos,
		"offset", offset, "err", d.err)
	if l.onCorrupt != nil {
		l.onCorrupt(l.name)
	}
	return &CorruptError{Log: l.name, Segment: s.logPath, Pos: d.pos, End: d.pos + 1, From: offset, To: offset + 1, Reason: d.err}
}
