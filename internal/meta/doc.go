// Package meta is the home of Loft's durable metadata: vhosts, users,
// exchanges, queues, bindings, topics and their configs, and later
// consumer-group offsets. It keeps them as records of one internal log,
// __meta, in the same logstore.Store as the data, and holds in memory the
// state that log replays to.
//
// # What it owns
//
//   - The __meta log: a compacted log (cleanup.policy=compact, never
//     deleted by age or size) whose records have the entity's key as key
//     and its encoded state as value; a tombstone (nil value) deletes.
//   - The state: a map of key to value, rebuilt by Open from the log start
//     to the high watermark (in offset order, the last write of a key
//     winning, tombstones deleting) and kept current by every write.
//   - Atomic writes: Apply writes any mix of puts and deletes as one record
//     batch, applied all or not at all.
//
// # What it must not do
//
// Values are opaque bytes: this package knows no entity types and no
// encodings; the broker defines them (and versions them inside the value).
// The state holds nothing that is not in the log: it changes only in the
// append callback of a batch the log took, through the same function that
// replay uses, so that the state is a function of the log. It does no file
// I/O of its own. It must not depend on compaction having run or not:
// compaction removes only records that a later record of the same key
// overrides, and tombstones with nothing left to delete, so replay gives the
// same state either way; replay also steps over the gaps and record-less
// batches compaction leaves, going by each batch header's last offset.
//
// # Keys
//
// A key is a path of parts joined by '/', the first naming the kind of
// entity, built with Key so that '/' and '%' inside a name are escaped and
// any name fits (AMQP's default vhost is "/", its default exchange ""):
//
//	vhost/<vhost>
//	user/<user>
//	permission/<vhost>/<user>
//	exchange/<vhost>/<exchange>
//	queue/<vhost>/<queue>
//	binding/<vhost>/<source>/<destination kind>/<destination>/<routing key>/<arguments digest>
//	topic/<topic>
//	group/<group>/offset/<topic>/<partition>
//
// The broker owns that list; the layout above is the convention it starts
// from. Scan(Prefix("queue", vhost)) lists the queues of one vhost and not
// those of a vhost whose name merely begins the same way. Kinds are plain
// words; "meta" is reserved for this package's own records.
//
// # Crash safety
//
// An Apply is one RecordBatch v2: one length and one CRC-32C over all its
// records. The log appends a batch as a unit, never split across segments,
// and recovery keeps or cuts whole batches: it cuts the active segment at
// the first batch whose length or CRC does not check out, so a torn write
// leaves each batch wholly there or wholly gone, and never a later batch
// of that segment without the earlier ones. Hence after a power loss the
// state is the replay of whole Applies. With FsyncAlways it holds every
// acknowledged one (an append completes only after fdatasync covered it,
// and a segment's last bytes are synced before the next segment's), so a
// caller that waits for one write before issuing the next never finds the
// later change without the earlier one after a restart.
//
// Metadata follows the store's fsync policy: with an interval or never, an
// acknowledged Apply may be lost in a crash, like the data of that store,
// and a crash between a segment roll and the sync of the segment left
// behind may keep a later Apply and lose an earlier one (each still whole).
//
// A failed Apply leaves the state unchanged, and the log cuts the failed
// bytes before its next write; but a crash before that cut may keep them
// (the disk may have taken the write whose fsync failed), so an error does
// not prove the change absent after a restart. Callers write changes they
// can safely repeat: puts of whole states, deletes.
//
// # Concurrency
//
// A Store is safe for concurrent use. Concurrent Applies share the log's
// group commit; the log completes them in offset order from one goroutine,
// and each is applied to the state in that completion, so the state always
// follows log order. Open one Store per logstore.Store: a second one would
// not see the first one's writes.
package meta
