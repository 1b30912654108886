package interop

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/loftproc"
)

// TestAMQPBacklogOnDisk publishes a backlog several times larger than the
// memory the broker may use for it, with no consumer, and checks that the
// broker's resident memory stays bounded, then drains it in order.
func TestAMQPBacklogOnDisk(t *testing.T) {
	const (
		messages = 120_000
		size     = 2048 // 240 MB of backlog
		// Resident memory allowed: the runtime, the queue's cache and
		// read-ahead and in-flight buffers, far below the backlog.
		maxRSSKB = 96 << 10
	)
	p := loftproc.Start(t, loftBin, filepath.Join(t.TempDir(), "data"))
	conn, err := dialAMQP(p.AMQP)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("backlog", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	body := make([]byte, size)
	var last *amqp.DeferredConfirmation
	for i := range messages {
		binary.BigEndian.PutUint64(body, uint64(i))
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", "backlog", false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		if i%256 == 255 { // keep at most 256 in flight
			if ok, err := dc.WaitContext(ctx); !ok || err != nil {
				t.Fatalf("confirm %d: %v %v", i, ok, err)
			}
		}
		last = dc
	}
	if ok, err := last.WaitContext(ctx); !ok || err != nil {
		t.Fatalf("last confirm: %v %v", ok, err)
	}
	_, rss, err := procPeaks(p.Pid())
	if err != nil {
		t.Skipf("cannot read the broker's memory: %v", err)
	}
	t.Logf("peak resident memory with a %d MB backlog: %d MB", messages*size>>20, rss>>10)
	if rss > maxRSSKB {
		t.Errorf("peak resident memory %d MB, want at most %d MB", rss>>10, maxRSSKB>>10)
	}

	if err := ch.Qos(512, 0, false); err != nil {
		t.Fatal(err)
	}
	ds, err := ch.Consume("backlog", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range messages {
		select {
		case d := <-ds:
			if got := binary.BigEndian.Uint64(d.Body); got != uint64(i) {
				t.Fatalf("message %d: got %d", i, got)
			}
			if i%64 == 63 || i == messages-1 {
				d.Ack(true)
			}
		case <-ctx.Done():
			t.Fatalf("drained %d of %d", i, messages)
		}
	}
	_, rss, _ = procPeaks(p.Pid())
	if rss > maxRSSKB {
		t.Errorf("peak resident memory after draining %d MB, want at most %d MB", rss>>10, maxRSSKB>>10)
	}
}
