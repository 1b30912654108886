package interop

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/loftmq/loft/internal/loftproc"
)

// TestTenThousandPartitions creates 100 topics of 100 partitions
// (LOFT_FAULT_HEAVY=1; 20 topics, 2,000 partitions in CI, still more than
// the file-handle cache holds), produces one record to each partition
// (acks=all, idempotent) and fetches every one back in one consumer, then restarts the broker and fetches them all
// again. Goroutines, open file descriptors and resident memory are
// measured at start, after creating, after use and after the restart
// (the numbers are logged): goroutines do not grow with the partitions,
// open descriptors stay within the log store's file-handle cache (1,024
// segment files) however many partitions there are, and memory stays far
// below what a per-partition buffer would cost.
func TestTenThousandPartitions(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 partitions take a while")
	}
	const partitions = 100
	topics := 20
	if heavy() {
		topics = 100
	}
	total := topics * partitions
	dir := filepath.Join(t.TempDir(), "data")
	p := loftproc.Start(t, loftBin, dir, "--log-level", "warn")
	type point struct {
		name       string
		goroutines float64
		proc       procStats
	}
	var points []point
	measure := func(name string, p *loftproc.Process) point {
		g, _, _ := processGauges(t, p)
		pt := point{name, g, readProc(t, p.Pid())}
		points = append(points, pt)
		t.Logf("%-14s goroutines %4.0f, open fds %4d, RSS %6.1f MiB (peak %6.1f)", name, pt.goroutines, pt.proc.fds, pt.proc.rss, pt.proc.peak)
		return pt
	}
	start := measure("start", p)
	topic := func(i int) string { return "scale" + strconv.Itoa(i) }

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, topics)
	for i := range names {
		names[i] = topic(i)
	}
	// A topic per request: creating a partition makes and syncs its
	// directory and config, and a request for all of them would outlast
	// the client's request timeout.
	adm := kadm.NewClient(cl)
	for _, name := range names {
		created, err := adm.CreateTopic(ctx, partitions, 1, nil, name)
		if err == nil {
			err = created.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	t.Logf("created %d partitions in %v", total, time.Since(began).Round(time.Millisecond))
	measure("created", p)

	began = time.Now()
	records := make([]*kgo.Record, 0, total)
	for i := range topics {
		for j := range partitions {
			records = append(records, &kgo.Record{Topic: topic(i), Partition: int32(j),
				Value: []byte(topic(i) + "/" + strconv.Itoa(j))})
		}
	}
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	t.Logf("produced to %d partitions in %v", total, time.Since(began).Round(time.Millisecond))
	cl.Close()
	fetchEvery(ctx, t, p, names, partitions)
	used := measure("used", p)

	took, err := p.Terminate(15 * time.Second)
	if err != nil {
		t.Fatalf("SIGTERM with %d partitions: %v after %v\n%s", total, err, took, p.Log())
	}
	t.Logf("stopped in %v", took.Round(time.Millisecond))
	began = time.Now()
	p = loftproc.Start(t, loftBin, dir, "--log-level", "warn")
	t.Logf("ready again in %v", time.Since(began).Round(time.Millisecond))
	restarted := measure("restarted", p)
	fetchEvery(ctx, t, p, names, partitions)
	again := measure("used again", p)

	for _, pt := range points[1:] {
		// Each fetcher's connection costs a few goroutines; partitions
		// must cost none.
		if pt.goroutines > start.goroutines+20 {
			t.Errorf("%s: goroutines grew with the partitions: %v → %v", pt.name, start.goroutines, pt.goroutines)
		}
		// 1,024 segment files at most, plus listeners, sockets and the
		// process's own few.
		if pt.proc.fds > 1024+64 {
			t.Errorf("%s: %d open file descriptors: more than the handle cache's bound", pt.name, pt.proc.fds)
		}
	}
	// Generous: a leak of even 64 KiB per partition would pass 600 MiB.
	for _, pt := range []point{used, restarted, again} {
		if pt.proc.peak > 512 {
			t.Errorf("%s: peak RSS %.1f MiB with %d partitions", pt.name, pt.proc.peak, total)
		}
	}
}

// fetchEvery reads partition by partition of every topic from its start
// until each has given its one record, which must be the one produced.
func fetchEvery(ctx context.Context, t *testing.T, p *loftproc.Process, topics []string, partitions int) {
	t.Helper()
	began := time.Now()
	offsets := make(map[string]map[int32]kgo.Offset, len(topics))
	for _, tp := range topics {
		offsets[tp] = make(map[int32]kgo.Offset, partitions)
		for j := range partitions {
			offsets[tp][int32(j)] = kgo.NewOffset().AtStart()
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka), kgo.ConsumePartitions(offsets))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := make(map[string]bool, len(topics)*partitions)
	for len(seen) < len(topics)*partitions {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("fetched %d of %d partitions' records: %v", len(seen), len(topics)*partitions, err)
		}
		fs.EachError(func(topic string, part int32, err error) {
			t.Errorf("fetch %s/%d: %v", topic, part, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			want := r.Topic + "/" + strconv.Itoa(int(r.Partition))
			if string(r.Value) != want || r.Offset != 0 || seen[want] {
				t.Fatalf("%s/%d offset %d: %q (seen before: %v)", r.Topic, r.Partition, r.Offset, r.Value, seen[want])
			}
			seen[want] = true
		})
	}
	t.Logf("fetched from %d partitions in %v", len(seen), time.Since(began).Round(time.Millisecond))
}
