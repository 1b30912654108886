package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/client"
	"github.com/loftmq/loft/embedded"
)

type OrderPlaced struct {
	Order string `json:"order"`
	Total int    `json:"total"`
}

type ReserveStock struct {
	Order string `json:"order"`
	Items int    `json:"items"`
}

type Reservation struct {
	Order string `json:"order"`
	OK    bool   `json:"ok"`
}

// dial returns a Client of service on b, closed when the test ends.
func dial(t *testing.T, b *embedded.Broker, service string, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, b.AMQPURL(), append([]client.Option{client.WithService(service)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// run runs c's handlers until the test ends.
func run(t *testing.T, c *client.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds, failing the test after 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// rawChannel is a plain amqp091-go channel on b, for what a test does
// beside the library; closed when the test ends.
func rawChannel(t *testing.T, b *embedded.Broker) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(b.AMQPURL())
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

// TestEventsOncePerService: each subscribing service gets every event
// once, shared among its instances; a service subscribed to another
// topic gets none.
func TestEventsOncePerService(t *testing.T) {
	b := embedded.Start(t)
	ctx := timeout(t)
	var billing, stock, other atomic.Int64
	seen := sync.Map{}
	for i := range 2 { // two instances of billing compete
		c := dial(t, b, "billing")
		if err := client.Subscribe(ctx, c, "orders.placed", func(ctx context.Context, e OrderPlaced) error {
			billing.Add(1)
			if _, dup := seen.LoadOrStore(e.Order, i); dup {
				t.Errorf("billing got %s twice", e.Order)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		run(t, c)
	}
	s := dial(t, b, "stock")
	if err := client.Subscribe(ctx, s, "orders.*", func(ctx context.Context, e OrderPlaced) error {
		stock.Add(1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := client.Subscribe(ctx, s, "payments.#", func(ctx context.Context, e OrderPlaced) error {
		other.Add(1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	run(t, s)

	orders := dial(t, b, "orders")
	const n = 50
	for i := range n {
		if err := orders.Publish(ctx, "orders.placed", OrderPlaced{Order: fmt.Sprint("o", i), Total: i}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every event", func() bool { return billing.Load() == n && stock.Load() == n })
	time.Sleep(100 * time.Millisecond) // room for a duplicate to show
	if billing.Load() != n || stock.Load() != n || other.Load() != 0 {
		t.Fatalf("billing %d, stock %d, payments %d; want %d, %d, 0", billing.Load(), stock.Load(), other.Load(), n, n)
	}
	if !orders.Loft() {
		t.Fatal("Loft() is false against Loft")
	}
}

// TestCommandsAndRequests: Send reaches the one handler of its type;
// Request gets the handler's reply or its error; a command or request
// nobody serves fails cleanly.
func TestCommandsAndRequests(t *testing.T) {
	b := embedded.Start(t)
	ctx := timeout(t)
	stock := dial(t, b, "stock")
	got := make(chan ReserveStock, 1)
	if err := client.Handle(ctx, stock, func(ctx context.Context, cmd ReserveStock) error {
		got <- cmd
		return nil
	}, client.ForType("Restock")); err != nil {
		t.Fatal(err)
	}
	if err := client.Serve(ctx, stock, func(ctx context.Context, req ReserveStock) (Reservation, error) {
		if req.Items > 10 {
			return Reservation{}, errors.New("not enough stock")
		}
		return Reservation{Order: req.Order, OK: true}, nil
	}); err != nil {
		t.Fatal(err)
	}
	run(t, stock)

	orders := dial(t, b, "orders")
	if err := orders.Send(ctx, "stock", ReserveStock{Order: "o1", Items: 2}, client.WithType("Restock")); err != nil {
		t.Fatal(err)
	}
	if cmd := <-got; cmd.Order != "o1" || cmd.Items != 2 {
		t.Fatalf("command %+v", cmd)
	}
	r, err := client.Request[Reservation](ctx, orders, "stock", ReserveStock{Order: "o2", Items: 3})
	if err != nil || !r.OK || r.Order != "o2" {
		t.Fatalf("Request: %+v, %v", r, err)
	}
	_, err = client.Request[Reservation](ctx, orders, "stock", ReserveStock{Order: "o3", Items: 11})
	var remote *client.RemoteError
	if !errors.As(err, &remote) || remote.Message != "not enough stock" || remote.Service != "stock" {
		t.Fatalf("Request of a failing handler: %v", err)
	}

	if err := orders.Send(ctx, "nobody", ReserveStock{}); !errors.Is(err, client.ErrNoRoute) {
		t.Fatalf("Send to a service that never started: %v, want ErrNoRoute", err)
	}
	if _, err := client.Request[Reservation](ctx, orders, "nobody", ReserveStock{}); !errors.Is(err, client.ErrNoRoute) {
		t.Fatalf("Request to a service that never started: %v, want ErrNoRoute", err)
	}
	// A service whose queue exists but whose instances are all down: the
	// request times out, and expires in the queue instead of being
	// served late.
	idle := dial(t, b, "idle")
	if err := client.Serve(ctx, idle, func(ctx context.Context, req ReserveStock) (Reservation, error) {
		return Reservation{OK: true}, nil
	}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := client.Request[Reservation](short, orders, "idle", ReserveStock{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request to a service not running: %v, want DeadlineExceeded", err)
	}
}

// TestRetriesDeadLettersAndReplay: a failing handler is retried after a
// wait on the broker; after its last attempt the message is dead-lettered
// with the error, attempts and service in headers; Replay brings it back.
func TestRetriesDeadLettersAndReplay(t *testing.T) {
	b := embedded.Start(t)
	ctx := timeout(t)
	billing := dial(t, b, "billing")
	var calls atomic.Int64
	var fixed atomic.Bool
	var times []time.Time
	var mu sync.Mutex
	if err := client.Subscribe(ctx, billing, "orders.placed", func(ctx context.Context, e OrderPlaced) error {
		calls.Add(1)
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if fixed.Load() {
			return nil
		}
		return fmt.Errorf("card declined for %s", e.Order)
	}, client.Retries(3, 100*time.Millisecond, time.Second)); err != nil {
		t.Fatal(err)
	}
	run(t, billing)
	orders := dial(t, b, "orders")
	if err := orders.Publish(ctx, "orders.placed", OrderPlaced{Order: "o1"}); err != nil {
		t.Fatal(err)
	}
	q := client.EventQueue("billing", "orders.placed")
	dead := peekDead(t, b, q)
	if calls.Load() != 3 {
		t.Fatalf("%d calls before dead-lettering, want 3", calls.Load())
	}
	mu.Lock()
	if d := times[1].Sub(times[0]); d < 100*time.Millisecond {
		t.Errorf("second attempt %v after the first, want at least 100ms", d)
	}
	if d := times[2].Sub(times[1]); d < 200*time.Millisecond {
		t.Errorf("third attempt %v after the second, want at least 200ms", d)
	}
	mu.Unlock()
	if dead.Headers[client.HeaderError] != "card declined for o1" || dead.Headers[client.HeaderService] != "billing" ||
		fmt.Sprint(dead.Headers[client.HeaderAttempt]) != "3" || dead.Headers[client.HeaderQueue] != q {
		t.Fatalf("dead letter headers %v", dead.Headers)
	}

	fixed.Store(true)
	n, err := billing.Replay(ctx, q, 0)
	if err != nil || n != 1 {
		t.Fatalf("Replay: %d, %v", n, err)
	}
	waitFor(t, "the replayed message", func() bool { return calls.Load() == 4 })
}

// peekDead waits for a dead letter in q.dead and returns it, leaving it
// there.
func peekDead(t *testing.T, b *embedded.Broker, q string) amqp.Delivery {
	t.Helper()
	ch := rawChannel(t, b)
	var d amqp.Delivery
	waitFor(t, "a dead letter", func() bool {
		got, ok, err := ch.Get(q+".dead", false)
		if err != nil {
			t.Fatal(err)
		}
		d = got
		return ok
	})
	if err := d.Nack(false, true); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestIdempotentConsumer: a message delivered twice with one id runs an
// Idempotent handler once.
func TestIdempotentConsumer(t *testing.T) {
	b := embedded.Start(t)
	ctx := timeout(t)
	billing := dial(t, b, "billing")
	var calls atomic.Int64
	if err := client.Subscribe(ctx, billing, "orders.placed", func(ctx context.Context, e OrderPlaced) error {
		calls.Add(1)
		return nil
	}, client.Idempotent(client.NewMemoryStore(100))); err != nil {
		t.Fatal(err)
	}
	run(t, billing)
	// Straight into the queue, past the broker's deduplication, as a
	// redelivery after a crash would come.
	ch := rawChannel(t, b)
	for _, id := range []string{"m1", "m1", "m2", "m1"} {
		if err := ch.PublishWithContext(ctx, "", client.EventQueue("billing", "orders.placed"), false, false,
			amqp.Publishing{MessageId: id, Body: []byte(`{"order":"o"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "both messages", func() bool { return calls.Load() >= 2 })
	time.Sleep(200 * time.Millisecond)
	if calls.Load() != 2 {
		t.Fatalf("handler ran %d times for 2 distinct ids", calls.Load())
	}
}

// TestTraceContextReachesHandler: the handler's context carries the trace
// of the publisher's context, and a message published from a handler
// continues it.
func TestTraceContextReachesHandler(t *testing.T) {
	b := embedded.Start(t)
	ctx := timeout(t)
	svc := dial(t, b, "svc")
	got := make(chan client.TraceContext, 2)
	if err := client.Subscribe(ctx, svc, "a", func(ctx context.Context, e OrderPlaced) error {
		tc, _ := client.TraceFromContext(ctx)
		got <- tc
		return svc.Publish(ctx, "b", e)
	}); err != nil {
		t.Fatal(err)
	}
	if err := client.Subscribe(ctx, svc, "b", func(ctx context.Context, e OrderPlaced) error {
		tc, _ := client.TraceFromContext(ctx)
		got <- tc
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	run(t, svc)
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	pctx := client.ContextWithTrace(ctx, client.TraceContext{TraceParent: parent, TraceState: "loft=1"})
	if err := svc.Publish(pctx, "a", OrderPlaced{Order: "o"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		tc := <-got
		if tc.TraceParent[3:35] != parent[3:35] || tc.TraceParent == parent || tc.TraceState != "loft=1" {
			t.Fatalf("handler's trace %+v, want trace id of %s with a new span", tc, parent)
		}
	}
}

// TestRunDrains: when Run's context ends, a message being handled
// finishes and is acknowledged (it is not delivered again), and no new
// one starts.
func TestRunDrains(t *testing.T) {
	b := embedded.Start(t)
	ctx := timeout(t)
	svc := dial(t, b, "svc")
	started := make(chan string, 10)
	release := make(chan struct{})
	var finished atomic.Int64
	if err := client.Subscribe(ctx, svc, "work", func(ctx context.Context, e OrderPlaced) error {
		started <- e.Order
		<-release
		finished.Add(1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	for i := range 3 {
		if err := svc.Publish(ctx, "work", OrderPlaced{Order: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	first := <-started
	stop()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if finished.Load() != 1 {
		t.Fatalf("%d handlers finished, want the 1 in flight", finished.Load())
	}
	// The other two are still in the queue; the first is not.
	next := dial(t, b, "svc")
	var rest []string
	var mu sync.Mutex
	if err := client.Subscribe(ctx, next, "work", func(ctx context.Context, e OrderPlaced) error {
		mu.Lock()
		rest = append(rest, e.Order)
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	run(t, next)
	waitFor(t, "the two left", func() bool { mu.Lock(); defer mu.Unlock(); return len(rest) == 2 })
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for _, o := range rest {
		if o == first {
			t.Fatalf("message %s, handled before the drain, came again; rest %v", first, rest)
		}
	}
}

// TestOrderedByKey: with concurrency and OrderedByKey, messages of one
// key are handled one at a time in publish order.
func TestOrderedByKey(t *testing.T) {
	b := embedded.Start(t, embedded.WithoutFsync())
	ctx := timeout(t)
	svc := dial(t, b, "svc")
	var mu sync.Mutex
	last := map[string]int{}
	busy := map[string]bool{}
	var total atomic.Int64
	if err := client.Subscribe(ctx, svc, "k", func(ctx context.Context, e OrderPlaced) error {
		mu.Lock()
		if busy[e.Order] {
			t.Errorf("two messages of key %s at once", e.Order)
		}
		if e.Total <= last[e.Order] && last[e.Order] != 0 {
			t.Errorf("key %s: %d after %d", e.Order, e.Total, last[e.Order])
		}
		busy[e.Order], last[e.Order] = true, e.Total
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		busy[e.Order] = false
		mu.Unlock()
		total.Add(1)
		return nil
	}, client.Concurrency(4), client.OrderedByKey()); err != nil {
		t.Fatal(err)
	}
	run(t, svc)
	const perKey = 20
	for i := 1; i <= perKey; i++ {
		for _, k := range []string{"a", "b", "c", "d", "e"} {
			if err := svc.Publish(ctx, "k", OrderPlaced{Order: k, Total: i}, client.WithKey(k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "every message", func() bool { return total.Load() == 5*perKey })
}

// TestDialHonorsContext: a broker that accepts the connection but never
// answers the handshake fails Dial when ctx ends, not 30 s later.
func TestDialHonorsContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent until the test ends
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = client.Dial(ctx, "amqp://guest:guest@"+ln.Addr().String()+"/", client.WithService("svc"))
	if err == nil {
		t.Fatal("Dial to a silent server succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Dial took %v with a 300ms context", d)
	}
}
