// Package vhost is Loft's AMQP 0-9-1 model: per virtual host, the
// exchanges, the queues and the bindings between them, and the routing of
// a published message to the queues it reaches.
//
// # What it owns
//
//   - Exchanges: the default exchange, the predeclared amq.* exchanges, and
//     declared ones (direct, fanout, topic, headers; durable or transient,
//     auto-delete, internal, alternate-exchange). Routing itself is
//     package route's.
//   - Queues: their declarations (durable, exclusive to a connection,
//     auto-delete, arguments) and their storage: a durable queue's logs
//     live in the data directory's store; a transient queue's in a store
//     that does not outlive the process. The subscription is package
//     queue's.
//   - Bindings, queue-to-exchange and exchange-to-exchange.
//   - Durability of the topology: durable exchanges, queues and the
//     bindings between durable ends are records in meta, written before
//     the call returns, and loaded by Open.
//
// # What it must not do
//
// It speaks no wire protocol: errors are sentinel values the AMQP layer
// maps to reply codes. Arguments and headers are AMQP field tables
// (frame.Table), the model's own vocabulary, but nothing here reads a
// frame. It does no file I/O except through logstore and meta.
//
// # Concurrency
//
// A Vhost's mutex guards its exchange and queue maps and is held while the
// topology changes; publishing holds it shared. Lock order: Vhost.mu, then
// a route.Router's lock, then a queue.Queue's.
package vhost
