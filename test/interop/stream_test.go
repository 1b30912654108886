package interop

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/loftmq/loft/internal/loftproc"
)

// streamMessage is a publishing with every property set and headers of
// many types, to cross protocols and come back intact.
func streamMessage(i int) amqp.Publishing {
	return amqp.Publishing{
		ContentType: "application/json", ContentEncoding: "identity",
		DeliveryMode: amqp.Persistent, Priority: 3,
		CorrelationId: fmt.Sprint("corr-", i), ReplyTo: "replies", Expiration: "600000",
		MessageId: fmt.Sprint("msg-", i), Timestamp: time.Unix(1700000000+int64(i), 0),
		Type: "order.created", UserId: "guest", AppId: "shop",
		Headers: amqp.Table{
			"tenant": "acme", "attempt": int32(i), "big": int64(1) << 40, "ok": true,
			"ratio": 0.25, "raw": []byte{0xff, 0x00}, "when": time.Unix(1700000000, 0),
			"nested": amqp.Table{"a": "b"}, "list": []any{"x", int32(1)},
		},
		Body: []byte(fmt.Sprintf(`{"order":%d}`, i)),
	}
}

// sameMessage compares what an AMQP consumer got with what was published,
// property by property, ignoring the x-stream-offset header the stream
// adds.
func sameMessage(t *testing.T, got amqp.Delivery, want amqp.Publishing) {
	t.Helper()
	headers := amqp.Table{}
	for k, v := range got.Headers {
		if k != "x-stream-offset" {
			headers[k] = v
		}
	}
	g := amqp.Publishing{
		ContentType: got.ContentType, ContentEncoding: got.ContentEncoding, DeliveryMode: got.DeliveryMode,
		Priority: got.Priority, CorrelationId: got.CorrelationId, ReplyTo: got.ReplyTo,
		Expiration: got.Expiration, MessageId: got.MessageId, Timestamp: got.Timestamp, Type: got.Type,
		UserId: got.UserId, AppId: got.AppId, Headers: headers, Body: got.Body,
	}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("message differs:\n got %+v\nwant %+v", g, want)
	}
}

// consumeStream consumes n messages from a stream queue from offset.
func consumeStream(t *testing.T, ch *amqp.Channel, queue string, offset any, n int) []amqp.Delivery {
	t.Helper()
	if err := ch.Qos(10, 0, false); err != nil {
		t.Fatal(err)
	}
	ds, err := ch.Consume(queue, "", false, false, false, false, amqp.Table{"x-stream-offset": offset})
	if err != nil {
		t.Fatal(err)
	}
	var got []amqp.Delivery
	for len(got) < n {
		select {
		case d, ok := <-ds:
			if !ok {
				t.Fatalf("deliveries closed after %d of %d", len(got), n)
			}
			if err := d.Ack(false); err != nil {
				t.Fatal(err)
			}
			got = append(got, d)
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of %d messages from %s", len(got), n, queue)
		}
	}
	return got
}

