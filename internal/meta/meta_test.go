package meta

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
	"github.com/loftmq/loft/internal/fs/faultfs"
	"github.com/loftmq/loft/internal/logstore"
)

var (
	always = logstore.FsyncPolicy{Mode: logstore.FsyncAlways}
	never  = logstore.FsyncPolicy{Mode: logstore.FsyncNever}
)

func openStores(t *testing.T, fsys fs.FS, fsync logstore.FsyncPolicy) (*logstore.Store, *Store) {
	t.Helper()
	ls, err := logstore.Open(fsys, "data", logstore.Options{
		Fsync:         fsync,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		CleanInterval: -1,
	})
	if err != nil {
		t.Fatalf("logstore.Open: %v", err)
	}
	m, err := Open(ls)
	if err != nil {
		ls.Close()
		t.Fatalf("meta.Open: %v", err)
	}
	return ls, m
}

// state returns everything m holds, as a map for comparisons.
func state(m *Store) map[string]string {
	out := map[string]string{}
	for _, kv := range m.Scan("") {
		out[kv.Key] = string(kv.Value)
	}
	return out
}

func mustEqual(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if maps.Equal(got, want) {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok || g != want[k] {
			t.Errorf("%s: %q = %q (present %v), want %q", what, k, g, ok, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected %q = %q", what, k, got[k])
		}
	}
	t.FailNow()
}

func setSegmentBytes(t *testing.T, m *Store, n int64) {
	t.Helper()
	c := m.log.Config()
	c.SegmentBytes = n
	if err := m.log.SetConfig(c); err != nil {
		t.Fatal(err)
	}
}

func TestPutGetDeleteScan(t *testing.T) {
	ctx := t.Context()
	ls, m := openStores(t, fs.NewMem(), always)
	defer ls.Close()

	puts := map[string]string{
		Key("queue", "/", "orders"):   "q1",
		Key("queue", "/", "invoices"): "q2",
		Key("queue", "/a", "x"):       "q3", // another vhost whose name begins like "/"
		Key("exchange", "/", ""):      "default",
		Key("vhost", "/"):             "root",
	}
	for k, v := range puts {
		if err := m.Put(ctx, k, []byte(v)); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
	for k, v := range puts {
		if got, ok := m.Get(k); !ok || string(got) != v {
			t.Fatalf("Get(%q) = %q, %v; want %q", k, got, ok, v)
		}
	}
	if _, ok := m.Get("queue/missing"); ok {
		t.Fatal("Get of a missing key found it")
	}

	got := m.Scan(Prefix("queue", "/"))
	want := []KV{{Key("queue", "/", "invoices"), []byte("q2")}, {Key("queue", "/", "orders"), []byte("q1")}}
	if !slices.EqualFunc(got, want, func(a, b KV) bool { return a.Key == b.Key && bytes.Equal(a.Value, b.Value) }) {
		t.Fatalf("Scan(queues of /) = %q, want %q", got, want)
	}
	if all := m.Scan(""); len(all) != len(puts) || !slices.IsSortedFunc(all, func(a, b KV) int { return strings.Compare(a.Key, b.Key) }) {
		t.Fatalf("Scan(\"\") = %q: want all %d keys, sorted", all, len(puts))
	}

	// Values handed out are copies.
	v, _ := m.Get(Key("vhost", "/"))
	v[0] = 'X'
	got = m.Scan(Prefix("vhost"))
	got[0].Value[0] = 'Y'
	if v, _ := m.Get(Key("vhost", "/")); string(v) != "root" {
		t.Fatalf("state changed through a returned slice: %q", v)
	}

	if err := m.Delete(ctx, Key("queue", "/", "orders")); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Get(Key("queue", "/", "orders")); ok {
		t.Fatal("deleted key still present")
	}
	if err := m.Delete(ctx, "never/existed"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}

	// Put(nil) stores an empty value; it does not delete.
	if err := m.Put(ctx, "empty", nil); err != nil {
		t.Fatal(err)
	}
	if v, ok := m.Get("empty"); !ok || len(v) != 0 {
		t.Fatalf("Get(empty) = %q, %v; want an empty value", v, ok)
	}
	before := state(m)
	m2, err := Open(ls) // a second replay of the same log
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "replayed", state(m2), before)
}

func TestApplyIsOneBatch(t *testing.T) {
	ctx := t.Context()
	ls, m := openStores(t, fs.NewMem(), always)
	defer ls.Close()
	if err := m.Put(ctx, "c", []byte("old")); err != nil {
		t.Fatal(err)
	}
	hw := m.log.HighWatermark()
	before := time.Now().UnixMilli()
	err := m.Apply(ctx, Put("a", []byte("1")), Put("b", []byte("2")), Delete("c"), Put("a", []byte("3")))
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixMilli()
	mustEqual(t, "after Apply", state(m), map[string]string{"a": "3", "b": "2"})

	if got := m.log.HighWatermark(); got != hw+4 {
		t.Fatalf("high watermark %d, want %d", got, hw+4)
	}
	b, err := m.log.Read(nil, hw, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	batches := logstore.SplitBatches(b)
	if len(batches) != 1 {
		t.Fatalf("Apply wrote %d batches, want 1", len(batches))
	}
	recs, err := logstore.DecodeRecords(batches[0])
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"a", "b", "c", "a"}
	for i, r := range recs {
		if string(r.Key) != wantKeys[i] || r.Offset != hw+int64(i) {
			t.Fatalf("record %d: key %q offset %d, want %q at %d", i, r.Key, r.Offset, wantKeys[i], hw+int64(i))
		}
		if r.Timestamp < before || r.Timestamp > after {
			t.Fatalf("record %d: timestamp %d not in [%d, %d]", i, r.Timestamp, before, after)
		}
	}
	if recs[2].Value != nil {
		t.Fatalf("delete wrote value %q, want a tombstone", recs[2].Value)
	}

	if err := m.Apply(ctx); err != nil || m.log.HighWatermark() != hw+4 {
		t.Fatalf("empty Apply: %v, high watermark %d: want no error and nothing written", err, m.log.HighWatermark())
	}
	ops := make([]Op, MaxOps)
	for i := range ops {
		ops[i] = Put(Key("many", strconv.Itoa(i)), []byte("v"))
	}
	if err := m.Apply(ctx, ops...); err != nil {
		t.Fatalf("Apply of MaxOps: %v", err)
	}
	if n := len(m.Scan(Prefix("many"))); n != MaxOps {
		t.Fatalf("%d keys after Apply of %d", n, MaxOps)
	}
}

func TestBadApplyChangesNothing(t *testing.T) {
	ctx := t.Context()
	ls, m := openStores(t, fs.NewMem(), always)
	defer ls.Close()
	if err := m.Put(ctx, "keep", []byte("v")); err != nil {
		t.Fatal(err)
	}
	tooMany := make([]Op, MaxOps+1)
	for i := range tooMany {
		tooMany[i] = Put(strconv.Itoa(i), nil)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		ops  []Op
		want error
	}{
		{"empty key", ctx, []Op{Put("a", []byte("1")), Put("", []byte("2"))}, ErrBadKey},
		{"empty key delete", ctx, []Op{Delete("")}, ErrBadKey},
		{"long key", ctx, []Op{Put(strings.Repeat("k", MaxKeyBytes+1), nil)}, ErrBadKey},
		{"too many ops", ctx, tooMany, ErrTooManyOps},
		{"too large", ctx, []Op{Put("a", make([]byte, MaxBatchBytes/2)), Put("b", make([]byte, MaxBatchBytes/2))}, ErrTooLarge},
		{"canceled", canceled, []Op{Put("a", nil)}, context.Canceled},
	}
	for _, tt := range tests {
		hw, before := m.log.HighWatermark(), state(m)
		err := m.Apply(tt.ctx, tt.ops...)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		}
		if got := m.log.HighWatermark(); got != hw {
			t.Errorf("%s: high watermark moved from %d to %d", tt.name, hw, got)
		}
		mustEqual(t, tt.name, state(m), before)
	}
	if err := m.Put(ctx, "after", []byte("ok")); err != nil {
		t.Fatalf("Put after rejected Applies: %v", err)
	}
	mustEqual(t, "end", state(m), map[string]string{"keep": "v", "after": "ok"})
}

