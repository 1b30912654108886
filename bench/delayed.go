package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

var (
	pendingRSS = metric{"RSS all pending MiB", "the broker's resident memory once every delayed message is held", false}
	lateP50    = metric{"late p50 ms", "receipt after the message's due time", false}
	lateP99    = metric{"late p99 ms", "receipt after the message's due time", false}
	lateMax    = metric{"late max ms", "receipt after the message's due time", false}
)

const (
	delayedMessages = 1_000_000
	delayedDelay    = 60 * time.Second
	delayedRate     = 20_000 // msg/s: below what one queue moves end to end, so lateness is the delays', not a backlog's
)

// delayedWorkload holds a million 1 KiB messages at once in a durable
// x-delayed-message exchange, published with confirms at 20,000 msg/s,
// each due a minute after it was sent (scaled), and then lets them fire
// into a queue one consumer drains: the broker's memory with all of them
// pending and how late they arrive. Loft only: RabbitMQ's delayed-message
// plugin is not in Debian, and JetStream has no delays.
func delayedWorkload() workload {
	return workload{
		name: "delayed",
		description: fmt.Sprintf("delayed messages (Loft only): %d messages of 1 KiB with x-delay %v through an x-delayed-message exchange, "+
			"published with confirms at %d msg/s so that all are held at once, then drained as they come due (counts and delay scaled)",
			delayedMessages, delayedDelay, delayedRate),
		metrics:  []metric{lateP99, lateP50, lateMax, pendingRSS, peakRSS, publishPerSec},
		loftOnly: true,
		run: func(ctx context.Context, cfg *config, r *running, name string) (outcome, error) {
			c, ok := r.client.(*amqpClient)
			if !ok {
				return outcome{}, errors.New("delayed messages need an AMQP broker")
			}
			n := cfg.scaled(delayedMessages)
			delay := time.Duration(float64(delayedDelay) * cfg.scale)
			return runDelayed(ctx, c.url, r.pgid(), name, n, delay, cfg.stall)
		},
	}
}

func runDelayed(ctx context.Context, url string, pgid int, name string, n int, delay, stall time.Duration) (outcome, error) {
	conn, ch, err := dialAMQP(url)
	if err != nil {
		return outcome{}, err
	}
	defer closeAMQP(conn)
	if err := ch.ExchangeDeclare(name, "x-delayed-message", true, false, false, false, amqp.Table{"x-delayed-type": "direct"}); err != nil {
		return outcome{}, fmt.Errorf("exchange.declare: %w", err)
	}
	if _, err := ch.QueueDeclare(name, true, false, false, false, nil); err != nil {
		return outcome{}, fmt.Errorf("queue.declare: %w", err)
	}
	if err := ch.QueueBind(name, name, name, false, nil); err != nil {
		return outcome{}, fmt.Errorf("queue.bind: %w", err)
	}
	defer func() {
		_, _ = ch.QueueDelete(name, false, false, false)
		_ = ch.ExchangeDelete(name, false, false)
	}()

	// The consumer: each body holds its sequence number and due time.
	var mu sync.Mutex
	seen := make([]bool, n)
	late := make([]time.Duration, 0, n)
	var early, dups int
	progress := make(chan struct{}, 1)
	cconn, cch, err := dialAMQP(url)
	if err != nil {
		return outcome{}, err
	}
	defer closeAMQP(cconn)
	if err := cch.Qos(window, 0, false); err != nil {
		return outcome{}, fmt.Errorf("basic.qos: %w", err)
	}
	ds, err := cch.Consume(name, "", false, false, false, false, nil)
	if err != nil {
		return outcome{}, fmt.Errorf("basic.consume: %w", err)
	}
	go func() {
		for d := range ds {
			now := time.Now()
			if len(d.Body) < headerSize {
				continue
			}
			seq := binary.BigEndian.Uint64(d.Body)
			due := time.Unix(0, int64(binary.BigEndian.Uint64(d.Body[8:])))
			mu.Lock()
			switch {
			case seq >= uint64(n):
			case seen[seq]:
				dups++
			default:
				seen[seq] = true
				if now.Before(due) {
					early++
				}
				late = append(late, now.Sub(due))
			}
			mu.Unlock()
			select {
			case progress <- struct{}{}:
			default:
			}
			_ = d.Ack(false)
		}
	}()

	rss := sampleRSS(pgid)
	if err := ch.Confirm(false); err != nil {
		rss.stop()
		return outcome{}, fmt.Errorf("confirm.select: %w", err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, window))
	body := make([]byte, 1024)
	start := time.Now()
	inFlight := 0
	confirm := func() error {
		select {
		case cf, ok := <-confirms:
			if !ok {
				return errors.New("the channel closed while publishing")
			}
			if !cf.Ack {
				return errNack
			}
			inFlight--
			return nil
		case <-time.After(stall):
			return fmt.Errorf("no confirm for %v", stall)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(float64(i) / delayedRate * float64(time.Second)))); wait > 0 {
			time.Sleep(wait)
		}
		for inFlight >= window {
			if err := confirm(); err != nil {
				rss.stop()
				return outcome{}, err
			}
		}
		binary.BigEndian.PutUint64(body, uint64(i))
		binary.BigEndian.PutUint64(body[8:], uint64(time.Now().Add(delay).UnixNano()))
		if err := ch.PublishWithContext(ctx, name, name, false, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent, Headers: amqp.Table{"x-delay": int64(delay / time.Millisecond)}, Body: body,
		}); err != nil {
			rss.stop()
			return outcome{}, err
		}
		inFlight++
	}
	for inFlight > 0 {
		if err := confirm(); err != nil {
			rss.stop()
			return outcome{}, err
		}
	}
	published := time.Since(start)
	held := groupRSS(pgid)

	// Wait for every message; the first is due delay after the start.
	for {
		mu.Lock()
		got := len(late)
		mu.Unlock()
		if got == n {
			break
		}
		wait := stall
		if due := time.Until(start.Add(delay)); due > 0 {
			wait += due
		}
		select {
		case <-progress:
		case <-time.After(wait):
			rss.stop()
			return outcome{missing: n - got}, fmt.Errorf("%d of %d delayed messages arrived, none for %v", got, n, stall)
		case <-ctx.Done():
			rss.stop()
			return outcome{missing: n - got}, ctx.Err()
		}
	}
	peak := rss.stop()
	mu.Lock()
	defer mu.Unlock()
	o := outcome{duplicates: dups}
	if early > 0 {
		return o, fmt.Errorf("%d messages arrived before they were due", early)
	}
	slices.Sort(late)
	ms := func(p float64) float64 { return float64(late[int(p*float64(len(late)-1))]) / float64(time.Millisecond) }
	o.values = map[string]float64{
		lateP50.Key:       ms(0.5),
		lateP99.Key:       ms(0.99),
		lateMax.Key:       ms(1),
		pendingRSS.Key:    float64(held) / (1 << 20),
		peakRSS.Key:       float64(peak) / (1 << 20),
		publishPerSec.Key: float64(n) / published.Seconds(),
	}
	return o, nil
}
