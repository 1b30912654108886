package amqp_test

// Delivery as RabbitMQ has it: ordering, round-robin, prefetch, consumer
// tags and cancellation, exclusive consumers, basic.get, acks, rejects,
// nacks, recover, and requeueing when a channel or connection closes.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/amqp"
	"github.com/loftmq/loft/internal/amqp/frame"
)

// sendN publishes m1..mn to queue through the default exchange.
func sendN(t *testing.T, ch *amqp091.Channel, queue string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		send(t, ch, "", queue, fmt.Sprintf("m%d", i))
	}
}

// wantDelivery checks a delivery's body and redelivered flag.
func wantDelivery(t *testing.T, d amqp091.Delivery, body string, redelivered bool) {
	t.Helper()
	if string(d.Body) != body || d.Redelivered != redelivered {
		t.Errorf("got %q redelivered=%v, want %q redelivered=%v", d.Body, d.Redelivered, body, redelivered)
	}
}

// gather receives n deliveries from any of dss, then checks that no more
// come for a short while. It returns them per consumer.
func gather(t *testing.T, n int, dss ...<-chan amqp091.Delivery) [][]amqp091.Delivery {
	t.Helper()
	out := make([][]amqp091.Delivery, len(dss))
	timeout := time.After(waitFor)
	quiet := 100 * time.Millisecond
	got := 0
	for {
		wait := timeout
		if got >= n {
			wait = time.After(quiet)
		}
		idx, d, ok := recvAny(dss, wait)
		if !ok {
			if got < n {
				t.Fatalf("%d deliveries, want %d", got, n)
			}
			return out
		}
		if got >= n {
			t.Fatalf("delivery beyond the %d expected: %q", n, d.Body)
		}
		out[idx] = append(out[idx], d)
		got++
	}
}

// recvAny receives from whichever of dss has a delivery first; false when
// wait fires first.
func recvAny(dss []<-chan amqp091.Delivery, wait <-chan time.Time) (int, amqp091.Delivery, bool) {
	for {
		for i, ds := range dss {
			select {
			case d, ok := <-ds:
				if ok {
					return i, d, true
				}
			default:
			}
		}
		select {
		case <-wait:
			return 0, amqp091.Delivery{}, false
		case <-time.After(time.Millisecond):
		}
	}
}

func TestSpecFIFO(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	const n = 200
	for i := range n {
		send(t, ch, "", "q", strconv.Itoa(i))
	}
	ds := consume(t, openChan(t, conn), "q", "c")
	for i := range n {
		d := next(t, ds)
		if string(d.Body) != strconv.Itoa(i) {
			t.Fatalf("delivery %d is %q", i, d.Body)
		}
		must(t, d.Ack(false))
	}
	none(t, ds)
}

func TestSpecRoundRobin(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	const consumers, each = 3, 4
	var dss []<-chan amqp091.Delivery
	for i := range consumers {
		dss = append(dss, consume(t, openChan(t, conn), "q", fmt.Sprintf("c%d", i)))
	}
	for i := range consumers * each {
		send(t, ch, "", "q", strconv.Itoa(i))
	}
	per := gather(t, consumers*each, dss...)
	for i, ds := range per {
		if len(ds) != each {
			t.Errorf("consumer %d got %q, want %d messages", i, bodies(ds), each)
			continue
		}
		// Strict rotation: each consumer gets every third message.
		for j := 1; j < len(ds); j++ {
			a, _ := strconv.Atoi(string(ds[j-1].Body))
			b, _ := strconv.Atoi(string(ds[j].Body))
			if b-a != consumers {
				t.Errorf("consumer %d got %q, want every %dth message", i, bodies(ds), consumers)
				break
			}
		}
	}
}

