// Package frame is Loft's codec for the AMQP 0-9-1 wire format, with
// RabbitMQ's extensions: frames, method arguments, field tables and content
// header properties.
//
// # Generated methods
//
// One Go type per AMQP method lives in methods_gen.go, written by ./gen from
// spec.amqp. The definition is ours, not a copy of the published JSON, so the
// repository builds without it; a test regenerates the file and fails if it
// drifted from spec.amqp.
//
// # Field tables
//
// Table values keep their wire type: an 'I' decodes to int32 and a 'u' to
// uint16, so a decoded table re-encodes to the same type codes. Type codes
// follow RabbitMQ's errata, which every client speaks, not the printed 0-9-1
// grammar.
//
// # Bounds
//
// Every decoder reads from input that may come from a hostile peer: frame
// payloads are capped by the negotiated frame-max, lengths are checked
// against the bytes actually present before anything is allocated, and
// nested tables and arrays stop at [MaxDepth]. Bad input yields an error
// wrapping one of the sentinels below, never a panic.
//
// # What this package must not do
//
// It holds no connection or channel state and knows nothing of the broker:
// it turns bytes into values and back. Assembling method, header and body
// frames into a message is the listener's job.
package frame

//go:generate go run ./gen