// TestStreamQueueIsKafkaTopic: a stream queue and the one-partition topic
// of the same name are one log. What AMQP publishes, a Kafka consumer
// fetches with the mapped headers; what Kafka produces, an AMQP consumer
// reads; a message fetched by Kafka and produced again to another stream
// reaches AMQP with every property intact; consumers start where
// x-stream-offset says, and the stream survives a SIGKILL.
func TestStreamQueueIsKafkaTopic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := loftproc.Start(t, loftBin, dir)
	ch := amqpChannel(t, p.AMQP)
	for _, name := range []string{"events", "events-copy"} {
		if _, err := ch.QueueDeclare(name, true, false, false, false,
			amqp.Table{"x-queue-type": "stream", "x-max-age": "7D"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 5
	for i := range n {
		m := streamMessage(i)
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", "events", false, false, m)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("confirm %d: %v %v", i, ok, err)
		}
	}

	// Kafka sees the AMQP messages, properties as headers.
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka), kgo.ConsumeTopics("events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("fetched %d of %d", len(recs), n)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		recs = append(recs, fs.Records()...)
	}
	header := func(r *kgo.Record, key string) string {
		for _, h := range r.Headers {
			if h.Key == key {
				return string(h.Value)
			}
		}
		return "<none>"
	}
	r := recs[1]
	if r.Offset != 1 || string(r.Value) != `{"order":1}` || string(r.Key) != "events" { // the routing key
		t.Fatalf("record 1: offset %d key %q value %q", r.Offset, r.Key, r.Value)
	}
	for k, want := range map[string]string{
		"content-type": "application/json", "amqp.message-id": "msg-1", "amqp.correlation-id": "corr-1",
		"amqp.reply-to": "replies", "amqp.type": "order.created", "tenant": "acme", "attempt": "1", "ok": "true",
	} {
		if got := header(r, k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}

	// Kafka → AMQP: the fetched records produced again, as they are, to
	// another stream come back to AMQP exactly as first published.
	for _, r := range recs {
		copy := &kgo.Record{Topic: "events-copy", Key: r.Key, Value: r.Value, Headers: r.Headers}
		if err := cl.ProduceSync(ctx, copy).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// A plain Kafka record becomes a plain AMQP message.
	plain := &kgo.Record{Topic: "events", Key: []byte("order.paid"), Value: []byte("paid"),
		Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("text/plain")}, {Key: "origin", Value: []byte("kafka")}}}
	if err := cl.ProduceSync(ctx, plain).FirstErr(); err != nil {
		t.Fatal(err)
	}

	for i, d := range consumeStream(t, amqpChannel(t, p.AMQP), "events-copy", "first", n) {
		sameMessage(t, d, streamMessage(i))
	}
	got := consumeStream(t, amqpChannel(t, p.AMQP), "events", "first", n+1)
	for i, d := range got[:n] {
		sameMessage(t, d, streamMessage(i))
		if d.Headers["x-stream-offset"] != int64(i) {
			t.Errorf("delivery %d: x-stream-offset %v", i, d.Headers["x-stream-offset"])
		}
	}
	last := got[n]
	if last.RoutingKey != "order.paid" || string(last.Body) != "paid" || last.ContentType != "text/plain" || last.Headers["origin"] != "kafka" {
		t.Fatalf("the Kafka record arrived as %+v", last)
	}
	if d := consumeStream(t, amqpChannel(t, p.AMQP), "events", int64(3), 1)[0]; d.MessageId != "msg-3" {
		t.Fatalf("from offset 3: %q", d.MessageId)
	}
	if d := consumeStream(t, amqpChannel(t, p.AMQP), "events", "last", 1)[0]; string(d.Body) != "paid" {
		t.Fatalf("from last: %q", d.Body)
	}

	// The rules RabbitMQ has for streams.
	bad := amqpChannel(t, p.AMQP)
	if _, _, err := bad.Get("events", false); amqpCode(err) != amqp.NotImplemented {
		t.Fatalf("basic.get on a stream: %v, want 540", err)
	}
	bad = amqpChannel(t, p.AMQP)
	if _, err := bad.Consume("events", "", false, false, false, false, nil); amqpCode(err) != amqp.PreconditionFailed {
		t.Fatalf("consume without prefetch: %v, want 406", err)
	}
	bad = amqpChannel(t, p.AMQP)
	if _, err := bad.QueueDeclare("transient-stream", false, false, false, false, amqp.Table{"x-queue-type": "stream"}); amqpCode(err) != amqp.PreconditionFailed {
		t.Fatalf("non-durable stream: %v, want 406", err)
	}

	// A crash loses nothing confirmed; "next" waits for the next message.
	p.Kill()
	p = loftproc.Start(t, loftBin, dir)
	if got := consumeStream(t, amqpChannel(t, p.AMQP), "events", "first", n+1); got[n].RoutingKey != "order.paid" {
		t.Fatalf("after the restart: %+v", got[n])
	}
	ch = amqpChannel(t, p.AMQP)
	if err := ch.Qos(10, 0, false); err != nil {
		t.Fatal(err)
	}
	ds, err := ch.Consume("events", "", false, false, false, false, amqp.Table{"x-stream-offset": "next"})
	if err != nil {
		t.Fatal(err)
	}
	pub := amqpChannel(t, p.AMQP)
	if err := pub.PublishWithContext(ctx, "", "events", false, false, amqp.Publishing{Body: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-ds:
		if string(d.Body) != "after" {
			t.Fatalf("next: %q", d.Body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("next: nothing")
	}
}

// amqpCode returns the reply code of an AMQP error, 0 for none.
func amqpCode(err error) int {
	var e *amqp.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}
