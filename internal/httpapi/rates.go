package httpapi

import (
	"sync"
	"time"

	"github.com/loftmq/loft/internal/queue"
	"github.com/loftmq/loft/internal/vhost"
)

// rateInterval is how often queue counts are sampled for rates, as
// RabbitMQ's management plugin samples every 5 s.
const rateInterval = 5 * time.Second

// rates samples every queue's running counts and keeps the last two
// samples, from which message_stats' rates come.
type rates struct {
	hosts *vhost.Hosts

	mu         sync.Mutex
	prev, last map[string]queue.Totals // by vhost + "\x00" + queue
	prevAt     time.Time
	lastAt     time.Time

	stop chan struct{}
	done chan struct{}
}

func startRates(h *vhost.Hosts) *rates {
	r := &rates{hosts: h, stop: make(chan struct{}), done: make(chan struct{})}
	r.sample()
	go r.run()
	return r
}

func (r *rates) run() {
	defer close(r.done)
	t := time.NewTicker(rateInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.sample()
		}
	}
}

func (r *rates) sample() {
	now := time.Now()
	cur := map[string]queue.Totals{}
	for _, s := range r.hosts.QueueStats() {
		if s.HasTotals {
			cur[s.Vhost+"\x00"+s.Name] = s.Totals
		}
	}
	r.mu.Lock()
	r.prev, r.prevAt = r.last, r.lastAt
	r.last, r.lastAt = cur, now
	r.mu.Unlock()
}

func (r *rates) close() {
	close(r.stop)
	<-r.done
}

// messageStats returns a queue's counts with their rates per second over
// the last sampling interval, in RabbitMQ's message_stats shape; nil for
// a queue without counts (a stream queue).
func (r *rates) messageStats(vhostName, name string, now queue.Totals, has bool) map[string]any {
	if !has {
		return nil
	}
	key := vhostName + "\x00" + name
	r.mu.Lock()
	before, okB := r.prev[key]
	after, okA := r.last[key]
	dt := r.lastAt.Sub(r.prevAt).Seconds()
	r.mu.Unlock()
	rate := func(pick func(queue.Totals) uint64) float64 {
		if !okA || !okB || dt <= 0 || pick(after) < pick(before) {
			return 0
		}
		return float64(pick(after)-pick(before)) / dt
	}
	out := map[string]any{}
	for _, f := range []struct {
		name string
		pick func(queue.Totals) uint64
	}{
		{"publish", func(t queue.Totals) uint64 { return t.Published }},
		{"deliver_get", func(t queue.Totals) uint64 { return t.Delivered }},
		{"redeliver", func(t queue.Totals) uint64 { return t.Redelivered }},
		{"ack", func(t queue.Totals) uint64 { return t.Acked }},
	} {
		out[f.name] = f.pick(now)
		out[f.name+"_details"] = map[string]float64{"rate": rate(f.pick)}
	}
	return out
}
