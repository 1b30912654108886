package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// scrape is one parsed GET /metrics.
type scrape map[string]*dto.MetricFamily

func scrapeMetrics(t *testing.T, r *running) scrape {
	t.Helper()
	resp, err := client.Get("http://" + r.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the value of the sample of name whose labels are the
// name=value pairs given, and whether there is one.
func (s scrape) value(name string, labels ...string) (float64, bool) {
	fam, ok := s[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range fam.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// want is an expected sample.
type want struct {
	name   string
	labels []string
	value  float64
}

func (w want) check(s scrape) error {
	got, ok := s.value(w.name, w.labels...)
	if !ok {
		return fmt.Errorf("%s%v: missing", w.name, w.labels)
	}
	if got != w.value {
		return fmt.Errorf("%s%v = %g, want %g", w.name, w.labels, got, w.value)
	}
	return nil
}

// eventually scrapes until every sample is as wanted (some settle
// asynchronously: dead-lettering, acks, connection teardown), failing
// with the differences after a bound.
func eventually(t *testing.T, r *running, wants ...want) scrape {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := scrapeMetrics(t, r)
		var errs []error
		for _, w := range wants {
			if err := w.check(s); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) == 0 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics not as expected:\n%v", errors.Join(errs...))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMetrics runs the whole server, does known work with real AMQP and
// Kafka clients, scrapes /metrics, parses it with Prometheus's text
// parser, and checks the values against what was done.
func TestMetrics(t *testing.T) {
	cfg := testConfig(t)
	cfg.AMQPAddr, cfg.KafkaAddr = "127.0.0.1:0", "127.0.0.1:0"
	r := start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	s := scrapeMetrics(t, r)
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "loft_fsync_seconds", "loft_connections"} {
		if _, ok := s[name]; !ok {
			t.Errorf("%s missing before any work", name)
		}
	}

	const published, acked, rejected = 10, 6, 3 // and one left unacked
	conn, ch := amqpWork(t, r, published, acked, rejected)
	defer conn.Close()
	idle, err := amqp091.Dial("amqp://guest:guest@" + r.AMQPAddr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	// A passive declare of a missing queue: its channel is closed with 404.
	bad, err := idle.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.QueueDeclarePassive("missing", false, false, false, false, nil); err == nil {
		t.Fatal("passive declare of a missing queue succeeded")
	}

	const records, committed = 20, 12
	kafkaWork(t, ctx, r, records, committed)

	q := func(name string) []string { return []string{"vhost", "/", "queue", name} }
	part := []string{"topic", "events", "partition", "0"}
	s = eventually(t, r,
		want{"loft_queue_published_total", q("work"), published},
		want{"loft_queue_delivered_total", q("work"), published},
		want{"loft_queue_redelivered_total", q("work"), 0},
		want{"loft_queue_acked_total", q("work"), acked},
		want{"loft_queue_dead_lettered_total", q("work"), rejected},
		want{"loft_queue_messages_ready", q("work"), 0},
		want{"loft_queue_messages_unacked", q("work"), published - acked - rejected},
		want{"loft_queue_consumers", q("work"), 1},
		want{"loft_queue_published_total", q("dead"), rejected},
		want{"loft_queue_messages_ready", q("dead"), rejected},
		want{"loft_queue_consumers", q("dead"), 0},
		want{"loft_partition_start_offset", part, 0},
		want{"loft_partition_end_offset", part, records},
		want{"loft_partition_produced_records_total", part, records},
		want{"loft_group_committed_offset", []string{"group", "billing", "topic", "events", "partition", "0"}, committed},
		want{"loft_group_lag", []string{"group", "billing", "topic", "events", "partition", "0"}, records - committed},
		want{"loft_connections", []string{"protocol", "amqp"}, 2},
		want{"loft_channels", []string{"protocol", "amqp"}, 1}, // the work channel; the failed one is gone
		want{"loft_requests_rejected_total", []string{"protocol", "amqp", "reason", "NOT_FOUND"}, 1},
		want{"loft_requests_rejected_total", []string{"protocol", "kafka", "reason", "TOPIC_ALREADY_EXISTS"}, 1},
	)
	for _, name := range []string{"loft_partition_bytes", "loft_partition_produced_bytes_total", "loft_partition_fetched_bytes_total", "loft_partition_produced_batches_total"} {
		if v, _ := s.value(name, part...); v <= 0 {
			t.Errorf("%s = %g, want > 0", name, v)
		}
	}
	fsyncs, _ := s.value("loft_fsync_total")
	if fsyncs <= 0 {
		t.Errorf("loft_fsync_total = %g, want > 0", fsyncs)
	}
	if h := s["loft_fsync_seconds"].GetMetric()[0].GetHistogram(); float64(h.GetSampleCount()) != fsyncs || len(h.GetBucket()) == 0 {
		t.Errorf("loft_fsync_seconds: count %d, %d buckets; want count %g", h.GetSampleCount(), len(h.GetBucket()), fsyncs)
	}
	for name, fam := range s {
		for _, m := range fam.Metric {
			for _, lp := range m.Label {
				if lp.GetName() == "reason" && lp.GetValue() == "CONNECTION_FORCED" {
					t.Errorf("%s counts the broker's own shutdown close", name)
				}
			}
		}
	}

	// Connections and channels follow what is open.
	idle.Close()
	ch.Close()
	eventually(t, r,
		want{"loft_connections", []string{"protocol", "amqp"}, 1},
		want{"loft_connections", []string{"protocol", "kafka"}, 0},
		want{"loft_channels", []string{"protocol", "amqp"}, 0},
		// Closing the channel requeues its one unacked message.
		want{"loft_queue_messages_ready", q("work"), 1},
		want{"loft_queue_consumers", q("work"), 0},
	)
}

// amqpWork declares a queue "work" dead-lettering to "dead" through the
// fanout exchange "dlx", publishes n messages with confirms, consumes them
// all, acks the first acks, rejects the next rejects without requeue, and
// keeps the rest unacked; it returns the connection and the channel.
func amqpWork(t *testing.T, r *running, n, acks, rejects int) (*amqp091.Connection, *amqp091.Channel) {
	t.Helper()
	conn, err := amqp091.Dial("amqp://guest:guest@" + r.AMQPAddr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ch.ExchangeDeclare("dlx", "fanout", true, false, false, false, nil))
	_, err = ch.QueueDeclare("dead", true, false, false, false, nil)
	must(err)
	must(ch.QueueBind("dead", "", "dlx", false, nil))
	_, err = ch.QueueDeclare("work", true, false, false, false, amqp091.Table{"x-dead-letter-exchange": "dlx"})
	must(err)
	must(ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp091.Confirmation, n))
	for i := range n {
		must(ch.PublishWithContext(context.Background(), "", "work", false, false,
			amqp091.Publishing{DeliveryMode: amqp091.Persistent, Body: []byte("m" + strconv.Itoa(i))}))
	}
	for range n {
		select {
		case c := <-confirms:
			if !c.Ack {
				t.Fatalf("publish %d nacked", c.DeliveryTag)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no confirm")
		}
	}
	deliveries, err := ch.Consume("work", "", false, false, false, false, nil)
	must(err)
	for i := range n {
		var d amqp091.Delivery
		select {
		case d = <-deliveries:
		case <-time.After(10 * time.Second):
			t.Fatalf("delivery %d did not come", i)
		}
		switch {
		case i < acks:
			must(d.Ack(false))
		case i < acks+rejects:
			must(d.Reject(false))
		}
	}
	return conn, ch
}

// kafkaWork produces records to a one-partition topic "events", consumes
// them in group "billing" and commits offset commit, tries to create
// "events" again (TOPIC_ALREADY_EXISTS), and closes its clients.
func kafkaWork(t *testing.T, ctx context.Context, r *running, records, commit int) {
	t.Helper()
	addr := r.KafkaAddr().String()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("events"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "events"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	var recs []*kgo.Record
	for i := range records {
		recs = append(recs, &kgo.Record{Value: []byte("v" + strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "events"); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("second create: %v, want TOPIC_ALREADY_EXISTS", err)
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := 0
	for got < commit {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d records, then: %v", got, ctx.Err())
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch: %v", e.Err)
		}
		got += fs.NumRecords()
	}
	var commitErr error
	cons.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{"events": {0: {Epoch: -1, Offset: int64(commit)}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			commitErr = err
			if err == nil {
				for _, tp := range resp.Topics {
					for _, p := range tp.Partitions {
						if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
							commitErr = e
						}
					}
				}
			}
		})
	if commitErr != nil {
		t.Fatalf("commit: %v", commitErr)
	}
}
