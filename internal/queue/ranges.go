package queue

import (
	"encoding/binary"
	"errors"
	"sort"
)

// span is the offsets [from, to).
type span struct{ from, to int64 }

// ranges is a set of offsets as sorted, disjoint, non-adjacent spans.
// Acks arrive mostly in order, so adding usually extends the last span.
type ranges struct {
	s []span
	n int64 // offsets in the set
}

// add adds [from, to) and returns how many offsets were new.
func (r *ranges) add(from, to int64) int64 {
	if from >= to {
		return 0
	}
	if k := len(r.s); k == 0 || r.s[k-1].to < from {
		r.s = append(r.s, span{from, to})
		r.n += to - from
		return to - from
	} else if last := &r.s[k-1]; last.from <= from {
		if to <= last.to {
			return 0
		}
		start := max(from, last.to)
		added := to - start
		last.to = to
		r.n += added
		return added
	}
	// The general case: merge every span touching [from, to).
	i := sort.Search(len(r.s), func(i int) bool { return r.s[i].to >= from })
	j := i
	var covered int64
	nf, nt := from, to
	for j < len(r.s) && r.s[j].from <= to {
		covered += r.s[j].to - r.s[j].from
		nf, nt = min(nf, r.s[j].from), max(nt, r.s[j].to)
		j++
	}
	added := (nt - nf) - covered
	r.s = append(r.s[:i], append([]span{{nf, nt}}, r.s[j:]...)...)
	r.n += added
	return added
}

// has reports whether o is in the set, and if so the end of its span.
func (r *ranges) has(o int64) (bool, int64) {
	i := sort.Search(len(r.s), func(i int) bool { return r.s[i].to > o })
	if i < len(r.s) && r.s[i].from <= o {
		return true, r.s[i].to
	}
	return false, 0
}

// count returns how many offsets of [from, to) are in the set.
func (r *ranges) count(from, to int64) int64 {
	var n int64
	i := sort.Search(len(r.s), func(i int) bool { return r.s[i].to > from })
	for ; i < len(r.s) && r.s[i].from < to; i++ {
		n += min(to, r.s[i].to) - max(from, r.s[i].from)
	}
	return n
}

// dropBelow removes every offset below floor.
func (r *ranges) dropBelow(floor int64) {
	i := 0
	for i < len(r.s) && r.s[i].to <= floor {
		r.n -= r.s[i].to - r.s[i].from
		i++
	}
	if i < len(r.s) && r.s[i].from < floor {
		r.n -= floor - r.s[i].from
		r.s[i].from = floor
	}
	if i > 0 {
		r.s = append(r.s[:0], r.s[i:]...)
	}
}

// dropFrom removes every offset from o on.
func (r *ranges) dropFrom(o int64) {
	i := sort.Search(len(r.s), func(i int) bool { return r.s[i].to > o })
	if i < len(r.s) && r.s[i].from < o {
		r.n -= r.s[i].to - o
		r.s[i].to = o
		i++
	}
	for _, s := range r.s[i:] {
		r.n -= s.to - s.from
	}
	r.s = r.s[:i]
}

// clipped returns the spans of s below o, cut at o.
func clipped(s []span, o int64) []span {
	var out []span
	for _, sp := range s {
		if sp.from >= o {
			break
		}
		out = append(out, span{sp.from, min(sp.to, o)})
	}
	return out
}

// first returns the lowest span, if any.
func (r *ranges) first() (span, bool) {
	if len(r.s) == 0 {
		return span{}, false
	}
	return r.s[0], true
}

// An ack record, the value of one record of the ack log:
//
//	kind      byte     ackDelta or ackSnapshot
//	floor     uvarint  every offset below is acked
//	delivered uvarint  offsets below were handed out at least once
//	count     uvarint  spans to follow
//	spans     count × (uvarint from-floor, uvarint length)
//
// Replaying the log from its start and taking the union gives the state;
// a snapshot holds the whole state, so the records before it can go.
const (
	ackDelta    = 1
	ackSnapshot = 2
	ackReturns  = 3 // see appendReturnsRecord
)

