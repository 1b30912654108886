// Package kafka is Loft's Kafka wire-protocol listener: it decodes Kafka
// requests with franz-go's kmsg, calls the broker core (internal/broker)
// and the group coordinator (internal/group), and encodes their answers.
//
// # What it owns
//
//   - Connections: framing (a 4-byte size, then the request), the request
//     header (v0-v2, with tagged fields for flexible versions), the bound on
//     request size, and the order of responses.
//   - One file per Kafka API, named by key (00_produce.go, 01_fetch.go, ...),
//     each opening with a comment on the versions it serves; apis.go lists
//     them all and is what ApiVersions answers from.
//   - The mapping of broker errors to Kafka error codes (errors.go).
//
// # Connections and ordering
//
// Each connection has a reader goroutine and a writer goroutine. The
// reader reads a frame, decodes it and runs its handler; each request takes
// a slot in a bounded queue (maxInFlight per connection, after which the
// reader waits) and the writer sends the slots' responses strictly in
// request order, waiting for each to be ready.
//
// Most handlers answer at once, on the reader goroutine. Produce answers
// later: it hands each batch to the broker, which completes it after
// fsync, and the reader moves on to the next request. That is what lets a
// producer with several requests in flight on one connection share a group
// commit. Handlers that block (JoinGroup, SyncGroup, a Fetch long poll) run
// on the reader goroutine and hold the connection's later requests back
// until they return, as Kafka does (it mutes a connection while one of its
// requests is being processed); clients put such requests on connections of
// their own.
//
// # Bad input
//
// A frame larger than the configured maximum (or with a negative size), a
// header or body that does not decode, an unknown API key or a version
// outside the served range (ApiVersions excepted, which answers v0 with
// UNSUPPORTED_VERSION and the served ranges, per KIP-511) closes that one
// connection with a log line naming the client. Bodies of flexible versions
// are walked before kmsg decodes them (guard.go), because kmsg would spin
// for tens of seconds on a forged count of tagged fields. A panic in a
// handler is recovered, logged with its stack, and closes that connection
// only.
//
// # What it must not do
//
// It holds no storage, routing, idempotence or group logic: those live in
// broker and group, and this package only translates. It keeps no state
// across connections beyond what a Kafka broker keeps per listener.
package kafka
