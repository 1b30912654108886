package route

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// ErrXMatch reports a headers binding whose x-match is not all, any,
// all-with-x or any-with-x; RabbitMQ refuses such a binding.
var ErrXMatch = errors.New("route: invalid x-match")

// ErrKind reports an exchange type this package does not know.
var ErrKind = errors.New("route: unknown exchange kind")

// Kind is an exchange type.
type Kind uint8

const (
	Direct Kind = iota
	Fanout
	Topic
	Headers
)

var kindNames = [...]string{Direct: "direct", Fanout: "fanout", Topic: "topic", Headers: "headers"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ParseKind maps an AMQP exchange type name to its Kind.
func ParseKind(s string) (Kind, error) {
	for k, name := range kindNames {
		if name == s {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrKind, s)
}

// Binding is one (destination, key, arguments) triple.
type Binding[D comparable] struct {
	Dest D
	Key  string
	Args map[string]any
}

type bindingID[D comparable] struct {
	dest D
	key  string
	args string // argsKey
}

type entry[D comparable] struct {
	seq     uint64 // bind order, for a stable listing
	binding Binding[D]
	headers *headerSpec // Headers only
}

// Router holds one exchange's bindings and routes messages through them.
type Router[D comparable] struct {
	kind Kind

	mu       sync.RWMutex
	seq      uint64
	bindings map[bindingID[D]]*entry[D]
	byDest   map[D]map[bindingID[D]]struct{}

	// Per-kind indexes; each counts bindings per destination, since
	// bindings that differ only in arguments route alike.
	direct  map[string]map[D]int // Direct
	fanout  map[D]int            // Fanout
	trie    node[D]              // Topic
	headers []*entry[D]          // Headers, in bind order

	sets sync.Pool // of map[D]struct{}, for routes with many results
}

// New returns an empty router for an exchange of the given kind.
func New[D comparable](kind Kind) *Router[D] {
	return &Router[D]{
		kind:     kind,
		bindings: make(map[bindingID[D]]*entry[D]),
		byDest:   make(map[D]map[bindingID[D]]struct{}),
		direct:   make(map[string]map[D]int),
		fanout:   make(map[D]int),
	}
}

// Kind returns the exchange kind the router was made for.
func (r *Router[D]) Kind() Kind { return r.kind }

// Bind adds a binding and reports whether it is new. The arguments map is
// copied, shallowly. Only a headers binding with a bad x-match is refused.
func (r *Router[D]) Bind(dest D, key string, args map[string]any) (bool, error) {
	var spec *headerSpec
	if r.kind == Headers {
		var err error
		if spec, err = compileHeaders(args); err != nil {
			return false, err
		}
	}
	id := bindingID[D]{dest, key, argsKey(args)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.bindings[id]; ok {
		return false, nil
	}
	r.seq++
	e := &entry[D]{seq: r.seq, binding: Binding[D]{dest, key, maps.Clone(args)}, headers: spec}
	r.bindings[id] = e
	ids := r.byDest[dest]
	if ids == nil {
		ids = make(map[bindingID[D]]struct{})
		r.byDest[dest] = ids
	}
	ids[id] = struct{}{}
	switch r.kind {
	case Direct:
		m := r.direct[key]
		if m == nil {
			m = make(map[D]int)
			r.direct[key] = m
		}
		m[dest]++
	case Fanout:
		r.fanout[dest]++
	case Topic:
		r.trie.insert(key, dest)
	case Headers:
		r.headers = append(r.headers, e)
	}
	return true, nil
}

// Unbind removes a binding and reports whether it existed.
func (r *Router[D]) Unbind(dest D, key string, args map[string]any) bool {
	id := bindingID[D]{dest, key, argsKey(args)}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.remove(id)
}

// UnbindDest removes every binding to dest, as deleting a queue does, and
// returns how many there were.
func (r *Router[D]) UnbindDest(dest D) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := r.byDest[dest]
	n := len(ids)
	for id := range ids {
		r.remove(id)
	}
	return n
}

func (r *Router[D]) remove(id bindingID[D]) bool {
	e, ok := r.bindings[id]
	if !ok {
		return false
	}
	delete(r.bindings, id)
	if ids := r.byDest[id.dest]; len(ids) <= 1 {
		delete(r.byDest, id.dest)
	} else {
		delete(ids, id)
	}
	switch r.kind {
	case Direct:
		m := r.direct[id.key]
		if m[id.dest]--; m[id.dest] <= 0 {
			delete(m, id.dest)
		}
		if len(m) == 0 {
			delete(r.direct, id.key)
		}
	case Fanout:
		if r.fanout[id.dest]--; r.fanout[id.dest] <= 0 {
			delete(r.fanout, id.dest)
		}
	case Topic:
		r.trie.remove(id.key, id.dest)
	case Headers:
		i := slices.Index(r.headers, e)
		r.headers = slices.Delete(r.headers, i, i+1)
	}
	return true
}

// Route appends to dst every destination a message with this routing key
// and headers goes to, and returns the extended slice. A destination is
// appended only if dst does not already hold it, so routing through
// several exchanges into one slice yields their union.
func (r *Router[D]) Route(key string, headers map[string]any, dst []D) []D {
	out := collector[D]{dst: dst, pool: &r.sets}
	defer out.release()
	r.mu.RLock()
	defer r.mu.RUnlock()
	switch r.kind {
	case Direct:
		for d := range r.direct[key] {
			out.add(d)
		}
	case Fanout:
		for d := range r.fanout {
			out.add(d)
		}
	case Topic:
		m := matcher[D]{words: words(key), out: &out}
		m.walk(&r.trie, 0)
	case Headers:
		for _, e := range r.headers {
			if e.headers.match(headers) {
				out.add(e.binding.Dest)
			}
		}
	}
	return out.dst
}

// Bindings lists the bindings in the order they were made. The argument
// maps are copies.
func (r *Router[D]) Bindings() []Binding[D] {
	r.mu.RLock()
	es := slices.Collect(maps.Values(r.bindings))
	r.mu.RUnlock()
	slices.SortFunc(es, func(a, b *entry[D]) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]Binding[D], len(es))
	for i, e := range es {
		out[i] = e.binding
		out[i].Args = maps.Clone(e.binding.Args)
	}
	return out
}

// Len returns the number of bindings.
func (r *Router[D]) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.bindings)
}

// collector appends destinations to a slice once each. Results are
// usually few, so it scans the slice until it grows past a handful and
// only then builds a set.
type collector[D comparable] struct {
	dst  []D
	set  map[D]struct{}
	pool *sync.Pool
}

func (c *collector[D]) release() {
	if c.set != nil {
		clear(c.set)
		c.pool.Put(c.set)
	}
}

const collectorScan = 16

func (c *collector[D]) add(d D) {
	if c.set != nil {
		if _, ok := c.set[d]; ok {
			return
		}
		c.set[d] = struct{}{}
		c.dst = append(c.dst, d)
		return
	}
	if slices.Contains(c.dst, d) {
		return
	}
	c.dst = append(c.dst, d)
	if len(c.dst) > collectorScan {
		if s, ok := c.pool.Get().(map[D]struct{}); ok {
			c.set = s
		} else {
			c.set = make(map[D]struct{}, 2*len(c.dst))
		}
		for _, x := range c.dst {
			c.set[x] = struct{}{}
		}
	}
}
