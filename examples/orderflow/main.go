// Command orderflow is the order flow of the classic microservice
// examples, built on Loft's client library, printed as it happens:
//
//   - orders places orders: it asks stock to reserve the items
//     (request/reply), then writes the order and its OrderPlaced event in
//     one database transaction (the transactional outbox), which a relay
//     publishes;
//   - stock answers reservations (and refuses when it runs out);
//   - billing charges each placed order; its card processor declines one
//     card until "the bug is fixed": the charge is retried with waits on
//     the broker, dead-lettered after its last attempt, and replayed;
//   - notification emails the customer about every placed and every
//     billed order.
//
// Every service is a client.Client of its own, as if each ran in its own
// process. Run it with `make demo`, which starts a local Loft and sets up
// PostgreSQL; or against your own:
//
//	go run ./examples/orderflow -amqp amqp://guest:guest@127.0.0.1:5672/ -postgres postgres://...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loftmq/loft/client"
	"github.com/loftmq/loft/client/outbox"
	"github.com/loftmq/loft/client/pgstore"
)

// The messages.
type (
	ReserveStock struct {
		Order string `json:"order"`
		Item  string `json:"item"`
		Count int    `json:"count"`
	}
	Reservation struct {
		OK   bool `json:"ok"`
		Left int  `json:"left"`
	}
	OrderPlaced struct {
		Order    string `json:"order"`
		Customer string `json:"customer"`
		Amount   int    `json:"amount"`
	}
	OrderBilled struct {
		Order  string `json:"order"`
		Amount int    `json:"amount"`
	}
)

func main() {
	amqpURL := flag.String("amqp", "amqp://guest:guest@127.0.0.1:5672/", "Loft's AMQP URL")
	pgURL := flag.String("postgres", "postgres://loft:loft@127.0.0.1:5432/loft_test?sslmode=disable", "PostgreSQL for the orders, the outbox and billing's processed ids")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, *amqpURL, *pgURL); err != nil {
		fmt.Fprintln(os.Stderr, "orderflow:", err)
		os.Exit(1)
	}
}

// say prints one line of the story, service first.
var sayMu sync.Mutex

func say(service, format string, args ...any) {
	sayMu.Lock()
	defer sayMu.Unlock()
	fmt.Printf("%-15s %s\n", "["+service+"]", fmt.Sprintf(format, args...))
}

