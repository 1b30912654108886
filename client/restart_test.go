package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loftmq/loft/client"
	"github.com/loftmq/loft/internal/loftproc"
)

var loftBin string

func TestMain(m *testing.M) { loftproc.Main(m, "", &loftBin) }

// proxy forwards loopback TCP connections to a target that can change, so
// that clients keep one URL while the broker behind it restarts on new
// ports. Connections made before a change stay with the old target (and
// die with it).
type proxy struct {
	ln     net.Listener
	target atomic.Value // string
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	p.target.Store(target)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
	return p
}

func (p *proxy) forward(c net.Conn) {
	defer c.Close()
	b, err := net.DialTimeout("tcp", p.target.Load().(string), 2*time.Second)
	if err != nil {
		return
	}
	defer b.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(b, c); done <- struct{}{} }()
	go func() { io.Copy(c, b); done <- struct{}{} }()
	<-done
}

func (p *proxy) url() string { return "amqp://guest:guest@" + p.ln.Addr().String() + "/" }

// TestBrokerKilledMidFlow: a publisher and an idempotent subscriber keep
// going while the broker is SIGKILLed and restarted twice: every event
// whose Publish returned nil is handled, none twice, and a request made
// while the broker is down is answered once it is back.
func TestBrokerKilledMidFlow(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	broker := loftproc.Start(t, loftBin, dir)
	px := newProxy(t, broker.AMQP)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dialOpts := []client.Option{client.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond)}

	billing, err := client.Dial(ctx, px.url(), append(dialOpts, client.WithService("billing"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer billing.Close()
	var mu sync.Mutex
	runs := map[string]int{} // handler runs per order
	if err := client.Subscribe(ctx, billing, "orders.placed", func(ctx context.Context, e OrderPlaced) error {
		mu.Lock()
		runs[e.Order]++
		mu.Unlock()
		return nil
	}, client.Idempotent(client.NewMemoryStore(10_000)), client.Concurrency(4)); err != nil {
		t.Fatal(err)
	}
	if err := client.Serve(ctx, billing, func(ctx context.Context, r ReserveStock) (Reservation, error) {
		return Reservation{Order: r.Order, OK: true}, nil
	}); err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- billing.Run(runCtx) }()

	orders, err := client.Dial(ctx, px.url(), append(dialOpts, client.WithService("orders"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer orders.Close()
	var confirmed []string
	var published atomic.Int64
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := 0; ctx.Err() == nil && i < 600; i++ {
			order := fmt.Sprint("o", i)
			pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			err := orders.Publish(pctx, "orders.placed", OrderPlaced{Order: order, Total: i})
			cancel()
			if err != nil {
				t.Errorf("Publish %s: %v", order, err)
				return
			}
			mu.Lock()
			confirmed = append(confirmed, order)
			mu.Unlock()
			published.Add(1)
		}
	}()

	for round := 1; round <= 2; round++ {
		waitFor(t, "publishing to go on", func() bool { return published.Load() >= int64(200*round) })
		broker.Kill()
		reply := make(chan error, 1)
		go func() {
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			r, err := client.Request[Reservation](rctx, orders, "billing", ReserveStock{Order: fmt.Sprint("r", round)})
			if err == nil && !r.OK {
				err = errors.New("reply not OK")
			}
			reply <- err
		}()
		time.Sleep(100 * time.Millisecond) // the request goes out while the broker is down
		broker = loftproc.Start(t, loftBin, dir)
		px.target.Store(broker.AMQP)
		if err := <-reply; err != nil {
			t.Fatalf("round %d: request across the restart: %v", round, err)
		}
	}
	<-pubDone
	mu.Lock()
	want := append([]string(nil), confirmed...)
	mu.Unlock()
	waitFor(t, "every confirmed event handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, o := range want {
			if runs[o] == 0 {
				return false
			}
		}
		return true
	})
	stopRun()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for o, n := range runs {
		if n > 1 {
			t.Errorf("%s handled %d times", o, n)
		}
	}
	t.Logf("%d events confirmed across 2 SIGKILLs, each handled once", len(want))
}
