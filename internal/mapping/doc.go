// Package mapping translates between an AMQP 0-9-1 message and a Kafka
// record: the one table, documented in docs/PROTOCOLS.md ("Cross-protocol header mapping"), by which a message
// published through one protocol is read through the other. An AMQP
// publisher feeding a Kafka topic (or a stream queue, which is the same log
// as a one-partition topic) goes through [ToRecord]; a record delivered to
// an AMQP consumer goes through [FromRecord].
//
// # What it owns
//
//   - The names and value formats of the record headers that carry AMQP
//     basic properties, the exchange and the application headers, and the
//     routing key's place as the record key.
//   - The round trip: for a message whose properties decode,
//     FromRecord(ToRecord(m)) has the same properties (same flags, same
//     values of the same field types, in the same order), routing key,
//     exchange, body and timestamp.
//   - What a record from a plain Kafka producer becomes: never an error,
//     always properties that encode.
//
// # Natural headers, exact types
//
// A Kafka reader sees one header per application header, under the same
// name, holding its value as text (or as raw bytes, for a byte array), so
// that nobody needs an AMQP codec to read a string header. Text cannot say
// whether "7" was a short or a long, so when some application header is
// anything but a UTF-8 string, a void or a byte array that is not UTF-8, or
// its name maps to a Kafka name that does not map back to it, the whole
// table is also kept, in AMQP wire form, in the amqp.headers record header.
// FromRecord takes each field's type from there as long as the Kafka header
// still reads as that field rendered; a header added or changed by a Kafka
// client is taken as it stands.
//
// # What it must not do
//
// It holds no state, does no I/O and knows nothing of routing, queues or
// topics: it turns one representation into the other. Record input may
// come from any Kafka client, so nothing in it may panic or grow without
// bound on crafted headers.
package mapping
