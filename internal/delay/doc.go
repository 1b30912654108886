// Package delay is Loft's durable store of delayed messages, the engine
// under the x-delayed-message exchange type: a message is added with the
// time it is due, kept on disk, and handed back once that time has come, to
// be routed then.
//
// # What it owns
//
//   - Durability: a message is added by appending it, as a one-record batch
//     whose timestamp is its due time, to a log of the log engine; Add
//     completes when the append does. A second log, the done log, says which
//     messages have fired. It may be a NoSync log: a mark lost to a crash
//     fires its message again, which the at-least-once promise allows.
//   - Timing: messages fire in due order, by offset among equal due times,
//     no earlier than due and as soon as a bounded number of fires in flight
//     allows.
//   - Bounded memory: payloads stay on disk and are read back when they
//     fire. In memory, each pending message costs one 16-byte heap entry
//     (due time, offset) plus a count per 4096 offsets that finds the floor,
//     the lowest offset not yet fired. Fired messages cost nothing once
//     their marks are written.
//   - Trimming: the message log is trimmed to the floor, and the done log to
//     its latest snapshot, from one goroutine at most once a tidy interval.
//
// # What it must not do
//
// It does not route, parse headers or know AMQP: a payload is bytes it
// stores and hands back unchanged, and the caller decides what firing means.
// It does no file I/O except through logstore.
//
// # On disk
//
// The message log holds one batch per message: a record whose timestamp is
// the due time in milliseconds and whose value is the payload. Restart
// rebuilds the heap by reading the log from the floor, taking the due time
// from each batch header. The done log holds mark records (see
// appendMarkRecord): fired offset spans above a floor. Replaying it is a
// union, so a snapshot, which holds the whole state, lets every record
// before it go. Open rewrites the done log as one snapshot.
//
// # Concurrency
//
// A Store's state is guarded by its mutex, never held while calling Fire
// or a caller's done. One goroutine takes due messages and calls Fire;
// another snapshots and trims. Callbacks of the log engine take the mutex;
// the store never holds it while appending to the message log.
package delay
