package interop

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/loftmq/loft/internal/loftproc"
)

// TestSIGTERMUnderLoad stops the broker with SIGTERM while an AMQP
// publisher (persistent, confirms) and a Kafka producer (acks=all,
// idempotent) run flat out: it must exit 0 within 10 s, and the next
// start must find every confirmed message and every acknowledged record,
// with nothing for recovery to cut.
func TestSIGTERMUnderLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := loftproc.Start(t, loftBin, dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// AMQP: a publisher with up to 256 unconfirmed.
	ch := amqpChannel(t, p.AMQP)
	if _, err := ch.QueueDeclare("orders", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	confirmed := map[uint64]bool{}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 512))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		inflight := make(chan struct{}, 256)
		confirmsDone := make(chan struct{})
		go func() {
			defer close(confirmsDone) // the connection is gone
			for c := range confirms {
				if c.Ack {
					mu.Lock()
					confirmed[c.DeliveryTag] = true
					mu.Unlock()
				}
				<-inflight
			}
		}()
		for seq := uint64(1); ; seq++ {
			select {
			case inflight <- struct{}{}:
			case <-confirmsDone:
				return
			}
			body := make([]byte, 256)
			binary.BigEndian.PutUint64(body, seq)
			if err := ch.PublishWithContext(ctx, "", "orders", false, false,
				amqp.Publishing{DeliveryMode: amqp.Persistent, Body: body}); err != nil {
				return // the broker went away
			}
		}
	}()

	// Kafka: an idempotent producer, acks=all.
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka), kgo.DefaultProduceTopic("events"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1), kgo.RequestRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "events"); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	stopKafka := make(chan struct{})
	go func() {
		defer wg.Done()
		sem := make(chan struct{}, 256)
		for i := 0; ; i++ {
			select {
			case <-stopKafka:
				return
			case sem <- struct{}{}:
			}
			rec := &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: make([]byte, 200)}
			cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
				if err == nil {
					mu.Lock()
					acked[string(r.Key)] = true
					mu.Unlock()
				}
				<-sem
			})
		}
	}()

	time.Sleep(time.Second)
	took, err := p.Terminate(15 * time.Second)
	if err != nil {
		t.Fatalf("SIGTERM: %v after %v\n%s", err, took, p.Log())
	}
	if took > 10*time.Second {
		t.Fatalf("took %v to stop after SIGTERM", took)
	}
	close(stopKafka)
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(20 * time.Second):
		t.Fatal("the load generators did not stop after the broker did")
	}
	cl.Close()
	mu.Lock()
	nConfirmed, nAcked := len(confirmed), len(acked)
	mu.Unlock()
	if nConfirmed == 0 || nAcked == 0 {
		t.Fatalf("no load before the SIGTERM: %d confirmed, %d acked", nConfirmed, nAcked)
	}
	t.Logf("stopped in %v under load: %d AMQP messages confirmed, %d Kafka records acknowledged", took, nConfirmed, nAcked)

	p = loftproc.Start(t, loftBin, dir)
	if log := p.Log(); strings.Contains(log, "recovery cut") || strings.Contains(log, "damaged") {
		t.Fatalf("the restart after a graceful stop had something to recover:\n%s", log)
	}
	// Every confirmed message is there: delivery tags count publishes
	// from 1, as the sequence numbers do.
	ch = amqpChannel(t, p.AMQP)
	if err := ch.Qos(1000, 0, false); err != nil {
		t.Fatal(err)
	}
	ds, err := ch.Consume("orders", "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]bool{}
	for len(got) < nConfirmed {
		select {
		case d := <-ds:
			got[binary.BigEndian.Uint64(d.Body)] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("after the restart: %d of %d confirmed messages", len(got), nConfirmed)
		}
	}
	for seq := range confirmed {
		if !got[seq] {
			t.Fatalf("confirmed message %d is missing", seq)
		}
	}
	// Every acknowledged record is there.
	cons, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka), kgo.ConsumeTopics("events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]bool{}
	for deadline := time.Now().Add(20 * time.Second); len(seen) < nAcked; {
		fs := cons.PollRecords(ctx, 10000)
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Key)] = true })
		if time.Now().After(deadline) {
			break
		}
	}
	for k := range acked {
		if !seen[k] {
			t.Fatalf("acknowledged record %q is missing (%d of %d seen)", k, len(seen), nAcked)
		}
	}
}
