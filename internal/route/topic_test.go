package route

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

var topicCases = []struct {
	pattern, key string
	match        bool
}{
	// The empty key has no words; "." has two empty ones.
	{"", "", true},
	{"", "a", false},
	{"", ".", false},
	{"#", "", true},
	{"#", "a", true},
	{"#", "a.b.c", true},
	{"#", ".", true},
	{"#", "..", true},
	{"*", "", false},
	{"*", "a", true},
	{"*", "a.b", false},
	{"*", ".", false},
	{".", ".", true},
	{".", "", false},
	{"*.*", ".", true},
	{"*.*", "a.b", true},
	{"*.*", "a.", true},
	{"*.*", "a", false},
	{"*.*", "a.b.c", false},
	{"#.#", "", true},
	{"#.#", "a", true},
	{"#.#", "a.b", true},
	{"#.*", "", false},
	{"#.*", "a", true},
	{"*.#", "", false},
	{"*.#", "a", true},
	{"*.#", "a.b.c", true},
	{"#.*.#", "", false},
	{"#.*.#", "x.y", true},
	{"a", "a", true},
	{"a", "b", false},
	{"a", "a.", false},
	{"a", ".a", false},
	{"a", "ab", false},
	{"a.b", "a.b", true},
	{"a.b", "a.b.c", false},
	{"a.b.c", "a.b", false},
	{"a.#", "a", true},
	{"a.#", "a.", true},
	{"a.#", "a.b.c", true},
	{"a.#", "b.a", false},
	{"#.a", "a", true},
	{"#.a", "x.y.a", true},
	{"#.a", "a.x", false},
	{"a.#.b", "a.b", true},
	{"a.#.b", "a.x.b", true},
	{"a.#.b", "a.x.y.b", true},
	{"a.#.b", "a.b.b", true},
	{"a.#.b", "a.b.c", false},
	{"a.#.b", "a", false},
	{"a.#.b", "b", false},
	{"a.*.#", "a", false},
	{"a.*.#", "a.b", true},
	{"a.*.#", "a.b.c.d", true},
	{"a.*.#", "b.c", false},
	{"a.*", "a.", true},
	{"a.*", "a", false},
	{"a..b", "a..b", true},
	{"a..b", "a.b", false},
	{"a.*.b", "a..b", true},
	{"a.*.b", "a.b", false},
	{"a.#.b", "a..b", true},
	{"..", "..", true},
	{"..", ".", false},
	{"#.#.#", "a.b", true},
	{"#.b.#", "a.b.c", true},
	{"#.b.#", "b", true},
	{"#.b.#", "a.c", false},
	{"#.a.#.b.#", "x.a.y.b.z", true},
	{"#.a.#.b.#", "x.b.y.a.z", false},
	{"*.a.*", "x.a.y", true},
	{"*.a.*", "a.y", false},
	// Wildcards only as whole words; key words "*" and "#" are literal.
	{"a*", "ab", false},
	{"a*", "a*", true},
	{"a#", "a.b", false},
	{"*", "*", true},
	{"*", "#", true},
	{"#", "#", true},
	{"a", "*", false},
	{"a", "#", false},
	{"a.#", "a.#", true},
	{"x.*", "x.*", true},
	// Long keys.
	{"a.#.j", "a.b.c.d.e.f.g.h.i.j", true},
	{"a.*.*.*.*.*.*.*.*.j", "a.b.c.d.e.f.g.h.i.j", true},
	{"a.*.*.*.*.*.*.*.j", "a.b.c.d.e.f.g.h.i.j", false},
	{"#.e.#", "a.b.c.d.e.f.g.h.i.j", true},
	{"#.#.#.#.#.a", strings.Repeat("x.", 200) + "a", true},
	{"#.#.#.#.#.a", strings.Repeat("x.", 200) + "b", false},
	{"#.x.#.x.#.x.#.x.#.a", strings.Repeat("x.", 250) + "b", false},
}

func TestTopicMatch(t *testing.T) {
	for _, tc := range topicCases {
		t.Run(fmt.Sprintf("%q~%q", tc.pattern, tc.key), func(t *testing.T) {
			r := New[string](Topic)
			mustBind(t, r, "q", tc.pattern, nil)
			got := r.Route(tc.key, nil, nil)
			if want := tc.match; (len(got) == 1) != want || len(got) > 1 {
				t.Errorf("Route = %v, want match %v", got, want)
			}
			if ref := refMatch(tc.pattern, tc.key); ref != tc.match {
				t.Errorf("reference matcher says %v; the table is wrong", ref)
			}
		})
	}
}

// TestTopicAllCasesOneTrie binds every pattern of the table into one trie,
// so that the patterns share nodes, and checks each key against the lot.
func TestTopicAllCasesOneTrie(t *testing.T) {
	r := New[string](Topic)
	for _, tc := range topicCases {
		mustBind(t, r, "p:"+tc.pattern, tc.pattern, nil)
	}
	for _, tc := range topicCases {
		var want []string
		for _, p := range topicCases {
			if refMatch(p.pattern, tc.key) && !slices.Contains(want, "p:"+p.pattern) {
				want = append(want, "p:"+p.pattern)
			}
		}
		got := sorted(r.Route(tc.key, nil, nil))
		if !slices.Equal(got, sorted(want)) {
			t.Errorf("Route(%q) = %v, want %v", tc.key, got, sorted(want))
		}
	}
}

