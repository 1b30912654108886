package fs

import (
	"bytes"
	"errors"
	"fmt"
	iofs "io/fs"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"
)

// absent marks a name a crash must have removed.
const absent = "<absent>"

// memT wraps a Mem with helpers that fail the test on error, so crash
// scenarios read as the steps they take.
type memT struct {
	*testing.T
	m *Mem
}

func (mt memT) ok(err error) {
	mt.Helper()
	if err != nil {
		mt.Fatal(err)
	}
}

// seed writes a durable file.
func (mt memT) seed(name, data string) { mt.Helper(); mt.ok(mt.m.WriteFile(name, []byte(data))) }

func (mt memT) create(name string) File {
	mt.Helper()
	f, err := mt.m.Create(name)
	mt.ok(err)
	return f
}

func (mt memT) openFile(name string) File {
	mt.Helper()
	f, err := mt.m.OpenFile(name)
	mt.ok(err)
	return f
}

func (mt memT) write(f File, off int64, data string) {
	mt.Helper()
	_, err := f.WriteAt([]byte(data), off)
	mt.ok(err)
}

func TestMemCrash(t *testing.T) {
	tests := []struct {
		name  string
		steps func(mt memT)
		want  map[string]string // contents after the crash, or absent
	}{
		{"synced file in synced directory survives", func(mt memT) {
			f := mt.create("/d/f")
			mt.write(f, 0, "hello")
			mt.ok(f.Sync())
			mt.ok(mt.m.SyncDir("/d"))
		}, map[string]string{"/d/f": "hello"}},
		{"unsynced append is lost", func(mt memT) {
			f := mt.openFile("/d/f")
			mt.write(f, 3, "def")
		}, map[string]string{"/d/f": "abc"}},
		{"unsynced overwrite is lost", func(mt memT) {
			f := mt.openFile("/d/f")
			mt.write(f, 0, "X")
		}, map[string]string{"/d/f": "abc"}},
		{"unsynced truncate is lost", func(mt memT) {
			mt.ok(mt.openFile("/d/f").Truncate(1))
		}, map[string]string{"/d/f": "abc"}},
		{"write after truncate does not leak into durable bytes", func(mt memT) {
			f := mt.openFile("/d/f")
			mt.ok(f.Truncate(1))
			mt.write(f, 1, "YZ")
		}, map[string]string{"/d/f": "abc"}},
		{"second sync covers later writes", func(mt memT) {
			f := mt.openFile("/d/f")
			mt.write(f, 3, "def")
			mt.ok(f.Sync())
			mt.write(f, 0, "X")
			mt.write(f, 6, "ghi")
		}, map[string]string{"/d/f": "abcdef"}},
		{"unsynced create vanishes though the file was synced", func(mt memT) {
			f := mt.create("/d/new")
			mt.write(f, 0, "x")
			mt.ok(f.Sync())
		}, map[string]string{"/d/new": absent, "/d/f": "abc"}},
		{"synced entry of an unsynced file is empty", func(mt memT) {
			mt.write(mt.create("/d/new"), 0, "x")
			mt.ok(mt.m.SyncDir("/d"))
		}, map[string]string{"/d/new": ""}},
		{"Create over a durable file without sync is undone", func(mt memT) {
			mt.write(mt.create("/d/f"), 0, "new")
		}, map[string]string{"/d/f": "abc"}},
		{"unsynced remove is undone", func(mt memT) {
			mt.ok(mt.m.Remove("/d/f"))
		}, map[string]string{"/d/f": "abc"}},
		{"synced remove sticks", func(mt memT) {
			mt.ok(mt.m.Remove("/d/f"))
			mt.ok(mt.m.SyncDir("/d"))
		}, map[string]string{"/d/f": absent}},
		{"file removed but synced through a handle comes back synced", func(mt memT) {
			f := mt.openFile("/d/f")
			mt.ok(mt.m.Remove("/d/f"))
			mt.write(f, 3, "def")
			mt.ok(f.Sync())
		}, map[string]string{"/d/f": "abcdef"}},
		{"unsynced rename is undone", func(mt memT) {
			mt.seed("/d/g", "old")
			mt.ok(mt.m.Rename("/d/f", "/d/g"))
		}, map[string]string{"/d/f": "abc", "/d/g": "old"}},
		{"synced rename sticks", func(mt memT) {
			mt.seed("/d/g", "old")
			mt.ok(mt.m.Rename("/d/f", "/d/g"))
			mt.ok(mt.m.SyncDir("/d"))
		}, map[string]string{"/d/f": absent, "/d/g": "abc"}},
		{"rename across directories, only the target synced", func(mt memT) {
			mt.ok(mt.m.MkdirAll("/e"))
			mt.ok(mt.m.SyncDir("/"))
			mt.ok(mt.m.Rename("/d/f", "/e/f"))
			mt.ok(mt.m.SyncDir("/e"))
		}, map[string]string{"/d/f": "abc", "/e/f": "abc"}},
		{"directory in an unsynced parent vanishes with its files", func(mt memT) {
			f := mt.create("/d/sub/f")
			mt.write(f, 0, "x")
			mt.ok(f.Sync())
			mt.ok(mt.m.SyncDir("/d/sub"))
		}, map[string]string{"/d/sub/f": absent, "/d/sub": absent}},
		{"unsynced RemoveAll is undone", func(mt memT) {
			mt.seed("/d/sub/g", "g")
			mt.ok(mt.m.RemoveAll("/d"))
		}, map[string]string{"/d/f": "abc", "/d/sub/g": "g"}},
		{"synced RemoveAll sticks", func(mt memT) {
			mt.ok(mt.m.RemoveAll("/d"))
			mt.ok(mt.m.SyncDir("/"))
		}, map[string]string{"/d/f": absent, "/d": absent}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMem()
			mt := memT{t, m}
			mt.seed("/d/f", "abc")
			mt.ok(m.MkdirAll("/d/sub")) // unsynced: gone after the crash
			tt.steps(mt)
			m.Crash()
			for name, want := range tt.want {
				got, err := m.ReadFile(name)
				switch {
				case want == absent:
					if _, err := m.Stat(name); !errors.Is(err, iofs.ErrNotExist) {
						t.Errorf("%s: Stat = %v; want ErrNotExist", name, err)
					}
				case err != nil:
					t.Errorf("%s: %v; want %q", name, err, want)
				case string(got) != want:
					t.Errorf("%s = %q; want %q", name, got, want)
				}
			}
		})
	}
}

