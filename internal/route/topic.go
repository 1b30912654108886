package route

import (
	"slices"
	"strings"
)

// node is one word of the topic trie. dests counts, per destination, the
// bindings whose pattern ends here (bindings differing only in arguments
// share an end node).
type node[D comparable] struct {
	children map[string]*node[D]
	dests    map[D]int
}

// words splits a key or pattern; the empty string has no words at all,
// as in RabbitMQ, while "." has two empty ones.
func words(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ".")
}

func (n *node[D]) insert(pattern string, d D) {
	for _, w := range words(pattern) {
		c := n.children[w]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*node[D])
			}
			c = &node[D]{}
			n.children[w] = c
		}
		n = c
	}
	if n.dests == nil {
		n.dests = make(map[D]int)
	}
	n.dests[d]++
}

// remove drops one binding of d to pattern and prunes the nodes it leaves
// empty, so that a trie returns to its root once every binding is gone.
func (n *node[D]) remove(pattern string, d D) {
	ws := words(pattern)
	path := make([]*node[D], 0, len(ws)+1)
	path = append(path, n)
	for _, w := range ws {
		n = n.children[w]
		if n == nil {
			return
		}
		path = append(path, n)
	}
	if n.dests[d]--; n.dests[d] <= 0 {
		delete(n.dests, d)
	}
	for i := len(path) - 1; i > 0; i-- {
		c := path[i]
		if len(c.children) > 0 || len(c.dests) > 0 {
			break
		}
		delete(path[i-1].children, ws[i-1])
	}
}

// count returns the number of nodes below and including n, for tests.
func (n *node[D]) count() int {
	c := 1
	for _, ch := range n.children {
		c += ch.count()
	}
	return c
}

// hashVisit records the lowest word position a '#' node has been walked
// from; every position from there to the end has then been walked.
type hashVisit[D comparable] struct {
	n    *node[D]
	from int
}

// matcher walks the trie for one routing key.
//
// A '#' node is walked once for each position it could absorb up to, and
// a parent reached at several positions would repeat those walks; hashes
// records how far each '#' node has been walked so no (node, position)
// pair is walked twice. Nodes below a '#' need no record of their own:
// their position follows from their nearest '#' ancestor's. That bounds a
// route by trie nodes times key words, whatever the patterns.
type matcher[D comparable] struct {
	words  []string
	out    *collector[D]
	hashes []hashVisit[D]
	index  map[*node[D]]int // into hashes, once it outgrows a scan
}

// hashScan is how many '#' nodes matcher searches linearly.
const hashScan = 16

func (m *matcher[D]) findHash(h *node[D]) int {
	if m.index != nil {
		if k, ok := m.index[h]; ok {
			return k
		}
		return -1
	}
	return slices.IndexFunc(m.hashes, func(v hashVisit[D]) bool { return v.n == h })
}

func (m *matcher[D]) addHash(h *node[D], from int) {
	m.hashes = append(m.hashes, hashVisit[D]{h, from})
	switch {
	case m.index != nil:
		m.index[h] = len(m.hashes) - 1
	case len(m.hashes) > hashScan:
		m.index = make(map[*node[D]]int, 2*len(m.hashes))
		for k, v := range m.hashes {
			m.index[v.n] = k
		}
	}
}

func (m *matcher[D]) walk(n *node[D], i int) {
	if i == len(m.words) {
		for d := range n.dests {
			m.out.add(d)
		}
	}
	if h := n.children["#"]; h != nil {
		m.walkHash(h, i)
	}
	if i == len(m.words) {
		return
	}
	// A key word "*" or "#" is literal, but the wildcard child it would
	// find is walked below and by walkHash anyway.
	if w := m.words[i]; w != "*" && w != "#" {
		if c := n.children[w]; c != nil {
			m.walk(c, i+1)
		}
	}
	if s := n.children["*"]; s != nil {
		m.walk(s, i+1)
	}
}

// walkHash lets '#' node h absorb words i, i+1, … in turn. The walk is
// depth first, so h is in practice reached at rising positions and the
// second branch below never runs; it keeps the bound independent of that.
func (m *matcher[D]) walkHash(h *node[D], i int) {
	end := len(m.words) + 1
	if k := m.findHash(h); k < 0 {
		m.addHash(h, i)
	} else {
		if i >= m.hashes[k].from {
			return
		}
		end = m.hashes[k].from
		m.hashes[k].from = i
	}
	for j := i; j < end; j++ {
		m.walk(h, j)
	}
}
