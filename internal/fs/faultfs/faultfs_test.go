package faultfs

import (
	"errors"
	"io"
	iofs "io/fs"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/loftmq/loft/internal/fs"
)

func TestOpString(t *testing.T) {
	seen := map[string]Op{}
	for op := range numOps {
		s := op.String()
		if s == "" || strings.HasPrefix(s, "Op(") {
			t.Errorf("Op %d has no name", op)
		}
		if prev, dup := seen[s]; dup {
			t.Errorf("Ops %d and %d are both %q", prev, op, s)
		}
		seen[s] = op
	}
	if got := numOps.String(); got != "Op(14)" {
		t.Errorf("unknown op = %q", got)
	}
}

// newMem returns a Mem holding a durable /f with "abc", and a faultfs over
// it controlled by the returned Switch.
func newMem(t *testing.T) (*fs.Mem, *FS, *Switch) {
	t.Helper()
	mem := fs.NewMem()
	if err := mem.WriteFile("/f", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	sw := &Switch{}
	return mem, New(mem, sw), sw
}

// TestFaultsDoNotReachInner checks each FS-level operation fails with the
// injected error, wrapped as os wraps errors so errors.Is still finds it, and
// leaves the wrapped file system untouched.
func TestFaultsDoNotReachInner(t *testing.T) {
	tests := []struct {
		op     Op
		call   func(f *FS) error
		intact func(mem *fs.Mem) bool
	}{
		{OpCreate, func(f *FS) error { _, err := f.Create("/g"); return err },
			func(mem *fs.Mem) bool { _, err := mem.Stat("/g"); return errors.Is(err, iofs.ErrNotExist) }},
		{OpOpen, func(f *FS) error { _, err := f.OpenFile("/f"); return err }, nil},
		{OpOpen, func(f *FS) error { _, err := f.Open("/f"); return err }, nil},
		{OpRemove, func(f *FS) error { return f.Remove("/f") },
			func(mem *fs.Mem) bool { _, err := mem.Stat("/f"); return err == nil }},
		{OpRemove, func(f *FS) error { return f.RemoveAll("/f") },
			func(mem *fs.Mem) bool { _, err := mem.Stat("/f"); return err == nil }},
		{OpRename, func(f *FS) error { return f.Rename("/f", "/g") },
			func(mem *fs.Mem) bool { _, err := mem.Stat("/g"); return errors.Is(err, iofs.ErrNotExist) }},
		{OpMkdir, func(f *FS) error { return f.MkdirAll("/f/d") }, nil},
		{OpReadDir, func(f *FS) error { _, err := f.ReadDir("/f"); return err }, nil},
		{OpStat, func(f *FS) error { _, err := f.Stat("/f"); return err }, nil},
		{OpSyncDir, func(f *FS) error { return f.SyncDir("/f") }, nil},
		{OpLock, func(f *FS) error { _, err := f.Lock("/f"); return err },
			func(mem *fs.Mem) bool { l, err := mem.Lock("/f"); return err == nil && l.Close() == nil }},
	}
	for _, tt := range tests {
		t.Run(tt.op.String(), func(t *testing.T) {
			mem, f, sw := newMem(t)
			sw.Set(OnOp(tt.op, syscall.ENOSPC))
			err := tt.call(f)
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("err = %v; want ENOSPC", err)
			}
			var pathErr *os.PathError
			var linkErr *os.LinkError
			if !errors.As(err, &pathErr) && !errors.As(err, &linkErr) {
				t.Errorf("error %q (%T) does not name the path as os does", err, err)
			}
			if tt.intact != nil && !tt.intact(mem) {
				t.Error("the failed call reached the wrapped file system")
			}
			if f.Count(tt.op) != 1 || f.Injected(tt.op) != 1 {
				t.Errorf("Count = %d, Injected = %d; want 1, 1", f.Count(tt.op), f.Injected(tt.op))
			}
			sw.Clear()
			if err := tt.call(f); errors.Is(err, syscall.ENOSPC) {
				t.Errorf("after Clear: %v", err)
			}
		})
	}
}