func TestFailedAppendChangesNothing(t *testing.T) {
	tests := []struct {
		name string
		inj  faultfs.Injector
		want error
	}{
		{"sync", faultfs.OnOp(faultfs.OpSync, syscall.EIO), syscall.EIO},
		{"short write", faultfs.OnOp(faultfs.OpWrite, faultfs.Short(syscall.ENOSPC)), syscall.ENOSPC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			mem := fs.NewMem()
			var sw faultfs.Switch
			ls, m := openStores(t, faultfs.New(mem, &sw), always)
			if err := m.Apply(ctx, Put("a", []byte("1")), Put("gone", []byte("x"))); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"a": "1", "gone": "x"}

			sw.Set(faultfs.PathContains(LogName, tt.inj))
			err := m.Apply(ctx, Put("a", []byte("2")), Put("b", []byte("1")), Delete("gone"))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Apply error %v, want %v", err, tt.want)
			}
			mustEqual(t, "after the failure", state(m), want)

			sw.Clear()
			if err := m.Put(ctx, "c", []byte("1")); err != nil {
				t.Fatalf("Put after the failure: %v", err)
			}
			want["c"] = "1"
			mustEqual(t, "after recovery", state(m), want)

			sw.Set(faultfs.InjectorFunc(func(faultfs.Op, string) error { return faultfs.ErrInjected }))
			mem.Crash()
			m.Close()
			ls.Close()
			ls2, m2 := openStores(t, mem, always)
			defer ls2.Close()
			mustEqual(t, "after crash", state(m2), want)
		})
	}
}

