package interop

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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
