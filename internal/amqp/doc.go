// Package amqp is Loft's AMQP 0-9-1 listener: it accepts client
// connections, runs the connection handshake (protocol header, SASL
// authentication against auth.Store, tuning, vhost access), keeps
// heartbeats, and multiplexes channels over each connection.
//
// # What this increment serves
//
// The connection class (start, tune, open, close) and the channel class
// (open, close, flow). Any other method on an open channel closes that
// channel with 540 NOT_IMPLEMENTED, leaving the connection usable; later
// increments replace that answer with exchanges, queues and basic.
//
// # Errors
//
// Protocol failures are [*Error] values carrying the reply code. A channel
// error closes one channel (a soft close); a connection error sends
// connection.close, waits briefly for close-ok and closes the socket, as
// the spec asks. Input from the peer never makes the server panic; a panic
// that slips through anyway is recovered per connection.
//
// # Concurrency
//
// Each connection has one reader goroutine that owns its channel table and
// every state change, and, when heartbeats are negotiated, one goroutine
// sending them. Frames are written under a per-connection write mutex, so
// a frame is never interleaved with another.
//
// # What it must not do
//
// It decodes nothing itself (frame does) and stores nothing (auth and,
// later, the broker do): it turns frames into calls and calls into frames.
package amqp
