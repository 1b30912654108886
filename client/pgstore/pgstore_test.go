package pgstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/client"
	"github.com/loftmq/loft/client/pgstore"
	"github.com/loftmq/loft/embedded"
	"github.com/loftmq/loft/internal/pgtest"
)

func TestSeenDoneMarkPrune(t *testing.T) {
	db := pgtest.Pool(t)
	ctx := context.Background()
	s, err := pgstore.New(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Init(ctx); err != nil {
		t.Fatalf("second Init: %v", err)
	}
	if seen, err := s.Seen(ctx, "q", "m1"); err != nil || seen {
		t.Fatalf("Seen before Done: %v, %v", seen, err)
	}
	if err := s.Done(ctx, "q", "m1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Done(ctx, "q", "m1"); err != nil {
		t.Fatalf("Done twice: %v", err)
	}
	if seen, _ := s.Seen(ctx, "q", "m1"); !seen {
		t.Fatal("not Seen after Done")
	}
	if seen, _ := s.Seen(ctx, "other", "m1"); seen {
		t.Fatal("an id processed by one consumer is Seen by another")
	}

	// MarkTx in a transaction that rolls back records nothing.
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first, err := pgstore.MarkTx(ctx, tx, "q", "m2"); err != nil || !first {
		t.Fatalf("MarkTx: %v, %v", first, err)
	}
	if first, err := pgstore.MarkTx(ctx, tx, "q", "m1"); err != nil || first {
		t.Fatalf("MarkTx of a processed id: %v, %v", first, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if seen, _ := s.Seen(ctx, "q", "m2"); seen {
		t.Fatal("a rolled back MarkTx is Seen")
	}

	if _, err := db.Exec(ctx, `UPDATE loft_processed SET processed_at = now() - interval '2 hours' WHERE id = 'm1'`); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Prune(ctx, time.Hour); err != nil || n != 1 {
		t.Fatalf("Prune: %d, %v", n, err)
	}
	if _, err := pgstore.New(db, pgstore.WithTable("x; DROP TABLE y")); err == nil {
		t.Fatal("a table name with SQL in it was accepted")
	}
}

// TestTwoInstancesHandleOnce: two instances of a service share a
// PostgreSQL store; a message id delivered several times, to either, is
// handled once, and the handler's write and the id's record commit
// together.
func TestTwoInstancesHandleOnce(t *testing.T) {
	db := pgtest.Pool(t)
	b := embedded.Start(t, embedded.WithoutFsync())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := pgstore.New(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `CREATE TABLE charges (order_id text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		c, err := client.Dial(ctx, b.AMQPURL(), client.WithService("billing"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// The handler charges in its own transaction and records the id
		// in the same one.
		if err := client.Subscribe(ctx, c, "orders.placed", func(ctx context.Context, o struct{ Order string }) error {
			d, _ := client.DeliveryFrom(ctx)
			tx, err := db.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx)
			first, err := pgstore.MarkTx(ctx, tx, d.Queue, d.Message.ID)
			if err != nil || !first {
				return err
			}
			runs.Add(1)
			if _, err := tx.Exec(ctx, `INSERT INTO charges VALUES ($1)`, o.Order); err != nil {
				return err
			}
			return tx.Commit(ctx)
		}, client.Idempotent(s), client.Concurrency(2)); err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Run(runCtx) }()
	}
	conn, err := amqp.Dial(b.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q := client.EventQueue("billing", "orders.placed")
	for i := range 60 { // 20 ids, each three times: what redeliveries look like
		id := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t"}[i%20]
		if err := ch.PublishWithContext(ctx, "", q, false, false, amqp.Publishing{
			MessageId: id, Body: []byte(`{"Order":"` + id + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM loft_processed`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d ids processed, want 20", n)
		}
	}
	// Wait for the queue to empty, then count.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		qi, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if qi.Messages == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(errors.New("queue never emptied"))
		}
	}
	time.Sleep(100 * time.Millisecond)
	var charges int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM charges`).Scan(&charges); err != nil {
		t.Fatal(err)
	}
	if runs.Load() != 20 || charges != 20 {
		t.Fatalf("handler ran %d times, %d charges; want 20 and 20", runs.Load(), charges)
	}
}
