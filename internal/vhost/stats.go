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

// QueueStats returns the stats of every queue of every vhost, sorted by
// vhost and name. Locks are held only to copy the maps; the counts are
// read from each queue afterwards.
func (h *Hosts) QueueStats() []QueueStats {
	type named struct {
		vhost, name string
		sub         queue.Sub
	}
	h.mu.Lock()
	vs := make([]*Vhost, 0, len(h.vhosts))
	for _, v := range h.vhosts {
		vs = append(vs, v)
	}
	h.mu.Unlock()
	var subs []named
	for _, v := range vs {
		v.mu.RLock()
		for _, q := range v.queues {
			if q.q != nil {
				subs = append(subs, named{v.name, q.Name, q.q})
			}
		}
		v.mu.RUnlock()
	}
	out := make([]QueueStats, 0, len(subs))
	for _, s := range subs {
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
	h.mu.Lock()
	vs := make([]*Vhost, 0, len(h.vhosts))
	for _, v := range h.vhosts {
		vs = append(vs, v)
	}
	h.mu.Unlock()
	var subs []releaser
	for _, v := range vs {
		v.mu.RLock()
		for _, q := range v.queues {
			if r, ok := q.q.(releaser); ok {
				subs = append(subs, r)
			}
		}
		v.mu.RUnlock()
	}
	for _, r := range subs {
		r.ReleaseCache()
	}
}
