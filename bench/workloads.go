package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// metric is one figure a workload reports.
type metric struct {
	Key          string `json:"key"`
	Unit         string `json:"unit"`
	HigherBetter bool   `json:"higher_is_better"`
}

var (
	msgsPerSec       = metric{"msg/s", "messages per second, end to end: first publish to last receipt", true}
	deliveriesPerSec = metric{"deliveries/s", "deliveries per second over all queues, first publish to last receipt", true}
	publishPerSec    = metric{"publish msg/s", "acknowledged publishes per second, no consumer attached", true}
	drainPerSec      = metric{"drain msg/s", "messages per second from the consumer's start to the last receipt", true}
	peakRSS          = metric{"peak RSS MiB", "the broker's peak resident memory (its process group), sampled every 100 ms", false}
	p50              = metric{"p50 µs", "publish start to consumer receipt", false}
	p99              = metric{"p99 µs", "publish start to consumer receipt", false}
	p999             = metric{"p99.9 µs", "publish start to consumer receipt", false}
	pmax             = metric{"max µs", "publish start to consumer receipt", false}
	produceMBps      = metric{"produce MB/s", "acknowledged record bytes per second, first produce to last ack (10⁶ B/s)", true}
	consumeMBps      = metric{"consumed MB/s", "bytes the consumer group received, first produce to last receipt", true}
	ddMBps           = metric{"dd MB/s", "dd bs=64k oflag=dsync on the data directory's disk, just before", true}
	produceOverDD    = metric{"produce/dd", "produce MB/s over dd MB/s of the same run", true}
)

// outcome is what one run of a workload on one broker gave.
type outcome struct {
	values     map[string]float64
	missing    int
	duplicates int
}

// workload is one of the workloads, at scale 1.
type workload struct {
	name        string
	description string
	metrics     []metric // the first is the headline: ratios and the chart use it
	loftOnly    bool
	run         func(ctx context.Context, cfg *config, r *running, name string) (outcome, error)
}

// scaled returns n × the configured scale, at least 10.
func (c *config) scaled(n int) int { return max(int(float64(n)*c.scale), 10) }

// throughput returns a workload moving n messages of size bytes with the
// given producers and consumers as fast as acknowledgements allow.
func throughput(name, what string, size, n, producers, consumers int) workload {
	return workload{
		name: name,
		description: fmt.Sprintf("%s: %d messages of %d B, %d producer(s) and %d consumer(s) on one durable queue, "+
			"%d unacknowledged per producer, prefetch %d, every message acknowledged", what, n, size, producers, consumers, window, window),
		metrics: []metric{msgsPerSec},
		run: func(ctx context.Context, cfg *config, r *running, name string) (outcome, error) {
			f := flow{size: size, messages: cfg.scaled(n), producers: producers, consumers: consumers, queues: 1}
			res, err := runFlow(ctx, r.client, r.pgid(), name, f, cfg.stall)
			o := outcome{missing: res.missing, duplicates: res.duplicates}
			if err == nil {
				o.values = map[string]float64{msgsPerSec.Key: float64(f.messages) / res.endToEnd.Seconds()}
			}
			return o, err
		},
	}
}

// latency returns a workload pacing 1 KiB messages at rate for 10 s.
func latency(rate int) workload {
	const seconds = 10
	return workload{
		name: fmt.Sprintf("latency-%d", rate),
		description: fmt.Sprintf("latency: 1 KiB messages paced at %d msg/s for %d s (scaled), 1 producer and 1 consumer; "+
			"publish start to consumer receipt", rate, seconds),
		metrics: []metric{p99, p50, p999, pmax, msgsPerSec},
		run: func(ctx context.Context, cfg *config, r *running, name string) (outcome, error) {
			f := flow{size: 1024, messages: cfg.scaled(rate * seconds), producers: 1, consumers: 1, queues: 1, rate: float64(rate)}
			res, err := runFlow(ctx, r.client, r.pgid(), name, f, cfg.stall)
			o := outcome{missing: res.missing, duplicates: res.duplicates}
			if err == nil {
				us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
				o.values = map[string]float64{
					p50.Key:        us(res.percentile(0.50)),
					p99.Key:        us(res.percentile(0.99)),
					p999.Key:       us(res.percentile(0.999)),
					pmax.Key:       us(res.percentile(1)),
					msgsPerSec.Key: float64(f.messages) / res.endToEnd.Seconds(),
				}
			}
			return o, err
		},
	}
}

