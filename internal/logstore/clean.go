package logstore

import "time"

// Clean runs retention and, for a compacted log, compaction. It returns the
// number of segments deleted.
func (l *Log) Clean(now time.Time) (int, error) {
	n, err := l.ApplyRetention(now)
	if err != nil {
		return n, err
	}
	if l.Config().Compact {
		_, err = l.Compact(now)
	}
	return n, err
}