func TestTopicDedup(t *testing.T) {
	r := New[string](Topic)
	for _, p := range []string{"a.*", "#", "a.b", "*.b", "a.#.b"} {
		mustBind(t, r, "q1", p, nil)
	}
	mustBind(t, r, "q2", "a.b", nil)
	mustBind(t, r, "q2", "a.b", map[string]any{"x": 1}) // same pattern, other args
	got := sorted(r.Route("a.b", nil, nil))
	if want := []string{"q1", "q2"}; !slices.Equal(got, want) {
		t.Fatalf("Route = %v, want %v", got, want)
	}
	// Destinations already in dst are not appended again.
	got = r.Route("a.b", nil, []string{"q2", "other"})
	if want := []string{"q2", "other", "q1"}; !slices.Equal(got, want) {
		t.Fatalf("Route onto dst = %v, want %v", got, want)
	}
	// Unbinding one of two bindings with the same pattern keeps routing.
	if !r.Unbind("q2", "a.b", nil) {
		t.Fatal("Unbind: not found")
	}
	if got := sorted(r.Route("a.b", nil, nil)); !slices.Equal(got, []string{"q1", "q2"}) {
		t.Fatalf("after one unbind: %v", got)
	}
	r.Unbind("q2", "a.b", map[string]any{"x": 1})
	if got := r.Route("a.b", nil, nil); !slices.Equal(got, []string{"q1"}) {
		t.Fatalf("after both unbinds: %v", got)
	}
}

func TestTopicManyDestinationsDedup(t *testing.T) {
	r := New[int](Topic)
	for i := range 100 {
		mustBind(t, r, i, "#", nil)
		mustBind(t, r, i, "a.*", nil)
		mustBind(t, r, i, fmt.Sprintf("a.%d", i%3), nil)
	}
	got := r.Route("a.1", nil, nil)
	slices.Sort(got)
	if n := len(slices.Compact(slices.Clone(got))); len(got) != 100 || n != 100 {
		t.Fatalf("Route returned %d destinations, %d distinct; want 100", len(got), n)
	}
}

func randomPattern(rng *rand.Rand, alphabet []string, maxWords int) string {
	n := rng.IntN(maxWords + 1)
	ws := make([]string, n)
	for i := range ws {
		ws[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return strings.Join(ws, ".")
}

// TestTopicUnbindLeavesNoNodes binds and unbinds 10,000 patterns and checks
// that the trie has pruned itself back to its root.
func TestTopicUnbindLeavesNoNodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "c", "", "*", "#", "orders", "eu", "us"}
	r := New[int](Topic)
	type b struct {
		d int
		p string
	}
	var bs []b
	for i := range 10000 {
		x := b{i % 500, randomPattern(rng, alphabet, 6)}
		if ok, _ := r.Bind(x.d, x.p, nil); ok {
			bs = append(bs, x)
		}
	}
	if r.trie.count() <= 1 {
		t.Fatal("trie did not grow")
	}
	rng.Shuffle(len(bs), func(i, j int) { bs[i], bs[j] = bs[j], bs[i] })
	for _, x := range bs {
		if !r.Unbind(x.d, x.p, nil) {
			t.Fatalf("Unbind(%d, %q): not found", x.d, x.p)
		}
	}
	if n := r.trie.count(); n != 1 {
		t.Fatalf("trie has %d nodes after unbinding everything, want 1", n)
	}
	if r.Len() != 0 || len(r.byDest) != 0 {
		t.Fatalf("Len = %d, byDest = %d after unbinding everything", r.Len(), len(r.byDest))
	}
}

// TestTopicAgainstReference compares the trie with the reference matcher on
// random patterns and keys over a small alphabet, so that they collide.
func TestTopicAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	patAlpha := []string{"a", "b", "", "*", "#", "#"}
	keyAlpha := []string{"a", "b", "", "c"}
	for round := range 20 {
		r := New[int](Topic)
		patterns := make([]string, 300)
		for i := range patterns {
			patterns[i] = randomPattern(rng, patAlpha, 6)
			mustBind(t, r, i, patterns[i], nil)
		}
		for range 500 {
			key := randomPattern(rng, keyAlpha, 8)
			var want []int
			for i, p := range patterns {
				if refMatch(p, key) {
					want = append(want, i)
				}
			}
			got := r.Route(key, nil, nil)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("round %d: Route(%q) = %v, want %v", round, key, got, want)
			}
		}
	}
}

func FuzzTopic(f *testing.F) {
	for _, tc := range topicCases {
		f.Add(tc.pattern, tc.key)
	}
	f.Fuzz(func(t *testing.T, pattern, key string) {
		if len(pattern) > 1024 || len(key) > 1024 {
			t.Skip()
		}
		r := New[string](Topic)
		mustBind(t, r, "p", pattern, nil)
		mustBind(t, r, "all", "#", nil)
		mustBind(t, r, "star", "*.#", nil)
		got := r.Route(key, nil, nil)
		if slices.Contains(got, "p") != refMatch(pattern, key) {
			t.Fatalf("pattern %q, key %q: trie %v, reference %v", pattern, key, got, refMatch(pattern, key))
		}
		if !slices.Contains(got, "all") {
			t.Fatalf("# did not match %q", key)
		}
		r.Unbind("p", pattern, nil)
		r.Unbind("all", "#", nil)
		r.Unbind("star", "*.#", nil)
		if n := r.trie.count(); n != 1 {
			t.Fatalf("trie has %d nodes after unbinding", n)
		}
	})
}
