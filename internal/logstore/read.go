package logstore

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/loftmq/loft/internal/fs"
)

// Read appends to buf whole batches starting with the one that holds
// offset, up to maxBytes in all (at least one batch, whatever its size), and
// returns the extended buf. It returns buf unchanged at the high watermark,
// and ErrOffsetOutOfRange outside [StartOffset, HighWatermark]. A batch
// returned may begin before offset; batches are never split. A damaged
// batch is never returned: reading an offset it held is a *CorruptError
// (wrapping ErrCorrupt) naming the damaged offsets, and a result that
// reaches damage ends before it.
func (l *Log) Read(buf []byte, offset int64, maxBytes int) ([]byte, error) {
	surveyed := false
	for {
		v, err := l.view(offset)
		if err != nil || v.seg == nil {
			return buf, err
		}
		out, err := l.readSegment(buf, v, offset, maxBytes)
		if errors.Is(err, errRetired) {
			continue // compacted or removed under us: look again
		}
		if errors.Is(err, errPastEnd) {
			offset = v.nextBase // a gap left by compaction
			continue
		}
		if d, ok := err.(*damage); ok {
			if surveyed {
				return buf, l.unexplained(v.seg, d, offset)
			}
			surveyed = true
			if err := l.examine(v); err != nil {
				return buf, err
			}
			continue
		}
		return out, err
	}
}

// segView is what a reader needs of a segment, copied under mu.
type segView struct {
	seg      *segment
	limit    int64 // visible bytes
	idx      index
	holes    holes
	nextBase int64 // base of the next segment, or the high watermark
	strict   bool  // batches follow each other without offset gaps
}

var errPastEnd = errors.New("logstore: offset past the segment's batches")

// view locates offset: a nil seg means offset is the high watermark.
func (l *Log) view(offset int64) (segView, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return segView{}, ErrClosed
	}
	if offset < l.start || offset > l.hw {
		return segView{}, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, l.start, l.hw)
	}
	if offset == l.hw {
		return segView{}, nil
	}
	i := l.find(offset)
	s := l.segs[i]
	v := segView{seg: s, limit: s.size, idx: s.idx, holes: s.holes, nextBase: l.hw, strict: l.strictLocked()}
	if i+1 < len(l.segs) {
		v.nextBase = l.segs[i+1].base
	}
	return v, nil
}

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

func (l *Log) readSegment(buf []byte, v segView, offset int64, maxBytes int) ([]byte, error) {
	s := v.seg
	f, err := l.files.acquire(s)
	if err != nil {
		return buf, err
	}
	defer l.files.release(s)
	pos, first, err := l.seekBatch(f, v, offset)
	if err != nil {
		return buf, err
	}
	n := max(int64(maxBytes), first.size)
	n = min(n, v.holes.after(pos, v.limit)-pos)
	start := len(buf)
	buf = grow(buf, int(n))
	if _, err := f.ReadAt(buf[start:], pos); err != nil && !errors.Is(err, io.EOF) {
		return buf[:start], fmt.Errorf("logstore: read %s: %w", s.logPath, err)
	}
	// Keep whole, valid batches only: the CRC of every batch is checked,
	// as the bytes go to clients that may not check it themselves.
	b := buf[start:]
	var keep int64
	next := first.base
	for keep < int64(len(b)) {
		if int64(len(b))-keep < batchHeaderSize {
			break
		}
		h, err := parseHeader(b[keep:])
		if err == nil && keep+h.size > int64(len(b)) {
			break // does not fit in maxBytes
		}
		if err == nil && (h.base < next || (v.strict && h.base != next)) {
			err = fmt.Errorf("%w: batch offset %d, expected %d", ErrCorrupt, h.base, next)
		}
		if err == nil {
			_, err = checkBatch(b[keep : keep+h.size])
		}
		if err != nil {
			if keep == 0 {
				return buf[:start], &damage{pos, err}
			}
			break // served up to the damage; the next read reports it
		}
		keep += h.size
		next = h.end()
	}
	return buf[:start+int(keep)], nil
}

// seekBatch finds the position of the batch holding offset, scanning
// headers forward from the sparse index's hint and stepping over known
// holes. It returns a *CorruptError when offset lies in a hole, and a
// *damage when it meets damage no hole explains.
func (l *Log) seekBatch(f fs.File, v segView, offset int64) (int64, header, error) {
	sp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(sp)
	*sp = (*sp)[:0] // window reads it afresh
	var bufPos int64
	pos, rel := v.idx.byOffset(uint32(offset - v.seg.base))
	next := v.seg.base + int64(rel) // the base offset the batch at pos must have
	prev := int64(-1)               // the batch before pos, when the scan passed one
	for pos < v.limit {
		if h := v.holes.at(pos); h != nil {
			if offset < h.to {
				return pos, header{}, l.corrupt(v.seg, h)
			}
			pos, prev, next = h.end, -1, h.to
			continue
		}
		need := min(int64(batchHeaderSize), v.limit-pos)
		b, err := window(f, sp, &bufPos, pos, need, int64(cap(*sp)), v.limit)
		if err != nil {
			return pos, header{}, fmt.Errorf("logstore: read %s: %w", v.seg.logPath, err)
		}
		h, err := parseHeader(b)
		if err == nil && pos+h.size > v.holes.after(pos, v.limit) {
			err = fmt.Errorf("%w: batch of %d bytes at %d runs past the batches (%d)", ErrCorrupt, h.size, pos, v.limit)
		}
		if err == nil && (h.base < next || (v.strict && h.base != next)) {
			err = fmt.Errorf("%w: batch offset %d, expected %d", ErrCorrupt, h.base, next)
		}
		if err != nil {
			return pos, h, &damage{pos, err}
		}
		if h.last() >= offset {
			if h.base > offset && prev >= 0 {
				if err := checkAt(f, prev, pos-prev); err != nil {
					return prev, h, &damage{prev, err}
				}
			}
			return pos, h, nil
		}
		prev, pos, next = pos, pos+h.size, h.end()
	}
	if prev >= 0 && offset < v.nextBase {
		// Offsets skipped to the next segment: make sure the batch
		// before the gap is not a damaged one that claims fewer.
		if err := checkAt(f, prev, pos-prev); err != nil {
			return prev, header{}, &damage{prev, err}
		}
	}
	return pos, header{}, errPastEnd
}

// checkAt verifies the CRC of the batch of size bytes at pos. It is called
// only where a gap in offsets shows up, so that a batch whose header was
// damaged to claim fewer offsets is not silently passed over.
func checkAt(f fs.File, pos, size int64) error {
	b := make([]byte, size)
	if _, err := f.ReadAt(b, pos); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	_, err := checkBatch(b)
	return err
}

// grow extends b by n bytes. It grows the capacity as append does, by a
// factor, not by n: a caller reading many small pieces into one buffer (a
// Kafka fetch of 10,000 partitions) would otherwise copy the whole buffer
// at every piece, and keep every earlier copy alive while it holds slices
// of them.
func grow(b []byte, n int) []byte {
	return slices.Grow(b, n)[:len(b)+n]
}
