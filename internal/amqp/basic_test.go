package amqp_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/amqp"
	"github.com/loftmq/loft/internal/amqp/frame"
)

// session is a connection and channel to a fresh listener.
func session(t *testing.T) (*listener, *amqp091.Connection, *amqp091.Channel) {
	t.Helper()
	l := startListener(t, amqp.Config{})
	conn, err := dial(t, l.url("guest", "guest", "/"), amqp091.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return l, conn, ch
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func publish(t *testing.T, ch *amqp091.Channel, exchange, key string, p amqp091.Publishing) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(t, ch.PublishWithContext(ctx, exchange, key, false, false, p))
}

// next returns the next delivery, failing after a few seconds.
func next(t *testing.T, ds <-chan amqp091.Delivery) amqp091.Delivery {
	t.Helper()
	select {
	case d, ok := <-ds:
		if !ok {
			t.Fatal("deliveries closed")
		}
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery within 5 s")
	}
	return amqp091.Delivery{}
}

// none checks that nothing is delivered for a short while.
func none(t *testing.T, ds <-chan amqp091.Delivery) {
	t.Helper()
	select {
	case d := <-ds:
		t.Fatalf("unexpected delivery %q", d.Body)
	case <-time.After(100 * time.Millisecond):
	}
}

func amqpCode(err error) int {
	var e *amqp091.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func TestPublishConfirmConsumeAck(t *testing.T) {
	_, _, ch := session(t)
	q, err := ch.QueueDeclare("orders", true, false, false, false, nil)
	must(t, err)
	if q.Name != "orders" || q.Messages != 0 {
		t.Fatalf("declare-ok = %+v", q)
	}
	must(t, ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp091.Confirmation, 1000))
	const n = 500
	for i := range n {
		publish(t, ch, "", "orders", amqp091.Publishing{
			DeliveryMode: amqp091.Persistent, Body: fmt.Appendf(nil, "m%d", i),
		})
	}
	for i := range n {
		select {
		case c := <-confirms:
			if !c.Ack || c.DeliveryTag != uint64(i+1) {
				t.Fatalf("confirm %d = %+v", i, c)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("confirm %d missing", i)
		}
	}
	q, err = ch.QueueDeclarePassive("orders", true, false, false, false, nil)
	must(t, err)
	if q.Messages != n {
		t.Fatalf("message count %d, want %d", q.Messages, n)
	}
	must(t, ch.Qos(50, 0, false))
	ds, err := ch.Consume("orders", "", false, false, false, false, nil)
	must(t, err)
	for i := range n {
		d := next(t, ds)
		if string(d.Body) != fmt.Sprintf("m%d", i) || d.Redelivered {
			t.Fatalf("delivery %d: %q redelivered=%v", i, d.Body, d.Redelivered)
		}
		must(t, d.Ack(false))
	}
	none(t, ds)
}

func TestPropertiesRoundTrip(t *testing.T) {
	_, _, ch := session(t)
	_, err := ch.QueueDeclare("props", false, false, false, false, nil)
	must(t, err)
	ts := time.Unix(1700000000, 0)
	sent := amqp091.Publishing{
		Headers: amqp091.Table{
			"string": "s", "int32": int32(-7), "int64": int64(1) << 40, "bool": true,
			"float": 1.5, "bytes": []byte{0, 1, 2}, "time": ts,
			"nested": amqp091.Table{"a": "b"}, "array": []any{"x", int32(1)},
			"decimal": amqp091.Decimal{Scale: 2, Value: 12345},
		},
		ContentType: "application/json", ContentEncoding: "gzip", DeliveryMode: 2, Priority: 3,
		CorrelationId: "corr-1", ReplyTo: "replies", Expiration: "60000", MessageId: "id-1",
		Timestamp: ts, Type: "order.created", UserId: "guest", AppId: "shop",
		Body: []byte(`{"ok":true}`),
	}
	publish(t, ch, "", "props", sent)
	d, ok, err := ch.Get("props", true)
	must(t, err)
	if !ok {
		t.Fatal("get-empty")
	}
	got := amqp091.Publishing{
		Headers: d.Headers, ContentType: d.ContentType, ContentEncoding: d.ContentEncoding,
		DeliveryMode: d.DeliveryMode, Priority: d.Priority, CorrelationId: d.CorrelationId,
		ReplyTo: d.ReplyTo, Expiration: d.Expiration, MessageId: d.MessageId, Timestamp: d.Timestamp,
		Type: d.Type, UserId: d.UserId, AppId: d.AppId, Body: d.Body,
	}
	if !reflect.DeepEqual(got, sent) {
		t.Fatalf("got  %+v\nsent %+v", got, sent)
	}
	if d.Exchange != "" || d.RoutingKey != "props" || d.MessageCount != 0 {
		t.Fatalf("get-ok fields: exchange %q key %q count %d", d.Exchange, d.RoutingKey, d.MessageCount)
	}
}

func TestDirectReplyTo(t *testing.T) {
	l, _, client := session(t)
	_, err := client.QueueDeclare("rpc", false, false, false, false, nil)
	must(t, err)
	replies, err := client.Consume("amq.rabbitmq.reply-to", "", true, false, false, false, nil)
	must(t, err)
	publish(t, client, "", "rpc", amqp091.Publishing{
		ReplyTo: "amq.rabbitmq.reply-to", CorrelationId: "req-1", Body: []byte("ping"),
	})

	server, err := dial(t, l.url("guest", "guest", "/"), amqp091.Config{})
	must(t, err)
	sch, err := server.Channel()
	must(t, err)
	requests, err := sch.Consume("rpc", "", false, false, false, false, nil)
	must(t, err)
	req := next(t, requests)
	if !strings.HasPrefix(req.ReplyTo, "amq.rabbitmq.reply-to.") || req.CorrelationId != "req-1" {
		t.Fatalf("request reply_to %q correlation %q", req.ReplyTo, req.CorrelationId)
	}
	publish(t, sch, "", req.ReplyTo, amqp091.Publishing{CorrelationId: req.CorrelationId, Body: []byte("pong")})
	must(t, req.Ack(false))
	rep := next(t, replies)
	if string(rep.Body) != "pong" || rep.CorrelationId != "req-1" || rep.RoutingKey != req.ReplyTo {
		t.Fatalf("reply %q correlation %q key %q", rep.Body, rep.CorrelationId, rep.RoutingKey)
	}

	// Without a reply consumer on the channel, such a request is refused.
	asyncChannelError(t, server, amqp091.PreconditionFailed, "a request without a reply consumer", func(ch *amqp091.Channel) error {
		return ch.PublishWithContext(context.Background(), "", "rpc", false, false,
			amqp091.Publishing{ReplyTo: "amq.rabbitmq.reply-to", Body: []byte("x")})
	})
}

// TestPropertiesByteExact publishes a content header built by hand, with
// every field-table type and a repeated header name, and checks that
// basic.get hands back the very same property bytes.
func TestPropertiesByteExact(t *testing.T) {
	l := startListener(t, amqp.Config{})
	nc, err := net.Dial("tcp", l.addr)
	must(t, err)
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(nc)
	io.WriteString(nc, frame.ProtocolHeader)
	readMethod[*frame.ConnectionStart](t, rd)
	writeMethod(t, nc, &frame.ConnectionStartOK{Mechanism: "PLAIN", Response: "\x00guest\x00guest", Locale: "en_US"})
	readMethod[*frame.ConnectionTune](t, rd)
	writeMethod(t, nc, &frame.ConnectionTuneOK{ChannelMax: 10, FrameMax: amqp.DefaultFrameMax})
	writeMethod(t, nc, &frame.ConnectionOpen{VirtualHost: "/"})
	readMethod[*frame.ConnectionOpenOK](t, rd)
	write := func(f frame.Frame, err error) {
		t.Helper()
		must(t, err)
		must(t, f.Write(nc))
	}
	write(frame.MethodFrame(1, &frame.ChannelOpen{}))
	readMethod[*frame.ChannelOpenOK](t, rd)
	write(frame.MethodFrame(1, &frame.QueueDeclare{Queue: "exact"}))
	readMethod[*frame.QueueDeclareOK](t, rd)

	props := frame.Properties{
		ContentType: "text/plain", DeliveryMode: 2, Priority: 9, MessageID: "",
		Timestamp: time.Unix(1700000000, 0).UTC(),
		Headers: frame.Table{
			{Key: "dup", Value: "first"}, {Key: "dup", Value: "second"},
			{Key: "i8", Value: int8(-1)}, {Key: "u8", Value: uint8(255)},
			{Key: "i16", Value: int16(-2)}, {Key: "u16", Value: uint16(65535)},
			{Key: "i32", Value: int32(-3)}, {Key: "u32", Value: uint32(1 << 31)},
			{Key: "i64", Value: int64(-4)}, {Key: "f32", Value: float32(1.5)},
			{Key: "f64", Value: 2.25}, {Key: "dec", Value: frame.Decimal{Scale: 3, Value: 1234}},
			{Key: "str", Value: "s"}, {Key: "bytes", Value: []byte{0, 0xff}},
			{Key: "bool", Value: true}, {Key: "time", Value: time.Unix(1, 0).UTC()},
			{Key: "void", Value: nil}, {Key: "array", Value: []any{int32(1), "two", frame.Table{{Key: "k", Value: "v"}}}},
			{Key: "table", Value: frame.Table{{Key: "z", Value: "last"}, {Key: "a", Value: "first"}}},
		},
	}
	props.SetFlags()
	props.Flags |= frame.FlagMessageID // present though empty: not the same as absent
	body := []byte("byte for byte")
	header, err := frame.HeaderFrame(1, frame.Header{ClassID: frame.ClassBasic, BodySize: uint64(len(body)), Properties: props})
	must(t, err)
	write(frame.MethodFrame(1, &frame.BasicPublish{RoutingKey: "exact"}))
	write(header, nil)
	write(frame.BodyFrame(1, body), nil)
	write(frame.MethodFrame(1, &frame.BasicGet{Queue: "exact", NoAck: true}))
	readMethod[*frame.BasicGetOK](t, rd)
	got, err := frame.Read(rd, amqp.DefaultFrameMax)
	must(t, err)
	if got.Type != frame.FrameHeader || !bytes.Equal(got.Payload, header.Payload) {
		t.Fatalf("content header changed on the way:\n sent %x\n got  %x", header.Payload, got.Payload)
	}
	b, err := frame.Read(rd, amqp.DefaultFrameMax)
	must(t, err)
	if !bytes.Equal(b.Payload, body) {
		t.Fatalf("body %q", b.Payload)
	}
}

func TestMessageTTL(t *testing.T) {
	_, conn, ch := session(t)
	_, err := ch.QueueDeclare("ttl", false, false, false, false, amqp091.Table{"x-message-ttl": int32(100)})
	must(t, err)
	_, err = ch.QueueDeclare("plain", false, false, false, false, nil)
	must(t, err)
	publish(t, ch, "", "ttl", amqp091.Publishing{Body: []byte("queue ttl")})
	publish(t, ch, "", "plain", amqp091.Publishing{Body: []byte("own expiration"), Expiration: "100"})
	publish(t, ch, "", "plain", amqp091.Publishing{Body: []byte("no expiration")})
	// Nobody consumes: the messages still expire, and the counts say so.
	deadline := time.Now().Add(5 * time.Second)
	for {
		q, err := ch.QueueDeclarePassive("ttl", false, false, false, false, amqp091.Table{"x-message-ttl": int32(100)})
		must(t, err)
		if q.Messages == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ttl queue still holds %d messages", q.Messages)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(150 * time.Millisecond)
	d, ok, err := ch.Get("plain", true)
	must(t, err)
	if !ok || string(d.Body) != "no expiration" || d.Expiration != "" {
		t.Fatalf("plain queue: %q (%v), want only the message without expiration", d.Body, ok)
	}
	// An expiration that is not a number of milliseconds: 406.
	asyncChannelError(t, conn, amqp091.PreconditionFailed, "an invalid expiration", func(ch *amqp091.Channel) error {
		return ch.PublishWithContext(context.Background(), "", "plain", false, false,
			amqp091.Publishing{Body: []byte("x"), Expiration: "soon"})
	})
	// A negative x-message-ttl is refused too.
	bad, err := conn.Channel()
	must(t, err)
	if _, err := bad.QueueDeclare("neg", false, false, false, false, amqp091.Table{"x-message-ttl": int32(-1)}); amqpCode(err) != amqp091.PreconditionFailed {
		t.Fatalf("x-message-ttl -1: %v, want 406", err)
	}
}

func TestDeadLettering(t *testing.T) {
	_, _, ch := session(t)
	must(t, ch.ExchangeDeclare("dlx", "fanout", false, false, false, false, nil))
	_, err := ch.QueueDeclare("dead", false, false, false, false, nil)
	must(t, err)
	must(t, ch.QueueBind("dead", "", "dlx", false, nil))
	_, err = ch.QueueDeclare("work", false, false, false, false, amqp091.Table{"x-dead-letter-exchange": "dlx"})
	must(t, err)
	publish(t, ch, "", "work", amqp091.Publishing{Body: []byte("poison"), Headers: amqp091.Table{"app": "kept"}})
	d, ok, err := ch.Get("work", false)
	must(t, err)
	if !ok {
		t.Fatal("get-empty")
	}
	must(t, d.Reject(false))
	dead := getEventually(t, ch, "dead")
	if string(dead.Body) != "poison" || dead.Headers["app"] != "kept" {
		t.Fatalf("dead letter %q headers %v", dead.Body, dead.Headers)
	}
	deaths, _ := dead.Headers["x-death"].([]any)
	if len(deaths) != 1 {
		t.Fatalf("x-death = %v", dead.Headers["x-death"])
	}
	death := deaths[0].(amqp091.Table)
	if death["reason"] != "rejected" || death["queue"] != "work" || death["count"] != int64(1) ||
		death["exchange"] != "" || fmt.Sprint(death["routing-keys"]) != "[work]" {
		t.Fatalf("x-death entry %v", death)
	}
	if dead.Headers["x-first-death-reason"] != "rejected" || dead.Headers["x-first-death-queue"] != "work" {
		t.Fatalf("x-first-death-* = %v", dead.Headers)
	}

	// Retry with a delay, the common pattern: a TTL queue dead-letters
	// expired messages back to the work queue through the default
	// exchange; the expiration is gone from the copy.
	_, err = ch.QueueDeclare("retry", false, false, false, false, amqp091.Table{
		"x-message-ttl": int32(50), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "again",
	})
	must(t, err)
	_, err = ch.QueueDeclare("again", false, false, false, false, nil)
	must(t, err)
	publish(t, ch, "", "retry", amqp091.Publishing{Body: []byte("later"), Expiration: "10000"})
	back := getEventually(t, ch, "again")
	deaths, _ = back.Headers["x-death"].([]any)
	if string(back.Body) != "later" || back.Expiration != "" || len(deaths) != 1 ||
		deaths[0].(amqp091.Table)["reason"] != "expired" || deaths[0].(amqp091.Table)["original-expiration"] != "10000" {
		t.Fatalf("retried %q expiration %q x-death %v", back.Body, back.Expiration, back.Headers["x-death"])
	}

	// A queue dead-lettering expired messages to itself would loop: the
	// message is dropped instead.
	_, err = ch.QueueDeclare("loop", false, false, false, false, amqp091.Table{
		"x-message-ttl": int32(10), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "loop",
	})
	must(t, err)
	publish(t, ch, "", "loop", amqp091.Publishing{Body: []byte("round")})
	deadline := time.Now().Add(5 * time.Second)
	for {
		q, err := ch.QueueDeclarePassive("loop", false, false, false, false, nil)
		must(t, err)
		if q.Messages == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the looping message is still there")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if q, err := ch.QueueDeclarePassive("loop", false, false, false, false, nil); err != nil || q.Messages != 0 {
		t.Fatalf("loop queue: %v, %v: the message came back", q, err)
	}
}

// getEventually gets one message from queue, waiting a few seconds for it.
func getEventually(t *testing.T, ch *amqp091.Channel, queue string) amqp091.Delivery {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, ok, err := ch.Get(queue, true)
		must(t, err)
		if ok {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing in %s within 5 s", queue)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMaxLength(t *testing.T) {
	_, conn, ch := session(t)
	must(t, ch.ExchangeDeclare("dlx", "fanout", false, false, false, false, nil))
	_, err := ch.QueueDeclare("dropped", false, false, false, false, nil)
	must(t, err)
	must(t, ch.QueueBind("dropped", "", "dlx", false, nil))

	// drop-head (the default): the oldest go, dead-lettered as maxlen.
	_, err = ch.QueueDeclare("head", false, false, false, false, amqp091.Table{"x-max-length": int32(2), "x-dead-letter-exchange": "dlx"})
	must(t, err)
	for _, b := range []string{"m1", "m2", "m3"} {
		publish(t, ch, "", "head", amqp091.Publishing{Body: []byte(b)})
	}
	d := getEventually(t, ch, "dropped")
	if string(d.Body) != "m1" || d.Headers["x-first-death-reason"] != "maxlen" {
		t.Fatalf("dropped %q %v, want m1 with reason maxlen", d.Body, d.Headers)
	}
	for _, want := range []string{"m2", "m3"} {
		if got := getEventually(t, ch, "head"); string(got.Body) != want {
			t.Fatalf("head queue: %q, want %q", got.Body, want)
		}
	}

	// reject-publish: a publisher in confirm mode gets basic.nack.
	_, err = ch.QueueDeclare("full", false, false, false, false, amqp091.Table{"x-max-length": int32(1), "x-overflow": "reject-publish"})
	must(t, err)
	cc, err := conn.Channel()
	must(t, err)
	must(t, cc.Confirm(false))
	confirms := cc.NotifyPublish(make(chan amqp091.Confirmation, 2))
	publish(t, cc, "", "full", amqp091.Publishing{Body: []byte("fits")})
	publish(t, cc, "", "full", amqp091.Publishing{Body: []byte("too many")})
	for i, want := range []bool{true, false} {
		select {
		case c := <-confirms:
			if c.Ack != want {
				t.Fatalf("confirm %d: ack=%v, want %v", i+1, c.Ack, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("confirm %d missing", i+1)
		}
	}
	if q, _ := ch.QueueDeclarePassive("full", false, false, false, false, nil); q.Messages != 1 {
		t.Fatalf("full queue holds %d", q.Messages)
	}

	// x-max-length-bytes counts body bytes: 10-byte bodies, 25 bytes
	// allowed, so two fit and a third pushes the oldest out.
	_, err = ch.QueueDeclare("bytes", false, false, false, false, amqp091.Table{"x-max-length-bytes": int32(25)})
	must(t, err)
	for _, b := range []string{"aaaaaaaaa1", "aaaaaaaaa2", "aaaaaaaaa3"} {
		publish(t, ch, "", "bytes", amqp091.Publishing{Body: []byte(b)})
	}
	for _, want := range []string{"aaaaaaaaa2", "aaaaaaaaa3"} {
		if got := getEventually(t, ch, "bytes"); string(got.Body) != want {
			t.Fatalf("bytes queue: %q, want %q", got.Body, want)
		}
	}

	// Invalid values are refused.
	for _, args := range []amqp091.Table{{"x-max-length": int32(-1)}, {"x-overflow": "sideways"}, {"x-max-length-bytes": "ten"}} {
		bad, err := conn.Channel()
		must(t, err)
		if _, err := bad.QueueDeclare("bad", false, false, false, false, args); amqpCode(err) != amqp091.PreconditionFailed {
			t.Fatalf("declare with %v: %v, want 406", args, err)
		}
	}
}

func TestQueueExpires(t *testing.T) {
	_, conn, ch := session(t)
	args := amqp091.Table{"x-expires": int32(150)}
	_, err := ch.QueueDeclare("idle", false, false, false, false, args)
	must(t, err)
	_, err = ch.QueueDeclare("watched", false, false, false, false, args)
	must(t, err)
	_, err = ch.Consume("watched", "", true, false, false, false, nil)
	must(t, err)
	time.Sleep(500 * time.Millisecond)
	probe, err := conn.Channel()
	must(t, err)
	if _, err := probe.QueueDeclarePassive("idle", false, false, false, false, args); amqpCode(err) != amqp091.NotFound {
		t.Fatalf("unused queue after its x-expires: %v, want 404", err)
	}
	if _, err := ch.QueueDeclarePassive("watched", false, false, false, false, args); err != nil {
		t.Fatalf("a queue with a consumer expired: %v", err)
	}
	bad, err := conn.Channel()
	must(t, err)
	if _, err := bad.QueueDeclare("bad", false, false, false, false, amqp091.Table{"x-expires": int32(0)}); amqpCode(err) != amqp091.PreconditionFailed {
		t.Fatalf("x-expires 0: %v, want 406", err)
	}
}

func TestDeliveryLimit(t *testing.T) {
	_, _, ch := session(t)
	must(t, ch.ExchangeDeclare("dlx", "fanout", false, false, false, false, nil))
	_, err := ch.QueueDeclare("poisoned", false, false, false, false, nil)
	must(t, err)
	must(t, ch.QueueBind("poisoned", "", "dlx", false, nil))
	_, err = ch.QueueDeclare("jobs", false, false, false, false, amqp091.Table{"x-delivery-limit": int32(2), "x-dead-letter-exchange": "dlx"})
	must(t, err)
	publish(t, ch, "", "jobs", amqp091.Publishing{Body: []byte("poison")})
	for want := range 3 {
		d, ok, err := ch.Get("jobs", false)
		must(t, err)
		if !ok {
			t.Fatalf("delivery %d: get-empty", want+1)
		}
		got, _ := d.Headers["x-delivery-count"].(int64)
		if int(got) != want || d.Redelivered != (want > 0) {
			t.Fatalf("delivery %d: x-delivery-count %v, redelivered %v", want+1, d.Headers["x-delivery-count"], d.Redelivered)
		}
		must(t, d.Nack(false, true))
	}
	d := getEventually(t, ch, "poisoned")
	if string(d.Body) != "poison" || d.Headers["x-first-death-reason"] != "delivery_limit" {
		t.Fatalf("dead letter %q %v", d.Body, d.Headers)
	}
	if q, _ := ch.QueueDeclarePassive("jobs", false, false, false, false, nil); q.Messages != 0 {
		t.Fatalf("jobs still holds %d", q.Messages)
	}
}

func TestSingleActiveConsumer(t *testing.T) {
	_, conn, ch := session(t)
	_, err := ch.QueueDeclare("sac", false, false, false, false, amqp091.Table{"x-single-active-consumer": true})
	must(t, err)
	c1, err := conn.Channel()
	must(t, err)
	must(t, c1.Qos(1, 0, false))
	first, err := c1.Consume("sac", "first", false, false, false, false, nil)
	must(t, err)
	c2, err := conn.Channel()
	must(t, err)
	second, err := c2.Consume("sac", "second", false, false, false, false, nil)
	must(t, err)
	for _, b := range []string{"m1", "m2", "m3"} {
		publish(t, ch, "", "sac", amqp091.Publishing{Body: []byte(b)})
	}
	d := next(t, first)
	if string(d.Body) != "m1" {
		t.Fatalf("active consumer got %q", d.Body)
	}
	none(t, second) // the other waits, even though the active one has no credit
	must(t, d.Ack(false))
	if d := next(t, first); string(d.Body) != "m2" {
		t.Fatalf("active consumer got %q, want m2", d.Body)
	} else {
		// The active consumer goes away with m2 unacked: m2 goes back to
		// its place and the next consumer takes over, in order.
		must(t, c1.Close())
	}
	for _, want := range []string{"m2", "m3"} {
		d := next(t, second)
		if string(d.Body) != want {
			t.Fatalf("after the hand-over got %q, want %q", d.Body, want)
		}
		must(t, d.Ack(false))
	}
}

func TestConsumerTimeout(t *testing.T) {
	_, conn, ch := session(t)
	_, err := ch.QueueDeclare("slow", false, false, false, false, amqp091.Table{"x-consumer-timeout": int32(100)})
	must(t, err)
	cancels := ch.NotifyCancel(make(chan string, 1))
	ds, err := ch.Consume("slow", "sleepy", false, false, false, false, nil)
	must(t, err)
	publish(t, ch, "", "slow", amqp091.Publishing{Body: []byte("job")})
	d := next(t, ds)
	select {
	case tag := <-cancels:
		if tag != "sleepy" {
			t.Fatalf("cancelled %q", tag)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the consumer was not cancelled after its timeout")
	}
	// The message went back, the channel is still open, and the late ack
	// does not close it.
	must(t, d.Ack(false))
	other, err := conn.Channel()
	must(t, err)
	again := getEventually(t, other, "slow")
	if string(again.Body) != "job" || !again.Redelivered {
		t.Fatalf("after the timeout: %q redelivered=%v", again.Body, again.Redelivered)
	}
	if _, err := ch.QueueDeclarePassive("slow", false, false, false, false, nil); err != nil {
		t.Fatalf("the consumer's channel is gone: %v", err)
	}
}

func TestDeduplicationExchange(t *testing.T) {
	_, conn, ch := session(t)
	must(t, ch.ExchangeDeclare("dedup", "x-message-deduplication", true, false, false, false,
		amqp091.Table{"x-cache-size": int32(2), "x-cache-ttl": int32(60000)}))
	_, err := ch.QueueDeclare("orders", false, false, false, false, nil)
	must(t, err)
	must(t, ch.QueueBind("orders", "ignored: fanout", "dedup", false, nil))
	must(t, ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp091.Confirmation, 8))
	send := func(id, body string, extra amqp091.Table) {
		t.Helper()
		h := amqp091.Table{"x-deduplication-header": id}
		for k, v := range extra {
			h[k] = v
		}
		publish(t, ch, "dedup", "any", amqp091.Publishing{Headers: h, Body: []byte(body)})
		select {
		case c := <-confirms:
			if !c.Ack {
				t.Fatalf("%s: nacked", body)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no confirm", body)
		}
	}
	send("a", "first a", nil)
	send("a", "retry of a", nil) // a duplicate is still acked
	send("b", "first b", nil)
	send("c", "first c", nil)                 // the cache holds 2: a is evicted
	send("a", "a again, after eviction", nil) // so this one passes
	send("d", "short-lived d", amqp091.Table{"x-cache-ttl": int32(1)})
	time.Sleep(20 * time.Millisecond)
	send("d", "d after its ttl", nil)
	want := []string{"first a", "first b", "first c", "a again, after eviction", "short-lived d", "d after its ttl"}
	for _, w := range want {
		if got := getEventually(t, ch, "orders"); string(got.Body) != w {
			t.Fatalf("got %q, want %q", got.Body, w)
		}
	}
	bad, err := conn.Channel()
	must(t, err)
	if err := bad.ExchangeDeclare("nosize", "x-message-deduplication", false, false, false, false, nil); amqpCode(err) != amqp091.PreconditionFailed {
		t.Fatalf("dedup exchange without x-cache-size: %v, want 406", err)
	}
}

func TestDeduplicationQueue(t *testing.T) {
	_, conn, ch := session(t)
	_, err := ch.QueueDeclare("jobs", false, false, false, false, amqp091.Table{"x-message-deduplication": true})
	must(t, err)
	must(t, ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp091.Confirmation, 8))
	send := func(queue, id, body string) {
		t.Helper()
		publish(t, ch, "", queue, amqp091.Publishing{Headers: amqp091.Table{"x-deduplication-header": id}, Body: []byte(body)})
		select {
		case c := <-confirms:
			if !c.Ack {
				t.Fatalf("%s: nacked", body)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no confirm", body)
		}
	}
	count := func(queue string) int {
		t.Helper()
		q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
		must(t, err)
		return q.Messages
	}
	send("jobs", "a", "first a")
	send("jobs", "a", "a while a is ready") // a duplicate is still acked
	send("jobs", "b", "first b")
	if n := count("jobs"); n != 2 {
		t.Fatalf("jobs holds %d, want 2", n)
	}
	m, ok, err := ch.Get("jobs", false) // first a, now unacked: still in the queue
	must(t, err)
	if !ok || string(m.Body) != "first a" {
		t.Fatalf("got %v %q", ok, m.Body)
	}
	send("jobs", "a", "a while a is unacked")
	if n := count("jobs"); n != 1 {
		t.Fatalf("jobs holds %d ready, want 1 (b)", n)
	}
	must(t, m.Ack(false))
	send("jobs", "a", "a after a was acked")
	for _, want := range []string{"first b", "a after a was acked"} {
		if got := getEventually(t, ch, "jobs"); string(got.Body) != want {
			t.Fatalf("got %q, want %q", got.Body, want)
		}
	}

	// x-cache-size bounds the keys remembered: the oldest is forgotten.
	_, err = ch.QueueDeclare("bounded", false, false, false, false,
		amqp091.Table{"x-message-deduplication": true, "x-cache-size": int32(1)})
	must(t, err)
	send("bounded", "a", "a")
	send("bounded", "b", "b")
	send("bounded", "a", "a again, forgotten")
	if n := count("bounded"); n != 3 {
		t.Fatalf("bounded holds %d, want 3", n)
	}

	bad, err := conn.Channel()
	must(t, err)
	_, err = bad.QueueDeclare("badarg", false, false, false, false, amqp091.Table{"x-message-deduplication": "yes"})
	if amqpCode(err) != amqp091.PreconditionFailed {
		t.Fatalf("x-message-deduplication \"yes\": %v, want 406", err)
	}
}
