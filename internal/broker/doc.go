// Package broker is Loft's core model of Kafka-style topics: topics split
// into partitions, each partition one log of the log engine; their configs;
// idempotent producers. Protocol front-ends (internal/kafka) translate
// requests into calls here and answers back; nothing here knows a wire
// format beyond the RecordBatch v2 header that the log stores.
//
// # What it owns
//
//   - Topics: names (Kafka's rules, plus "__" reserved for internal logs),
//     ids (random UUIDs), partition counts and configs, stored durably in
//     meta under meta.Key("topic", name) as JSON. Each change is one
//     meta.Apply, durable before the call returns, ordered against the log
//     operations so that Open can finish or undo a change a crash cut short
//     (see admin.go).
//   - Partition logs, named "<topic>-<index>". Log names of that form belong
//     to this package: Open deletes those no topic claims.
//   - Topic configs: retention.ms, retention.bytes, segment.bytes,
//     segment.ms, cleanup.policy, min.compaction.lag.ms and
//     delete.retention.ms map onto logstore.Config; max.message.bytes and
//     message.timestamp.type are enforced by Produce. segment.bytes must be
//     at least 1024 (Kafka allows 14; the log engine needs room).
//   - Produce: Kafka's batch validation, LogAppendTime, and idempotence
//     (producer id, epoch, the last 5 batches per producer and partition),
//     with producer state rebuilt from the log's tail at Open.
//   - Long polling: Partition.Wait, a channel closed when the high watermark
//     advances.
//   - Producer ids, reserved durably in blocks so none is ever reused.
//
// # What it must not do
//
// It must not encode or decode protocol frames, nor speak in a protocol's
// error codes: it returns sentinel errors that each front-end maps. It does
// no file I/O of its own: logs through logstore, metadata through meta.
//
// # Not supported
//
// Message formats v0 and v1 (magic 0 and 1) are refused with
// ErrCorruptMessage: every Kafka client since 0.11 writes v2. Transactional
// and control batches are refused with ErrInvalidRecord until transactions
// arrive.
package broker
