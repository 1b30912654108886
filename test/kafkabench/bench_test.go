package kafkabench

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/loftproc"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var loftBin string

func TestMain(m *testing.M) { loftproc.Main(m, benchDir(), &loftBin) }

// benchDir is where data goes: the disk under test (LOFT_BENCH_DIR, default
// the system temp dir).
func benchDir() string {
	if d := os.Getenv("LOFT_BENCH_DIR"); d != "" {
		return d
	}
	return os.TempDir()
}

// BenchmarkDDReference is the physical reference: sequential 64 KiB writes,
// each synced (dd oflag=dsync), on the same disk as the broker's data.
func BenchmarkDDReference(b *testing.B) {
	dir := b.TempDir()
	if d := os.Getenv("LOFT_BENCH_DIR"); d != "" {
		dir, _ = os.MkdirTemp(d, "dd-")
		defer os.RemoveAll(dir)
	}
	const block = 64 << 10
	b.SetBytes(block)
	b.ResetTimer()
	cmd := exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(dir, "dd.out"),
		"bs=64k", fmt.Sprintf("count=%d", b.N), "oflag=dsync")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("dd: %v\n%s", err, out)
	}
}

// startLoft runs loft serve (fsync always) on a fresh data dir on the disk
// under test and returns its Kafka address.
func startLoft(b *testing.B) string {
	dir, err := os.MkdirTemp(benchDir(), "loft-data-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return loftproc.Start(b, loftBin, dir, "--fsync", "always", "--log-level", "warn").Kafka
}

func createTopic(b *testing.B, addr, topic string, partitions int32) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
}

// consume reads the topic in a consumer group until stopped, counting bytes.
func consume(b *testing.B, addr, topic string, got *atomic.Int64) (stop func()) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("bench-"+topic),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { got.Add(int64(len(r.Value))) })
		}
	}()
	return func() { cancel(); <-done; cl.Close() }
}

// BenchmarkKafkaProduce: a franz-go producer, acks=all (its default, with
// idempotence), default batching, 1 KiB records, while a consumer group
// reads concurrently. MB/s is acknowledged produce bandwidth; consumed-MB/s
// what the group read in the same time.
func BenchmarkKafkaProduce(b *testing.B) {
	for _, partitions := range []int32{1, 8} {
		b.Run(fmt.Sprintf("partitions=%d", partitions), func(b *testing.B) {
			addr := startLoft(b)
			topic := fmt.Sprintf("bench-%d", partitions)
			createTopic(b, addr, topic, partitions)
			var consumed atomic.Int64
			stop := consume(b, addr, topic, &consumed)
			defer stop()
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			values := randomValues()
			b.SetBytes(1024)
			var failed atomic.Int64
			var wg sync.WaitGroup
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				wg.Add(1)
				cl.Produce(ctx, &kgo.Record{Value: values[i%len(values)]}, func(_ *kgo.Record, err error) {
					if err != nil {
						failed.Add(1)
					}
					wg.Done()
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d records failed", n, b.N)
			}
			b.ReportMetric(float64(consumed.Load())/1e6/elapsed.Seconds(), "consumed-MB/s")
		})
	}
}

// randomValues returns 1 KiB record values of random bytes: the client
// compresses batches (snappy by default), and repeated bytes would turn
// the benchmark into one of the compressor.
func randomValues() [][]byte {
	vs := make([][]byte, 1024)
	for i := range vs {
		vs[i] = make([]byte, 1024)
		crand.Read(vs[i])
	}
	return vs
}

// referenceLatencyMBps is the load of the latency benchmark: half of 0.7 ×
// the durable write bandwidth the shared reference gives for this kind of
// machine (dd bs=64k oflag=dsync, ~186 MB/s). A fixed figure, because
// measuring dd just before disturbs what follows: the virtual disk is still
// draining dd's writes seconds later. LOFT_LATENCY_MBPS overrides it.
const referenceLatencyMBps = 0.7 * 186 / 2

// BenchmarkKafkaLatency measures produce latency, send to acknowledgement,
// of 1 KiB records paced for 5 s at referenceLatencyMBps, acks=all, one
// partition, a consumer group reading. Each b.N iteration is one run on a
// fresh broker.
func BenchmarkKafkaLatency(b *testing.B) {
	for range b.N {
		latencyRun(b)
	}
}

func latencyRun(b *testing.B) {
	addr := startLoft(b)
	createTopic(b, addr, "latency", 1)
	var consumed atomic.Int64
	stop := consume(b, addr, "latency", &consumed)
	defer stop()
	// No linger: franz-go waits up to 10 ms by default to fill batches,
	// which would be measured here as broker latency.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("latency"), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	values := randomValues()
	ctx := context.Background()
	var wg sync.WaitGroup
	mbps, err := strconv.ParseFloat(os.Getenv("LOFT_LATENCY_MBPS"), 64)
	if err != nil {
		mbps = referenceLatencyMBps
	}
	rate := mbps * 1e6 / 1024 // records per second
	// Paced, in bursts no longer than 200 µs.
	var mu sync.Mutex
	var lat []time.Duration
	begin := time.Now()
	for sent := 0; ; {
		elapsed := time.Since(begin)
		if elapsed >= 5*time.Second {
			break
		}
		for due := int(elapsed.Seconds() * rate); sent < due; sent++ {
			sentAt := time.Now()
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Value: values[sent%len(values)]}, func(_ *kgo.Record, err error) {
				if err == nil {
					d := time.Since(sentAt)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
				wg.Done()
			})
		}
		time.Sleep(200 * time.Microsecond)
	}
	wg.Wait()
	if len(lat) == 0 {
		b.Fatal("no record acknowledged")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(rate*1024/1e6, "paced-MB/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}
