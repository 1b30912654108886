package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/loftmq/loft/internal/loftproc"
)

const (
	corruptTopic  = "damaged"
	corruptCount  = 40 // records per partition, messages per queue
	corruptVictim = 17 // the record or message whose batch is damaged
)

// TestCorruptionIsContained stores data in two Kafka partitions and two
// AMQP queues, stops the broker (SIGTERM: every segment keeps an index
// that is trusted at the next start; SIGKILL: the active segments are
// scanned by recovery), flips a byte inside one record of partition 0
// and one message of queue "qa" on disk, and restarts it. Then: a fetch
// of the damaged offset is CORRUPT_MESSAGE, after which a consumer that
// seeks past it gets every later record; queue "qa" delivers every
// message but the damaged one, in order; partition 1 and queue "qb" serve
// everything; the process log has an Error line naming the damaged
// segment and offsets, and /metrics counts one damaged range for each of
// the two logs.
func TestCorruptionIsContained(t *testing.T) {
	for _, stop := range []string{"sigterm", "sigkill"} {
		t.Run(stop, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			p := loftproc.Start(t, loftBin, dir)
			corruptFill(t, p)
			if stop == "sigterm" {
				if _, err := p.Terminate(10 * time.Second); err != nil {
					t.Fatal(err)
				}
			} else {
				p.Kill()
			}
			partSeg := flipIn(t, filepath.Join(dir, "logs", corruptTopic+"-0"), fmt.Sprintf("p0-%03d", corruptVictim))
			queueLog, queueSeg := flipInQueue(t, filepath.Join(dir, "logs"), fmt.Sprintf("qa-%03d", corruptVictim))

			p = loftproc.Start(t, loftBin, dir)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			corruptConsumeKafka(ctx, t, p)
			for _, q := range []string{"qa", "qb"} {
				var want []string
				for i := range corruptCount {
					if q != "qa" || i != corruptVictim {
						want = append(want, fmt.Sprintf("%s-%03d", q, i))
					}
				}
				if got := drainQueue(ctx, t, p, q, len(want)); !equalStrings(got, want) {
					t.Fatalf("queue %s delivered %v,\nwant %v", q, got, want)
				}
			}

			log := p.Log()
			for _, seg := range []string{partSeg, queueSeg} {
				if !strings.Contains(log, "damaged data on disk") || !strings.Contains(log, seg) {
					t.Fatalf("no Error line for the damage in %s in the log:\n%s", seg, log)
				}
			}
			line := lineWith(log, partSeg)
			for _, s := range []string{"level=ERROR", fmt.Sprintf("from_offset=%d", corruptVictim), fmt.Sprintf("to_offset=%d", corruptVictim+1)} {
				if !strings.Contains(line, s) {
					t.Fatalf("the damage's log line lacks %q: %s", s, line)
				}
			}
			if !strings.Contains(log, "queue: skipped messages damaged on disk") {
				t.Fatalf("queue qa did not log the message it skipped:\n%s", log)
			}
			metrics := scrape(t, p)
			for _, l := range []string{corruptTopic + "-0", queueLog} {
				s := fmt.Sprintf("loft_storage_corrupt_batches_total{log=%q} 1", l)
				if !strings.Contains(metrics, s) {
					t.Fatalf("/metrics lacks %s:\n%s", s, grepLines(metrics, "corrupt"))
				}
			}
			if strings.Contains(metrics, fmt.Sprintf("{log=%q}", corruptTopic+"-1")) {
				t.Fatalf("partition 1 is counted as damaged:\n%s", grepLines(metrics, "corrupt"))
			}
		})
	}
}

// corruptFill produces corruptCount records, one batch each, to each of
// two partitions, and publishes as many persistent messages, confirmed,
// to each of two durable queues.
func corruptFill(t *testing.T, p *loftproc.Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka), kgo.DefaultProduceTopic(corruptTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, corruptTopic); err != nil {
		t.Fatal(err)
	}
	for i := range corruptCount {
		for part := range int32(2) {
			rec := &kgo.Record{Partition: part, Value: fmt.Appendf(nil, "p%d-%03d %s", part, i, strings.Repeat("v", 100))}
			if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}

	ch := amqpChannel(t, p.AMQP)
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"qa", "qb"} {
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		for i := range corruptCount {
			c, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q, false, false, amqp.Publishing{
				DeliveryMode: amqp.Persistent, Body: fmt.Appendf(nil, "%s-%03d", q, i)})
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := c.WaitContext(ctx); err != nil || !ok {
				t.Fatalf("publish %s-%d: confirmed %v, %v", q, i, ok, err)
			}
		}
	}
}

