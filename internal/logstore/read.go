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
// returned may begin before offset; batches are never split. Damage on disk
// is an error wrapping ErrCorrupt when it is the first batch, and ends the
// result before it otherwise: a damaged batch is never returned.
func (l *Log) Read(buf []byte, offset int64, maxBytes int) ([]byte, error) {
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
		return out, err
	}
}

// segView is what a reader needs of a segment, copied under mu.
type segView struct {
	seg      *segment
	limit    int64 // visible bytes
	idx      index
	nextBase int64 // base of the next segment, or the high watermark
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
	v := segView{seg: s, limit: s.size, idx: s.idx, nextBase: l.hw}
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
	pos, first, err := seekBatch(f, v, offset)
	if err != nil {
		return buf, l.damaged(s, pos, err)
	}
	n := max(int64(maxBytes), first.size)
	n = min(n, v.limit-pos)
	start := len(buf)
	buf = grow(buf, int(n))
	if _, err := f.ReadAt(buf[start:], pos); err != nil && !errors.Is(err, io.EOF) {
		return buf[:start], fmt.Errorf("logstore: read %s: %w", s.logPath, err)
	}
	// Keep whole, valid batches only.
	b := buf[start:]
	var keep int64
	for keep < int64(len(b)) {
		if int64(len(b))-keep < batchHeaderSize {
			break
		}
		h, err := parseHeader(b[keep:])
		if err == nil && keep+h.size > int64(len(b)) {
			break // does not fit in maxBytes
		}
		if err == nil {
			_, err = checkBatch(b[keep : keep+h.size])
		}
		if err != nil {
			if keep == 0 {
				return buf[:start], l.damaged(s, pos, err)
			}
			break // served up to the damage; the next read reports it
		}
		keep += h.size
	}
	return buf[:start+int(keep)], nil
}

// seekBatch finds the position of the batch holding offset, scanning
// headers forward from the sparse index's hint.
func seekBatch(f fs.File, v segView, offset int64) (int64, header, error) {
	sp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(sp)
	buf := (*sp)[:0]
	var bufPos int64
	pos := v.idx.byOffset(uint32(offset - v.seg.base))
	for pos < v.limit {
		need := min(int64(batchHeaderSize), v.limit-pos)
		b, err := window(f, &buf, &bufPos, pos, need, int64(cap(*sp)), v.limit)
		if err != nil {
			return pos, header{}, err
		}
		h, err := parseHeader(b)
		if err != nil {
			return pos, h, err
		}
		if h.last() >= offset {
			*sp = buf[:0]
			return pos, h, nil
		}
		pos += h.size
	}
	*sp = buf[:0]
	return pos, header{}, errPastEnd
}

// damaged logs damage found on disk and wraps err for the caller.
func (l *Log) damaged(s *segment, pos int64, err error) error {
	if errors.Is(err, errPastEnd) || !errors.Is(err, ErrCorrupt) {
		return err
	}
	l.logger.Error("logstore: damaged batch on disk", "segment", s.logPath, "position", pos, "err", err)
	return fmt.Errorf("logstore: %s at position %d: %w", s.logPath, pos, err)
}

// grow extends b by n bytes. It grows the capacity as append does, by a
// factor, not by n: a caller reading many small pieces into one buffer (a
// Kafka fetch of 10,000 partitions) would otherwise copy the whole buffer
// at every piece, and keep every earlier copy alive while it holds slices
// of them.
func grow(b []byte, n int) []byte {
	return slices.Grow(b, n)[:len(b)+n]
}
