package delay

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The heap gives entries back by due time, then offset, however pushed.
func TestEntriesOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var all []entry
	var h entries
	for i := range 5000 {
		e := entry{due: int64(r.IntN(300)), off: int64(i)}
		all = append(all, e)
		h.push(e)
		if i%7 == 0 { // interleave pops with pushes
			top := h.pop()
			all = slices.DeleteFunc(all, func(x entry) bool { return x == top })
			for _, x := range all {
				if x.before(top) {
					t.Fatalf("popped %v while %v was in", top, x)
				}
			}
		}
	}
	slices.SortFunc(all, func(a, b entry) int {
		if a.before(b) {
			return -1
		}
		return 1
	})
	for i, want := range all {
		if got := h.pop(); got != want {
			t.Fatalf("pop %d: %v, want %v", i, got, want)
		}
	}
	if len(h) != 0 || cap(h) > 8192 {
		t.Fatalf("drained heap: len %d cap %d", len(h), cap(h))
	}
}

func TestEntriesInit(t *testing.T) {
	h := entries{{5, 0}, {1, 1}, {3, 2}, {1, 3}, {0, 4}, {3, 5}}
	h.init()
	var got []entry
	for len(h) > 0 {
		got = append(got, h.pop())
	}
	want := []entry{{0, 4}, {1, 1}, {1, 3}, {3, 2}, {3, 5}, {5, 0}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestCountsLowest(t *testing.T) {
	const b = 1 << bucketShift
	var c counts
	c.add(3*b+5, 1)
	c.add(3*b+9, 1)
	c.add(7*b, 1)
	for _, step := range []struct {
		name      string
		off       int64 // fired
		end, want int64
	}{
		{"before any fires", -1, 8 * b, 3 * b},
		{"one of two in the bucket", 3*b + 5, 8 * b, 3 * b},
		{"the bucket empties", 3*b + 9, 8 * b, 7 * b},
		{"end below the bucket", -1, 6*b + 1, 6*b + 1},
		{"all fired", 7 * b, 9*b + 3, 9*b + 3},
	} {
		if step.off >= 0 {
			c.add(step.off, -1)
		}
		if got := c.lowest(step.end); got != step.want {
			t.Fatalf("%s: lowest(%d) = %d, want %d", step.name, step.end, got, step.want)
		}
	}
	if len(c.n) > 1 {
		t.Fatalf("%d buckets kept with nothing pending", len(c.n))
	}
}