// flipIn flips a byte in the middle of the record that holds marker, in
// the segment file of the log directory dir that holds it, and returns
// that file's path.
func flipIn(t *testing.T, dir, marker string) string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		at := bytes.Index(data, []byte(marker))
		if at < 0 {
			continue
		}
		// Inside the batch, past the marker: the CRC no longer matches.
		data[at+len(marker)/2] ^= 0x20
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	t.Fatalf("no segment in %s holds %q", dir, marker)
	return ""
}

// flipInQueue flips a byte of the message holding marker in whichever
// queue log holds it; it returns the log's name and the segment's path.
func flipInQueue(t *testing.T, logs, marker string) (string, string) {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(logs, "__q.*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		segs, _ := filepath.Glob(filepath.Join(d, "*.log"))
		for _, s := range segs {
			if data, _ := os.ReadFile(s); bytes.Contains(data, []byte(marker)) {
				return filepath.Base(d), flipIn(t, d, marker)
			}
		}
	}
	t.Fatalf("no queue log holds %q", marker)
	return "", ""
}

// corruptConsumeKafka reads both partitions from the start with a
// consumer that is shown retriable fetch errors: partition 1 whole,
// partition 0 up to the damage, then CORRUPT_MESSAGE until it seeks past
// it, then the rest.
func corruptConsumeKafka(ctx context.Context, t *testing.T, p *loftproc.Process) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka), kgo.KeepRetryableFetchErrors(),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{corruptTopic: {
			0: kgo.NewOffset().At(0), 1: kgo.NewOffset().At(0)}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[int32][]string{}
	sawCorrupt := false
	for len(got[0]) < corruptCount-1 || len(got[1]) < corruptCount {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d and %d records, saw CORRUPT_MESSAGE %v: %v", len(got[0]), len(got[1]), sawCorrupt, ctx.Err())
		}
		for _, fe := range fs.Errors() {
			if fe.Partition != 0 || !errors.Is(fe.Err, kerr.CorruptMessage) {
				t.Fatalf("fetch error on partition %d: %v", fe.Partition, fe.Err)
			}
			if len(got[0]) != corruptVictim {
				t.Fatalf("CORRUPT_MESSAGE after %d records of partition 0, want after %d", len(got[0]), corruptVictim)
			}
			sawCorrupt = true
			// Step over the damaged record, as the broker's log says.
			cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{corruptTopic: {0: {Epoch: -1, Offset: corruptVictim + 1}}})
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value[:6]))
		})
	}
	if !sawCorrupt {
		t.Fatal("the damaged record was never reported")
	}
	for part := range int32(2) {
		var want []string
		for i := range corruptCount {
			if part != 0 || i != corruptVictim {
				want = append(want, fmt.Sprintf("p%d-%03d", part, i))
			}
		}
		if !equalStrings(got[part], want) {
			t.Fatalf("partition %d gave %v,\nwant %v", part, got[part], want)
		}
	}
}

// drainQueue consumes n messages from queue q, acking them, and returns
// their bodies; it fails if they do not come within the context.
func drainQueue(ctx context.Context, t *testing.T, p *loftproc.Process, q string, n int) []string {
	t.Helper()
	ch := amqpChannel(t, p.AMQP)
	deliveries, err := ch.ConsumeWithContext(ctx, q, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < n {
		select {
		case d, ok := <-deliveries:
			if !ok {
				t.Fatalf("queue %s: deliveries ended after %d of %d", q, len(got), n)
			}
			got = append(got, string(d.Body))
			d.Ack(false)
		case <-ctx.Done():
			t.Fatalf("queue %s: %d of %d messages delivered: %v", q, len(got), n, got)
		}
	}
	// Nothing more comes.
	select {
	case d := <-deliveries:
		t.Fatalf("queue %s: an extra message %q", q, d.Body)
	case <-time.After(200 * time.Millisecond):
	}
	return got
}

func scrape(t *testing.T, p *loftproc.Process) string {
	t.Helper()
	resp, err := http.Get("http://" + p.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lineWith(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) && strings.Contains(l, "damaged") {
			return l
		}
	}
	return ""
}

func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
