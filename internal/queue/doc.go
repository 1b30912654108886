// Package queue is Loft's AMQP-style queue: a single log of the log engine
// read through one shared subscription that keeps per-message state
// (ready, delivered and unacknowledged, acknowledged), hands messages to
// competing consumers under their credit, and takes acks, rejects and
// requeues.
//
// # What it owns
//
//   - The order of delivery: requeued messages go out first, lowest offset
//     first (a requeued message returns to its original place, ahead of
//     newer ones), then the log from a cursor. Consumers are offered
//     messages round-robin.
//   - Acknowledgement state: the acked offsets above a floor (every offset
//     below it is acked), kept durably in a second log, the ack log, that is
//     replayed on Open. Acks are not waited for: a crash may forget the last
//     few milliseconds of acks, and those messages are delivered again, as
//     AMQP's at-least-once delivery allows, unless WriteAcks was called
//     since and returned. When the floor passes whole segments of the
//     message log they are deleted.
//   - Damage on disk: a message the log reports damaged
//     (logstore.CorruptError) cannot be delivered. It is dropped as if
//     acked, with an Error line, and delivery goes on with the next one:
//     AMQP cannot tell a consumer that the next message is unreadable nor
//     let it step past, so stopping there would strand every intact message
//     behind it. The log itself logs and counts the damage.
//   - A bounded cache of the newest messages, so that a consumer keeping up
//     is served from memory, even before the message is durable; older
//     messages are read back from the log. Memory stays bounded however deep
//     the queue: the cache and the read-ahead have byte budgets.
//
// # What it must not do
//
// It does not route, name or declare queues (package vhost does), nor know
// a wire format: a message's AMQP properties are bytes it stores and hands
// back unchanged. It does no file I/O except through logstore.
//
// # Concurrency
//
// A Queue's state is guarded by its mutex. Consumer methods are called with
// that mutex held and must not block nor call back into the queue.
package queue
