package main

import (
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSmoke runs the whole harness against Loft and the null AMQP broker
// at a tiny scale (a few thousand messages per workload, one run),
// RabbitMQ and NATS marked skipped, and fails if any run failed: a missing acknowledged message, an
// error, a broker that would not start or stop.
// TestMain lets the test binary stand in for the harness binary when the
// harness re-executes itself as the null AMQP broker.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "null-amqp" {
		os.Exit(nullAMQPMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker; not in -short")
	}
	bin, err := buildLoft(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	all, err := selectBrokers("loft,rabbitmq,rabbitmq-quorum,nats,amqp-null")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := selectWorkloads("all")
	if err != nil {
		t.Fatal(err)
	}
	skipped := "not in the smoke test"
	cfg := &config{
		brokers:   all,
		skip:      map[string]string{"rabbitmq": skipped, "rabbitmq-quorum": skipped, "nats": skipped},
		workloads: ws,
		runs:      1,
		scale:     0.01, // 2,000 messages for throughput-1KiB
		loft:      bin,
		dir:       t.TempDir(),
		stall:     20 * time.Second,
		command:   "go test ./bench/",
		progress:  io.Discard,
	}
	if testing.Verbose() {
		cfg.progress = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep := execute(ctx, cfg)
	if testing.Verbose() {
		rep.print(os.Stderr)
	}
	if rep.Failed || rep.Interrupted {
		for _, w := range rep.Workloads {
			for _, r := range w.Runs {
				if r.Error != "" {
					t.Errorf("%s on %s: %s", w.Name, r.Broker, r.Error)
				}
			}
		}
		t.FailNow()
	}
	// Loft runs every workload, the null broker every workload but the
	// Loft-only ones (Kafka, delayed messages); the others are skipped.
	loftOnly := map[string]bool{}
	for _, w := range ws {
		loftOnly[w.name] = w.loftOnly
	}
	for _, w := range rep.Workloads {
		runs := map[string]int{}
		for _, r := range w.Runs {
			runs[r.Broker]++
			if r.Missing != 0 {
				t.Errorf("%s on %s: %d missing", w.Name, r.Broker, r.Missing)
			}
		}
		want := map[string]int{"loft": 1, "amqp-null": 1}
		if loftOnly[w.Name] {
			delete(want, "amqp-null")
		}
		if !maps.Equal(runs, want) {
			t.Errorf("%s: runs per broker %v, want %v", w.Name, runs, want)
		}
		for b := range want {
			if _, ok := w.Medians[b][w.Metrics[0].Key]; !ok {
				t.Errorf("%s: no median for %s on %s", w.Name, w.Metrics[0].Key, b)
			}
		}
	}
	for _, b := range rep.Brokers {
		if (b.Name == "loft" || b.Name == "amqp-null") != (b.Skipped == "") {
			t.Errorf("%s: skipped %q", b.Name, b.Skipped)
		}
	}
	if err := rep.writeJSON(filepath.Join(t.TempDir(), "results.json")); err != nil {
		t.Fatal(err)
	}
}

// TestVerificationCatchesLoss feeds the tally a run in which one
// acknowledged message never arrives and one arrives twice.
func TestVerificationCatchesLoss(t *testing.T) {
	tl := newTally(32, 3, 1)
	for seq := range 3 {
		tl.published.Add(1)
		tl.confirm(seq, nil)
	}
	tl.deliver(0, tl.body(0))
	tl.deliver(0, tl.body(2))
	tl.deliver(0, tl.body(2))
	err := tl.wait(300*time.Millisecond, nil)
	if !errors.Is(err, errLost) {
		t.Fatalf("wait() = %v with message 1 missing, want errLost", err)
	}
	missing, dups := tl.counts()
	if missing != 1 || dups != 1 {
		t.Errorf("counts() = %d missing, %d duplicates; want 1, 1", missing, dups)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0.5, "0.50"},
		{99.994, "99.99"},
		{100, "100"},
		{1234.4, "1,234"},
		{1234567, "1,234,567"},
		{-4321, "-4,321"},
	} {
		if got := format(tc.v); got != tc.want {
			t.Errorf("format(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
