package amqp_test

// Publishing as RabbitMQ has it: mandatory returns, immediate, missing
// exchanges, publisher confirms, and bodies of every size.

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/amqp"
)

func TestSpecMandatoryReturn(t *testing.T) {
	_, _, ch := session(t)
	declare(t, ch, "q")
	bind(t, ch, "q", "amq.direct", "routed", nil)
	must(t, ch.Confirm(false))
	returns := ch.NotifyReturn(make(chan amqp091.Return, 4))
	confirms := ch.NotifyPublish(make(chan amqp091.Confirmation, 4))
	ctx := t.Context()
	sent := amqp091.Publishing{ContentType: "text/plain", MessageId: "id-1", Headers: amqp091.Table{"h": "v"}, Body: []byte("lost")}
	must(t, ch.PublishWithContext(ctx, "amq.direct", "nowhere", true, false, sent))
	var c amqp091.Confirmation
	select {
	case c = <-confirms:
	case <-time.After(waitFor):
		t.Fatal("no confirm")
	}
	if !c.Ack || c.DeliveryTag != 1 {
		t.Errorf("confirm %+v, want ack of 1", c)
	}
	// basic.return comes before the ack, so it is already here.
	select {
	case r := <-returns:
		if r.ReplyCode != amqp091.NoRoute || r.ReplyText != "NO_ROUTE" || r.Exchange != "amq.direct" || r.RoutingKey != "nowhere" {
			t.Errorf("return %d %q exchange %q key %q", r.ReplyCode, r.ReplyText, r.Exchange, r.RoutingKey)
		}
		if string(r.Body) != "lost" || r.ContentType != "text/plain" || r.MessageId != "id-1" || r.Headers["h"] != "v" {
			t.Errorf("returned message %q %+v", r.Body, r)
		}
	default:
		t.Fatal("no basic.return before the ack of an unroutable mandatory message")
	}

	// Routable mandatory, and unroutable not mandatory: no return.
	must(t, ch.PublishWithContext(ctx, "amq.direct", "routed", true, false, amqp091.Publishing{Body: []byte("kept")}))
	must(t, ch.PublishWithContext(ctx, "amq.direct", "nowhere", false, false, amqp091.Publishing{Body: []byte("dropped")}))
	for tag := uint64(2); tag <= 3; tag++ {
		select {
		case c := <-confirms:
			if !c.Ack || c.DeliveryTag != tag {
				t.Errorf("confirm %+v, want ack of %d", c, tag)
			}
		case <-time.After(waitFor):
			t.Fatalf("no confirm %d", tag)
		}
	}
	select {
	case r := <-returns:
		t.Errorf("unexpected return of %q", r.Body)
	default:
	}
	wantBodies(t, ch, "q", "kept")
}

func TestSpecMandatoryReturnWithoutConfirms(t *testing.T) {
	_, _, ch := session(t)
	returns := ch.NotifyReturn(make(chan amqp091.Return, 1))
	must(t, ch.PublishWithContext(t.Context(), "", "no-such-queue", true, false, amqp091.Publishing{Body: []byte("x")}))
	select {
	case r := <-returns:
		if r.ReplyCode != amqp091.NoRoute || r.Exchange != "" || r.RoutingKey != "no-such-queue" || string(r.Body) != "x" {
			t.Errorf("return %+v", r)
		}
	case <-time.After(waitFor):
		t.Fatal("no basic.return")
	}
}

func TestSpecImmediateClosesConnection(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	connectionError(t, conn, amqp091.NotImplemented, "publish with immediate=true", func(ch *amqp091.Channel) error {
		return ch.PublishWithContext(t.Context(), "", "q", false, true, amqp091.Publishing{Body: []byte("now")})
	})
}

func TestSpecPublishMissingExchange(t *testing.T) {
	_, conn, _ := session(t)
	asyncChannelError(t, conn, amqp091.NotFound, "publish to a missing exchange", func(ch *amqp091.Channel) error {
		return ch.PublishWithContext(t.Context(), "no-such-exchange", "k", false, false, amqp091.Publishing{Body: []byte("x")})
	})
	asyncChannelError(t, conn, amqp091.NotFound, "publish to a missing exchange in confirm mode", func(ch *amqp091.Channel) error {
		if err := ch.Confirm(false); err != nil {
			return err
		}
		return ch.PublishWithContext(t.Context(), "no-such-exchange", "k", false, false, amqp091.Publishing{Body: []byte("x")})
	})
}

func TestSpecConfirmEveryPublish(t *testing.T) {
	_, _, ch := session(t)
	declare(t, ch, "q1")
	declare(t, ch, "q2")
	must(t, ch.ExchangeDeclare("f", "fanout", false, false, false, false, nil))
	bind(t, ch, "q1", "f", "", nil)
	bind(t, ch, "q2", "f", "", nil)
	must(t, ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp091.Confirmation, 100))
	const n = 40
	ctx := t.Context()
	for i := range n {
		p := amqp091.Publishing{Body: fmt.Appendf(nil, "m%d", i)}
		if i%2 == 0 {
			p.DeliveryMode = amqp091.Persistent
		}
		var exchange, key string
		switch i % 4 {
		case 0, 1:
			exchange, key = "", "q1" // one queue
		case 2:
			exchange = "f" // two queues
		case 3:
			exchange, key = "amq.direct", "unroutable" // none
		}
		must(t, ch.PublishWithContext(ctx, exchange, key, false, false, p))
	}
	for i := range n {
		select {
		case c := <-confirms:
			if !c.Ack || c.DeliveryTag != uint64(i+1) {
				t.Fatalf("confirm %d = %+v, want ack of %d", i, c, i+1)
			}
		case <-time.After(waitFor):
			t.Fatalf("confirm %d missing", i+1)
		}
	}
	select {
	case c := <-confirms:
		t.Errorf("extra confirm %+v", c)
	case <-time.After(50 * time.Millisecond):
	}
	if got := len(drain(t, ch, "q1")); got != n/2+n/4 {
		t.Errorf("q1 has %d messages, want %d", got, n/2+n/4)
	}
	if got := len(drain(t, ch, "q2")); got != n/4 {
		t.Errorf("q2 has %d messages, want %d", got, n/4)
	}
}

func TestSpecBodySizes(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	room := amqp.DefaultFrameMax - 8 // a body frame's payload
	sizes := []int{0, 1, room - 1, room, room + 1, 2 * room, 1 << 20, 1<<20 + 7}
	body := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + n)
		}
		return b
	}
	must(t, ch.Confirm(false))
	for _, n := range sizes {
		sendConfirmed(t, ch, "", "q", amqp091.Publishing{DeliveryMode: amqp091.Persistent, Body: body(n)})
	}
	// By basic.get, then the same again by a consumer.
	var last amqp091.Delivery
	for _, n := range sizes {
		last = getOne(t, ch, "q")
		if !bytes.Equal(last.Body, body(n)) {
			t.Errorf("get: body of %d bytes came back as %d bytes (or changed)", n, len(last.Body))
		}
	}
	must(t, last.Nack(true, true))
	cc := openChan(t, conn)
	ds := consume(t, cc, "q", "")
	for _, n := range sizes {
		d := next(t, ds)
		if !bytes.Equal(d.Body, body(n)) {
			t.Errorf("consume: body of %d bytes came back as %d bytes (or changed)", n, len(d.Body))
		}
		must(t, d.Ack(false))
	}
}
