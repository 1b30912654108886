package amqp_test

import (
	"fmt"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// TestPriorityQueue: x-max-priority delivers higher priorities first,
// FIFO within one, a priority above the maximum counting as the maximum
// and none as 0, to basic.get and to consumers alike.
func TestPriorityQueue(t *testing.T) {
	_, conn, ch := session(t)
	_, err := ch.QueueDeclare("tasks", true, false, false, false, amqp091.Table{"x-max-priority": int32(10)})
	must(t, err)
	must(t, ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp091.Confirmation, 64))
	sent := []struct {
		priority uint8
		body     string
	}{{0, "p0 a"}, {5, "p5 a"}, {10, "p10 a"}, {3, "p3"}, {5, "p5 b"}, {200, "p200 (as 10)"}, {0, "p0 b"}, {10, "p10 b"}}
	for _, s := range sent {
		publish(t, ch, "", "tasks", amqp091.Publishing{Priority: s.priority, DeliveryMode: 2, Body: []byte(s.body)})
	}
	for range sent {
		if c := <-confirms; !c.Ack {
			t.Fatal("nacked")
		}
	}
	q, err := ch.QueueDeclarePassive("tasks", true, false, false, false, nil)
	must(t, err)
	if q.Messages != len(sent) {
		t.Fatalf("%d messages, want %d", q.Messages, len(sent))
	}
	// The first two by basic.get, the rest by a consumer, one at a time.
	for _, w := range []string{"p10 a", "p200 (as 10)"} {
		d, ok, err := ch.Get("tasks", false)
		must(t, err)
		if !ok || string(d.Body) != w {
			t.Fatalf("get: %v %q, want %q", ok, d.Body, w)
		}
		if w == "p10 a" && d.MessageCount != uint32(len(sent)-1) {
			t.Fatalf("message count %d, want %d", d.MessageCount, len(sent)-1)
		}
		must(t, d.Ack(false))
	}
	must(t, ch.Qos(1, 0, false))
	ds, err := ch.Consume("tasks", "", false, false, false, false, nil)
	must(t, err)
	// A high-priority message published while the consumer holds its one
	// credit goes out next, before the waiting p5s.
	rest := []string{"p10 b", "p9 late", "p5 a", "p5 b", "p3", "p0 a", "p0 b"}
	for i, w := range rest {
		d := next(t, ds)
		if string(d.Body) != w {
			t.Fatalf("delivery %d: %q, want %q", i, d.Body, w)
		}
		if i == 0 {
			publish(t, ch, "", "tasks", amqp091.Publishing{Priority: 9, Body: []byte("p9 late")})
			<-confirms
		}
		must(t, d.Ack(false))
	}

	bad, err := conn.Channel()
	must(t, err)
	for _, v := range []any{int32(0), int32(256), "high"} {
		_, err = bad.QueueDeclare(fmt.Sprint("bad-", v), false, false, false, false, amqp091.Table{"x-max-priority": v})
		if amqpCode(err) != amqp091.PreconditionFailed {
			t.Fatalf("x-max-priority %v: %v, want 406", v, err)
		}
		if bad, err = conn.Channel(); err != nil {
			t.Fatal(err)
		}
	}
	// The maximum is part of the queue's identity.
	_, err = bad.QueueDeclare("tasks", true, false, false, false, amqp091.Table{"x-max-priority": int32(5)})
	if amqpCode(err) != amqp091.PreconditionFailed {
		t.Fatalf("redeclared with another x-max-priority: %v, want 406", err)
	}
}

// TestPriorityQueueRequeueAndDeadLetter: a requeued message goes back to
// its place in its level, and a dead-lettered one keeps its priority.
func TestPriorityQueueRequeueAndDeadLetter(t *testing.T) {
	_, _, ch := session(t)
	_, err := ch.QueueDeclare("dead", false, false, false, false, amqp091.Table{"x-max-priority": int32(3)})
	must(t, err)
	_, err = ch.QueueDeclare("work", false, false, false, false, amqp091.Table{
		"x-max-priority": int32(3), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dead"})
	must(t, err)
	publish(t, ch, "", "dead", amqp091.Publishing{Priority: 2, Body: []byte("direct p2")})
	for _, b := range []string{"p1 a", "p3", "p1 b"} {
		publish(t, ch, "", "work", amqp091.Publishing{Priority: b[1] - '0', Body: []byte(b)})
	}
	get := func(queue, want string, redelivered bool) amqp091.Delivery {
		t.Helper()
		for range 500 {
			d, ok, err := ch.Get(queue, false)
			must(t, err)
			if ok {
				if string(d.Body) != want || d.Redelivered != redelivered {
					t.Fatalf("%s: got %q (redelivered %v), want %q (%v)", queue, d.Body, d.Redelivered, want, redelivered)
				}
				return d
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("%s: nothing", queue)
		return amqp091.Delivery{}
	}
	must(t, get("work", "p3", false).Nack(false, true))
	must(t, get("work", "p3", true).Reject(false))
	must(t, get("work", "p1 a", false).Reject(false))
	get("work", "p1 b", false)
	// Dead-lettering is asynchronous (the copy is stored, then the
	// original settled): wait for both copies before reading the order.
	for i := 0; ; i++ {
		q, err := ch.QueueDeclarePassive("dead", false, false, false, false, nil)
		must(t, err)
		if q.Messages == 3 {
			break
		}
		if i == 500 {
			t.Fatalf("dead holds %d messages, want 3", q.Messages)
		}
		time.Sleep(10 * time.Millisecond)
	}
	get("dead", "p3", false)
	get("dead", "direct p2", false)
	get("dead", "p1 a", false)
}