func TestSpecPrefetchPerConsumer(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	sendN(t, ch, "q", 6)
	cc := openChan(t, conn)
	must(t, cc.Qos(2, 0, false))
	ds := consume(t, cc, "q", "c")
	d1, d2 := next(t, ds), next(t, ds)
	none(t, ds)
	must(t, d1.Ack(false))
	d3 := next(t, ds)
	none(t, ds)
	must(t, d3.Ack(true)) // d2 and d3
	d4, d5 := next(t, ds), next(t, ds)
	none(t, ds)
	if got := bodies([]amqp091.Delivery{d1, d2, d3, d4, d5}); !slices.Equal(got, []string{"m1", "m2", "m3", "m4", "m5"}) {
		t.Errorf("deliveries %q", got)
	}

	// The limit is each consumer's: two consumers made after basic.qos
	// have two each.
	declare(t, ch, "q2")
	sendN(t, ch, "q2", 10)
	c2 := openChan(t, conn)
	must(t, c2.Qos(2, 0, false))
	a := consume(t, c2, "q2", "a")
	b := consume(t, c2, "q2", "b")
	per := gather(t, 4, a, b)
	if len(per[0]) != 2 || len(per[1]) != 2 {
		t.Errorf("consumers got %q and %q, want two each", bodies(per[0]), bodies(per[1]))
	}
}

func TestSpecPrefetchGlobal(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "qa")
	declare(t, ch, "qb")
	sendN(t, ch, "qa", 5)
	sendN(t, ch, "qb", 5)
	cc := openChan(t, conn)
	must(t, cc.Qos(3, 0, true))
	a := consume(t, cc, "qa", "a")
	b := consume(t, cc, "qb", "b")
	per := gather(t, 3, a, b)
	must(t, slices.Concat(per...)[0].Ack(false))
	gather(t, 1, a, b)
}

func TestSpecNoAckConsumer(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	sendN(t, ch, "q", 5)
	cc := openChan(t, conn)
	must(t, cc.Qos(1, 0, false)) // no-ack consumers have no limit
	ds, err := cc.Consume("q", "c", true, false, false, false, nil)
	must(t, err)
	got := gather(t, 5, ds)[0]
	if !slices.Equal(bodies(got), []string{"m1", "m2", "m3", "m4", "m5"}) {
		t.Errorf("deliveries %q", bodies(got))
	}
	if m, _ := counts(t, conn, "q"); m != 0 {
		t.Errorf("%d messages ready, want 0", m)
	}
	// Nothing to requeue when the channel closes.
	must(t, cc.Close())
	if m, _ := counts(t, conn, "q"); m != 0 {
		t.Errorf("%d messages after closing a no-ack consumer's channel, want 0", m)
	}
}

func TestSpecConsumerTagClient(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	cc := openChan(t, conn)
	a := consume(t, cc, "q", "my-tag")
	send(t, ch, "", "q", "m1")
	if d := next(t, a); d.ConsumerTag != "my-tag" {
		t.Errorf("consumer tag %q, want my-tag", d.ConsumerTag)
	}
}

