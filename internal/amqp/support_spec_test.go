package amqp_test

// Helpers for the *_spec_test.go files, which check with a real client
// that Loft behaves as RabbitMQ does.

import (
	"context"
	"slices"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// waitFor bounds every wait of the spec tests.
const waitFor = 5 * time.Second

// openConn dials l as guest on the default vhost.
func openConn(t *testing.T, l *listener) *amqp091.Connection {
	t.Helper()
	conn, err := dial(t, l.url("guest", "guest", "/"), amqp091.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// openChan opens a channel on conn.
func openChan(t *testing.T, conn *amqp091.Connection) *amqp091.Channel {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("Channel: %v", err)
	}
	return ch
}

// declare declares a plain queue: not durable, exclusive nor auto-delete.
func declare(t *testing.T, ch *amqp091.Channel, name string) {
	t.Helper()
	if _, err := ch.QueueDeclare(name, false, false, false, false, nil); err != nil {
		t.Fatalf("QueueDeclare %q: %v", name, err)
	}
}

// bind binds queue to exchange with key and args.
func bind(t *testing.T, ch *amqp091.Channel, queue, exchange, key string, args amqp091.Table) {
	t.Helper()
	if err := ch.QueueBind(queue, key, exchange, false, args); err != nil {
		t.Fatalf("QueueBind %q to %q with %q: %v", queue, exchange, key, err)
	}
}

// send publishes a transient message whose body is body.
func send(t *testing.T, ch *amqp091.Channel, exchange, key, body string) {
	t.Helper()
	publish(t, ch, exchange, key, amqp091.Publishing{Body: []byte(body)})
}

// sendConfirmed publishes on a channel in confirm mode and waits for the
// broker's ack.
func sendConfirmed(t *testing.T, ch *amqp091.Channel, exchange, key string, p amqp091.Publishing) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, p)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil || !ok {
		t.Fatalf("confirm: ack=%v err=%v", ok, err)
	}
}

// drain takes every ready message of queue with basic.get no-ack and
// returns their bodies, oldest first. Publishes made before on the same
// connection are routed before it runs: the broker reads a connection's
// frames in order.
func drain(t *testing.T, ch *amqp091.Channel, queue string) []string {
	t.Helper()
	var got []string
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatalf("Get %q: %v", queue, err)
		}
		if !ok {
			return got
		}
		got = append(got, string(d.Body))
	}
}

// wantBodies checks that queue holds exactly want (nil for none), in order.
func wantBodies(t *testing.T, ch *amqp091.Channel, queue string, want ...string) {
	t.Helper()
	if got := drain(t, ch, queue); !slices.Equal(got, want) {
		t.Errorf("queue %q holds %q, want %q", queue, got, want)
	}
}

// getOne takes the next message of queue with basic.get, acks pending.
func getOne(t *testing.T, ch *amqp091.Channel, queue string) amqp091.Delivery {
	t.Helper()
	d, ok, err := ch.Get(queue, false)
	if err != nil {
		t.Fatalf("Get %q: %v", queue, err)
	}
	if !ok {
		t.Fatalf("Get %q: get-empty", queue)
	}
	return d
}

// counts returns the declare-ok counts of queue, asked on a channel of its
// own so that a failure does not close the caller's.
func counts(t *testing.T, conn *amqp091.Connection, queue string) (messages, consumers int) {
	t.Helper()
	ch := openChan(t, conn)
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		t.Fatalf("passive QueueDeclare %q: %v", queue, err)
	}
	return q.Messages, q.Consumers
}

// exists reports whether a passive declare of queue succeeds; a 404 is
// false, anything else fails the test.
func exists(t *testing.T, conn *amqp091.Connection, queue string) bool {
	t.Helper()
	ch := openChan(t, conn)
	_, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err == nil {
		ch.Close()
		return true
	}
	if amqpCode(err) != amqp091.NotFound {
		t.Fatalf("passive QueueDeclare %q: %v, want ok or 404", queue, err)
	}
	return false
}

// exchangeExists is exists for exchanges.
func exchangeExists(t *testing.T, conn *amqp091.Connection, name string) bool {
	t.Helper()
	ch := openChan(t, conn)
	err := ch.ExchangeDeclarePassive(name, "direct", false, false, false, false, nil)
	if err == nil {
		ch.Close()
		return true
	}
	if amqpCode(err) != amqp091.NotFound {
		t.Fatalf("passive ExchangeDeclare %q: %v, want ok or 404", name, err)
	}
	return false
}

