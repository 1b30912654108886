package interop

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/loftproc"
)

// TestAMQPPriorityQueueSurvivesSIGKILL: the levels of a durable queue with
// priorities come back after a crash, still highest first; deleting the
// queue removes every level's log.
func TestAMQPPriorityQueueSurvivesSIGKILL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := loftproc.Start(t, loftBin, dir)
	ch := amqpChannel(t, p.AMQP)
	if _, err := ch.QueueDeclare("jobs", true, false, false, false, amqp.Table{"x-max-priority": int32(5)}); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, b := range []string{"p1", "p5", "p3", "p0"} {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", "jobs", false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Priority: b[1] - '0', Body: []byte(b)})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("confirm of %s: %v %v", b, ok, err)
		}
	}
	p.Kill()

	p = loftproc.Start(t, loftBin, dir)
	ch = amqpChannel(t, p.AMQP)
	for _, want := range []string{"p5", "p3", "p1", "p0"} {
		d, ok, err := ch.Get("jobs", true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || string(d.Body) != want {
			t.Fatalf("got %v %q, want %q", ok, d.Body, want)
		}
	}
	levels, _ := filepath.Glob(filepath.Join(dir, "logs", "__q.*.p*.acks"))
	if len(levels) != 3 {
		t.Fatalf("ack logs of levels above 0: %q, want those of 1, 3 and 5", levels)
	}
	if _, err := ch.QueueDelete("jobs", false, false, false); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "logs", "__q.*"))
	if len(matches) > 0 {
		t.Fatalf("logs left after the queue's deletion: %s", strings.Join(matches, " "))
	}
}

// amqpChannel opens a connection and channel, closed with the test.
func amqpChannel(t *testing.T, addr string) *amqp.Channel {
	t.Helper()
	conn, err := dialAMQP(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}
