package amqpbench

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/loftproc"
	amqp "github.com/rabbitmq/amqp091-go"
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

const (
	// window bounds the publisher's unconfirmed messages and is the
	// consumer's prefetch, as in the reference.
	window = 256
	// stallTimeout is how long any wait goes without progress before the
	// benchmark fails: a broker that stops answering fails, never hangs.
	stallTimeout = 30 * time.Second
)

// brokers are the servers under test, each started fresh per benchmark on
// loopback. A broker whose binary is missing skips its sub-benchmarks.
var brokers = []struct {
	name  string
	start func(b *testing.B) client
}{
	{"loft", startLoft},
	{"rabbitmq", func(b *testing.B) client { return startRabbitMQ(b, nil) }},
	{"rabbitmq-quorum", func(b *testing.B) client {
		return startRabbitMQ(b, amqp.Table{"x-queue-type": "quorum"})
	}},
	{"nats", startNATS},
}

// BenchmarkThroughput1KiB: one producer and one consumer move
// LOFT_BENCH_MESSAGES (default 200,000) 1 KiB messages as fast as confirms
// allow. msgs/s is end to end: first publish to last receipt.
func BenchmarkThroughput1KiB(b *testing.B) {
	w := workload{size: 1024, messages: envInt(b, "LOFT_BENCH_MESSAGES", 200_000)}
	eachBroker(b, w, reportThroughput)
}

// BenchmarkThroughput16B is BenchmarkThroughput1KiB with 16-byte bodies,
// which hold just the sequence number and send time, and LOFT_BENCH_MESSAGES
// defaulting to 500,000.
func BenchmarkThroughput16B(b *testing.B) {
	w := workload{size: headerSize, messages: envInt(b, "LOFT_BENCH_MESSAGES", 500_000)}
	eachBroker(b, w, reportThroughput)
}

// BenchmarkLatency1KiB paces 1 KiB messages at LOFT_BENCH_RATE (default
// 5,000 msg/s) for LOFT_BENCH_DURATION (default 10s) and reports the
// latency from publish start to consumer receipt.
func BenchmarkLatency1KiB(b *testing.B) {
	rate := envFloat(b, "LOFT_BENCH_RATE", 5000)
	d := envDuration(b, "LOFT_BENCH_DURATION", 10*time.Second)
	w := workload{size: 1024, messages: int(rate * d.Seconds()), rate: rate}
	if w.messages < 1 {
		b.Fatalf("LOFT_BENCH_RATE × LOFT_BENCH_DURATION is less than one message")
	}
	eachBroker(b, w, reportLatency)
}

// eachBroker runs w on every broker. A broker is started once per call of
// the sub-benchmark; each of its b.N iterations uses a fresh queue.
func eachBroker(b *testing.B, w workload, report func(*testing.B, result)) {
	for _, br := range brokers {
		b.Run("broker="+br.name, func(b *testing.B) {
			b.StopTimer() // run times only the workload, not the broker's start
			c := br.start(b)
			var total result
			for i := range b.N {
				total.add(run(b, c, fmt.Sprintf("bench-%d", i), w))
			}
			report(b, total)
		})
	}
}

func reportThroughput(b *testing.B, r result) {
	b.ReportMetric(r.msgsPerSec(), "msgs/s")
	b.ReportMetric(float64(r.clientCPU.Microseconds())/float64(r.messages), "client-cpu-µs/msg")
	if r.brokerCPU >= 0 {
		b.ReportMetric(float64(r.brokerCPU.Microseconds())/float64(r.messages), "broker-cpu-µs/msg")
	}
}

func reportLatency(b *testing.B, r result) {
	b.ReportMetric(r.msgsPerSec(), "msgs/s")
	lat := r.latencies
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Microsecond)
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(pct(0.999), "p99.9-µs")
	b.ReportMetric(pct(1), "max-µs")
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

func envFloat(b *testing.B, name string, def float64) float64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, s)
	}
	return f
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration such as 10s", name, s)
	}
	return d
}
