package interop

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/loftmq/loft/internal/loftproc"
)

// processGauges scrapes the broker's /metrics for its goroutines, open
// file descriptors and resident memory.
func processGauges(t *testing.T, p *loftproc.Process) (goroutines, fds, rssMiB float64) {
	t.Helper()
	resp, err := http.Get("http://" + p.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	gauge := func(name string) float64 {
		f, ok := fams[name]
		if !ok || len(f.Metric) == 0 {
			t.Fatalf("no %s in /metrics", name)
		}
		return f.Metric[0].GetGauge().GetValue()
	}
	return gauge("go_goroutines"), gauge("process_open_fds"), gauge("process_resident_memory_bytes") / (1 << 20)
}

// TestConnectionChurn opens and closes 5,000 AMQP connections and 500
// Kafka clients, eight at a time: goroutines, file descriptors and memory
// come back to where they were (the fault suite's scale check; the
// numbers are logged).
func TestConnectionChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("connection churn takes a while")
	}
	p := loftproc.Start(t, loftBin, filepath.Join(t.TempDir(), "data"))
	g0, f0, m0 := processGauges(t, p)
	const amqpConns, kafkaClients, workers = 5000, 500, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < amqpConns; i += workers {
				conn, err := dialAMQP(p.AMQP)
				if err != nil {
					errs <- err
					return
				}
				ch, err := conn.Channel()
				if err != nil {
					errs <- err
					return
				}
				ch.Close()
				conn.Close()
			}
			for i := w; i < kafkaClients; i += workers {
				cl, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka))
				if err != nil {
					errs <- err
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err = cl.Ping(ctx)
				cancel()
				cl.Close()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	took := time.Since(start)
	var g1, f1, m1 float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		g1, f1, m1 = processGauges(t, p)
		if (g1 <= g0+10 && f1 <= f0+10) || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("%d AMQP connections and %d Kafka clients in %v: goroutines %v → %v, open fds %v → %v, RSS %.1f → %.1f MiB",
		amqpConns, kafkaClients, took.Round(time.Millisecond), g0, g1, f0, f1, m0, m1)
	if g1 > g0+10 || f1 > f0+10 {
		t.Fatalf("resources not given back: goroutines %v → %v, fds %v → %v", g0, g1, f0, f1)
	}
	if m1 > m0+64 {
		t.Fatalf("RSS grew from %.1f to %.1f MiB", m0, m1)
	}
}

// TestTenThousandQueues declares 10,000 durable queues, publishes a
// persistent message to each with confirms and gets it back: the broker's
// open file descriptors stay bounded by its file-handle cache and its
// goroutines do not grow with the queues (the numbers are logged), and
// it still stops within the usual bound.
func TestTenThousandQueues(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 queues take a while")
	}
	p := loftproc.Start(t, loftBin, filepath.Join(t.TempDir(), "data"), "--log-level", "warn")
	g0, f0, m0 := processGauges(t, p)
	ch := amqpChannel(t, p.AMQP)
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	const n = 10000
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, n))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	for i := range n {
		q := "q" + strconv.Itoa(i)
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := ch.PublishWithContext(ctx, "", q, false, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(q)}); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		select {
		case c := <-confirms:
			if !c.Ack {
				t.Fatal("nacked")
			}
		case <-ctx.Done():
			t.Fatal("confirms did not come")
		}
	}
	declared := time.Since(start)
	g1, f1, m1 := processGauges(t, p)
	for i := range n {
		q := "q" + strconv.Itoa(i)
		d, ok, err := ch.Get(q, true)
		if err != nil || !ok || string(d.Body) != q {
			t.Fatalf("get from %s: %v %v %q", q, ok, err, d.Body)
		}
	}
	t.Logf("%d queues declared and published to in %v: goroutines %v → %v, open fds %v → %v, RSS %.1f → %.1f MiB",
		n, declared.Round(time.Millisecond), g0, g1, f0, f1, m0, m1)
	if g1 > g0+10 {
		t.Errorf("goroutines grew with the queues: %v → %v", g0, g1)
	}
	if f1 > 1100 {
		t.Errorf("open file descriptors grew with the queues: %v → %v", f0, f1)
	}
	took, err := p.Terminate(15 * time.Second)
	t.Logf("stopped in %v", took.Round(time.Millisecond))
	if err != nil || took > 10*time.Second {
		t.Fatalf("SIGTERM with %d queues: %v after %v\n%s", n, err, took, p.Log())
	}
}
