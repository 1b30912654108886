// Package client is Loft's Go client library: services talk through the
// broker with the messaging patterns built in, over AMQP 0-9-1 (through
// github.com/rabbitmq/amqp091-go), so it also works against RabbitMQ,
// minus the Loft-only features it detects.
//
// # Set-up
//
// A service dials once, registers its handlers and runs them:
//
//	c, err := client.Dial(ctx, "amqp://guest:guest@127.0.0.1:5672/", client.WithService("billing"))
//	...
//	client.Subscribe(ctx, c, "orders.placed", func(ctx context.Context, e OrderPlaced) error { ... })
//	client.Serve(ctx, c, func(ctx context.Context, r ReserveStock) (Reservation, error) { ... })
//	err = c.Run(ctx) // until ctx ends, then drains
//
// # Patterns
//
//   - Events: Publish sends to a topic; Subscribe gives every subscribing
//     service each event once, in a durable queue per service
//     (EventQueue) that the service's instances compete for.
//   - Commands: Send reaches the one service named, whose Handle handler
//     for the command's type runs it (queue CommandQueue).
//   - Request/reply: Request waits for the reply of the service's Serve
//     handler, sent back through direct reply-to, or for ctx's end.
//
// # Delivery guarantees
//
// Publish, Send and replies return once the broker confirms the message is
// stored (on Loft: on disk). A connection lost before the confirm
// re-publishes the message on the next connection with the same id; on
// Loft, exchanges that remember recent ids make that retry invisible,
// elsewhere the consumer may see the message twice. A handler runs at
// least once per message; with Idempotent and a Store it runs once per
// message id, except for a crash between the handler's effects and the
// store's record of them (use a store in the handler's own database to
// close that gap).
//
// # Failures
//
// A handler's error sends the message back for a later attempt, waiting
// on the broker (Loft's delayed messages; elsewhere a queue whose
// messages expire into the handler's queue), with the attempt count and
// error in headers. After the last attempt (Retries), or at once for a
// Permanent error or a body that does not decode, the message goes to
// the queue's dead-letter queue (<queue>.dead) with the error, attempt
// count and service in headers; Replay moves it back once fixed. A
// handler that panics fails its message; the service goes on.
//
// # Observability
//
// The library logs through log/slog (WithLogger), carries the W3C trace
// context in the traceparent and tracestate headers (TraceFromContext in
// a handler, ContextWithTrace to start from one) and calls Hooks for
// metrics and tracing adapters.
package client
