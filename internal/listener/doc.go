// Package listener accepts TCP connections for a protocol front-end and
// tracks them until they end: the accept loop (with back-off when the
// process runs out of descriptors), one goroutine per connection, and a
// bounded graceful close. The Kafka and AMQP listeners share it.
//
// It knows nothing of any protocol: what a connection does, and how it
// ends gracefully, is the protocol's Conn.
package listener
