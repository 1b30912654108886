package logstore

import (
	"time"

	"github.com/loftmq/loft/internal/fs"
)

// syncData fdatasyncs appended data in f and reports it to Options.OnSync.
// Syncs of other kinds (directories, indexes, configs, recovery cuts,
// compaction) are rare and not reported: the hook measures what appends
// wait for.
func (l *Log) syncData(f fs.File) error {
	if l.onSync == nil {
		return f.Sync()
	}
	began := time.Now()
	err := f.Sync()
	l.onSync(time.Since(began), err)
	return err
}
