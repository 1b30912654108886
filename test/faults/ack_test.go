package faults

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/loftproc"
)

// TestSettledAckSurvivesSIGKILL acks messages, then makes a round trip on
// the same channel, and SIGKILLs the broker the moment the answer comes:
// after the restart none of the acked messages may be delivered again.
// The round trip is, in turn, basic.qos, queue.declare (passive) and
// tx.commit (the acks made inside the transaction).
func TestSettledAckSurvivesSIGKILL(t *testing.T) {
	trips := []struct {
		name  string
		setup func(*amqp.Channel) error
		trip  func(*amqp.Channel) error
	}{
		{"basic.qos", nil, func(ch *amqp.Channel) error { return ch.Qos(10, 0, false) }},
		{"queue.declare", nil, func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclarePassive("settle", true, false, false, false, nil)
			return err
		}},
		{"tx.commit", func(ch *amqp.Channel) error { return ch.Tx() }, func(ch *amqp.Channel) error { return ch.TxCommit() }},
	}
	for _, tr := range trips {
		t.Run(tr.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			p := loftproc.Start(t, loftBin, dir)
			conn, err := dialAMQP(p.AMQP)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ch, err := declareQueues(conn, []string{"settle"})
			if err != nil {
				t.Fatal(err)
			}
			pub, err := conn.Channel()
			if err != nil {
				t.Fatal(err)
			}
			publishConfirmed(t, pub, "settle", 200)
			if tr.setup != nil {
				if err := tr.setup(ch); err != nil {
					t.Fatal(err)
				}
			}
			// Ack the first 150, one by one, as fast as they come.
			for i := range 150 {
				d, ok, err := ch.Get("settle", false)
				if err != nil || !ok {
					t.Fatalf("get %d: %v %v", i, ok, err)
				}
				if err := d.Ack(false); err != nil {
					t.Fatal(err)
				}
			}
			if err := tr.trip(ch); err != nil {
				t.Fatal(err)
			}
			p.Kill()

			p = loftproc.Start(t, loftBin, dir)
			d, ok, err := amqpChannel(t, p.AMQP).Get("settle", true)
			if err != nil || !ok {
				t.Fatalf("get after the restart: %v %v", ok, err)
			}
			if seq := binary.BigEndian.Uint64(d.Body); seq != 150 {
				t.Fatalf("first message after the restart is %d, want 150: acks settled by %s were lost to SIGKILL", seq, tr.name)
			}
		})
	}
}

// publishConfirmed publishes n persistent messages, bodies 0 to n-1 as
// big-endian uint64s, and waits for their confirms.
func publishConfirmed(t *testing.T, ch *amqp.Channel, queue string, n int) {
	t.Helper()
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var last *amqp.DeferredConfirmation
	for i := range n {
		var err error
		last, err = ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: binary.BigEndian.AppendUint64(nil, uint64(i))})
		if err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := last.WaitContext(ctx); !ok || err != nil {
		t.Fatalf("confirm: %v %v", ok, err)
	}
}
