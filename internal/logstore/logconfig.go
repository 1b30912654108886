package logstore

import (
	"encoding/json"
	"fmt"
	"path"
	"time"
)

// configFile holds a log's Config in its directory, so that a restart
// applies the log's own retention and cleanup policy from the first moment
// (the cleaner must never apply defaults to a log configured otherwise).
const configFile = "config.json"

// configJSON is Config as stored: durations in milliseconds, named after
// the Kafka topic configs.
type configJSON struct {
	SegmentBytes       int64  `json:"segment.bytes"`
	SegmentMs          int64  `json:"segment.ms"`
	RetentionMs        int64  `json:"retention.ms"`
	RetentionBytes     int64  `json:"retention.bytes"`
	Compact            bool   `json:"compact"`
	Delete             bool   `json:"delete"`
	DeleteRetentionMs  int64  `json:"delete.retention.ms"`
	MinCompactionLagMs int64  `json:"min.compaction.lag.ms"`
	IndexIntervalBytes int    `json:"index.interval.bytes"`
	NoSync             bool   `json:"no.sync,omitempty"`
	Version            string `json:"version"`
}

func (c Config) marshal() []byte {
	ms := func(d time.Duration) int64 {
		if d < 0 {
			return -1
		}
		return d.Milliseconds()
	}
	b, _ := json.Marshal(configJSON{
		SegmentBytes: c.SegmentBytes, SegmentMs: ms(c.SegmentAge),
		RetentionMs: ms(c.RetentionAge), RetentionBytes: c.RetentionBytes,
		Compact: c.Compact, Delete: c.Delete,
		DeleteRetentionMs: ms(c.DeleteRetention), MinCompactionLagMs: ms(c.MinCompactionLag),
		IndexIntervalBytes: c.IndexIntervalBytes, NoSync: c.NoSync, Version: "1",
	})
	return b
}

func unmarshalConfig(b []byte) (Config, error) {
	var j configJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Config{}, err
	}
	d := func(ms int64) time.Duration {
		if ms < 0 {
			return -1
		}
		return time.Duration(ms) * time.Millisecond
	}
	c := Config{
		SegmentBytes: j.SegmentBytes, SegmentAge: d(j.SegmentMs),
		RetentionAge: d(j.RetentionMs), RetentionBytes: j.RetentionBytes,
		Compact: j.Compact, Delete: j.Delete,
		DeleteRetention: d(j.DeleteRetentionMs), MinCompactionLag: d(j.MinCompactionLagMs),
		IndexIntervalBytes: j.IndexIntervalBytes, NoSync: j.NoSync,
	}
	return c, c.Validate()
}

// loadConfig returns the log's stored configuration, or def when it has
// none (a log created before configs were stored).
func (l *Log) loadConfig(def Config) Config {
	b, err := readSmallFile(l.fsys, path.Join(l.dir, configFile))
	if err != nil {
		return def
	}
	c, err := unmarshalConfig(b)
	if err != nil {
		l.logger.Warn("logstore: unreadable log config; using defaults", "err", err)
		return def
	}
	return c
}

// saveConfig stores c durably.
func (l *Log) saveConfig(c Config) error {
	if err := writeFile(l.fsys, path.Join(l.dir, configFile), c.marshal(), true); err != nil {
		return fmt.Errorf("logstore: save config of %s: %w", l.name, err)
	}
	return nil
}
