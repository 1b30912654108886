package logstore

import (
	"errors"
	"io"

	"github.com/loftmq/loft/internal/fs"
)

// Region is a run of whole batches in one segment file, handed out without
// copying them: what a Kafka Fetch response can send straight from the file.
// It holds the segment's file open until Close.
type Region struct {
	l      *Log
	seg    *segment
	f      fs.File
	Offset int64 // base offset of the first batch
	Pos    int64 // position of the first batch in the segment file
	Len    int64 // bytes, whole batches only
}

// ReadRegion locates what Read(nil, offset, maxBytes) would return, as a
// file region. At the high watermark it returns nil. The caller must Close
// a non-nil region.
func (l *Log) ReadRegion(offset int64, maxBytes int) (*Region, error) {
	surveyed := false
	for {
		v, err := l.view(offset)
		if err != nil || v.seg == nil {
			return nil, err
		}
		r, err := l.region(v, offset, maxBytes)
		if errors.Is(err, errRetired) {
			continue
		}
		if errors.Is(err, errPastEnd) {
			offset = v.nextBase
			continue
		}
		if d, ok := err.(*damage); ok {
			if surveyed {
				return nil, l.unexplained(v.seg, d, offset)
			}
			surveyed = true
			if err := l.examine(v); err != nil {
				return nil, err
			}
			continue
		}
		return r, err
	}
}

func (l *Log) region(v segView, offset int64, maxBytes int) (*Region, error) {
	f, err := l.files.acquire(v.seg)
	if err != nil {
		return nil, err
	}
	pos, first, err := l.seekBatch(f, v, offset)
	if err != nil {
		l.files.release(v.seg)
		return nil, err
	}
	// Extend by whole batches while they fit in maxBytes.
	n := first.size
	end := min(v.holes.after(pos, v.limit), pos+max(int64(maxBytes), first.size))
	hdr := make([]byte, batchHeaderSize)
	for pos+n+batchHeaderSize <= end {
		if _, err := f.ReadAt(hdr, pos+n); err != nil {
			break
		}
		h, err := parseHeader(hdr)
		if err != nil || pos+n+h.size > end {
			break
		}
		n += h.size
	}
	return &Region{l: l, seg: v.seg, f: f, Offset: first.base, Pos: pos, Len: n}, nil
}

// WriteTo copies the region to w one batch at a time, checking each
// batch's CRC before writing it: a damaged batch stops the copy with an
// error wrapping ErrCorrupt, and is never written.
func (r *Region) WriteTo(w io.Writer) (int64, error) {
	var done int64
	buf := make([]byte, 0, 64<<10)
	var bufPos int64
	for done < r.Len {
		b, err := window(r.f, &buf, &bufPos, r.Pos+done, batchHeaderSize, 64<<10, r.Pos+r.Len)
		if err != nil {
			return done, err
		}
		h, err := parseHeader(b)
		if err == nil {
			b, err = window(r.f, &buf, &bufPos, r.Pos+done, h.size, 64<<10, r.Pos+r.Len)
		}
		if err == nil {
			_, err = checkBatch(b)
		}
		if err != nil {
			return done, r.l.unexplained(r.seg, &damage{r.Pos + done, err}, r.Offset)
		}
		n, err := w.Write(b)
		done += int64(n)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// Close releases the region's file.
func (r *Region) Close() error {
	if r.f != nil {
		r.l.files.release(r.seg)
		r.f = nil
	}
	return nil
}
