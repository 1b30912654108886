package delay

import (
	"encoding/binary"
	"errors"
	"slices"
)

// span is the offsets [from, to).
type span struct{ from, to int64 }

// A mark record, the value of one record of the done log:
//
//	kind   byte     markDelta or markSnapshot
//	floor  uvarint  every offset below it has fired
//	count  uvarint  spans to follow
//	spans  count × (uvarint from−floor, uvarint length−1)
//
// Each span is a run of fired offsets at or above the floor. The state is
// the union of every record; a snapshot holds all of it.
const (
	markDelta    = 1
	markSnapshot = 2
)

var errMarkRecord = errors.New("delay: malformed mark record")

// appendMarkRecord encodes a record. Spans wholly below floor are left out
// (the floor says it all) and one straddling it is cut at it.
func appendMarkRecord(dst []byte, kind byte, floor int64, spans []span) []byte {
	n := 0
	for _, s := range spans {
		if s.to > floor {
			n++
		}
	}
	dst = append(dst, kind)
	dst = binary.AppendUvarint(dst, uint64(floor))
	dst = binary.AppendUvarint(dst, uint64(n))
	for _, s := range spans {
		if s.to <= floor {
			continue
		}
		s.from = max(s.from, floor)
		dst = binary.AppendUvarint(dst, uint64(s.from-floor))
		dst = binary.AppendUvarint(dst, uint64(s.to-s.from-1))
	}
	return dst
}

type markRecord struct {
	kind  byte
	floor int64
	spans []span
}

// parseMarkRecord decodes a record. What the done log holds after a crash
// is trusted no further than its CRC: every count and sum is bounded.
func parseMarkRecord(b []byte) (markRecord, error) {
	var r markRecord
	if len(b) < 1 || b[0] != markDelta && b[0] != markSnapshot {
		return r, errMarkRecord
	}
	r.kind, b = b[0], b[1:]
	// Offsets never come near 1<<62; sums below stay far from overflow.
	const limit = 1 << 62
	next := func() (int64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 || v >= limit {
			return 0, false
		}
		b = b[n:]
		return int64(v), true
	}
	floor, ok1 := next()
	count, ok2 := next()
	// A span takes at least two bytes.
	if !ok1 || !ok2 || count > int64(len(b)/2) {
		return r, errMarkRecord
	}
	r.floor = floor
	r.spans = make([]span, 0, count)
	for range count {
		d, ok1 := next()
		l, ok2 := next()
		if !ok1 || !ok2 || d >= limit-floor || l >= limit-floor-d {
			return r, errMarkRecord
		}
		from := floor + d
		r.spans = append(r.spans, span{from, from + l + 1})
	}
	if len(b) != 0 {
		return r, errMarkRecord
	}
	return r, nil
}

// merge sorts spans and joins those that overlap or touch, in place.
func merge(spans []span) []span {
	slices.SortFunc(spans, func(a, b span) int {
		switch {
		case a.from < b.from:
			return -1
		case a.from > b.from:
			return 1
		}
		return 0
	})
	out := spans[:0]
	for _, s := range spans {
		if k := len(out); k > 0 && s.from <= out[k-1].to {
			out[k-1].to = max(out[k-1].to, s.to)
			continue
		}
		out = append(out, s)
	}
	return out
}

// clip keeps the parts of sorted, disjoint spans within [from, to).
func clip(spans []span, from, to int64) []span {
	out := spans[:0]
	for _, s := range spans {
		s.from, s.to = max(s.from, from), min(s.to, to)
		if s.from < s.to {
			out = append(out, s)
		}
	}
	return out
}

// gaps returns the spans of [from, to) that hold none of the sorted
// offsets: the fired offsets, given the pending ones.
func gaps(from, to int64, pending []int64) []span {
	var out []span
	for _, o := range pending {
		if o > from {
			out = append(out, span{from, min(o, to)})
		}
		from = max(from, o+1)
		if from >= to {
			return out
		}
	}
	if from < to {
		out = append(out, span{from, to})
	}
	return out
}
