package outbox_test

import (
	"context"
	"log"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loftmq/loft/client"
	"github.com/loftmq/loft/client/outbox"
)

// An order and its event are written in one transaction; the relay
// publishes the event afterwards. (It needs a database, so go test only
// compiles it; TestOutboxKeepsDataAndEventsInStep runs the same against
// PostgreSQL.)
func Example() {
	ctx := context.Background()
	db, err := pgxpool.New(ctx, "postgres://loft:loft@127.0.0.1:5432/loft_test")
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.Dial(ctx, "amqp://guest:guest@127.0.0.1:5672/", client.WithService("orders"))
	if err != nil {
		log.Fatal(err)
	}
	if err := outbox.Init(ctx, db); err != nil {
		log.Fatal(err)
	}
	relay, err := outbox.NewRelay(db, c)
	if err != nil {
		log.Fatal(err)
	}
	go relay.Run(ctx)

	tx, err := db.Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO orders (id) VALUES ($1)`, "o-1"); err != nil {
		log.Fatal(err)
	}
	m, err := c.NewMessage(ctx, OrderPlaced{Order: "o-1"})
	if err != nil {
		log.Fatal(err)
	}
	if err := outbox.Publish(ctx, tx, "orders.placed", m); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		log.Fatal(err)
	}
}
