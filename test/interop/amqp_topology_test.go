package interop

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/loftproc"
)

// TestAMQPTopologySurvivesSIGKILL declares durable and transient
// exchanges, queues and bindings, kills the broker with SIGKILL, and
// checks after a restart that exactly the durable ones are back and still
// route.
func TestAMQPTopologySurvivesSIGKILL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := loftproc.Start(t, loftBin, dir)
	conn, err := dialAMQP(p.AMQP)
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
	must(ch.ExchangeDeclare("events", "topic", true, false, false, false, amqp.Table{"alternate-exchange": "unrouted"}))
	must(ch.ExchangeDeclare("unrouted", "fanout", true, false, false, false, nil))
	must(ch.ExchangeDeclare("fanin", "direct", true, false, false, false, nil))
	must(ch.ExchangeDeclare("scratch", "fanout", false, false, false, false, nil))
	_, err = ch.QueueDeclare("orders", true, false, false, false, amqp.Table{"x-max-length": int32(1000)})
	must(err)
	_, err = ch.QueueDeclare("dead", true, false, false, false, nil)
	must(err)
	_, err = ch.QueueDeclare("scratch-q", false, false, false, false, nil)
	must(err)
	must(ch.QueueBind("orders", "order.#", "events", false, nil))
	must(ch.QueueBind("dead", "", "unrouted", false, nil))
	must(ch.ExchangeBind("events", "order.created", "fanin", false, nil))
	must(ch.QueueBind("scratch-q", "", "scratch", false, nil))
	// A binding removed before the crash stays removed.
	must(ch.QueueBind("orders", "old.*", "events", false, nil))
	must(ch.QueueUnbind("orders", "old.*", "events", nil))
	p.Kill()
	conn.Close()

	p2 := loftproc.Start(t, loftBin, dir)
	conn2, err := dialAMQP(p2.AMQP)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	ch2, err := conn2.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// Redeclaring the same way is accepted: the arguments came back too.
	must(ch2.ExchangeDeclare("events", "topic", true, false, false, false, amqp.Table{"alternate-exchange": "unrouted"}))
	_, err = ch2.QueueDeclare("orders", true, false, false, false, amqp.Table{"x-max-length": int32(1000)})
	must(err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub := func(exchange, key, body string) {
		t.Helper()
		must(ch2.PublishWithContext(ctx, exchange, key, false, false, amqp.Publishing{Body: []byte(body)}))
	}
	pub("events", "order.paid", "direct")
	pub("fanin", "order.created", "through fanin")
	pub("events", "old.x", "unbound key")
	pub("events", "user.created", "to the alternate exchange")
	expect := func(queue string, bodies ...string) {
		t.Helper()
		for _, want := range bodies {
			var d amqp.Delivery
			var ok bool
			deadline := time.Now().Add(5 * time.Second)
			for !ok && time.Now().Before(deadline) {
				d, ok, err = ch2.Get(queue, true)
				must(err)
				if !ok {
					time.Sleep(10 * time.Millisecond)
				}
			}
			if !ok || string(d.Body) != want {
				t.Fatalf("queue %s: got %q (%v), want %q", queue, d.Body, ok, want)
			}
		}
		if d, ok, _ := ch2.Get(queue, true); ok {
			t.Fatalf("queue %s: unexpected %q", queue, d.Body)
		}
	}
	expect("orders", "direct", "through fanin")
	expect("dead", "unbound key", "to the alternate exchange")

	for _, gone := range []func(*amqp.Channel) error{
		func(c *amqp.Channel) error {
			return c.ExchangeDeclarePassive("scratch", "fanout", false, false, false, false, nil)
		},
		func(c *amqp.Channel) error {
			_, err := c.QueueDeclarePassive("scratch-q", false, false, false, false, nil)
			return err
		},
	} {
		c, err := conn2.Channel()
		must(err)
		var e *amqp.Error
		if err := gone(c); err == nil || !errors.As(err, &e) || e.Code != amqp.NotFound {
			t.Errorf("a transient entity survived the restart: %v", err)
		}
	}
}
