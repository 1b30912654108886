package amqp_test

import (
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// TestDelayedMessageExchange: an x-delayed-message exchange routes as its
// x-delayed-type, holding a message with x-delay until it is due: never
// earlier, and (with generous bounds for a shared machine) not much later.
func TestDelayedMessageExchange(t *testing.T) {
	_, conn, ch := session(t)
	must(t, ch.ExchangeDeclare("later", "x-delayed-message", true, false, false, false, amqp091.Table{"x-delayed-type": "direct"}))
	_, err := ch.QueueDeclare("jobs", true, false, false, false, nil)
	must(t, err)
	must(t, ch.QueueBind("jobs", "run", "later", false, nil))
	must(t, ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp091.Confirmation, 8))
	ds, err := ch.Consume("jobs", "", true, false, false, false, nil)
	must(t, err)

	start := time.Now()
	for _, m := range []struct {
		delay any
		body  string
	}{{int32(400), "in 400 ms"}, {int64(150), "in 150 ms"}, {nil, "now"}, {int32(-5), "negative: now"}} {
		h := amqp091.Table{}
		if m.delay != nil {
			h["x-delay"] = m.delay
		}
		publish(t, ch, "later", "run", amqp091.Publishing{Headers: h, Body: []byte(m.body)})
		select {
		case c := <-confirms:
			if !c.Ack {
				t.Fatalf("%s: nacked", m.body)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no confirm", m.body)
		}
	}
	// Unroutable once due: dropped, as the plugin drops it.
	publish(t, ch, "later", "nowhere", amqp091.Publishing{Headers: amqp091.Table{"x-delay": int32(50)}, Body: []byte("lost")})
	<-confirms
	for _, w := range []struct {
		body string
		min  time.Duration
	}{{"now", 0}, {"negative: now", 0}, {"in 150 ms", 150 * time.Millisecond}, {"in 400 ms", 400 * time.Millisecond}} {
		d := next(t, ds)
		at := time.Since(start)
		if string(d.Body) != w.body {
			t.Fatalf("got %q, want %q", d.Body, w.body)
		}
		if at < w.min || at > w.min+3*time.Second {
			t.Fatalf("%q after %v, want from %v", d.Body, at, w.min)
		}
		if w.min > 0 && d.Headers["x-delay"] == nil {
			t.Fatalf("%q lost its x-delay header", d.Body)
		}
	}
	select {
	case d := <-ds:
		t.Fatalf("unexpected %q", d.Body)
	case <-time.After(100 * time.Millisecond):
	}

	bad, err := conn.Channel()
	must(t, err)
	if err := bad.ExchangeDeclare("untyped", "x-delayed-message", false, false, false, false, nil); amqpCode(err) != amqp091.PreconditionFailed {
		t.Fatalf("without x-delayed-type: %v, want 406", err)
	}
	// Deleting the exchange drops what it holds, without blocking.
	publish(t, ch, "later", "run", amqp091.Publishing{Headers: amqp091.Table{"x-delay": int32(60000)}, Body: []byte("never")})
	<-confirms
	must(t, ch.ExchangeDelete("later", false, false))
}