func TestMemCrashInvalidatesHandles(t *testing.T) {
	m := NewMem()
	mt := memT{t, m}
	mt.seed("/f", "abc")
	f := mt.openFile("/f")
	l, err := m.Lock("/LOCK")
	mt.ok(err)

	m.Crash()

	_, errRead := f.ReadAt(make([]byte, 1), 0)
	_, errWrite := f.WriteAt([]byte("x"), 0)
	_, errSize := f.Size()
	for op, err := range map[string]error{
		"ReadAt": errRead, "WriteAt": errWrite, "Size": errSize,
		"Sync": f.Sync(), "Truncate": f.Truncate(0), "Close": f.Close(),
		"Lock.Close": l.Close(),
	} {
		if !errors.Is(err, ErrCrashed) {
			t.Errorf("%s after crash: %v; want ErrCrashed", op, err)
		}
	}
	// The crash released the lock; the stale closer must not release the
	// lock of the next holder.
	l2, err := m.Lock("/LOCK")
	if err != nil {
		t.Fatalf("Lock after crash: %v", err)
	}
	l.Close()
	if _, err := m.Lock("/LOCK"); !errors.Is(err, ErrLocked) {
		t.Errorf("Lock while held after crash: %v", err)
	}
	mt.ok(l2.Close())
	// The disk works as new.
	g := mt.openFile("/f")
	mt.write(g, 3, "d")
	if got, _ := m.ReadFile("/f"); string(got) != "abcd" {
		t.Errorf("after crash and write: %q", got)
	}
}

func TestMemCrashTorn(t *testing.T) {
	durable := []byte("DURABLE|")
	for _, tailLen := range []int{30, 1000} {
		tail := bytes.Repeat([]byte("0123456789"), tailLen/10)
		var sawNone, sawAll, sawPartial, sawGarbled bool
		for seed := range uint64(300) {
			got := tornOnce(t, seed, durable, tail)
			if !bytes.HasPrefix(got, durable) || len(got) > len(durable)+len(tail) {
				t.Fatalf("seed %d: kept %q...; want the durable %q then at most %d bytes",
					seed, got[:min(len(got), 20)], durable, len(tail))
			}
			kept := got[len(durable):]
			same := 0 // the kept bytes that match the tail, counted from the start
			for same < len(kept) && kept[same] == tail[same] {
				same++
			}
			if len(kept)-same > tornSector {
				t.Fatalf("seed %d: %d bytes differ from the tail; want at most the last %d",
					seed, len(kept)-same, tornSector)
			}
			switch {
			case len(kept) == 0:
				sawNone = true
			case len(kept) == len(tail) && same == len(kept):
				sawAll = true
			case same == len(kept):
				sawPartial = true
			default:
				sawGarbled = true
			}
		}
		if !sawPartial || !sawGarbled {
			t.Errorf("tail %d: kept a clean prefix %v, a garbled prefix %v; want both", tailLen, sawPartial, sawGarbled)
		}
		if tailLen < 100 && (!sawNone || !sawAll) {
			t.Errorf("tail %d: kept nothing %v, everything %v; want both", tailLen, sawNone, sawAll)
		}
	}
}

