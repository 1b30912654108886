package interop

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/loftproc"
)

// TestAMQPDelayedMessagesSurviveSIGKILL: messages a durable
// x-delayed-message exchange holds, once confirmed, survive a crash: one
// that came due while the broker was down fires as it comes back, one
// still pending fires when due, never earlier.
func TestAMQPDelayedMessagesSurviveSIGKILL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := loftproc.Start(t, loftBin, dir)
	ch := amqpChannel(t, p.AMQP)
	if err := ch.ExchangeDeclare("retry", "x-delayed-message", true, false, false, false, amqp.Table{"x-delayed-type": "fanout"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("work", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind("work", "", "retry", false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	for _, m := range []struct {
		delay int32
		body  string
	}{{300, "due while down"}, {2500, "due after the restart"}} {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "retry", "", false, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent, Headers: amqp.Table{"x-delay": m.delay}, Body: []byte(m.body)})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("confirm of %q: %v %v", m.body, ok, err)
		}
	}
	p.Kill()
	time.Sleep(400 * time.Millisecond)

	p = loftproc.Start(t, loftBin, dir)
	ch = amqpChannel(t, p.AMQP)
	ds, err := ch.Consume("work", "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		body string
		min  time.Duration
	}{{"due while down", 300 * time.Millisecond}, {"due after the restart", 2500 * time.Millisecond}} {
		select {
		case d := <-ds:
			at := time.Since(start)
			if string(d.Body) != w.body || at < w.min {
				t.Fatalf("%q after %v, want %q from %v", d.Body, at, w.body, w.min)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q never came", w.body)
		}
	}
}
