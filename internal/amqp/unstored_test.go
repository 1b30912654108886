package amqp_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/amqp"
)

// TestUnstoredBoundAcrossConnections: with a server-wide bound on unstored
// publishes far below one message, eight connections publishing at once
// still all get every message confirmed: a connection with nothing of its
// own unstored always goes on, so the bound slows publishers but never
// stops them.
func TestUnstoredBoundAcrossConnections(t *testing.T) {
	l := startListener(t, amqp.Config{MaxUnstored: 1})
	const conns, each = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for c := range conns {
		conn, err := dial(t, l.url("guest", "guest", "/"), amqp091.Config{})
		if err != nil {
			t.Fatal(err)
		}
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		q := fmt.Sprint("unstored-", c)
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		must(t, ch.Confirm(false))
		confirms := ch.NotifyPublish(make(chan amqp091.Confirmation, each))
		wg.Go(func() {
			body := make([]byte, 4096)
			for range each {
				if err := ch.PublishWithContext(ctx, "", q, false, false,
					amqp091.Publishing{DeliveryMode: 2, Body: body}); err != nil {
					errs <- err
					return
				}
			}
			for range each {
				select {
				case c := <-confirms:
					if !c.Ack {
						errs <- fmt.Errorf("%s: nacked", q)
						return
					}
				case <-ctx.Done():
					errs <- fmt.Errorf("%s: confirms stopped: %w", q, ctx.Err())
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