// tornOnce tears a file holding durable and the unsynced tail, checks that
// the result is then durable, and returns it.
func tornOnce(t *testing.T, seed uint64, durable, tail []byte) []byte {
	m := NewMem()
	mt := memT{t, m}
	mt.seed("/f", string(durable))
	f := mt.openFile("/f")
	mt.write(f, 0, "X") // an unsynced overwrite: always lost
	mt.write(f, int64(len(durable)), string(tail))
	m.CrashTorn(rand.New(rand.NewPCG(seed, 0)))
	got, err := m.ReadFile("/f")
	mt.ok(err)
	m.Crash()
	if again, _ := m.ReadFile("/f"); !bytes.Equal(again, got) {
		t.Fatalf("seed %d: a second crash changed the torn file", seed)
	}
	return got
}

func TestMemCrashTornIsDeterministic(t *testing.T) {
	image := func() map[string]string {
		m := NewMem()
		mt := memT{t, m}
		for i := range 10 {
			name := fmt.Sprintf("/d/%d", i)
			mt.seed(name, "head")
			mt.write(mt.openFile(name), 4, string(bytes.Repeat([]byte{'t'}, 100)))
		}
		m.CrashTorn(rand.New(rand.NewPCG(7, 7)))
		out := map[string]string{}
		names, err := m.ReadDir("/d")
		mt.ok(err)
		for _, n := range names {
			data, _ := m.ReadFile("/d/" + n)
			out[n] = string(data)
		}
		return out
	}
	a, b := image(), image()
	for n := range a {
		if a[n] != b[n] {
			t.Errorf("%s torn differently from the same seed: %q vs %q", n, a[n], b[n])
		}
	}
}

func TestMemErrors(t *testing.T) {
	m := NewMem()
	mt := memT{t, m}
	mt.seed("/d/f", "x")
	mt.ok(m.MkdirAll("/d/sub"))
	_, errOpenDir := m.OpenFile("/d")
	_, errCreateDir := m.Create("/d")
	_, errUnder := m.Create("/d/f/g")
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"open a directory", errOpenDir, syscall.EISDIR},
		{"create over a directory", errCreateDir, syscall.EISDIR},
		{"create below a file", errUnder, syscall.ENOTDIR},
		{"mkdir below a file", m.MkdirAll("/d/f/g"), syscall.ENOTDIR},
		{"rename over a directory", m.Rename("/d/f", "/d/sub"), syscall.EEXIST},
		{"rename a directory below itself", m.Rename("/d", "/d/sub/d"), syscall.EINVAL},
		{"remove a non-empty directory", m.Remove("/d"), syscall.ENOTEMPTY},
		{"SyncDir a file", m.SyncDir("/d/f"), syscall.ENOTDIR},
		{"remove the root", m.Remove("/"), iofs.ErrInvalid},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: %v; want %v", tt.name, tt.err, tt.want)
		}
	}
}

func TestMemPathsAreCleaned(t *testing.T) {
	m := NewMem()
	mt := memT{t, m}
	mt.seed("a/b", "x")
	for _, name := range []string{"/a/b", "a/b", "/a/./b", "a//b", "/../a/b"} {
		if got, err := m.ReadFile(name); err != nil || string(got) != "x" {
			t.Errorf("ReadFile(%q) = %q, %v", name, got, err)
		}
	}
	if names, err := m.ReadDir(""); err != nil || !slices.Equal(names, []string{"a"}) {
		t.Errorf("ReadDir of the root = %q, %v", names, err)
	}
}

// TestMemConcurrent gives the race detector writers, syncers and readers on
// shared and separate files.
func TestMemConcurrent(t *testing.T) {
	m := NewMem()
	mt := memT{t, m}
	shared := mt.create("/shared")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			own, err := m.Create(fmt.Sprintf("/own%d", g))
			if err != nil {
				t.Error(err)
				return
			}
			for i := range 200 {
				off := int64(i * 4)
				own.WriteAt([]byte{byte(g), 1, 2, 3}, off)
				shared.WriteAt([]byte{byte(g)}, int64(g*200+i))
				if i%10 == 0 {
					own.Sync()
					shared.Sync()
					m.SyncDir("/")
				}
				buf := make([]byte, 4)
				own.ReadAt(buf, off)
				if buf[0] != byte(g) {
					t.Errorf("goroutine %d read %v", g, buf)
				}
				m.ReadDir("/")
			}
		})
	}
	wg.Wait()
	if size, _ := shared.Size(); size != 800 {
		t.Errorf("shared size = %d", size)
	}
}
