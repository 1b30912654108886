package logstore

import (
	"errors"
	"io"
)

// OffsetForTime returns the first offset whose record has a timestamp at or
// after ts (milliseconds), or ok false when every record is older: Kafka's
// ListOffsets by timestamp. It skips records below the log start offset.
func (l *Log) OffsetForTime(ts int64) (offset int64, ok bool, err error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return 0, false, ErrClosed
		}
		start := l.start
		views := make([]segView, 0, len(l.segs))
		for _, s := range l.segs {
			if s.maxTime >= ts && s.end > start {
				views = append(views, segView{seg: s, limit: s.size, idx: s.idx})
			}
		}
		l.mu.Unlock()
		for _, v := range views {
			offset, ok, err = l.timeInSegment(v, ts, start)
			if errors.Is(err, errRetired) {
				break
			}
			if err != nil || ok {
				return offset, ok, err
			}
		}
		if !errors.Is(err, errRetired) {
			return 0, false, nil
		}
	}
}

// timeInSegment finds the first record at or after ts in one segment,
// starting from the time index's hint.
func (l *Log) timeInSegment(v segView, ts, start int64) (int64, bool, error) {
	f, err := l.files.acquire(v.seg)
	if err != nil {
		return 0, false, err
	}
	defer l.files.release(v.seg)
	from := v.idx.byTime(ts)
	found, foundOK := int64(0), false
	res := survey(io.NewSectionReader(f, from, v.limit-from), v.limit-from, v.seg.base, false, func(h header, _ int64, b []byte) bool {
		if h.maxTime < ts || h.end() <= start || h.attrs&attrControl != 0 {
			return true
		}
		found, foundOK = max(h.base, start), true
		if h.attrs&attrLogAppendTime != 0 {
			return false // one broker timestamp for every record
		}
		rr, err := records(b, h)
		if err != nil {
			return false // cannot look inside: the batch will do
		}
		for {
			r, ok, err := rr.next()
			if err != nil || !ok {
				return false
			}
			if r.Timestamp >= ts && r.Offset >= start {
				found = r.Offset
				return false
			}
		}
	})
	if !foundOK && res.tail != nil {
		return 0, false, l.unexplained(v.seg, &damage{from + res.valid, res.tail}, start)
	}
	return found, foundOK, nil
}
