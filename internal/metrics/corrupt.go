package metrics

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Corruption counts the damaged ranges the log engine found on disk, per
// log (a partition's, a queue's, or an internal one). Only logs that had
// damage get a series, so the label stays bounded by the model. Its zero
// value is ready.
type Corruption struct {
	logs sync.Map // log name → *atomic.Uint64
}

// Observe counts one damaged range in log; it has the signature of
// logstore.Options.OnCorrupt.
func (c *Corruption) Observe(log string) {
	n, ok := c.logs.Load(log)
	if !ok {
		n, _ = c.logs.LoadOrStore(log, new(atomic.Uint64))
	}
	n.(*atomic.Uint64).Add(1)
}

type corruptCount struct {
	log string
	n   uint64
}

// snapshot returns the counts by log name.
func (c *Corruption) snapshot() []corruptCount {
	var out []corruptCount
	c.logs.Range(func(k, v any) bool {
		out = append(out, corruptCount{k.(string), v.(*atomic.Uint64).Load()})
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].log < out[j].log })
	return out
}