var errAckRecord = errors.New("queue: malformed ack record")

// appendAckRecord encodes a record; spans wholly below floor are left out
// (the floor says it all) and one straddling it is cut at it.
func appendAckRecord(dst []byte, kind byte, floor, delivered int64, spans []span) []byte {
	n := 0
	for _, s := range spans {
		if s.to > floor {
			n++
		}
	}
	dst = append(dst, kind)
	dst = binary.AppendUvarint(dst, uint64(floor))
	dst = binary.AppendUvarint(dst, uint64(delivered))
	dst = binary.AppendUvarint(dst, uint64(n))
	for _, s := range spans {
		if s.to <= floor {
			continue
		}
		s.from = max(s.from, floor)
		dst = binary.AppendUvarint(dst, uint64(s.from-floor))
		dst = binary.AppendUvarint(dst, uint64(s.to-s.from))
	}
	return dst
}

type ackRecord struct {
	kind             byte
	floor, delivered int64
	spans            []span
}

func parseAckRecord(b []byte) (ackRecord, error) {
	var r ackRecord
	if len(b) < 1 {
		return r, errAckRecord
	}
	r.kind, b = b[0], b[1:]
	next := func() (int64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > 1<<62 {
			return 0, false
		}
		b = b[n:]
		return int64(v), true
	}
	var ok1, ok2, ok3 bool
	var count int64
	r.floor, ok1 = next()
	r.delivered, ok2 = next()
	count, ok3 = next()
	if !ok1 || !ok2 || !ok3 || count > int64(len(b)) {
		return r, errAckRecord
	}
	const limit = 1 << 62 // offsets never come near it; sums stay far from overflow
	for range count {
		d, ok1 := next()
		l, ok2 := next()
		if !ok1 || !ok2 || d > limit-r.floor || l > limit-r.floor-d {
			return r, errAckRecord
		}
		r.spans = append(r.spans, span{r.floor + d, r.floor + d + l})
	}
	return r, nil
}

// A returns record, in the ack log too, says how often messages were
// given back, so that x-delivery-limit and x-delivery-count outlive a
// restart:
//
//	kind   byte     ackReturns
//	floor  uvarint  the lowest offset
//	count  uvarint  entries to follow
//	entries count × (uvarint offset-floor, uvarint returns)
//
// A later entry for an offset replaces an earlier one.
func appendReturnsRecord(dst []byte, returns []offsetReturns) []byte {
	var floor int64
	for i, r := range returns {
		if i == 0 || r.offset < floor {
			floor = r.offset
		}
	}
	dst = append(dst, ackReturns)
	dst = binary.AppendUvarint(dst, uint64(floor))
	dst = binary.AppendUvarint(dst, uint64(len(returns)))
	for _, r := range returns {
		dst = binary.AppendUvarint(dst, uint64(r.offset-floor))
		dst = binary.AppendUvarint(dst, uint64(r.returns))
	}
	return dst
}

type offsetReturns struct {
	offset  int64
	returns int32
}

func parseReturnsRecord(b []byte) ([]offsetReturns, error) {
	if len(b) < 1 || b[0] != ackReturns {
		return nil, errAckRecord
	}
	b = b[1:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	floor, ok1 := next()
	count, ok2 := next()
	if !ok1 || !ok2 || floor > 1<<62 || count > uint64(len(b)) {
		return nil, errAckRecord
	}
	out := make([]offsetReturns, 0, count)
	for range count {
		d, ok1 := next()
		n, ok2 := next()
		// Every offset, not only the floor, stays within 2^62, so that
		// what is accepted encodes back (the encoder's floor is the
		// lowest offset).
		if !ok1 || !ok2 || d > 1<<62-floor || n > 1<<31-1 {
			return nil, errAckRecord
		}
		out = append(out, offsetReturns{int64(floor + d), int32(n)})
	}
	return out, nil
}
