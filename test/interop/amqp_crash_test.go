package interop

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/loftproc"
)

// TestAMQPSIGKILLKeepsConfirmed publishes persistent messages with
// confirms to a durable queue, kills the broker with SIGKILL while
// publishes are in flight, restarts it on the same data directory and
// checks that every confirmed message is delivered, none twice, and that
// transient messages and queues are gone.
func TestAMQPSIGKILLKeepsConfirmed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := loftproc.Start(t, loftBin, dir)
	conn, err := dialAMQP(p.AMQP)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("durable", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("transient-queue", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A transient message in the durable queue and one in the transient
	// queue: neither may survive the restart.
	for _, q := range []string{"durable", "transient-queue"} {
		if err := ch.PublishWithContext(ctx, "", q, false, false, amqp.Publishing{Body: []byte("transient")}); err != nil {
			t.Fatal(err)
		}
	}
	ackedBefore(t, conn, ctx)
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 512))

	var mu sync.Mutex
	confirmed := map[uint64]bool{}
	// Publisher: up to 256 in flight until the connection dies.
	stop := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		inflight := make(chan struct{}, 256)
		go func() {
			for c := range confirms {
				if c.Ack {
					mu.Lock()
					confirmed[c.DeliveryTag] = true
					mu.Unlock()
				}
				<-inflight
			}
		}()
		for seq := uint64(1); ; seq++ {
			select {
			case <-stop:
				return
			case inflight <- struct{}{}:
			}
			body := make([]byte, 512)
			binary.BigEndian.PutUint64(body, seq)
			err := ch.PublishWithContext(ctx, "", "durable", false, false, amqp.Publishing{
				DeliveryMode: amqp.Persistent, Body: body,
			})
			if err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(confirmed)
		mu.Unlock()
		if n >= 3000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d confirms within 10 s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.Kill()
	close(stop)
	<-pubDone
	mu.Lock()
	want := make(map[uint64]bool, len(confirmed))
	for seq := range confirmed {
		want[seq] = true
	}
	mu.Unlock()
	conn.Close()

	p2 := loftproc.Start(t, loftBin, dir)
	conn2, err := dialAMQP(p2.AMQP)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	ch2, err := conn2.Channel()
	if err != nil {
		t.Fatal(err)
	}
	checkAckedBefore(t, conn2)
	if _, err := ch2.QueueDeclarePassive("transient-queue", false, false, false, false, nil); err == nil {
		t.Error("the transient queue survived the restart")
	}
	ch2, err = conn2.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch2.QueueDeclarePassive("durable", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Messages < len(want) {
		t.Errorf("queue holds %d messages after restart, %d were confirmed", q.Messages, len(want))
	}
	if err := ch2.Qos(256, 0, false); err != nil {
		t.Fatal(err)
	}
	ds, err := ch2.Consume("durable", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	last := uint64(0)
	for {
		var d amqp.Delivery
		select {
		case d = <-ds:
		case <-time.After(2 * time.Second):
			goto done
		}
		if string(d.Body) == "transient" {
			t.Error("a transient message survived the restart")
			d.Ack(false)
			continue
		}
		seq := binary.BigEndian.Uint64(d.Body)
		if seen[seq] {
			t.Errorf("message %d delivered twice", seq)
		}
		if seq <= last {
			t.Errorf("message %d after %d: out of order", seq, last)
		}
		seen[seq], last = true, seq
		d.Ack(false)
	}
done:
	missing := 0
	for seq := range want {
		if !seen[seq] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d confirmed messages missing after SIGKILL and restart", missing, len(want))
	}
	t.Logf("%d confirmed before SIGKILL, %d delivered after restart", len(want), len(seen))
}

// ackedBefore fills queue "acked" with 1000 confirmed persistent messages
// and consumes and acks the first 500, a while before the crash.
func ackedBefore(t *testing.T, conn *amqp.Connection, ctx context.Context) {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if _, err := ch.QueueDeclare("acked", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		body := binary.BigEndian.AppendUint64(nil, uint64(i))
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", "acked", false, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		if i == 999 {
			if ok, err := dc.WaitContext(ctx); !ok || err != nil {
				t.Fatalf("confirm: %v %v", ok, err)
			}
		}
	}
	for i := range 500 {
		d, ok, err := ch.Get("acked", false)
		if err != nil || !ok {
			t.Fatalf("get %d: %v %v", i, ok, err)
		}
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
	}
	// Acks reach the ack log within milliseconds, without an fsync of
	// their own; a SIGKILL does not lose what was written.
	time.Sleep(200 * time.Millisecond)
}

// checkAckedBefore checks that the messages acked before the crash are
// not delivered again and the others are.
func checkAckedBefore(t *testing.T, conn *amqp.Connection) {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive("acked", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Messages != 500 {
		t.Errorf("queue 'acked' holds %d messages after restart, want the 500 not acked", q.Messages)
	}
	d, ok, err := ch.Get("acked", true)
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	if seq := binary.BigEndian.Uint64(d.Body); seq != 500 {
		t.Errorf("first message after restart is %d, want 500: acked messages came back", seq)
	}
}
