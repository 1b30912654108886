package logstore

import "time"

// Compact is not implemented yet.
func (l *Log) Compact(now time.Time) (int, error) { return 0, nil }
