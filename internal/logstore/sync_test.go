package logstore

import (
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/fs/faultfs"
)

// syncRecorder collects what Options.OnSync reports.
type syncRecorder struct {
	mu   sync.Mutex
	errs []error
}

func (r *syncRecorder) onSync(took time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if took < 0 {
		err = errors.New("negative duration")
	}
	r.errs = append(r.errs, err)
}

func (r *syncRecorder) seen() (n, failed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.errs {
		if err != nil {
			failed++
		}
	}
	return len(r.errs), failed
}

// TestOnSyncReportsEachDataSync: with fsync always, each sequential
// append is one fdatasync; a failing one is reported with its error; with
// an interval, Sync reports the sync it makes, and nothing when there is
// nothing to sync.
func TestOnSyncReportsEachDataSync(t *testing.T) {
	var rec syncRecorder
	sw := &faultfs.Switch{}
	opts := testOptions(newClock())
	opts.OnSync = rec.onSync
	s := openStore(t, faultfs.New(fs.NewMem(), sw), opts)
	defer s.Close()
	l, err := s.Create("t", smallConfig(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		mustAppend(t, l, batch(i, 2, 1))
	}
	if n, failed := rec.seen(); n != 5 || failed != 0 {
		t.Fatalf("after 5 appends: %d syncs reported, %d failed; want 5, 0", n, failed)
	}
	sw.Set(faultfs.OnOp(faultfs.OpSync, syscall.EIO))
	if _, err := l.Append(batch(5, 1, 1)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("append with failing sync: %v", err)
	}
	sw.Set(nil)
	if n, failed := rec.seen(); n != 6 || failed != 1 {
		t.Fatalf("after a failed sync: %d syncs reported, %d failed; want 6, 1", n, failed)
	}

	var irec syncRecorder
	iopts := testOptions(newClock())
	iopts.OnSync = irec.onSync
	iopts.Fsync = FsyncPolicy{Mode: FsyncInterval, Interval: time.Hour}
	is := openStore(t, fs.NewMem(), iopts)
	defer is.Close()
	il, err := is.Create("t", smallConfig(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, il, batch(0, 1, 1))
	if n, _ := irec.seen(); n != 0 {
		t.Fatalf("interval: %d syncs before Sync", n)
	}
	for range 2 { // the second finds nothing unsynced
		if err := il.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if n, failed := irec.seen(); n != 1 || failed != 0 {
		t.Fatalf("interval: %d syncs reported, %d failed; want 1, 0", n, failed)
	}
}