func TestShortWrite(t *testing.T) {
	tests := []struct {
		name    string
		err     *ShortWrite
		wantErr error
	}{
		{"ENOSPC", Short(syscall.ENOSPC), syscall.ENOSPC},
		{"default", Short(nil), io.ErrShortWrite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem, f, sw := newMem(t)
			file, err := f.OpenFile("/f")
			if err != nil {
				t.Fatal(err)
			}
			sw.Set(OnOp(OpWrite, tt.err))
			n, err := file.WriteAt([]byte("12345"), 3)
			if n != 2 || !errors.Is(err, tt.wantErr) {
				t.Errorf("WriteAt = %d, %v; want 2, %v", n, err, tt.wantErr)
			}
			var short *ShortWrite
			if !errors.As(err, &short) {
				t.Errorf("%v is not a *ShortWrite", err)
			}
			if got, _ := mem.ReadFile("/f"); string(got) != "abc12" {
				t.Errorf("file = %q; want the prefix \"abc12\"", got)
			}
		})
	}
}

func TestFileFaults(t *testing.T) {
	tests := []struct {
		op   Op
		call func(f fs.File) error
		want string // the wrapped file's contents afterwards
	}{
		{OpRead, func(f fs.File) error { _, err := f.ReadAt(make([]byte, 1), 0); return err }, "abc"},
		{OpWrite, func(f fs.File) error { _, err := f.WriteAt([]byte("x"), 0); return err }, "abc"},
		{OpTruncate, func(f fs.File) error { return f.Truncate(0) }, "abc"},
		{OpStat, func(f fs.File) error { _, err := f.Size(); return err }, "abc"},
		{OpSync, func(f fs.File) error { return f.Sync() }, "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.op.String(), func(t *testing.T) {
			mem, f, sw := newMem(t)
			file, err := f.OpenFile("/f")
			if err != nil {
				t.Fatal(err)
			}
			defer file.Close()
			sw.Set(OnOp(tt.op, ErrInjected))
			if err := tt.call(file); !errors.Is(err, ErrInjected) {
				t.Errorf("err = %v; want ErrInjected", err)
			}
			if got, _ := mem.ReadFile("/f"); string(got) != tt.want {
				t.Errorf("file = %q; want %q", got, tt.want)
			}
		})
	}
}

// TestSyncFaultLeavesDataVolatile is the case sync faults exist for: the
// engine is told the sync failed, and a crash then really loses the data.
func TestSyncFaultLeavesDataVolatile(t *testing.T) {
	mem, f, sw := newMem(t)
	file, err := f.OpenFile("/f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.WriteAt([]byte("def"), 3); err != nil {
		t.Fatal(err)
	}
	sw.Set(OnOp(OpSync, syscall.EIO))
	if err := file.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync = %v; want EIO", err)
	}
	mem.Crash()
	if got, _ := mem.ReadFile("/f"); string(got) != "abc" {
		t.Errorf("after failed sync and crash: %q; want \"abc\"", got)
	}
	if f.Count(OpSync) != 1 {
		t.Errorf("Count(OpSync) = %d", f.Count(OpSync))
	}
}

// TestCloseFaultStillCloses checks a failed Close releases what it closes,
// as close(2) does.
func TestCloseFaultStillCloses(t *testing.T) {
	mem, f, sw := newMem(t)
	l, err := f.Lock("/LOCK")
	if err != nil {
		t.Fatal(err)
	}
	file, err := f.Open("/f")
	if err != nil {
		t.Fatal(err)
	}
	sw.Set(OnOp(OpClose, ErrInjected))
	if err := l.Close(); !errors.Is(err, ErrInjected) {
		t.Errorf("lock Close = %v", err)
	}
	if err := file.Close(); !errors.Is(err, ErrInjected) {
		t.Errorf("file Close = %v", err)
	}
	sw.Clear()
	if _, err := file.ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("ReadAt after failed Close = %v; want ErrClosed", err)
	}
	l2, err := mem.Lock("/LOCK")
	if err != nil {
		t.Fatalf("lock still held after failed Close: %v", err)
	}
	l2.Close()
}

