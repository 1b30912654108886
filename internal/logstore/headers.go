package logstore

import "errors"

// ReadHeaders calls fn with the header (the first 61 bytes) of each batch
// from the one holding offset up to the high watermark, until fn returns
// false. Only headers are read, and batches' CRCs are not checked: it is
// for rebuilding state kept in batch headers (producer ids, epochs,
// sequences) without reading every record, which for a log of gigabytes
// would cost a restart seconds. fn must not keep the slice.
func (l *Log) ReadHeaders(offset int64, fn func(header []byte) bool) error {
	for {
		v, err := l.view(offset)
		if err != nil || v.seg == nil {
			return err
		}
		stopped, err := l.segmentHeaders(v, offset, fn)
		switch {
		case errors.Is(err, errRetired):
			continue // compacted or removed under us: look again
		case errors.Is(err, errPastEnd):
		case err != nil || stopped:
			return err
		}
		offset = v.nextBase
	}
}

// segmentHeaders walks the headers of one segment from the batch holding
// offset to its visible end.
func (l *Log) segmentHeaders(v segView, offset int64, fn func([]byte) bool) (stopped bool, err error) {
	f, err := l.files.acquire(v.seg)
	if err != nil {
		return false, err
	}
	defer l.files.release(v.seg)
	pos, _, err := seekBatch(f, v, offset)
	if err != nil {
		return false, l.damaged(v.seg, pos, err)
	}
	sp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(sp)
	buf, bufPos := (*sp)[:0], int64(0)
	defer func() { *sp = buf[:0] }()
	for pos < v.limit {
		b, err := window(f, &buf, &bufPos, pos, min(batchHeaderSize, v.limit-pos), int64(cap(*sp)), v.limit)
		if err != nil {
			return false, err
		}
		h, err := parseHeader(b)
		if err != nil {
			return false, l.damaged(v.seg, pos, err)
		}
		if !fn(b) {
			return true, nil
		}
		pos += h.size
	}
	return false, nil
}
