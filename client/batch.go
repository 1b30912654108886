package client

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// SubscribeBatch is Subscribe for a handler that takes events in batches,
// e.g. to write them to a database in one statement: a batch holds at
// most n events and is handed over at most wait after its first one
// arrived (BatchOf; defaults 100 and 1s). When h fails, every event of the
// batch is retried or dead-lettered as a single message would be; one that
// does not decode is dead-lettered alone, the rest go on.
func SubscribeBatch[T any](ctx context.Context, c *Client, topic string, h func(context.Context, []T) error, opts ...HandlerOption) error {
	q := EventQueue(c.cfg.service, topic)
	hs := handlerDefaults()
	for _, o := range opts {
		o(&hs)
	}
	return c.add(ctx, &consumer{
		queue:   q,
		declare: declareEvents(q, topic),
		batch: func(ctx context.Context, ms []Message) (map[int]error, error) {
			var bad map[int]error
			vs := make([]T, 0, len(ms))
			for i, m := range ms {
				v, err := decode[T](c, m)
				if err != nil {
					if bad == nil {
						bad = map[int]error{}
					}
					bad[i] = err
					continue
				}
				vs = append(vs, v)
			}
			if len(vs) == 0 {
				return bad, nil
			}
			return bad, h(ctx, vs)
		},
	}, append([]HandlerOption{Prefetch(2 * hs.batchSize)}, opts...))
}

// batches collects deliveries into batches and runs the batch handler on
// each, until run ends (the batch being collected then runs too) or the
// deliveries do.
func (k *consumer) batches(run context.Context, ch *amqp.Channel, tag string, deliveries <-chan amqp.Delivery) error {
	var batch []amqp.Delivery
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		if len(batch) > 0 {
			k.processBatch(batch)
			batch = nil
		}
		timer.Stop()
	}
	defer flush()
	for {
		select {
		case <-run.Done():
			return ch.Cancel(tag, false)
		case <-timer.C:
			flush()
		case d, ok := <-deliveries:
			if !ok {
				batch = nil // the channel is gone: they come again
				return errors.New("deliveries ended (connection lost or queue deleted)")
			}
			batch = append(batch, d)
			if len(batch) == 1 {
				timer.Reset(k.opts.batchWait)
			}
			if len(batch) >= k.opts.batchSize {
				flush()
			}
		}
	}
}

// processBatch runs the batch handler on ds and settles each.
func (k *consumer) processBatch(ds []amqp.Delivery) {
	c := k.c
	ms := make([]Message, len(ds))
	for i := range ds {
		ms[i] = fromDelivery(&ds[i])
	}
	ctx := extractTrace(c.ctx, &ms[0])
	ctx, done := c.cfg.hooks.handling(ctx, k.queue, &ms[0])
	bad, err := k.runBatch(ctx, ms)
	done(err)
	for i := range ds {
		switch {
		case bad[i] != nil:
			k.fail(extractTrace(c.ctx, &ms[i]), &ds[i], &ms[i], bad[i])
		case err != nil:
			k.fail(extractTrace(c.ctx, &ms[i]), &ds[i], &ms[i], err)
		default:
			_ = ds[i].Ack(false)
		}
	}
}

// runBatch calls the batch handler, turning a panic into an error.
func (k *consumer) runBatch(ctx context.Context, ms []Message) (bad map[int]error, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("client: batch handler panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return k.batch(ctx, ms)
}
