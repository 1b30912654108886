package route

import (
	"slices"
	"strings"
	"testing"
)

// refMatch is the slow reference for topic matching: a dynamic programme
// over (pattern word, key word), written from the rules rather than the trie.
func refMatch(pattern, key string) bool {
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ".")
	}
	p, k := split(pattern), split(key)
	// m[i][j]: p[i:] matches k[j:].
	m := make([][]bool, len(p)+1)
	for i := range m {
		m[i] = make([]bool, len(k)+1)
	}
	m[len(p)][len(k)] = true
	for i := len(p) - 1; i >= 0; i-- {
		for j := len(k); j >= 0; j-- {
			switch {
			case p[i] == "#":
				m[i][j] = m[i+1][j] || (j < len(k) && m[i][j+1])
			case j < len(k) && (p[i] == "*" || p[i] == k[j]):
				m[i][j] = m[i+1][j+1]
			}
		}
	}
	return m[0][0]
}

func mustBind[D comparable](t testing.TB, r *Router[D], d D, key string, args map[string]any) {
	t.Helper()
	if _, err := r.Bind(d, key, args); err != nil {
		t.Fatalf("Bind(%v, %q, %v): %v", d, key, args, err)
	}
}

// sorted returns the routed destinations in order, for comparison.
func sorted(ds []string) []string {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds
}
