package outbox_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loftmq/loft/client"
	"github.com/loftmq/loft/client/outbox"
	"github.com/loftmq/loft/embedded"
	"github.com/loftmq/loft/internal/pgtest"
)

type OrderPlaced struct {
	Order string `json:"order"`
}

// TestOutboxKeepsDataAndEventsInStep: an order written in a transaction
// with its event is published once the transaction commits; a rolled back
// one never is; a relay stopped between the broker's confirm and marking
// the rows sent leaves them to the next relay, whose copies (same ids)
// the consumer never sees twice.
func TestOutboxKeepsDataAndEventsInStep(t *testing.T) {
	db := pgtest.Pool(t)
	b := embedded.Start(t, embedded.WithoutFsync())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := outbox.Init(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `CREATE TABLE orders (id text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}

	// The consumer counts what it gets per order.
	billing, err := client.Dial(ctx, b.AMQPURL(), client.WithService("billing"))
	if err != nil {
		t.Fatal(err)
	}
	defer billing.Close()
	var mu sync.Mutex
	got := map[string]int{}
	headers := map[string]any{}
	if err := client.Subscribe(ctx, billing, "orders.placed", func(ctx context.Context, e OrderPlaced) error {
		d, _ := client.DeliveryFrom(ctx)
		mu.Lock()
		got[e.Order]++
		headers = d.Message.Headers
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go billing.Run(runCtx)

	// The order service writes orders and their events together.
	var published atomic.Int64
	var stopRelay context.CancelFunc
	orders, err := client.Dial(ctx, b.AMQPURL(), client.WithService("orders"), client.WithHooks(client.Hooks{
		Publishing: func(context.Context, string, *client.Message) func(error) {
			return func(err error) {
				// The first relay stops right after its 5th confirm:
				// before it marks anything sent.
				if err == nil && published.Add(1) == 5 && stopRelay != nil {
					stopRelay()
				}
			}
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer orders.Close()
	place := func(id string, commit bool) {
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `INSERT INTO orders VALUES ($1)`, id); err != nil {
			t.Fatal(err)
		}
		m, err := orders.NewMessage(ctx, OrderPlaced{Order: id}, client.WithHeader("attempt", 1), client.WithHeader("nested", map[string]any{"a": 2.5}))
		if err != nil {
			t.Fatal(err)
		}
		if err := outbox.Publish(ctx, tx, "orders.placed", m); err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 10 {
		place(fmt.Sprint("o", i), i != 3) // o3 rolls back
	}

	first, err := outbox.NewRelay(db, orders, outbox.WithBatch(100))
	if err != nil {
		t.Fatal(err)
	}
	relayCtx, stop := context.WithCancel(ctx)
	stopRelay = stop
	if n, err := first.Once(relayCtx); err == nil || n != 0 {
		t.Fatalf("first relay, stopped mid-batch: %d marked, err %v; want 0 and an error", n, err)
	}
	var unsent int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM loft_outbox WHERE sent_at IS NULL`).Scan(&unsent); err != nil || unsent != 9 {
		t.Fatalf("%d unsent rows after the first relay stopped (%v), want 9", unsent, err)
	}

	second, err := outbox.NewRelay(db, orders, outbox.WithPoll(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	relayDone := make(chan error, 1)
	go func() { relayDone <- second.Run(runCtx) }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer got %d orders, want 9", n)
		}
	}
	time.Sleep(200 * time.Millisecond) // room for a duplicate to show
	mu.Lock()
	defer mu.Unlock()
	for i := range 10 {
		id := fmt.Sprint("o", i)
		want := 1
		if i == 3 {
			want = 0
		}
		if got[id] != want {
			t.Errorf("%s delivered %d times, want %d", id, got[id], want)
		}
	}
	if headers["attempt"] != int64(1) {
		t.Errorf("header attempt came back as %#v", headers["attempt"])
	}
	if fmt.Sprint(headers["nested"]) != "map[a:2.5]" {
		t.Errorf("header nested came back as %#v", headers["nested"])
	}
	if published.Load() < 14 {
		t.Errorf("%d publishes; want the first relay's 5 and the second's 9", published.Load())
	}
	if err := db.QueryRow(ctx, `SELECT count(*) FROM loft_outbox WHERE sent_at IS NULL`).Scan(&unsent); err != nil || unsent != 0 {
		t.Errorf("%d rows unsent at the end (%v)", unsent, err)
	}
	if n, err := outbox.Prune(ctx, db, 0); err != nil || n != 9 {
		t.Errorf("Prune: %d, %v; want 9", n, err)
	}
	stopRun()
	<-relayDone
}
