package faults

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// The AMQP load: one publisher and one consumer, each on its own
// connection.
const (
	amqpWindow   = 32 // unconfirmed publishes at most
	prefetch     = 64
	settleEvery  = 16 // acks between round trips that settle them
	settlePeriod = 20 * time.Millisecond
)

func dialAMQP(addr string) (*amqp.Connection, error) {
	return amqp.DialConfig("amqp://guest:guest@"+addr+"/", amqp.Config{
		Dial:      amqp.DefaultDial(5 * time.Second),
		Heartbeat: 10 * time.Second,
	})
}

// amqpChannel opens a channel on a new connection to addr, closed when
// the test ends.
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

// declareQueues declares the durable queues on a channel of conn.
func declareQueues(conn *amqp.Connection, queues []string) (*amqp.Channel, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	for _, q := range queues {
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			return nil, err
		}
	}
	return ch, nil
}

type pendingConfirm struct {
	q   int
	seq int64
	dc  *amqp.DeferredConfirmation
}

// publishAMQP publishes persistent messages with confirms to the queues in
// turn, at most amqpWindow unconfirmed, until ctx ends or the connection
// fails (the broker was killed). Confirmed messages are marked in l.
func publishAMQP(ctx context.Context, addr string, queues []string, l *ledger) {
	conn, err := dialAMQP(addr)
	if err != nil {
		return
	}
	ch, err := declareQueues(conn, queues)
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		conn.Close()
		return
	}
	pending := make(chan pendingConfirm, amqpWindow)
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		// Confirms come in order; closing the connection resolves the
		// rest as not acked.
		for pc := range pending {
			<-pc.dc.Done()
			if pc.dc.Acked() {
				l.mark(&l.queues[pc.q], pc.seq, confirmed)
			}
		}
	}()
	publish(ctx, ch, queues, l, pending)
	close(pending)
	conn.Close()
	<-waited
}

func publish(ctx context.Context, ch *amqp.Channel, queues []string, l *ledger, pending chan<- pendingConfirm) {
	for i := 0; ; i++ {
		q := i % len(queues)
		seq := l.next(&l.queues[q])
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queues[q], false, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent,
			MessageId:    queues[q] + "/" + strconv.FormatInt(seq, 10),
			Body:         encode(q, seq),
		})
		if err != nil {
			return
		}
		select {
		case pending <- pendingConfirm{q, seq, dc}:
		case <-ctx.Done():
			return
		}
	}
}

// amqpDelivery is a delivery and the queue it came from.
type amqpDelivery struct {
	q int
	d amqp.Delivery
}

// consumeAMQP consumes every queue on one channel with manual acks and a
// prefetch, checking each delivery, acking it, and settling the acks with
// a round trip (basic.qos) every settleEvery acks or settlePeriod, until
// ctx ends or the connection fails.
func consumeAMQP(ctx context.Context, addr string, queues []string, l *ledger) {
	conn, err := dialAMQP(addr)
	if err != nil {
		return
	}
	defer conn.Close()
	ch, err := declareQueues(conn, queues)
	if err != nil {
		return
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		return
	}
	merged := make(chan amqpDelivery)
	for q, name := range queues {
		ds, err := ch.Consume(name, fmt.Sprintf("faults-%d", q), false, false, false, false, nil)
		if err != nil {
			return
		}
		go func() {
			for d := range ds {
				select {
				case merged <- amqpDelivery{q, d}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	run := newRunOrder(len(queues))
	var unsettled []streamSeq
	tick := time.NewTicker(settlePeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-closed:
			return
		case <-tick.C:
		case ad := <-merged:
			seq, prev, ok := l.checkDelivery(l.queues, ad.q, ad.d.Body, !ad.d.Redelivered, run)
			if ok && prev&delivered != 0 {
				l.counted(1, int(prev&ackSent/ackSent), 0)
			}
			if ad.d.Ack(false) != nil {
				return
			}
			if ok {
				l.mark(&l.queues[ad.q], seq, ackSent)
				unsettled = append(unsettled, streamSeq{ad.q, seq})
			}
			if len(unsettled) < settleEvery {
				continue
			}
		}
		if len(unsettled) == 0 {
			continue
		}
		// The acks were written to the socket before this: once the
		// broker answers, they are settled.
		if ch.Qos(prefetch, 0, false) != nil {
			return
		}
		l.markAll(l.queues, unsettled, settled)
		unsettled = unsettled[:0]
	}
}
