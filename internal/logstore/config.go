package logstore

import (
	"errors"
	"time"
)

// Config is the per-log configuration, named after the Kafka topic configs
// it carries (segment.bytes, retention.ms, ...). Negative retention means
// unlimited, as in Kafka.
type Config struct {
	SegmentBytes       int64         // segment.bytes: roll when a segment would exceed it
	SegmentAge         time.Duration // segment.ms: roll a segment this old (0: never by age)
	RetentionAge       time.Duration // retention.ms: delete segments whose newest record is older
	RetentionBytes     int64         // retention.bytes: delete oldest segments past this total
	Compact            bool          // cleanup.policy contains compact
	Delete             bool          // cleanup.policy contains delete
	DeleteRetention    time.Duration // delete.retention.ms: how long tombstones survive compaction
	MinCompactionLag   time.Duration // min.compaction.lag.ms: records younger are not compacted
	IndexIntervalBytes int           // index.interval.bytes: bytes between sparse index entries
	// NoSync makes the log's appends complete once written, whatever the
	// store's fsync policy, as FsyncNever does, for logs whose loss in a
	// power failure is harmless (a queue's ack log: lost acks mean
	// redeliveries). It takes effect when the log is opened.
	NoSync bool
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentAge:         7 * 24 * time.Hour,
		RetentionAge:       7 * 24 * time.Hour,
		RetentionBytes:     -1,
		Delete:             true,
		DeleteRetention:    24 * time.Hour,
		IndexIntervalBytes: 4096,
	}
}

// Validate reports a configuration the log cannot work with.
func (c Config) Validate() error {
	switch {
	case c.SegmentBytes < 1024:
		return errors.New("logstore: segment bytes must be at least 1024")
	case c.SegmentBytes > 1<<31-1:
		return errors.New("logstore: segment bytes must fit in 31 bits")
	case c.IndexIntervalBytes < 0:
		return errors.New("logstore: index interval must not be negative")
	case !c.Compact && !c.Delete:
		return errors.New("logstore: cleanup policy must be delete, compact or both")
	}
	return nil
}
