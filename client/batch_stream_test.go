package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/client"
	"github.com/loftmq/loft/embedded"
)

// TestBatches: a batch handler gets batches no larger than asked, handed
// over in time when fewer arrive; a body that does not decode is
// dead-lettered alone; a failing batch is retried as a whole.
func TestBatches(t *testing.T) {
	b := embedded.Start(t, embedded.WithoutFsync())
	ctx := timeout(t)
	svc := dial(t, b, "svc")
	var mu sync.Mutex
	var sizes []int
	var total atomic.Int64
	var failOnce atomic.Bool
	failOnce.Store(true)
	if err := client.SubscribeBatch(ctx, svc, "rows", func(ctx context.Context, es []OrderPlaced) error {
		mu.Lock()
		sizes = append(sizes, len(es))
		mu.Unlock()
		for _, e := range es {
			if e.Order == "fail" && failOnce.Swap(false) {
				return errors.New("database down")
			}
		}
		total.Add(int64(len(es)))
		return nil
	}, client.BatchOf(10, 50*time.Millisecond), client.Retries(3, 10*time.Millisecond, 10*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	run(t, svc)
	for i := range 25 {
		if err := svc.Publish(ctx, "rows", OrderPlaced{Order: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "25 rows", func() bool { return total.Load() == 25 })
	mu.Lock()
	for _, n := range sizes {
		if n > 10 {
			t.Errorf("a batch of %d, want at most 10", n)
		}
	}
	mu.Unlock()

	// One that fails the batch once, and one that does not decode.
	if err := svc.Publish(ctx, "rows", OrderPlaced{Order: "fail"}); err != nil {
		t.Fatal(err)
	}
	ch := rawChannel(t, b)
	q := client.EventQueue("svc", "rows")
	if err := ch.PublishWithContext(ctx, "", q, false, false, amqp.Publishing{MessageId: "junk", Body: []byte("not json")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed batch retried", func() bool { return total.Load() == 26 })
	dead := peekDead(t, b, q)
	if dead.MessageId != "junk" {
		t.Fatalf("dead letter %q, want the one that did not decode", dead.MessageId)
	}
}

// TestReadStream: events recorded in a stream are read back from the
// first, from an offset and from a time; a failing handler stops the read
// with the offset to resume from.
func TestReadStream(t *testing.T) {
	b := embedded.Start(t, embedded.WithoutFsync())
	ctx := timeout(t)
	c := dial(t, b, "audit")
	if err := c.DeclareStream(ctx, "orders-log", "orders.#"); err != nil {
		t.Fatal(err)
	}
	var mid time.Time
	for i := range 10 {
		if err := c.Publish(ctx, "orders.placed", OrderPlaced{Order: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		if i == 4 {
			// AMQP timestamps are whole seconds.
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
			mid = time.Now()
		}
	}
	read := func(from client.Offset, n int) ([]string, []int64) {
		t.Helper()
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var orders []string
		var offsets []int64
		err := client.ReadStream(rctx, c, "orders-log", from, func(ctx context.Context, e OrderPlaced) error {
			d, _ := client.DeliveryFrom(ctx)
			orders = append(orders, e.Order)
			offsets = append(offsets, d.StreamOffset)
			if len(orders) == n {
				cancel()
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return orders, offsets
	}
	all, offsets := read(client.First(), 10)
	if fmt.Sprint(all) != "[0 1 2 3 4 5 6 7 8 9]" {
		t.Fatalf("from first: %v", all)
	}
	if tail, _ := read(client.At(offsets[7]), 3); fmt.Sprint(tail) != "[7 8 9]" {
		t.Fatalf("from offset %d: %v", offsets[7], tail)
	}

	if since, _ := read(client.Since(mid), 5); fmt.Sprint(since) != "[5 6 7 8 9]" {
		t.Fatalf("since %v: %v", mid, since)
	}

	err := client.ReadStream(ctx, c, "orders-log", client.First(), func(ctx context.Context, e OrderPlaced) error {
		if e.Order == "3" {
			return errors.New("bug")
		}
		return nil
	})
	var se *client.StreamError
	if !errors.As(err, &se) || se.Offset != offsets[3] {
		t.Fatalf("failing handler: %v, want a StreamError at offset %d", err, offsets[3])
	}
	if err := client.ReadStream(ctx, c, "no-such-stream", client.First(), func(context.Context, OrderPlaced) error { return nil }); err == nil {
		t.Fatal("reading a stream that does not exist succeeded")
	}
}
