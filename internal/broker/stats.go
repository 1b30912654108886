package broker

import "sync/atomic"

// PartitionStats is what metrics report of one partition: its offsets and
// size now, and running counts since the partition was opened (they start
// again at zero when the broker restarts, as Prometheus counters may).
type PartitionStats struct {
	Topic     string
	Partition int32
	// StartOffset and EndOffset (the high watermark) bound the readable
	// records; Bytes is the visible size of the partition's segments.
	StartOffset, EndOffset, Bytes int64
	// ProducedRecords, ProducedBatches and ProducedBytes count what
	// Produce appended (a duplicate of an idempotent producer is not
	// appended again and not counted).
	ProducedRecords, ProducedBatches, ProducedBytes uint64
	// FetchedBytes counts the bytes of record batches read out of the
	// partition: Kafka Fetch and stream-queue consumers.
	FetchedBytes uint64
}

// counters are a partition's running counts, kept with atomics so that
// neither Produce nor Read takes a lock for them.
type counters struct {
	records, batches, bytes, fetched atomic.Uint64
}

func (c *counters) produced(records int64, bytes int) {
	c.records.Add(uint64(records))
	c.batches.Add(1)
	c.bytes.Add(uint64(bytes))
}

func (c *counters) read(bytes int) {
	if bytes > 0 {
		c.fetched.Add(uint64(bytes))
	}
}

// Stats returns the partition's stats.
func (p *Partition) Stats() PartitionStats {
	return PartitionStats{
		Topic:           p.t.name,
		Partition:       p.index,
		StartOffset:     p.log.StartOffset(),
		EndOffset:       p.log.HighWatermark(),
		Bytes:           p.log.Size(),
		ProducedRecords: p.stats.records.Load(),
		ProducedBatches: p.stats.batches.Load(),
		ProducedBytes:   p.stats.bytes.Load(),
		FetchedBytes:    p.stats.fetched.Load(),
	}
}

// Stats returns the stats of every partition of every topic, by topic
// name and partition index.
func (b *Broker) Stats() []PartitionStats {
	var out []PartitionStats
	for _, t := range b.Topics() {
		for _, p := range t.Partitions() {
			if !p.isDeleted() {
				out = append(out, p.Stats())
			}
		}
	}
	return out
}
