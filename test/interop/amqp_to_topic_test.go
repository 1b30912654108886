package interop

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/loftmq/loft/internal/loftproc"
)

// TestAMQPExchangeFeedsKafkaGroup: an exchange bound to a Kafka topic
// (queue.bind to kafka:<topic>) produces what it routes there, each
// message to the partition Kafka's default partitioner gives its routing
// key, where a consumer group reads it; the binding survives a restart
// and unbinding stops the flow.
func TestAMQPExchangeFeedsKafkaGroup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := loftproc.Start(t, loftBin, dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(admin).CreateTopic(ctx, 4, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	admin.Close()

	ch := amqpChannel(t, p.AMQP)
	if err := ch.ExchangeDeclare("shop", "topic", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind("kafka:nosuchtopic", "#", "shop", false, nil); amqpCode(err) != amqp.NotFound {
		t.Fatalf("binding to a missing topic: %v, want 404", err)
	}
	ch = amqpChannel(t, p.AMQP)
	if err := ch.QueueBind("kafka:orders", "order.*", "shop", false, nil); err != nil {
		t.Fatal(err)
	}
	publish := func(p *loftproc.Process, from, n int) {
		t.Helper()
		ch := amqpChannel(t, p.AMQP)
		if err := ch.Confirm(false); err != nil {
			t.Fatal(err)
		}
		for i := from; i < from+n; i++ {
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "shop", fmt.Sprint("order.", i), true, false,
				amqp.Publishing{MessageId: fmt.Sprint("m", i), ContentType: "text/plain", Body: []byte(fmt.Sprint("order ", i))})
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := dc.WaitContext(ctx); !ok || err != nil {
				t.Fatalf("confirm %d: %v %v", i, ok, err)
			}
		}
		// Not matched by the binding: goes nowhere.
		if err := ch.PublishWithContext(ctx, "shop", "invoice.1", false, false, amqp.Publishing{Body: []byte("invoice")}); err != nil {
			t.Fatal(err)
		}
	}
	publish(p, 0, 20)
	p.Kill()
	p = loftproc.Start(t, loftBin, dir)
	publish(p, 20, 20)

	group, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	partitioner := kgo.StickyKeyPartitioner(nil).ForTopic("orders")
	seen := map[string]bool{}
	for len(seen) < 40 {
		fs := group.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the group read %d of 40", len(seen))
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			key := string(r.Key)
			if want := partitioner.Partition(r, 4); int(r.Partition) != want {
				t.Errorf("%s in partition %d, Kafka's partitioner says %d", key, r.Partition, want)
			}
			var id string
			for _, h := range r.Headers {
				if h.Key == "amqp.message-id" {
					id = string(h.Value)
				}
			}
			if "order."+id[1:] != key || string(r.Value) != "order "+id[1:] {
				t.Errorf("record %q: id %q, value %q", key, id, r.Value)
			}
			if seen[key] {
				t.Errorf("%s twice", key)
			}
			seen[key] = true
		})
	}

	ch = amqpChannel(t, p.AMQP)
	if err := ch.QueueUnbind("kafka:orders", "order.*", "shop", nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	if err := ch.PublishWithContext(ctx, "shop", "order.99", true, false, amqp.Publishing{Body: []byte("late")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-returns: // unroutable once unbound
	case <-time.After(5 * time.Second):
		t.Fatal("a message routed nowhere was not returned")
	}
}