// fires calls inj n times with op and path and reports which calls failed.
func fires(inj Injector, n int, op Op, path string) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = inj.MaybeError(op, path) != nil
	}
	return out
}

func TestInjectors(t *testing.T) {
	const T, F = true, false
	tests := []struct {
		name string
		inj  Injector
		op   Op
		path string
		want []bool
	}{
		{"OnOp matches its op", OnOp(OpSync, ErrInjected), OpSync, "/f", []bool{T, T, T}},
		{"OnOp ignores others", OnOp(OpSync, ErrInjected), OpWrite, "/f", []bool{F, F, F}},
		{"Nth fails only the nth", Nth(2, OnOp(OpSync, ErrInjected)), OpSync, "/f", []bool{F, T, F, F}},
		{"Nth counts only matches", Nth(1, OnOp(OpSync, ErrInjected)), OpWrite, "/f", []bool{F, F}},
		{"PathContains matches", PathContains(".index", OnOp(OpWrite, ErrInjected)), OpWrite, "/p/0.index", []bool{T, T}},
		{"PathContains filters", PathContains(".index", OnOp(OpWrite, ErrInjected)), OpWrite, "/p/0.log", []bool{F, F}},
		{"Any joins", Any(OnOp(OpSync, ErrInjected), OnOp(OpWrite, ErrInjected)), OpWrite, "/f", []bool{T, T}},
		{"Any of none", Any(), OpWrite, "/f", []bool{F}},
		{"Random never", Random(rand.New(rand.NewPCG(1, 1)), 0, OnOp(OpWrite, ErrInjected)), OpWrite, "/f", []bool{F, F, F}},
		{"Random always", Random(rand.New(rand.NewPCG(1, 1)), 1, OnOp(OpWrite, ErrInjected)), OpWrite, "/f", []bool{T, T, T}},
		{"zero Switch", &Switch{}, OpWrite, "/f", []bool{F}},
	}
	for _, tt := range tests {
		got := fires(tt.inj, len(tt.want), tt.op, tt.path)
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: fired %v; want %v", tt.name, got, tt.want)
				break
			}
		}
	}
}

func TestRandomReplaysFromSeed(t *testing.T) {
	run := func() []bool {
		inj := Random(rand.New(rand.NewPCG(42, 0)), 0.3, OnOp(OpWrite, ErrInjected))
		return fires(inj, 100, OpWrite, "/f")
	}
	a, b := run(), run()
	n := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("call %d differs between runs with one seed", i)
		}
		if a[i] {
			n++
		}
	}
	if n < 10 || n > 50 {
		t.Errorf("%d of 100 calls failed at p=0.3", n)
	}
}

// TestSwitchWhileRunning flips a Switch while writers run, for the race
// detector, and checks every failure is the injected one.
func TestSwitchWhileRunning(t *testing.T) {
	_, f, sw := newMem(t)
	file, err := f.OpenFile("/f")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				_, err := file.WriteAt([]byte{byte(i)}, int64(g))
				if err != nil && !errors.Is(err, syscall.ENOSPC) {
					t.Errorf("unexpected error %v", err)
				}
			}
		})
	}
	for i := range 200 {
		if i%2 == 0 {
			sw.Set(OnOp(OpWrite, syscall.ENOSPC))
		} else {
			sw.Clear()
		}
	}
	wg.Wait()
	if got := f.Count(OpWrite); got != 2000 {
		t.Errorf("Count(OpWrite) = %d; want 2000", got)
	}
}
