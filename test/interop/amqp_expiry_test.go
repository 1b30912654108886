package interop

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/loftproc"
)

// TestAMQPExpiryAndDeadLettersSurviveSIGKILL: TTLs count from publishing
// across a crash (a message that expired while the broker was down is
// dead-lettered as it comes back, with its x-death history; one with time
// left keeps waiting), and a message rejected just before the crash is
// never lost: dead-lettered, or still in its queue.
func TestAMQPExpiryAndDeadLettersSurviveSIGKILL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := loftproc.Start(t, loftBin, dir)
	ch := amqpChannel(t, p.AMQP)
	dlx := amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dead"}
	declare := func(name string, args amqp.Table) {
		t.Helper()
		if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
			t.Fatal(err)
		}
	}
	declare("dead", nil)
	declare("short", amqp.Table{"x-message-ttl": int32(300), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dead"})
	declare("long", amqp.Table{"x-message-ttl": int32(60000)})
	declare("work", dlx)
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range []struct{ queue, body string }{{"short", "expires while down"}, {"long", "still alive"}, {"work", "rejected"}} {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", m.queue, false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(m.body)})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("confirm of %q: %v %v", m.body, ok, err)
		}
	}
	d, ok, err := ch.Get("work", false)
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	if err := d.Reject(false); err != nil {
		t.Fatal(err)
	}
	// Killed at once: the dead letter may not be stored yet, and then its
	// original must still be in its queue.
	p.Kill()
	time.Sleep(400 * time.Millisecond) // past the short TTL
	rejected := false

	p = loftproc.Start(t, loftBin, dir)
	ch = amqpChannel(t, p.AMQP)
	var reason string
	for deadline := time.Now().Add(10 * time.Second); reason == ""; {
		d, ok, err := ch.Get("dead", true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if time.Now().After(deadline) {
				t.Fatal("the message that expired while down was not dead-lettered")
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		deaths, _ := d.Headers["x-death"].([]any)
		if len(deaths) != 1 {
			t.Fatalf("%q: x-death %v", d.Body, d.Headers["x-death"])
		}
		death := deaths[0].(amqp.Table)
		got := fmt.Sprintf("%s: %s in %s", d.Body, death["reason"], death["queue"])
		switch got {
		case "expires while down: expired in short":
			reason = got
		case "rejected: rejected in work":
			rejected = true
		default:
			t.Fatalf("dead letter %s", got)
		}
	}
	if !rejected {
		d, ok, err := ch.Get("dead", true)
		if err == nil && ok && string(d.Body) == "rejected" {
			rejected = true
		}
	}
	if !rejected {
		// Not stored as a dead letter before the crash: then not acked.
		d, ok, err := ch.Get("work", true)
		if err != nil || !ok || string(d.Body) != "rejected" {
			t.Fatalf("the rejected message is lost: work gave %v %v %q", ok, err, d.Body)
		}
	}
	if d, ok, err := ch.Get("long", true); err != nil || !ok || string(d.Body) != "still alive" {
		t.Fatalf("long: %v %v %q", ok, err, d.Body)
	}
}
