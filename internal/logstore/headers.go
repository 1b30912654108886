package logstore

import (
	"errors"
	"fmt"
)

// ReadHeaders calls fn with the header (the first 61 bytes) of each batch
// from the one holding offset up to the high watermark, until fn returns
// false. Only headers are read, and batches' CRCs are not checked: it is
// for rebuilding state kept in batch headers (producer ids, epochs,
// sequences) without reading every record, which for a log of gigabytes
// would cost a restart seconds. fn must not keep the slice. Damage on disk
// ends the walk with a *CorruptError naming the damaged offsets, as Read
// does; a caller may go on from its To.
func (l *Log) ReadHeaders(offset int64, fn func(header []byte) bool) error {
	surveyed := false
	for {
		v, err := l.view(offset)
		if err != nil || v.seg == nil {
			return err
		}
		next, stopped, err := l.segmentHeaders(v, offset, fn)
		var d *damage
		switch {
		case errors.Is(err, errRetired):
			continue // compacted or removed under us: look again
		case errors.As(err, &d):
			if surveyed {
				return l.unexplained(v.seg, d, next)
			}
			surveyed = true
			if err := l.examine(v); err != nil {
				return err
			}
			offset = next
			continue
		case errors.Is(err, errPastEnd):
		case err != nil || stopped:
			return err
		}
		offset, surveyed = v.nextBase, false
	}
}

// segmentHeaders walks the headers of one segment from the batch holding
// offset to its visible end, stepping over known holes (a hole at or after
// offset is a *CorruptError). It returns the offset it got to.
func (l *Log) segmentHeaders(v segView, offset int64, fn func([]byte) bool) (next int64, stopped bool, err error) {
	f, err := l.files.acquire(v.seg)
	if err != nil {
		return offset, false, err
	}
	defer l.files.release(v.seg)
	pos, h, err := l.seekBatch(f, v, offset)
	if err != nil {
		return offset, false, err
	}
	next = h.base
	sp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(sp)
	*sp = (*sp)[:0]
	var bufPos int64
	for pos < v.limit {
		if hl := v.holes.at(pos); hl != nil {
			return next, false, l.corrupt(v.seg, hl)
		}
		b, err := window(f, sp, &bufPos, pos, min(batchHeaderSize, v.limit-pos), int64(cap(*sp)), v.limit)
		if err != nil {
			return next, false, fmt.Errorf("logstore: read %s: %w", v.seg.logPath, err)
		}
		h, err := parseHeader(b)
		if err == nil && (h.base < next || (v.strict && h.base != next)) {
			err = fmt.Errorf("%w: batch offset %d, expected %d", ErrCorrupt, h.base, next)
		}
		if err != nil {
			return next, false, &damage{pos, err}
		}
		if !fn(b) {
			return next, true, nil
		}
		pos, next = pos+h.size, h.end()
	}
	return next, false, errPastEnd
}
