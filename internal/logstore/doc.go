// Package logstore is Loft's storage engine: durable, segmented, append-only
// logs of Kafka RecordBatch v2 batches. Every Kafka partition and every AMQP
// queue is one Log; a Store holds the logs of a data directory.
//
// # What it owns
//
//   - Offsets: Append assigns consecutive offsets by rewriting a batch's base
//     offset, and returns it.
//   - Durability: concurrent appends are coalesced by group commit into one
//     write and one fdatasync; an append completes only when its bytes are
//     durable (FsyncAlways), and readers see only completed appends.
//   - Segments and their sparse index (offset → position, timestamp →
//     offset), rolling by size and age, recovery after a crash, retention,
//     compaction, truncation.
//
// # What it must not do
//
// It knows nothing of protocols, topics, queues or consumers: it stores
// batches and hands them back. It does no file I/O except through fs.FS, so
// tests can inject faults and power losses.
//
// # On disk
//
// A log is a directory of segments named by the offset of their first
// batch: 00000000000000000000.log holds the batches exactly as appended,
// 00000000000000000000.index the sparse index of a sealed segment. The index
// is derived data: when it is missing or does not match its segment it is
// rebuilt by scanning the segment. A file "compacted" marks a log that
// compaction rewrote, whose batches may leave gaps in offsets; in any other
// log each batch starts where the one before ended.
//
// # Damage
//
// Every batch read is checked (header, offsets, CRC-32C) before it is
// returned. Damage between valid batches is a hole: kept, logged once at
// Error, counted (Options.OnCorrupt), and every read of the offsets it held
// is a *CorruptError naming them, so that readers can step over it; the
// intact batches around it are served. Damage after the last valid batch of
// the active segment after a crash is a torn write, never acknowledged, and
// recovery cuts it. See damage.go.
package logstore
