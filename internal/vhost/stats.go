package vhost

import (
	"cmp"
	"slices"

	"github.com/loftmq/loft/internal/queue"
)

// QueueStats is what metrics report of one queue.
type QueueStats struct {
	Vhost, Name               string
	Ready, Unacked, Consumers int
	// Totals are the queue's running counts; HasTotals is false for a
	// stream queue, whose traffic its topic's partition reports.
	Totals    queue.Totals
	HasTotals bool
}

// totaller is what a queue.Sub has that keeps Totals: a Queue or Levels.
type totaller interface{ Totals() queue.Totals }

// openQueue is a queue with a running queue.Sub, and its vhost's name.
type openQueue struct {
	vhost, name string
	sub         queue.Sub
}

// openQueues lists every queue of every vhost that has a queue.Sub. Each
// lock is held only while its map is copied, so that what is then done
// with the queues (counting, releasing caches) takes their own locks alone.
func (h *Hosts) openQueues() []openQueue {
	h.mu.Lock()
	vs := make([]*Vhost, 0, len(h.vhosts))
	for _, v := range h.vhosts {
		vs = append(vs, v)
	}
	h.mu.Unlock()
	var qs []openQueue
	for _, v := range vs {
		v.mu.RLock()
		for _, q := range v.queues {
			if q.q != nil {
				qs = append(qs, openQueue{v.name, q.Name, q.q})
			}
		}
		v.mu.RUnlock()
	}
	return qs
}

// QueueStats returns the stats of every queue of every vhost, sorted by
// vhost and name, read from each queue after the locks are let go.
func (h *Hosts) QueueStats() []QueueStats {
	open := h.openQueues()
	out := make([]QueueStats, 0, len(open))
	for _, s := range open {
		qs := QueueStats{Vhost: s.vhost, Name: s.name}
		qs.Ready, qs.Unacked, qs.Consumers = s.sub.Counts()
		if t, ok := s.sub.(totaller); ok {
			qs.Totals, qs.HasTotals = t.Totals(), true
		}
		out = append(out, qs)
	}
	slices.SortFunc(out, func(a, b QueueStats) int {
		return cmp.Or(cmp.Compare(a.Vhost, b.Vhost), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// releaser is what a queue.Sub with a cache of messages has: a Queue or
// Levels.
type releaser interface{ ReleaseCache() }

// ReleaseCaches makes every queue give back the memory of the messages it
// caches that the log can serve again, for when memory is short.
func (h *Hosts) ReleaseCaches() {
	for _, q := range h.openQueues() {
		if r, ok := q.sub.(releaser); ok {
			r.ReleaseCache()
		}
	}
}