// eventually polls cond until it holds, failing after waitFor.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitFor)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// channelError runs op, synchronous methods, on a fresh channel of conn
// and checks that it fails with a channel error of code: the channel
// closes, the connection stays. A failed check is reported and the test
// goes on, unless the connection is gone.
func channelError(t *testing.T, conn *amqp091.Connection, code int, what string, op func(ch *amqp091.Channel) error) {
	t.Helper()
	expectChannelError(t, conn, code, what, false, op)
}

// asyncChannelError is channelError for an op that ends with an
// asynchronous method (publish, ack), whose error comes as a channel.close.
func asyncChannelError(t *testing.T, conn *amqp091.Connection, code int, what string, op func(ch *amqp091.Channel) error) {
	t.Helper()
	expectChannelError(t, conn, code, what, true, op)
}

func expectChannelError(t *testing.T, conn *amqp091.Connection, code int, what string, async bool, op func(ch *amqp091.Channel) error) {
	t.Helper()
	probe := openChan(t, conn)
	defer probe.Close()
	ch := openChan(t, conn)
	closed := ch.NotifyClose(make(chan *amqp091.Error, 1))
	err := op(ch)
	if err == nil && !async {
		t.Errorf("%s: succeeded, want channel error %d", what, code)
		select {
		case e := <-closed:
			if e != nil {
				t.Logf("%s: the channel was then closed with %d %s", what, e.Code, e.Reason)
			}
		case <-time.After(100 * time.Millisecond):
		}
		return
	}
	if err == nil {
		// The broker handles a connection's frames in order and answers
		// in order: once a method on another channel is answered, a
		// channel.close caused by op has arrived. (A method on ch itself
		// could cross the close, which the broker would take as a
		// method on a channel that is not open.)
		if err := probe.Qos(0, 0, false); err != nil {
			t.Fatalf("%s: the connection was closed (%v), want only the channel closed", what, err)
		}
		select {
		case e := <-closed:
			err = e
		default:
		}
		if err == nil {
			t.Errorf("%s: succeeded, want channel error %d", what, code)
			return
		}
	}
	// The call may have seen the channel closed rather than the error
	// that closed it; the close notification carries that one.
	select {
	case e := <-closed:
		if e != nil {
			err = e
		}
	case <-time.After(waitFor):
		if amqpCode(err) != code {
			t.Errorf("%s: %v, and the channel is still open", what, err)
			return
		}
	}
	if got := amqpCode(err); got != code {
		t.Errorf("%s: %v, want channel error %d", what, err, code)
		return
	}
	if conn.IsClosed() {
		t.Fatalf("%s: connection closed, want only the channel closed", what)
	}
	if !ch.IsClosed() {
		t.Errorf("%s: channel still open after error %d", what, code)
	}
}

// connectionError runs op on a fresh channel of conn and checks that the
// server closes the connection with code. op may end with an asynchronous
// method.
func connectionError(t *testing.T, conn *amqp091.Connection, code int, what string, op func(ch *amqp091.Channel) error) {
	t.Helper()
	closed := conn.NotifyClose(make(chan *amqp091.Error, 1))
	probe := openChan(t, conn)
	ch := openChan(t, conn)
	if err := op(ch); err == nil {
		if err := probe.Qos(0, 0, false); err == nil {
			t.Errorf("%s: succeeded, want connection error %d", what, code)
			return
		}
	}
	select {
	case e := <-closed:
		if e == nil || e.Code != code || !e.Server {
			t.Errorf("%s: connection closed with %v, want %d from the server", what, e, code)
		}
	case <-time.After(waitFor):
		t.Errorf("%s: connection still open, want connection error %d", what, code)
	}
}

// consume starts a consumer with acks on ch.
func consume(t *testing.T, ch *amqp091.Channel, queue, tag string) <-chan amqp091.Delivery {
	t.Helper()
	ds, err := ch.Consume(queue, tag, false, false, false, false, nil)
	if err != nil {
		t.Fatalf("Consume %q: %v", queue, err)
	}
	return ds
}

// bodies returns the bodies of ds.
func bodies(ds []amqp091.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = string(d.Body)
	}
	return out
}