func TestClosed(t *testing.T) {
	ctx := t.Context()
	ls, m := openStores(t, fs.NewMem(), always)
	if err := m.Put(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	ls.Close()
	if err := m.Put(ctx, "b", nil); !errors.Is(err, logstore.ErrClosed) {
		t.Fatalf("Put on a closed log: %v, want logstore.ErrClosed", err)
	}
	mustEqual(t, "after failed put", state(m), map[string]string{"a": "1"})
	m.Close()
	if err := m.Put(ctx, "b", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v, want ErrClosed", err)
	}
	if v, ok := m.Get("a"); !ok || string(v) != "1" {
		t.Fatalf("Get after Close = %q, %v", v, ok)
	}
}

// TestGiveUpWaiting stops waiting for an append held up in fsync: Apply
// returns the context's error, the append still completes, and Close waits
// for it.
func TestGiveUpWaiting(t *testing.T) {
	release := make(chan struct{})
	var hold atomic.Bool
	stall := faultfs.InjectorFunc(func(op faultfs.Op, path string) error {
		if op == faultfs.OpSync && hold.Load() {
			<-release
		}
		return nil
	})
	ls, m := openStores(t, faultfs.New(fs.NewMem(), stall), always)
	defer ls.Close()
	hold.Store(true)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := m.Put(ctx, "slow", []byte("1")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put with a stalled fsync: %v, want context.DeadlineExceeded", err)
	}
	if _, ok := m.Get("slow"); ok {
		t.Fatal("state changed before the append completed")
	}
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	hold.Store(false)
	close(release)
	<-closed
	if v, ok := m.Get("slow"); !ok || string(v) != "1" {
		t.Fatalf("after the stalled append completed: %q, %v", v, ok)
	}
}

// randomOps applies n random Applies to m and to a model, over a small key
// space so that keys are overwritten and deleted often.
func randomOps(t *testing.T, m *Store, rng *rand.Rand, model map[string]string, n int) {
	t.Helper()
	for i := range n {
		ops := make([]Op, 1+rng.IntN(5))
		for j := range ops {
			k := Key("k", strconv.Itoa(rng.IntN(40)))
			if rng.IntN(4) == 0 {
				ops[j] = Delete(k)
				delete(model, k)
			} else {
				v := fmt.Sprintf("%d.%d %s", i, j, strings.Repeat("x", rng.IntN(200)))
				ops[j] = Put(k, []byte(v))
				model[k] = v
			}
		}
		if err := m.Apply(t.Context(), ops...); err != nil {
			t.Fatalf("Apply %d: %v", i, err)
		}
	}
}

func TestReplay(t *testing.T) {
	mem := fs.NewMem()
	ls, m := openStores(t, mem, always)
	setSegmentBytes(t, m, 4096)
	model := map[string]string{}
	randomOps(t, m, rand.New(rand.NewPCG(1, 2)), model, 300)
	mustEqual(t, "live", state(m), model)
	if n := m.log.Segments(); n < 3 {
		t.Fatalf("%d segments: the test wants several", n)
	}

	m.Close()
	if err := ls.Close(); err != nil {
		t.Fatal(err)
	}
	ls, m = openStores(t, mem, always)
	mustEqual(t, "after Close and Open", state(m), model)
	if c := m.log.Config(); !c.Compact || c.Delete {
		t.Fatalf("reopened __meta has cleanup compact=%v delete=%v, want compact only", c.Compact, c.Delete)
	}

	// Power loss: with FsyncAlways, everything acknowledged is on disk.
	randomOps(t, m, rand.New(rand.NewPCG(3, 4)), model, 50)
	mem.Crash()
	ls.Close()
	ls, m = openStores(t, mem, always)
	defer ls.Close()
	mustEqual(t, "after crash", state(m), model)
}

// TestReplayAfterCompaction checks that compaction, whatever it removes,
// leaves replay with the same state.
func TestReplayAfterCompaction(t *testing.T) {
	mem := fs.NewMem()
	ls, m := openStores(t, mem, always)
	setSegmentBytes(t, m, 4096)
	model := map[string]string{}
	randomOps(t, m, rand.New(rand.NewPCG(5, 6)), model, 400)
	before := m.log.Size()
	// Far enough ahead that every tombstone is past delete.retention.
	n, err := m.log.Compact(time.Now().Add(48 * time.Hour))
	if err != nil {
		t.Fatalf("Compact: %v", err)
	}
	t.Logf("compacted %d segments, %d bytes to %d", n, before, m.log.Size())
	m2, err := Open(ls)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "replayed after compaction", state(m2), model)
	randomOps(t, m2, rand.New(rand.NewPCG(7, 8)), model, 50)
	m2.Close()
	if err := ls.Close(); err != nil {
		t.Fatal(err)
	}
	ls, m = openStores(t, mem, always)
	defer ls.Close()
	mustEqual(t, "reopened after compaction", state(m), model)
}

