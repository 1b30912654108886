package delay

// entry is a pending message as memory holds it: 16 bytes.
type entry struct {
	due int64 // milliseconds since the epoch
	off int64 // offset in the message log
}

// before orders entries by due time, then by offset: FIFO among messages
// due at the same millisecond.
func (a entry) before(b entry) bool {
	return a.due < b.due || a.due == b.due && a.off < b.off
}

// entries is a binary min-heap of entries. It is written out rather than
// built on container/heap, whose interface would box every entry pushed.
type entries []entry

// init orders a slice of entries in any order into a heap.
func (h entries) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *entries) push(e entry) {
	*h = append(*h, e)
	h.up(len(*h) - 1)
}

// pop removes and returns the first entry; the heap must not be empty.
func (h *entries) pop() entry {
	old := *h
	top := old[0]
	n := len(old) - 1
	old[0] = old[n]
	*h = old[:n]
	h.down(0)
	// A burst that has drained leaves a large array behind: give it back.
	if c := cap(*h); c > 4096 && n < c/4 {
		*h = append(make(entries, 0, 2*n), *h...)
	}
	return top
}

func (h entries) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].before(h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (h entries) down(i int) {
	n := len(h)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if r := c + 1; r < n && h[r].before(h[c]) {
			c = r
		}
		if !h[c].before(h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// bucketShift sets the granularity of the floor: pending messages are
// counted per 1<<bucketShift offsets.
const bucketShift = 12

// counts finds the floor, the lowest offset not yet fired, without keeping
// anything per fired message: it counts the pending messages of each run of
// 4096 offsets, from the lowest run holding one. Messages fire in due order,
// not offset order, so the fired offsets above the floor can be scattered;
// counts cost 4 bytes per 4096 offsets between the floor and the end of
// the log, whatever the scatter. The floor it gives is that of a bucket,
// up to 4095 offsets low, which only delays trimming.
type counts struct {
	base int64   // bucket of n[0]
	n    []int32 // pending messages per bucket
}

// add adds d to the count of off's bucket.
func (c *counts) add(off int64, d int32) {
	b := off >> bucketShift
	if len(c.n) == 0 {
		c.base = b
	}
	if b < c.base {
		// Not expected: every pending message is at or above the floor.
		c.n = append(make([]int32, c.base-b), c.n...)
		c.base = b
	}
	for b-c.base >= int64(len(c.n)) {
		c.n = append(c.n, 0)
	}
	c.n[b-c.base] += d
}

// lowest returns the first offset of the lowest bucket holding a pending
// message, or end when none does below it. Offsets below end must all have
// been counted (end is the end of the durable messages): empty buckets
// wholly below it are dropped.
func (c *counts) lowest(end int64) int64 {
	for len(c.n) > 0 && c.n[0] == 0 && (c.base+1)<<bucketShift <= end {
		c.n = c.n[1:]
		c.base++
	}
	if len(c.n) > 0 && c.n[0] > 0 {
		return min(c.base<<bucketShift, end)
	}
	return end
}
