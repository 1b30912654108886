package amqp_test

// connection.blocked and connection.unblocked as RabbitMQ sends them
// while a resource alarm is raised: publishers are told and held back.

import (
	"context"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

func wantBlocking(t *testing.T, bs <-chan amqp091.Blocking, active bool, reason string) {
	t.Helper()
	select {
	case b := <-bs:
		if b.Active != active || (active && b.Reason != reason) {
			t.Fatalf("got %+v, want active=%v reason %q", b, active, reason)
		}
	case <-time.After(waitFor):
		t.Fatalf("no connection.blocked/unblocked (want active=%v)", active)
	}
}

func noBlocking(t *testing.T, bs <-chan amqp091.Blocking) {
	t.Helper()
	select {
	case b := <-bs:
		t.Fatalf("unexpected %+v", b)
	case <-time.After(100 * time.Millisecond):
	}
}

// held publishes in confirm mode and checks the confirm does not come
// while blocked; it returns the confirmation to wait for.
func held(t *testing.T, ch *amqp091.Channel, queue, body string) *amqp091.DeferredConfirmation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, amqp091.Publishing{Body: []byte(body)})
	must(t, err)
	select {
	case <-dc.Done():
		t.Fatalf("publish of %q confirmed while blocked", body)
	case <-time.After(150 * time.Millisecond):
	}
	return dc
}

func confirmedNow(t *testing.T, dc *amqp091.DeferredConfirmation) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if ok, err := dc.WaitContext(ctx); !ok || err != nil {
		t.Fatalf("confirm after unblock: ack=%v err=%v", ok, err)
	}
}

// TestSpecBlockedPublisher: a connection that has published is told at
// once, and its next publish waits for Unblock.
func TestSpecBlockedPublisher(t *testing.T) {
	l, conn, ch := session(t)
	t.Cleanup(l.srv.Unblock)
	declare(t, ch, "q")
	bs := conn.NotifyBlocked(make(chan amqp091.Blocking, 4))
	must(t, ch.Confirm(false))
	sendConfirmed(t, ch, "", "q", amqp091.Publishing{Body: []byte("m1")})

	observer := openConn(t, l)
	l.srv.Block("low on disk")
	wantBlocking(t, bs, true, "low on disk")
	dc := held(t, ch, "q", "m2")
	if m, _ := counts(t, observer, "q"); m != 1 {
		t.Errorf("%d messages while blocked, want 1: the held publish went through", m)
	}
	// A second alarm while blocked sends nothing more.
	l.srv.Block("low on memory")
	noBlocking(t, bs)

	l.srv.Unblock()
	wantBlocking(t, bs, false, "")
	confirmedNow(t, dc)
	if m, _ := counts(t, observer, "q"); m != 2 {
		t.Errorf("%d messages after unblock, want 2", m)
	}
	// Publishing goes on as before.
	sendConfirmed(t, ch, "", "q", amqp091.Publishing{Body: []byte("m3")})
	noBlocking(t, bs)
}

// TestSpecBlockedOnNextPublish: a connection that has not published yet
// is told when it first publishes, and that publish waits.
func TestSpecBlockedOnNextPublish(t *testing.T) {
	l, _, ch := session(t)
	t.Cleanup(l.srv.Unblock)
	declare(t, ch, "q")
	l.srv.Block("memory alarm")

	conn := openConn(t, l)
	bs := conn.NotifyBlocked(make(chan amqp091.Blocking, 4))
	pc := openChan(t, conn)
	must(t, pc.Confirm(false))
	// Consuming and declaring are not held back.
	declare(t, pc, "q2")
	dc := held(t, pc, "q", "m1")
	wantBlocking(t, bs, true, "memory alarm")
	if m, _ := counts(t, openConn(t, l), "q"); m != 0 {
		t.Errorf("%d messages while blocked, want 0", m)
	}

	l.srv.Unblock()
	wantBlocking(t, bs, false, "")
	confirmedNow(t, dc)
	wantBodies(t, ch, "q", "m1")
}
