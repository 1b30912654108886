package logstore

import (
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/fs/faultfs"
)

// TestFsyncPolicies: always syncs before acknowledging; interval syncs in
// the background and on Sync; never leaves it to Close. A power loss loses
// exactly what each promised it might.
func TestFsyncPolicies(t *testing.T) {
	tests := []struct {
		policy        FsyncPolicy
		syncsOnAppend bool
	}{
		{FsyncPolicy{Mode: FsyncAlways}, true},
		{FsyncPolicy{Mode: FsyncInterval, Interval: time.Hour}, false},
		{FsyncPolicy{Mode: FsyncNever}, false},
	}
	for _, tt := range tests {
		t.Run(tt.policy.String(), func(t *testing.T) {
			mem := fs.NewMem()
			ffs := faultfs.New(mem, nil)
			opts := testOptions(newClock())
			opts.Fsync = tt.policy
			s := openStore(t, ffs, opts)
			l, _ := s.Create("t", smallConfig(4096))
			before := ffs.Count(faultfs.OpSync)
			var want [][]byte
			for i := range 50 {
				b := batch(i, 2, 0)
				mustAppend(t, l, b)
				want = append(want, b)
				// Visible as soon as Append returns, whatever the policy.
				if l.HighWatermark() != int64(2*(i+1)) {
					t.Fatalf("high watermark %d after append %d", l.HighWatermark(), i)
				}
			}
			syncs := ffs.Count(faultfs.OpSync) - before
			if tt.syncsOnAppend && syncs < 50 {
				t.Fatalf("%d syncs for 50 sequential appends with %s", syncs, tt.policy)
			}
			if !tt.syncsOnAppend && syncs > 10 {
				t.Fatalf("%d syncs for 50 appends with %s: it syncs per append", syncs, tt.policy)
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			mem.Crash() // after Sync, every policy has it all
			s = openStore(t, mem, opts)
			l, _ = s.Log("t")
			checkLog(t, l, want)
			s.Close()
		})
	}
}

func TestFsyncIntervalSyncsInTheBackground(t *testing.T) {
	opts := testOptions(newClock())
	opts.Fsync = FsyncPolicy{Mode: FsyncInterval, Interval: 5 * time.Millisecond}
	syncedWithoutAsking(t, opts, DefaultConfig())
}

// TestNoSyncLogsAreSyncedOnATimer: under FsyncAlways, a NoSync log's
// appends complete unsynced, and the store syncs them within
// NoSyncInterval, so a power loss takes at most that much.
func TestNoSyncLogsAreSyncedOnATimer(t *testing.T) {
	opts := testOptions(newClock())
	opts.NoSyncInterval = 5 * time.Millisecond
	cfg := DefaultConfig()
	cfg.NoSync = true
	syncedWithoutAsking(t, opts, cfg)
}

// syncedWithoutAsking appends to a log of cfg in a store of opts, waits
// for the store's background sync and checks the append survives a power
// loss.
func syncedWithoutAsking(t *testing.T, opts Options, cfg Config) {
	t.Helper()
	mem := fs.NewMem()
	s := openStore(t, mem, opts)
	l, _ := s.Create("t", cfg)
	b := batch(0, 3, 0)
	mustAppend(t, l, b)
	waitSynced(t, l)
	mem.Crash()
	s = openStore(t, mem, testOptions(newClock()))
	defer s.Close()
	l, _ = s.Log("t")
	checkLog(t, l, [][]byte{b})
}

// TestNoSyncTimerBesideSetConfig: the NoSync syncer reads each log's
// config while configs change (a race the detector would report).
func TestNoSyncTimerBesideSetConfig(t *testing.T) {
	opts := testOptions(newClock())
	opts.NoSyncInterval = time.Millisecond
	s := openStore(t, fs.NewMem(), opts)
	defer s.Close()
	l, _ := s.Create("t", DefaultConfig())
	for i := range 50 {
		c := DefaultConfig()
		c.RetentionAge = time.Duration(1000+i) * time.Second
		if err := l.SetConfig(c); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitSynced waits, bounded, for a background syncer to clear l's
// unsynced mark.
func waitSynced(t *testing.T, l *Log) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		l.mu.Lock()
		pending := l.unsynced != nil
		l.mu.Unlock()
		if !pending {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the background syncer never synced")
		}
	}
}