// rawBatch builds a batch of recs whose header claims lastDelta, as
// compaction leaves a batch whose last records it removed.
func rawBatch(recs []logstore.Record, lastDelta int32) []byte {
	b := logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	binary.BigEndian.PutUint32(b[23:], uint32(lastDelta))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// TestReplayCompactedShapes replays the batch shapes compaction leaves:
// gaps between records, missing last records, batches with no records.
func TestReplayCompactedShapes(t *testing.T) {
	ls, m := openStores(t, fs.NewMem(), always)
	defer ls.Close()
	rec := func(off int64, k, v string) logstore.Record {
		r := logstore.Record{Offset: off, Key: []byte(k)}
		if v != "" {
			r.Value = []byte(v)
		}
		return r
	}
	for _, b := range [][]byte{
		rawBatch([]logstore.Record{rec(0, "k1", "a"), rec(2, "k2", "b")}, 4), // offsets 0-4
		rawBatch(nil, 2), // offsets 5-7, all removed
		rawBatch([]logstore.Record{rec(0, "k1", "c"), rec(1, "k2", "")}, 1), // offsets 8-9
		rawBatch([]logstore.Record{rec(1, "k3", "d")}, 1),                   // offsets 10-11
	} {
		if _, err := m.log.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	m2, err := Open(ls)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "replayed", state(m2), map[string]string{"k1": "c", "k3": "d"})

	if _, err := m.log.Append(rawBatch([]logstore.Record{{Value: []byte("no key")}}, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ls); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("Open of a log with a keyless record: %v, want ErrBadRecord", err)
	}
}

// TestConcurrentAppliesFollowLogOrder races writers on the same keys: the
// state must be what the log says, record by record in offset order. Each
// round starts the writers together, so that group commit completes
// several of them at once, and checks the state when they are done.
func TestConcurrentAppliesFollowLogOrder(t *testing.T) {
	ls, m := openStores(t, fs.NewMem(), always)
	defer ls.Close()
	fromLog := map[string]string{}
	var next int64
	for round := range 50 {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				<-start
				v := []byte(fmt.Sprintf("r%d-w%d", round, w))
				ops := []Op{Put("hot", v), Put(Key("own", strconv.Itoa(w)), v), Put("hot2", v)}
				if (round+w)%3 == 0 {
					ops[2] = Delete("hot2")
				}
				if err := m.Apply(t.Context(), ops...); err != nil {
					t.Errorf("Apply: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		buf, err := m.log.Read(nil, next, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range logstore.SplitBatches(buf) {
			recs, err := logstore.DecodeRecords(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.Value == nil {
					delete(fromLog, string(r.Key))
				} else {
					fromLog[string(r.Key)] = string(r.Value)
				}
				next = r.Offset + 1
			}
		}
		mustEqual(t, fmt.Sprintf("round %d: live state against the log", round), state(m), fromLog)
	}
}

// The crash tests run writers that each Apply, one after another, batches
// of this shape: apply j of writer w puts "w/<w>/<j>/<k>" for k < size(j)
// and "w/<w>/<j>/d", and deletes "w/<w>/<j-1>/d". After a crash, for
// every apply, its keys must be all there or all missing, and its doomed
// key "d" there exactly when it is and the next apply is not.
func crashOps(w, j, size int) []Op {
	ws, js := strconv.Itoa(w), strconv.Itoa(j)
	ops := make([]Op, 0, size+2)
	for k := range size {
		ops = append(ops, Put(Key("w", ws, js, strconv.Itoa(k)), []byte(js)))
	}
	ops = append(ops, Put(Key("w", ws, js, "d"), []byte("doomed")))
	if j > 0 {
		ops = append(ops, Delete(Key("w", ws, strconv.Itoa(j-1), "d")))
	}
	return ops
}

type crashCase struct {
	name     string
	fsync    logstore.FsyncPolicy
	segBytes int64 // 0: the __meta default
	torn     bool  // CrashTorn rather than Crash
	durable  bool  // acknowledged applies survive, and so do all before them
}

type writer struct {
	sizes []int // of each apply started
	acked int   // applies acknowledged: they are sizes[:acked]
}

func TestCrashNeverHalfApplies(t *testing.T) {
	cases := []crashCase{
		{name: "always", fsync: always, durable: true},
		{name: "always/small-segments", fsync: always, segBytes: 4096, durable: true},
		{name: "always/torn", fsync: always, segBytes: 4096, torn: true, durable: true},
		{name: "never/torn", fsync: never, torn: true},
		{name: "never/torn/small-segments", fsync: never, segBytes: 4096, torn: true},
	}
	seeds := 25
	if testing.Short() {
		seeds = 5
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for seed := range uint64(seeds) {
				crashOnce(t, c, seed)
			}
		})
	}
}

