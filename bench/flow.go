package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// window bounds each publisher's unacknowledged messages and is each
// consumer's prefetch (AMQP) or pull batch (JetStream).
const window = 256

// topology is what a flow declares on a broker.
type topology struct {
	name   string // the queue, or the exchange and stream of a fan-out
	queues int    // 1: one queue; more: a fanout exchange routing to each
}

// client is what a flow needs of a started broker. Calls that may block
// take a context.
type client interface {
	// setup declares the durable queues (streams, consumers) of t.
	setup(ctx context.Context, t topology) error
	// teardown deletes them, to leave the next flow a quiet broker.
	teardown(ctx context.Context, t topology) error
	// consume attaches one consumer to queue q of t (0 ≤ q < t.queues),
	// prefetching window messages. It calls deliver with each body, from
	// one goroutine, then acknowledges it, and reports asynchronous
	// failures (a closed channel, a lost connection) through fail.
	consume(ctx context.Context, t topology, q int, deliver func(body []byte), fail func(error)) (stop func(), err error)
	// publisher opens a publisher to t that waits for the broker's
	// acknowledgements, on a connection of its own.
	publisher(ctx context.Context, t topology, fail func(error)) (publisher, error)
}

type publisher interface {
	// publish sends body as a persistent message; confirmed is called
	// once, from another goroutine, when the broker has acknowledged it
	// (nil) or refused it. One goroutine publishes on a publisher.
	publish(body []byte, confirmed func(error)) error
	close()
}

// flow is one timed movement of messages through a broker.
type flow struct {
	size      int     // body bytes, the 16-byte header included
	messages  int     // distinct messages published
	producers int     // publishers, each with window in flight, splitting messages
	consumers int     // consumers per queue
	queues    int     // queues each message is routed to
	rate      float64 // total messages per second; 0 is as fast as acks allow
	backlog   bool    // publish everything first, then start the consumers
}

// flowResult is what one flow measured.
type flowResult struct {
	endToEnd   time.Duration // first publish to last receipt
	publishing time.Duration // first publish to last acknowledgement
	draining   time.Duration // backlog: consumers' start to last receipt
	latencies  []time.Duration
	peakRSS    int64 // bytes, of the broker's process group
	missing    int
	duplicates int
}

func (r flowResult) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[int(p*float64(len(r.latencies)-1))]
}

// runFlow runs f on c under the name name, with fresh queues it deletes
// afterwards. An error wrapping errLost means verification failed.
func runFlow(ctx context.Context, c client, pgid int, name string, f flow, stall time.Duration) (flowResult, error) {
	topo := topology{name: name, queues: f.queues}
	setupCtx, cancel := context.WithTimeout(ctx, stall)
	defer cancel()
	if err := c.setup(setupCtx, topo); err != nil {
		return flowResult{}, fmt.Errorf("declare %s: %w", name, err)
	}
	defer func() {
		tctx, cancel := context.WithTimeout(context.Background(), stall)
		defer cancel()
		_ = c.teardown(tctx, topo)
	}()

	t := newTally(f.size, f.messages, f.queues)
	rss := sampleRSS(pgid)
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	// Consumers of a backlog start long after setup: each start gets its
	// own deadline.
	startConsumers := func() error {
		cctx, cancel := context.WithTimeout(ctx, stall)
		defer cancel()
		for q := range f.queues {
			for range f.consumers {
				stop, err := c.consume(cctx, topo, q, func(b []byte) { t.deliver(q, b) }, t.fail)
				if err != nil {
					return fmt.Errorf("consume from %s queue %d: %w", name, q, err)
				}
				stops = append(stops, stop)
			}
		}
		return nil
	}
	if !f.backlog {
		if err := startConsumers(); err != nil {
			rss.stop()
			return flowResult{}, err
		}
	}
	var pubs []publisher
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(stop)
		for _, p := range pubs {
			p.close()
		}
		wg.Wait()
	}()
	for range f.producers {
		p, err := c.publisher(setupCtx, topo, t.fail)
		if err != nil {
			rss.stop()
			return flowResult{}, fmt.Errorf("open publisher on %s: %w", name, err)
		}
		pubs = append(pubs, p)
	}

	start := clock()
	for i, p := range pubs {
		from, to := i*f.messages/f.producers, (i+1)*f.messages/f.producers
		wg.Go(func() { publishRange(t, p, from, to, f.rate/float64(f.producers), start, stop) })
	}
	var res flowResult
	var err error
	if f.backlog {
		if err = t.waitConfirmed(stall, ctx.Done()); err == nil {
			drainStart := clock()
			if err = startConsumers(); err == nil {
				err = t.wait(stall, ctx.Done())
				res.draining = t.lastAt - drainStart
			}
		}
	} else {
		err = t.wait(stall, ctx.Done())
	}
	res.peakRSS = rss.stop()
	if err != nil {
		res.missing, res.duplicates = t.counts()
		return res, err
	}
	// Give a duplicate arriving right behind the last message the chance
	// to be counted.
	time.Sleep(200 * time.Millisecond)
	res.endToEnd = t.lastAt - start
	res.publishing = time.Duration(t.lastConfirm.Load()) - start
	res.missing, res.duplicates = t.counts()
	t.mu.Lock()
	res.latencies = t.latency
	t.mu.Unlock()
	sort.Slice(res.latencies, func(i, j int) bool { return res.latencies[i] < res.latencies[j] })
	if res.missing > 0 {
		return res, fmt.Errorf("%w: %d", errLost, res.missing)
	}
	return res, nil
}

// publishRange publishes messages [from, to) on p, paced at rate when it
// is above zero, with at most window unacknowledged. stop ends it early.
func publishRange(t *tally, p publisher, from, to int, rate float64, start time.Duration, stop <-chan struct{}) {
	sem := make(chan struct{}, window)
	for seq := from; seq < to; seq++ {
		if rate > 0 {
			due := start + time.Duration(float64(seq-from)*float64(time.Second)/rate)
			if d := due - clock(); d > 0 {
				select {
				case <-time.After(d):
				case <-stop:
					return
				}
			}
		}
		select {
		case sem <- struct{}{}:
		case <-stop:
			return
		}
		err := p.publish(t.body(seq), func(err error) {
			t.confirm(seq, err)
			<-sem
		})
		if err != nil {
			t.fail(fmt.Errorf("publish message %d: %w", seq, err))
			return
		}
		t.published.Add(1)
	}
}

// errStopped is returned by publishers closed while a publish waited.
var errStopped = errors.New("bench: publisher closed")
