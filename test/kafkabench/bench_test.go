package kafkabench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var loftBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp(benchDir(), "loft-kafkabench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	loftBin = filepath.Join(dir, "loft")
	_, here, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-o", loftBin, "./cmd/loft")
	build.Dir = filepath.Join(filepath.Dir(here), "..", "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build loft:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

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

func freePort(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startLoft runs loft serve (fsync always) on a fresh data dir on the disk
// under test and returns its Kafka address.
func startLoft(b *testing.B) string {
	dir, err := os.MkdirTemp(benchDir(), "loft-data-")
	if err != nil {
		b.Fatal(err)
	}
	kafka, httpAddr := freePort(b), freePort(b)
	cmd := exec.Command(loftBin, "serve", "--data-dir", dir, "--fsync", "always",
		"--kafka-addr", kafka, "--amqp-addr", "", "--http-addr", httpAddr, "--log-level", "warn")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		os.RemoveAll(dir)
		if b.Failed() {
			b.Logf("loft log:\n%s", logs.String())
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; {
		if resp, err := http.Get("http://" + httpAddr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return kafka
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("loft not ready within 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
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
			value := bytes.Repeat([]byte("x"), 1024)
			b.SetBytes(int64(len(value)))
			var failed atomic.Int64
			var wg sync.WaitGroup
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				wg.Add(1)
				cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
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

// BenchmarkKafkaLatency measures produce latency (send to acknowledgement)
// at half the throughput the same broker reached a moment before: first
// 3 s flat out, then 5 s paced at half that rate, 1 KiB records, acks=all,
// one partition, a consumer group reading. Each b.N iteration is one such
// run; the metrics are of the paced phase.
func BenchmarkKafkaLatency(b *testing.B) {
	for range b.N {
		addr := startLoft(b)
		createTopic(b, addr, "latency", 1)
		var consumed atomic.Int64
		stop := consume(b, addr, "latency", &consumed)
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("latency"))
		if err != nil {
			b.Fatal(err)
		}
		value := bytes.Repeat([]byte("x"), 1024)
		ctx := context.Background()
		// Flat out for 3 s.
		var acked atomic.Int64
		deadline := time.Now().Add(3 * time.Second)
		var wg sync.WaitGroup
		for time.Now().Before(deadline) {
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
				if err == nil {
					acked.Add(1)
				}
				wg.Done()
			})
		}
		wg.Wait()
		rate := float64(acked.Load()) / 3 / 2
		// Paced at half that rate for 5 s, in bursts no longer than 200 µs.
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
				cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
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
		cl.Close()
		stop()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
		b.ReportMetric(rate, "paced-msg/s")
		b.ReportMetric(pct(0.50), "p50-µs")
		b.ReportMetric(pct(0.99), "p99-µs")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	}
}
