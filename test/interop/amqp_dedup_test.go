package interop

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/loftproc"
)

// TestAMQPDeduplicationSurvivesSIGKILL checks that a durable
// x-message-deduplication exchange remembers what it saw across a crash,
// and a deduplicating queue what it holds: a publisher retrying after the
// restart does not create a duplicate.
func TestAMQPDeduplicationSurvivesSIGKILL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	publish := func(p *loftproc.Process, id string) {
		t.Helper()
		conn, err := dialAMQP(p.AMQP)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.ExchangeDeclare("payments", "x-message-deduplication", true, false, false, false,
			amqp.Table{"x-cache-size": int32(1000)}); err != nil {
			t.Fatal(err)
		}
		if _, err := ch.QueueDeclare("ledger", true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := ch.QueueBind("ledger", "", "payments", false, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := ch.QueueDeclare("refunds", true, false, false, false, amqp.Table{"x-message-deduplication": true}); err != nil {
			t.Fatal(err)
		}
		if err := ch.Confirm(false); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "payments", "", false, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent, Headers: amqp.Table{"x-deduplication-header": id}, Body: []byte(id),
		})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("confirm of %s: %v %v", id, ok, err)
		}
		dc, err = ch.PublishWithDeferredConfirmWithContext(ctx, "", "refunds", false, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent, Headers: amqp.Table{"x-deduplication-header": "refund-of-" + id}, Body: []byte(id),
		})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("confirm of refund-of-%s: %v %v", id, ok, err)
		}
	}
	p := loftproc.Start(t, loftBin, dir)
	publish(p, "payment-1")
	time.Sleep(50 * time.Millisecond) // the cache's record is written without an fsync of its own
	p.Kill()

	p2 := loftproc.Start(t, loftBin, dir)
	publish(p2, "payment-1") // the retry
	publish(p2, "payment-2")
	conn, err := dialAMQP(p2.AMQP)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ledger", "refunds"} {
		q, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages != 2 {
			t.Fatalf("%s holds %d messages, want 2: payment-1 once, payment-2", name, q.Messages)
		}
	}
}