func run(ctx context.Context, amqpURL, pgURL string) error {
	db, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := setUpDatabase(ctx, db); err != nil {
		return fmt.Errorf("database: %w", err)
	}

	var stop []func()
	defer func() {
		for i := len(stop) - 1; i >= 0; i-- {
			stop[i]()
		}
	}()
	// dial starts a service: a Client running its handlers until the end.
	dial := func(service string) (*client.Client, error) {
		var c *client.Client
		var err error
		for range 50 { // the broker may still be starting
			if c, err = client.Dial(ctx, amqpURL, client.WithService(service)); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return nil, err
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = c.Run(runCtx); close(done) }()
		stop = append(stop, func() { cancel(); <-done; c.Close() })
		return c, nil
	}

	// stock: answers reservations from what it has.
	stock, err := dial("stock")
	if err != nil {
		return err
	}
	var stockMu sync.Mutex
	left := map[string]int{"lamp": 3, "desk": 1}
	if err := client.Serve(ctx, stock, func(ctx context.Context, r ReserveStock) (Reservation, error) {
		stockMu.Lock()
		defer stockMu.Unlock()
		if left[r.Item] < r.Count {
			say("stock", "cannot reserve %d %s for %s: %d left", r.Count, r.Item, r.Order, left[r.Item])
			return Reservation{OK: false, Left: left[r.Item]}, nil
		}
		left[r.Item] -= r.Count
		say("stock", "reserved %d %s for %s (%d left)", r.Count, r.Item, r.Order, left[r.Item])
		return Reservation{OK: true, Left: left[r.Item]}, nil
	}); err != nil {
		return err
	}

	// billing: charges placed orders, once each (processed ids in
	// PostgreSQL); one card is declined until the fix.
	billing, err := dial("billing")
	if err != nil {
		return err
	}
	processed, err := pgstore.New(db)
	if err == nil {
		err = processed.Init(ctx)
	}
	if err != nil {
		return err
	}
	var fixed atomic.Bool
	deadLettered := make(chan string, 1)
	if err := client.Subscribe(ctx, billing, "orders.placed", func(ctx context.Context, o OrderPlaced) error {
		d, _ := client.DeliveryFrom(ctx)
		if o.Customer == "carol" && !fixed.Load() {
			say("billing", "charging %s: card declined (attempt %d of 3)", o.Order, d.Attempt)
			if d.Attempt == 3 {
				deadLettered <- o.Order
			}
			return errors.New("card declined: processor bug #42")
		}
		say("billing", "charged %s %d.00 EUR (attempt %d)", o.Order, o.Amount, d.Attempt)
		return billing.Publish(ctx, "orders.billed", OrderBilled{Order: o.Order, Amount: o.Amount})
	}, client.Idempotent(processed), client.Retries(3, 300*time.Millisecond, 2*time.Second)); err != nil {
		return err
	}

	// notification: tells the customer.
	notification, err := dial("notification")
	if err != nil {
		return err
	}
	var billed atomic.Int64
	if err := client.Subscribe(ctx, notification, "orders.placed", func(ctx context.Context, o OrderPlaced) error {
		say("notification", "email to %s: we have your order %s", o.Customer, o.Order)
		return nil
	}); err != nil {
		return err
	}
	if err := client.Subscribe(ctx, notification, "orders.billed", func(ctx context.Context, o OrderBilled) error {
		say("notification", "email: order %s is paid, %d.00 EUR", o.Order, o.Amount)
		billed.Add(1)
		return nil
	}); err != nil {
		return err
	}

	// orders: reserves, then writes the order and its event together;
	// the relay publishes the event.
	orders, err := dial("orders")
	if err != nil {
		return err
	}
	relay, err := outbox.NewRelay(db, orders, outbox.WithPoll(50*time.Millisecond))
	if err != nil {
		return err
	}
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan struct{})
	go func() { _ = relay.Run(relayCtx); close(relayDone) }()
	stop = append(stop, func() { stopRelay(); <-relayDone })

	fmt.Println("== placing orders")
	placed := 0
	for i, o := range []struct {
		customer, item string
		count, amount  int
	}{
		{"alice", "lamp", 2, 80},
		{"bob", "desk", 1, 250},
		{"carol", "lamp", 1, 40},
		{"dave", "desk", 1, 250},
	} {
		id := fmt.Sprintf("order-%d", i+1)
		ok, err := placeOrder(ctx, db, orders, id, o.customer, o.item, o.count, o.amount)
		if err != nil {
			return err
		}
		if ok {
			placed++
		}
	}

	fmt.Println("== waiting for billing; carol's charge fails and is retried on the broker")
	var order string
	select {
	case order = <-deadLettered:
	case <-ctx.Done():
		return ctx.Err()
	}
	waitUntil(ctx, func() bool { return billed.Load() == int64(placed-1) })
	q := client.EventQueue("billing", "orders.placed")
	time.Sleep(200 * time.Millisecond) // the dead letter is stored after the third failure is reported
	fmt.Printf("== %s is in %s.dead; fixing the processor and replaying\n", order, q)
	fixed.Store(true)
	n, err := billing.Replay(ctx, q, 0)
	if err != nil {
		return err
	}
	say("billing", "replayed %d dead-lettered message(s)", n)
	waitUntil(ctx, func() bool { return billed.Load() == int64(placed) })

	var rows, unsent int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM demo_orders`).Scan(&rows); err != nil {
		return err
	}
	if err := db.QueryRow(ctx, `SELECT count(*) FROM loft_outbox WHERE sent_at IS NULL`).Scan(&unsent); err != nil {
		return err
	}
	fmt.Printf("== done: %d orders in the database, %d billed, %d outbox rows unsent\n", rows, billed.Load(), unsent)
	return nil
}

// placeOrder reserves stock for an order and, if it can, stores the order
// and its OrderPlaced event in one transaction.
func placeOrder(ctx context.Context, db *pgxpool.Pool, orders *client.Client, id, customer, item string, count, amount int) (bool, error) {
	say("orders", "%s: %s wants %d %s", id, customer, count, item)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := client.Request[Reservation](rctx, orders, "stock", ReserveStock{Order: id, Item: item, Count: count})
	if err != nil {
		return false, fmt.Errorf("reserve stock for %s: %w", id, err)
	}
	if !r.OK {
		say("orders", "%s: out of stock, order refused (nothing stored, nothing published)", id)
		return false, nil
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO demo_orders (id, customer, amount) VALUES ($1, $2, $3)`, id, customer, amount); err != nil {
		return false, err
	}
	m, err := orders.NewMessage(ctx, OrderPlaced{Order: id, Customer: customer, Amount: amount})
	if err != nil {
		return false, err
	}
	if err := outbox.Publish(ctx, tx, "orders.placed", m); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, err
	}
	say("orders", "%s: stored with its OrderPlaced event in one transaction", id)
	return true, nil
}

// setUpDatabase makes the demo's tables, empty.
func setUpDatabase(ctx context.Context, db *pgxpool.Pool) error {
	if err := outbox.Init(ctx, db); err != nil {
		return err
	}
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS demo_orders (id text PRIMARY KEY, customer text NOT NULL, amount int NOT NULL)`,
		`TRUNCATE demo_orders`,
		`DELETE FROM loft_outbox`,
		`DROP TABLE IF EXISTS loft_processed`,
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func waitUntil(ctx context.Context, cond func() bool) {
	for !cond() && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
}