const fanoutQueues = 10

var workloads = []workload{
	throughput("throughput-1KiB", "throughput", 1024, 200_000, 1, 1),
	throughput("throughput-16B", "throughput", headerSize, 500_000, 1, 1),
	throughput("throughput-4x4", "throughput", 1024, 200_000, 4, 4),
	latency(1_000),
	latency(5_000),
	latency(20_000),
	{
		name: "fanout",
		description: fmt.Sprintf("fan-out: 50,000 messages of 1 KiB, each routed to %d durable queues (a fanout exchange; "+
			"JetStream: one stream, %d durable consumers), one consumer per queue, 1 producer", fanoutQueues, fanoutQueues),
		metrics: []metric{msgsPerSec, deliveriesPerSec},
		run: func(ctx context.Context, cfg *config, r *running, name string) (outcome, error) {
			f := flow{size: 1024, messages: cfg.scaled(50_000), producers: 1, consumers: 1, queues: fanoutQueues}
			res, err := runFlow(ctx, r.client, r.pgid(), name, f, cfg.stall)
			o := outcome{missing: res.missing, duplicates: res.duplicates}
			if err == nil {
				s := res.endToEnd.Seconds()
				o.values = map[string]float64{
					msgsPerSec.Key:       float64(f.messages) / s,
					deliveriesPerSec.Key: float64(f.messages*fanoutQueues) / s,
				}
			}
			return o, err
		},
	},
	{
		name: "backlog",
		description: "backlog: 1,000,000 messages of 1 KiB published (1 producer, acknowledged) with no consumer, " +
			"then drained by one consumer",
		metrics: []metric{drainPerSec, publishPerSec, peakRSS},
		run: func(ctx context.Context, cfg *config, r *running, name string) (outcome, error) {
			f := flow{size: 1024, messages: cfg.scaled(1_000_000), producers: 1, consumers: 1, queues: 1, backlog: true}
			res, err := runFlow(ctx, r.client, r.pgid(), name, f, cfg.stall)
			o := outcome{missing: res.missing, duplicates: res.duplicates}
			if err == nil {
				o.values = map[string]float64{
					publishPerSec.Key: float64(f.messages) / res.publishing.Seconds(),
					drainPerSec.Key:   float64(f.messages) / res.draining.Seconds(),
					peakRSS.Key:       float64(res.peakRSS) / (1 << 20),
				}
			}
			return o, err
		},
	},
	delayedWorkload(),
	kafkaWorkload(1),
	kafkaWorkload(8),
}

// workloadGroups are names -workloads accepts for several workloads.
var workloadGroups = map[string][]string{
	"throughput": {"throughput-1KiB", "throughput-16B", "throughput-4x4"},
	"latency":    {"latency-1000", "latency-5000", "latency-20000"},
	"kafka":      {"kafka-1", "kafka-8"},
}

// selectWorkloads resolves a comma-separated list of names and groups
// ("all" for every workload), keeping the order of workloads.
func selectWorkloads(list string) ([]workload, error) {
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		switch {
		case n == "all":
			for _, w := range workloads {
				want[w.name] = true
			}
		case workloadGroups[n] != nil:
			for _, g := range workloadGroups[n] {
				want[g] = true
			}
		case n != "":
			found := false
			for _, w := range workloads {
				found = found || w.name == n
			}
			if !found {
				return nil, fmt.Errorf("unknown workload %q", n)
			}
			want[n] = true
		}
	}
	var ws []workload
	for _, w := range workloads {
		if want[w.name] {
			ws = append(ws, w)
		}
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("no workload selected")
	}
	return ws, nil
}