// crashOnce runs writers until the power goes, at a random point in the
// middle of the log's I/O: just before the k-th sync of a segment (or, with
// FsyncNever, the k-th write), so that the batches of a group commit are in
// flight, written but not durable. Then it reopens the disk and checks.
func crashOnce(t *testing.T, c crashCase, seed uint64) {
	const workers, maxApplies = 4, 60
	rng := rand.New(rand.NewPCG(seed, 0x10f7))
	mem := fs.NewMem()
	trigger := faultfs.OpSync
	if c.fsync.Mode != logstore.FsyncAlways {
		trigger = faultfs.OpWrite
	}
	k := 1 + rng.IntN(workers*maxApplies*3/4)
	var (
		calls atomic.Int64
		dead  atomic.Bool
		mu    sync.Mutex // the crash happens once, and before anything else
	)
	crash := faultfs.InjectorFunc(func(op faultfs.Op, path string) error {
		mu.Lock()
		defer mu.Unlock()
		if dead.Load() {
			return faultfs.ErrInjected // the old process must not touch the rebooted disk
		}
		if op != trigger || !strings.HasSuffix(path, ".log") || calls.Add(1) < int64(k) {
			return nil
		}
		dead.Store(true)
		if c.torn {
			mem.CrashTorn(rng)
		} else {
			mem.Crash()
		}
		return faultfs.ErrInjected
	})
	ls, m := openStores(t, faultfs.New(mem, crash), c.fsync)
	if c.segBytes > 0 {
		setSegmentBytes(t, m, c.segBytes)
	}

	ws := make([]writer, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wrng := rand.New(rand.NewPCG(seed, uint64(w)))
		wg.Go(func() {
			me := &ws[w]
			for j := range maxApplies {
				size := 1 + wrng.IntN(6)
				me.sizes = append(me.sizes, size)
				if err := m.Apply(context.Background(), crashOps(w, j, size)...); err != nil {
					return // the crash
				}
				me.acked++
			}
		})
	}
	wg.Wait()
	m.Close()
	ls.Close()
	if !dead.Load() {
		mem.Crash() // fewer I/Os than k: crash at the end
	}

	ls, m = openStores(t, mem, c.fsync)
	defer ls.Close()
	checkCrash(t, c, seed, m, ws)
}

