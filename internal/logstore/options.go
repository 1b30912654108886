package logstore

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// FsyncMode says when appended data is made durable.
type FsyncMode int

const (
	// FsyncAlways completes an append only after fdatasync covered it.
	FsyncAlways FsyncMode = iota
	// FsyncInterval completes an append once written and syncs every
	// Interval: a crash may lose up to Interval of acknowledged appends.
	FsyncInterval
	// FsyncNever completes an append once written and leaves syncing to the
	// operating system.
	FsyncNever
)

// FsyncPolicy is an FsyncMode with the interval FsyncInterval needs.
type FsyncPolicy struct {
	Mode     FsyncMode
	Interval time.Duration
}

// ParseFsyncPolicy parses "always", "never" or "interval:<duration>".
func ParseFsyncPolicy(s string) (FsyncPolicy, error) {
	switch {
	case s == "always":
		return FsyncPolicy{Mode: FsyncAlways}, nil
	case s == "never":
		return FsyncPolicy{Mode: FsyncNever}, nil
	case strings.HasPrefix(s, "interval:"):
		d, err := time.ParseDuration(strings.TrimPrefix(s, "interval:"))
		if err != nil || d <= 0 {
			return FsyncPolicy{}, fmt.Errorf("logstore: fsync %q: want interval:<positive duration>, e.g. interval:100ms", s)
		}
		return FsyncPolicy{Mode: FsyncInterval, Interval: d}, nil
	}
	return FsyncPolicy{}, fmt.Errorf("logstore: fsync %q: want always, never or interval:<duration>", s)
}

func (p FsyncPolicy) String() string {
	switch p.Mode {
	case FsyncAlways:
		return "always"
	case FsyncNever:
		return "never"
	}
	return "interval:" + p.Interval.String()
}

// DefaultPassBufferBudget is Options.PassBufferBudget when not set.
const DefaultPassBufferBudget = 32 << 20

// Options configure a Store. The zero value is usable: every field has a
// default, applied by Open.
type Options struct {
	Fsync FsyncPolicy
	// MaxOpenFiles bounds the file handles the store keeps open across all
	// its logs (default 1024). Handles in use are never closed, so the bound
	// is exceeded only while more files than that are being read at once.
	MaxOpenFiles int
	// Defaults is the configuration of a log created without one.
	Defaults Config
	Logger   *slog.Logger
	// Now is the clock used for retention and segment age (default time.Now).
	Now func() time.Time
	// CleanInterval is how often retention and compaction run (default 5
	// minutes, as Kafka's log.retention.check.interval.ms); negative
	// disables the background cleaner.
	CleanInterval time.Duration
	// OnSync, if set, is called after every fdatasync of appended data
	// (a group commit's, or the interval syncer's) with how long it took
	// and its error, for metrics. It must be cheap and must not block.
	OnSync func(took time.Duration, err error)
	// NoSyncInterval is how often, under FsyncAlways, logs whose Config
	// has NoSync (written without waiting for a sync, such as a queue's
	// acks) are synced anyway, so that a power loss takes at most about
	// that much of them (default 1s; negative: never). FsyncInterval syncs
	// them with the rest; FsyncNever never does.
	NoSyncInterval time.Duration
	// OnCorrupt, if set, is called with the log's name each time damage
	// on disk is found (once per damaged range), for metrics. It must be
	// cheap and must not block.
	OnCorrupt func(log string)
	// PassBufferBudget bounds the memory all logs together keep, between
	// group commits, in append buffers larger than 64 KiB (default
	// 32 MiB). Busy logs that keep their buffers append faster; past the
	// budget a log's buffers are allocated afresh for each pass.
	PassBufferBudget int64

	passes *passBudget // the store's, shared by its logs
}

func (o *Options) setDefaults() {
	if o.MaxOpenFiles <= 0 {
		o.MaxOpenFiles = 1024
	}
	if o.Defaults == (Config{}) {
		o.Defaults = DefaultConfig()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CleanInterval == 0 {
		o.CleanInterval = 5 * time.Minute
	}
	if o.NoSyncInterval == 0 {
		o.NoSyncInterval = time.Second
	}
	if o.PassBufferBudget <= 0 {
		o.PassBufferBudget = DefaultPassBufferBudget
	}
	o.passes = &passBudget{limit: o.PassBufferBudget}
}
