package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/loftmq/loft/client"
	"github.com/loftmq/loft/embedded"
)

// startBroker runs the broker the examples talk to; a service would dial
// its Loft's URL instead.
func startBroker() (*embedded.Broker, func()) {
	b, err := embedded.Run(context.Background(), embedded.WithoutFsync())
	if err != nil {
		log.Fatal(err)
	}
	return b, func() { b.Close() }
}

// Events: every subscribing service gets each event once.
func Example_events() {
	b, stop := startBroker()
	defer stop()
	ctx := context.Background()

	billing, err := client.Dial(ctx, b.AMQPURL(), client.WithService("billing"))
	if err != nil {
		log.Fatal(err)
	}
	defer billing.Close()
	got := make(chan OrderPlaced)
	err = client.Subscribe(ctx, billing, "orders.placed", func(ctx context.Context, e OrderPlaced) error {
		got <- e
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go billing.Run(runCtx)

	orders, err := client.Dial(ctx, b.AMQPURL(), client.WithService("orders"))
	if err != nil {
		log.Fatal(err)
	}
	defer orders.Close()
	if err := orders.Publish(ctx, "orders.placed", OrderPlaced{Order: "o-1", Total: 80}); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("billing got %+v\n", <-got)
	// Output: billing got {Order:o-1 Total:80}
}

// Commands go to one service; requests wait for its reply.
func ExampleRequest() {
	b, stop := startBroker()
	defer stop()
	ctx := context.Background()

	stock, err := client.Dial(ctx, b.AMQPURL(), client.WithService("stock"))
	if err != nil {
		log.Fatal(err)
	}
	defer stock.Close()
	err = client.Serve(ctx, stock, func(ctx context.Context, r ReserveStock) (Reservation, error) {
		if r.Items > 5 {
			return Reservation{}, errors.New("only 5 left")
		}
		return Reservation{Order: r.Order, OK: true}, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go stock.Run(runCtx)

	orders, err := client.Dial(ctx, b.AMQPURL(), client.WithService("orders"))
	if err != nil {
		log.Fatal(err)
	}
	defer orders.Close()
	reqCtx, done := context.WithTimeout(ctx, 5*time.Second)
	defer done()
	r, err := client.Request[Reservation](reqCtx, orders, "stock", ReserveStock{Order: "o-1", Items: 2})
	fmt.Println(r, err)
	_, err = client.Request[Reservation](reqCtx, orders, "stock", ReserveStock{Order: "o-2", Items: 9})
	fmt.Println(err)
	// Output:
	// {o-1 true} <nil>
	// client: stock answered with an error: only 5 left
}

// A failing handler is retried with waits on the broker, then
// dead-lettered; Replay brings the message back once the bug is fixed.
func ExampleClient_Replay() {
	b, stop := startBroker()
	defer stop()
	ctx := context.Background()

	billing, err := client.Dial(ctx, b.AMQPURL(), client.WithService("billing"))
	if err != nil {
		log.Fatal(err)
	}
	defer billing.Close()
	var fixed atomic.Bool
	handled := make(chan string, 10)
	err = client.Subscribe(ctx, billing, "orders.placed", func(ctx context.Context, e OrderPlaced) error {
		d, _ := client.DeliveryFrom(ctx)
		if !fixed.Load() {
			handled <- fmt.Sprintf("attempt %d: card declined", d.Attempt)
			return errors.New("card declined")
		}
		handled <- fmt.Sprintf("attempt %d: charged %s", d.Attempt, e.Order)
		return nil
	}, client.Retries(3, 10*time.Millisecond, time.Second))
	if err != nil {
		log.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go billing.Run(runCtx)

	if err := billing.Publish(ctx, "orders.placed", OrderPlaced{Order: "o-1"}); err != nil {
		log.Fatal(err)
	}
	for range 3 {
		fmt.Println(<-handled)
	}
	q := client.EventQueue("billing", "orders.placed")
	fixed.Store(true) // the bug is fixed
	var n int
	for n == 0 { // the dead letter is stored once the third failure is settled
		if n, err = billing.Replay(ctx, q, 0); err != nil {
			log.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("replayed", n)
	fmt.Println(<-handled)
	// Output:
	// attempt 1: card declined
	// attempt 2: card declined
	// attempt 3: card declined
	// replayed 1
	// attempt 1: charged o-1
}

// Events recorded in a stream can be read again from any point.
func ExampleReadStream() {
	b, stop := startBroker()
	defer stop()
	ctx := context.Background()

	audit, err := client.Dial(ctx, b.AMQPURL(), client.WithService("audit"))
	if err != nil {
		log.Fatal(err)
	}
	defer audit.Close()
	if err := audit.DeclareStream(ctx, "orders-log", "orders.#"); err != nil {
		log.Fatal(err)
	}
	for _, o := range []string{"o-1", "o-2", "o-3"} {
		if err := audit.Publish(ctx, "orders.placed", OrderPlaced{Order: o}); err != nil {
			log.Fatal(err)
		}
	}
	readCtx, stopReading := context.WithCancel(ctx)
	err = client.ReadStream(readCtx, audit, "orders-log", client.First(), func(ctx context.Context, e OrderPlaced) error {
		d, _ := client.DeliveryFrom(ctx)
		fmt.Println(d.StreamOffset, e.Order)
		if e.Order == "o-3" {
			stopReading()
		}
		return nil
	})
	fmt.Println(err)
	// Output:
	// 0 o-1
	// 1 o-2
	// 2 o-3
	// <nil>
}

// A command reaches one service, whose handler for its type runs it.
func ExampleClient_Send() {
	b, stop := startBroker()
	defer stop()
	ctx := context.Background()

	stock, err := client.Dial(ctx, b.AMQPURL(), client.WithService("stock"))
	if err != nil {
		log.Fatal(err)
	}
	defer stock.Close()
	done := make(chan ReserveStock)
	err = client.Handle(ctx, stock, func(ctx context.Context, cmd ReserveStock) error {
		done <- cmd
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go stock.Run(runCtx)

	orders, err := client.Dial(ctx, b.AMQPURL(), client.WithService("orders"))
	if err != nil {
		log.Fatal(err)
	}
	defer orders.Close()
	if err := orders.Send(ctx, "stock", ReserveStock{Order: "o-1", Items: 2}); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stock got %+v\n", <-done)
	fmt.Println(orders.Send(ctx, "shipping", ReserveStock{Order: "o-1"}))
	// Output:
	// stock got {Order:o-1 Items:2}
	// client: no such service: nothing is bound to "shipping.ReserveStock" on loft.commands
}

// An idempotent handler runs once per message id, however often the
// message comes.
func ExampleIdempotent() {
	b, stop := startBroker()
	defer stop()
	ctx := context.Background()

	billing, err := client.Dial(ctx, b.AMQPURL(), client.WithService("billing"))
	if err != nil {
		log.Fatal(err)
	}
	defer billing.Close()
	charged := make(chan string, 10)
	err = client.Subscribe(ctx, billing, "orders.placed", func(ctx context.Context, e OrderPlaced) error {
		charged <- e.Order
		return nil
	}, client.Idempotent(client.NewMemoryStore(100_000)))
	if err != nil {
		log.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go billing.Run(runCtx)

	// The same message id three times, as a publisher retrying would.
	for range 3 {
		if err := billing.Publish(ctx, "orders.placed", OrderPlaced{Order: "o-1"}, client.WithMessageID("order-o-1")); err != nil {
			log.Fatal(err)
		}
	}
	if err := billing.Publish(ctx, "orders.placed", OrderPlaced{Order: "o-2"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-charged, <-charged)
	// Output: o-1 o-2
}