// TestSpecConsumerTagServer sends basic.consume with an empty tag, which
// amqp091-go never does: the server makes one up, amq.ctag-….
func TestSpecConsumerTagServer(t *testing.T) {
	l := startListener(t, amqp.Config{})
	nc, err := net.Dial("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(waitFor))
	rd := bufio.NewReader(nc)
	io.WriteString(nc, frame.ProtocolHeader)
	readMethod[*frame.ConnectionStart](t, rd)
	writeMethod(t, nc, &frame.ConnectionStartOK{Mechanism: "PLAIN", Response: "\x00guest\x00guest", Locale: "en_US"})
	readMethod[*frame.ConnectionTune](t, rd)
	writeMethod(t, nc, &frame.ConnectionTuneOK{ChannelMax: 10, FrameMax: amqp.DefaultFrameMax})
	writeMethod(t, nc, &frame.ConnectionOpen{VirtualHost: "/"})
	readMethod[*frame.ConnectionOpenOK](t, rd)
	on1 := func(m frame.Method) {
		t.Helper()
		f, err := frame.MethodFrame(1, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Write(nc); err != nil {
			t.Fatal(err)
		}
	}
	on1(&frame.ChannelOpen{})
	readMethod[*frame.ChannelOpenOK](t, rd)
	on1(&frame.QueueDeclare{Queue: "q"})
	readMethod[*frame.QueueDeclareOK](t, rd)
	var tags []string
	for range 2 {
		on1(&frame.BasicConsume{Queue: "q"})
		tags = append(tags, readMethod[*frame.BasicConsumeOK](t, rd).ConsumerTag)
	}
	for _, tag := range tags {
		if !strings.HasPrefix(tag, "amq.ctag-") || len(tag) <= len("amq.ctag-") {
			t.Errorf("server-made consumer tag %q, want amq.ctag-…", tag)
		}
	}
	if tags[0] == tags[1] {
		t.Errorf("two consumers share the tag %q", tags[0])
	}
}

func TestSpecDuplicateConsumerTag(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	connectionError(t, conn, amqp091.NotAllowed, "reuse a consumer tag", func(ch *amqp091.Channel) error {
		if _, err := ch.Consume("q", "dup", false, false, false, false, nil); err != nil {
			t.Fatalf("first consume: %v", err)
		}
		_, err := ch.Consume("q", "dup", false, false, false, false, nil)
		return err
	})
}

func TestSpecCancel(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	cc := openChan(t, conn)
	ds := consume(t, cc, "q", "c")
	send(t, ch, "", "q", "m1")
	d := next(t, ds)
	must(t, cc.Cancel("c", false))
	select {
	case d2, ok := <-ds:
		if ok {
			t.Fatalf("delivery %q after cancel", d2.Body)
		}
	case <-time.After(waitFor):
		t.Fatal("deliveries not closed by cancel")
	}
	send(t, ch, "", "q", "m2")
	wantBodies(t, ch, "q", "m2")
	// A delivery made before the cancel can still be acked.
	must(t, d.Ack(false))
	must(t, cc.Qos(1, 0, false)) // a round trip: the ack was fine
	must(t, cc.Close())
	if m, _ := counts(t, conn, "q"); m != 0 {
		t.Errorf("%d messages, want 0: the ack after cancel was lost", m)
	}
	// Cancelling an unknown tag is no error.
	c2 := openChan(t, conn)
	must(t, c2.Cancel("no-such-tag", false))
}

func TestSpecQueueDeletedCancelsConsumer(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	cc := openChan(t, conn)
	cancels := cc.NotifyCancel(make(chan string, 1))
	ds := consume(t, cc, "q", "c1")
	_, err := ch.QueueDelete("q", false, false, false)
	must(t, err)
	select {
	case tag := <-cancels:
		if tag != "c1" {
			t.Errorf("basic.cancel for %q, want c1", tag)
		}
	case <-time.After(waitFor):
		t.Fatal("no basic.cancel from the server")
	}
	select {
	case _, ok := <-ds:
		if ok {
			t.Error("delivery after the queue was deleted")
		}
	case <-time.After(waitFor):
		t.Fatal("deliveries not closed")
	}
	must(t, cc.Qos(1, 0, false)) // the channel is still open
}

func TestSpecExclusiveConsumer(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	ec := openChan(t, conn)
	ds, err := ec.Consume("q", "ex", false, true, false, false, nil)
	must(t, err)
	channelError(t, conn, amqp091.AccessRefused, "consume beside an exclusive consumer", func(ch *amqp091.Channel) error {
		_, err := ch.Consume("q", "other", false, false, false, false, nil)
		return err
	})
	channelError(t, conn, amqp091.AccessRefused, "exclusive consume beside an exclusive consumer", func(ch *amqp091.Channel) error {
		_, err := ch.Consume("q", "other", false, true, false, false, nil)
		return err
	})
	sendN(t, ch, "q", 2)
	got := gather(t, 2, ds)[0]
	if !slices.Equal(bodies(got), []string{"m1", "m2"}) {
		t.Errorf("exclusive consumer got %q", bodies(got))
	}
	must(t, ec.Cancel("ex", false))
	// Once it is gone others may consume.
	consume(t, openChan(t, conn), "q", "after")

	// An exclusive consumer needs a queue without consumers.
	declare(t, ch, "q2")
	consume(t, openChan(t, conn), "q2", "shared")
	channelError(t, conn, amqp091.AccessRefused, "exclusive consume of a queue with consumers", func(ch *amqp091.Channel) error {
		_, err := ch.Consume("q2", "ex", false, true, false, false, nil)
		return err
	})
}

func TestSpecGet(t *testing.T) {
	_, _, ch := session(t)
	declare(t, ch, "q")
	d, ok, err := ch.Get("q", false)
	must(t, err)
	if ok {
		t.Fatalf("get on an empty queue: %q", d.Body)
	}
	sendN(t, ch, "q", 3)
	for i := 1; i <= 3; i++ {
		d := getOne(t, ch, "q")
		if string(d.Body) != fmt.Sprintf("m%d", i) || d.MessageCount != uint32(3-i) || d.Redelivered || d.DeliveryTag != uint64(i) {
			t.Errorf("get %d: %q count %d redelivered %v tag %d", i, d.Body, d.MessageCount, d.Redelivered, d.DeliveryTag)
		}
		if d.Exchange != "" || d.RoutingKey != "q" {
			t.Errorf("get %d: exchange %q key %q", i, d.Exchange, d.RoutingKey)
		}
	}
	if _, ok, err := ch.Get("q", false); err != nil || ok {
		t.Errorf("get after the last: ok=%v err=%v, want get-empty", ok, err)
	}
}

func TestSpecAckMultiple(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	sendN(t, ch, "q", 5)
	for range 5 {
		getOne(t, ch, "q")
	}
	must(t, ch.Ack(3, true))
	must(t, ch.Close()) // requeues 4 and 5
	ch2 := openChan(t, conn)
	for _, b := range []string{"m4", "m5"} {
		wantDelivery(t, getOne(t, ch2, "q"), b, true)
	}
	if _, ok, _ := ch2.Get("q", false); ok {
		t.Error("an acked message came back")
	}
}

func TestSpecNackMultipleRequeue(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	sendN(t, ch, "q", 5)
	for range 5 {
		getOne(t, ch, "q")
	}
	must(t, ch.Nack(3, true, true))
	for _, b := range []string{"m1", "m2", "m3"} {
		wantDelivery(t, getOne(t, ch, "q"), b, true)
	}
	if _, ok, _ := ch.Get("q", false); ok {
		t.Error("m4 or m5 ready while unacked")
	}
	must(t, ch.Ack(8, true)) // tags 1-5 and 6-8: all settled
	must(t, ch.Close())
	if m, _ := counts(t, conn, "q"); m != 0 {
		t.Errorf("%d messages left, want 0", m)
	}
}

// TestSpecRequeueOriginalPlace: a rejected message goes back to where it
// was, before newer ones, and is marked redelivered.
func TestSpecRequeueOriginalPlace(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	sendN(t, ch, "q", 5)
	g1, g2, g3 := getOne(t, ch, "q"), getOne(t, ch, "q"), getOne(t, ch, "q")
	wantDelivery(t, g3, "m3", false)
	must(t, g2.Reject(true))
	cc := openChan(t, conn)
	ds := consume(t, cc, "q", "c")
	wantDelivery(t, next(t, ds), "m2", true)
	wantDelivery(t, next(t, ds), "m4", false)
	wantDelivery(t, next(t, ds), "m5", false)
	none(t, ds)
	// Requeued one by one in the other order (with no consumer to take
	// m3 at once), they still come back in theirs.
	must(t, cc.Cancel("c", false))
	must(t, g3.Reject(true))
	must(t, g1.Nack(false, true))
	wantDelivery(t, getOne(t, ch, "q"), "m1", true)
	wantDelivery(t, getOne(t, ch, "q"), "m3", true)
	if d, ok, _ := ch.Get("q", false); ok {
		t.Errorf("unexpected %q: m2, m4 and m5 are unacked", d.Body)
	}
}

func TestSpecRejectDrops(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	sendN(t, ch, "q", 3)
	g1, g2, _ := getOne(t, ch, "q"), getOne(t, ch, "q"), getOne(t, ch, "q")
	must(t, g1.Reject(false))
	must(t, g2.Nack(false, false))
	must(t, ch.Close()) // requeues m3 only
	wantBodies(t, openChan(t, conn), "q", "m3")
}

func TestSpecUnknownDeliveryTag(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	tests := []struct {
		name string
		op   func(ch *amqp091.Channel) error
	}{
		{"ack never delivered", func(ch *amqp091.Channel) error { return ch.Ack(99, false) }},
		{"ack multiple never delivered", func(ch *amqp091.Channel) error { return ch.Ack(99, true) }},
		{"nack never delivered", func(ch *amqp091.Channel) error { return ch.Nack(42, false, true) }},
		{"reject never delivered", func(ch *amqp091.Channel) error { return ch.Reject(42, true) }},
		{"ack twice", func(ch *amqp091.Channel) error {
			send(t, ch, "", "q", "m")
			d := getOne(t, ch, "q")
			if err := d.Ack(false); err != nil {
				return err
			}
			return d.Ack(false)
		}},
		{"ack a no-ack get", func(ch *amqp091.Channel) error {
			send(t, ch, "", "q", "m")
			d, ok, err := ch.Get("q", true)
			if err != nil || !ok {
				t.Fatalf("get: %v %v", ok, err)
			}
			return ch.Ack(d.DeliveryTag, false)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asyncChannelError(t, conn, amqp091.PreconditionFailed, tt.name, tt.op)
		})
	}
}

func TestSpecRecover(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	cc := openChan(t, conn)
	ds := consume(t, cc, "q", "c")
	sendN(t, ch, "q", 2)
	wantDelivery(t, next(t, ds), "m1", false)
	wantDelivery(t, next(t, ds), "m2", false)
	//lint:ignore SA1019 basic.recover is the method under test, deprecated or not
	must(t, cc.Recover(true))
	r1, r2 := next(t, ds), next(t, ds)
	wantDelivery(t, r1, "m1", true)
	wantDelivery(t, r2, "m2", true)
	none(t, ds)
	must(t, r2.Ack(true))
	must(t, cc.Close())
	if m, _ := counts(t, conn, "q"); m != 0 {
		t.Errorf("%d messages left, want 0", m)
	}
}

func TestSpecChannelCloseRequeues(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	sendN(t, ch, "q", 3)
	cc := openChan(t, conn)
	must(t, cc.Qos(2, 0, false))
	ds := consume(t, cc, "q", "c")
	wantDelivery(t, next(t, ds), "m1", false)
	wantDelivery(t, next(t, ds), "m2", false)
	must(t, cc.Close())
	ds2 := consume(t, openChan(t, conn), "q", "c2")
	wantDelivery(t, next(t, ds2), "m1", true)
	wantDelivery(t, next(t, ds2), "m2", true)
	wantDelivery(t, next(t, ds2), "m3", false)
	none(t, ds2)
}

func TestSpecConnectionCloseRequeues(t *testing.T) {
	l, conn, ch := session(t)
	declare(t, ch, "q")
	sendN(t, ch, "q", 3)
	other := openConn(t, l)
	oc := openChan(t, other)
	must(t, oc.Qos(2, 0, false))
	ds := consume(t, oc, "q", "c")
	wantDelivery(t, next(t, ds), "m1", false)
	wantDelivery(t, next(t, ds), "m2", false)
	must(t, other.Close())
	eventually(t, "unacked messages requeued", func() bool { m, _ := counts(t, conn, "q"); return m == 3 })
	ds2 := consume(t, openChan(t, conn), "q", "c2")
	wantDelivery(t, next(t, ds2), "m1", true)
	wantDelivery(t, next(t, ds2), "m2", true)
	wantDelivery(t, next(t, ds2), "m3", false)
	none(t, ds2)
}