func checkCrash(t *testing.T, c crashCase, seed uint64, m *Store, ws []writer) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d: "+format, append([]any{seed}, args...)...)
	}
	expected := 0
	for w, wr := range ws {
		ws := strconv.Itoa(w)
		present := make([]bool, len(wr.sizes)+1) // the last: an apply never started
		for j, size := range wr.sizes {
			n := 0
			for k := range size {
				if _, ok := m.Get(Key("w", ws, strconv.Itoa(j), strconv.Itoa(k))); ok {
					n++
				}
			}
			if n != 0 && n != size {
				fail("writer %d apply %d: %d of its %d puts survived", w, j, n, size)
			}
			present[j] = n == size
			expected += n
		}
		for j := range wr.sizes {
			_, ok := m.Get(Key("w", ws, strconv.Itoa(j), "d"))
			if want := present[j] && !present[j+1]; ok != want {
				fail("writer %d apply %d: doomed key present %v, want %v (apply present %v, next %v)",
					w, j, ok, want, present[j], present[j+1])
			}
			if ok {
				expected++
			}
			if c.durable && j < wr.acked && !present[j] {
				fail("writer %d apply %d: acknowledged, lost", w, j)
			}
			if c.durable && j > 0 && present[j] && !present[j-1] {
				fail("writer %d apply %d survived, apply %d before it did not", w, j, j-1)
			}
		}
	}
	if n := len(m.Scan("")); n != expected {
		fail("%d keys after the crash, want %d", n, expected)
	}
}
