package delay

import (
	"slices"
	"testing"
)

func TestMarkRecord(t *testing.T) {
	for _, tc := range []struct {
		name  string
		floor int64
		in    []span
		want  []span
	}{
		{"empty", 0, nil, nil},
		{"above the floor", 10, []span{{12, 13}, {20, 30}}, []span{{12, 13}, {20, 30}}},
		{"below the floor dropped", 10, []span{{1, 5}, {8, 10}, {11, 12}}, []span{{11, 12}}},
		{"straddling cut", 10, []span{{8, 15}}, []span{{10, 15}}},
		{"unsorted kept as given", 0, []span{{50, 51}, {3, 4}}, []span{{50, 51}, {3, 4}}},
		{"large offsets", 1 << 50, []span{{1<<50 + 1, 1<<51 + 7}}, []span{{1<<50 + 1, 1<<51 + 7}}},
	} {
		for _, kind := range []byte{markDelta, markSnapshot} {
			r, err := parseMarkRecord(appendMarkRecord(nil, kind, tc.floor, tc.in))
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if r.kind != kind || r.floor != tc.floor || !slices.Equal(r.spans, tc.want) {
				t.Fatalf("%s: got %+v, want floor %d spans %v", tc.name, r, tc.floor, tc.want)
			}
		}
	}
}

func TestMarkRecordMalformed(t *testing.T) {
	good := appendMarkRecord(nil, markDelta, 5, []span{{6, 9}})
	for name, b := range map[string][]byte{
		"empty":          {},
		"unknown kind":   append([]byte{9}, good[1:]...),
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte(nil), good...), 0),
		"count too big":  {markDelta, 0, 100, 0, 0},
		"huge floor":     {markDelta, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0},
	} {
		if _, err := parseMarkRecord(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestGaps(t *testing.T) {
	for _, tc := range []struct {
		from, to int64
		pending  []int64
		want     []span
	}{
		{0, 0, nil, nil},
		{0, 5, nil, []span{{0, 5}}},
		{0, 5, []int64{0, 1, 2, 3, 4}, nil},
		{0, 10, []int64{0, 4, 5, 9}, []span{{1, 4}, {6, 9}}},
		{3, 10, []int64{5}, []span{{3, 5}, {6, 10}}},
		{3, 10, []int64{12}, []span{{3, 10}}},
	} {
		if got := gaps(tc.from, tc.to, tc.pending); !slices.Equal(got, tc.want) {
			t.Errorf("gaps(%d, %d, %v) = %v, want %v", tc.from, tc.to, tc.pending, got, tc.want)
		}
	}
}

func TestMergeClip(t *testing.T) {
	got := clip(merge([]span{{10, 12}, {1, 3}, {3, 5}, {11, 20}, {30, 31}}), 2, 30)
	if want := []span{{2, 5}, {10, 20}}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// FuzzMarkRecord feeds arbitrary bytes to the mark-record decoder, which
// reads what the done log holds after a crash: it must never panic, every
// span it accepts is non-empty and at or above the floor, and what it
// accepts encodes back to a record that decodes the same.
func FuzzMarkRecord(f *testing.F) {
	f.Add(appendMarkRecord(nil, markDelta, 0, nil))
	f.Add(appendMarkRecord(nil, markDelta, 100, []span{{100, 101}, {120, 130}}))
	f.Add(appendMarkRecord(nil, markSnapshot, 1<<40, []span{{1<<40 + 5, 1<<40 + 9}}))
	f.Add([]byte{markDelta, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{markSnapshot, 0, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseMarkRecord(b)
		if err != nil {
			return
		}
		for _, s := range r.spans {
			if s.from < r.floor || s.to <= s.from {
				t.Fatalf("span %v below floor %d or empty", s, r.floor)
			}
		}
		again, err := parseMarkRecord(appendMarkRecord(nil, r.kind, r.floor, r.spans))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if again.kind != r.kind || again.floor != r.floor || !slices.Equal(again.spans, r.spans) {
			t.Fatalf("round trip changed the record: %+v then %+v", r, again)
		}
		merged := merge(slices.Clone(r.spans))
		for i := 1; i < len(merged); i++ {
			if merged[i].from <= merged[i-1].to {
				t.Fatalf("merge left %v and %v apart", merged[i-1], merged[i])
			}
		}
	})
}
