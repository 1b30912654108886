package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"syscall"
	"time"
)

// config is one invocation of the harness, filled from flags.
type config struct {
	brokers   []broker
	skip      map[string]string // broker name → why it is skipped without being tried
	workloads []workload
	runs      int
	scale     float64
	loft      string        // the loft binary
	dir       string        // where brokers' data directories go: the disk under test
	stall     time.Duration // how long a flow may go without progress
	command   string        // as typed, for the results
	progress  io.Writer     // a line per run and workload
}

// execute runs every workload on every broker, cfg.runs times, the
// brokers interleaved: run 1 on each broker in turn, then run 2. Each
// broker is started fresh for each run, with a new data directory, and
// stopped at its end. The report says what failed; execute itself only
// stops early when ctx ends.
func execute(ctx context.Context, cfg *config) *report {
	rep := &report{
		Command: cfg.command,
		Started: time.Now().UTC(),
		Runs:    cfg.runs,
		Scale:   cfg.scale,
		Machine: describeMachine(cfg.dir),
	}
	for _, b := range cfg.brokers {
		rep.Brokers = append(rep.Brokers, &brokerInfo{
			Name: b.name, Label: b.label, Durability: b.durability, FsyncBeforeAck: b.fsyncs, Reference: b.reference, Skipped: cfg.skip[b.name],
		})
	}
	for _, w := range cfg.workloads {
		rep.Workloads = append(rep.Workloads, &workloadResult{Name: w.name, Description: w.description, Metrics: w.metrics})
	}
	for run := 1; run <= cfg.runs && ctx.Err() == nil; run++ {
		for i, b := range cfg.brokers {
			if ctx.Err() != nil {
				break
			}
			runBroker(ctx, cfg, rep, rep.Brokers[i], b, run)
		}
	}
	rep.Interrupted = ctx.Err() != nil
	rep.Finished = time.Now().UTC()
	rep.summarize()
	return rep
}

// runBroker starts b, runs every workload that applies to it once, and
// stops it.
func runBroker(ctx context.Context, cfg *config, rep *report, info *brokerInfo, b broker, run int) {
	if info.Skipped != "" {
		return
	}
	var todo []int
	for i, w := range cfg.workloads {
		if !w.loftOnly || b.name == "loft" {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return
	}
	fail := func(i int, err error) {
		rep.Workloads[i].Runs = append(rep.Workloads[i].Runs, runResult{Broker: b.name, Run: run, Error: err.Error()})
		rep.Failed = true
	}
	dir, err := os.MkdirTemp(cfg.dir, "loftbench-"+b.name+"-")
	if err != nil {
		for _, i := range todo {
			fail(i, err)
		}
		return
	}
	// The last thing done: write back what the broker left dirty in the
	// page cache, so that the next broker's fsyncs do not wait behind it
	// (a broker that syncs in the background leaves gigabytes).
	defer syscall.Sync()
	defer os.RemoveAll(dir)
	r, err := b.start(ctx, cfg, dir)
	if errors.Is(err, errMissing) {
		info.Skipped = err.Error()
		fmt.Fprintf(cfg.progress, "%s: skipped: %v\n", b.name, err)
		return
	}
	if err != nil {
		fmt.Fprintf(cfg.progress, "run %d %s: start: %v\n", run, b.name, err)
		for _, i := range todo {
			fail(i, fmt.Errorf("start: %w", err))
		}
		return
	}
	r.dir = dir
	info.Version = r.version
	defer func() {
		if err := r.stop(); err != nil {
			fmt.Fprintf(cfg.progress, "run %d %s: stop: %v\n", run, b.name, err)
		}
	}()
	for _, i := range todo {
		if ctx.Err() != nil {
			return
		}
		w := cfg.workloads[i]
		began := time.Now()
		o, err := w.run(ctx, cfg, r, fmt.Sprintf("bench-%s-%d", w.name, run))
		rr := runResult{Broker: b.name, Run: run, Values: finite(o.values), Missing: o.missing, Duplicates: o.duplicates}
		if err != nil {
			rr.Error = err.Error()
			rep.Failed = true
			fmt.Fprintf(cfg.progress, "run %d %-16s %-16s FAILED: %v\n", run, b.name, w.name, err)
		} else {
			fmt.Fprintf(cfg.progress, "run %d %-16s %-16s %s = %s (%.1f s, %d duplicates)\n", run, b.name, w.name,
				w.metrics[0].Key, format(rr.Values[w.metrics[0].Key]), time.Since(began).Seconds(), o.duplicates)
		}
		rep.Workloads[i].Runs = append(rep.Workloads[i].Runs, rr)
	}
}

// finite drops values that are not numbers JSON can carry.
func finite(m map[string]float64) map[string]float64 {
	for k, v := range m {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			delete(m, k)
		}
	}
	return m
}
