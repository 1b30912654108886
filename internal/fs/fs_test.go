package fs

import (
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"slices"
	"testing"
)

// implementations returns each FS with a directory to work in, so that the
// behaviour both must share is tested once.
func implementations(t *testing.T) map[string]func(t *testing.T) (FS, string) {
	return map[string]func(t *testing.T) (FS, string){
		"OS": func(t *testing.T) (FS, string) { return OS(), t.TempDir() },
		"Mem": func(t *testing.T) (FS, string) {
			m := NewMem()
			if err := m.MkdirAll("/data"); err != nil {
				t.Fatal(err)
			}
			return m, "/data"
		},
	}
}

func mustCreate(t *testing.T, fsys FS, name string, data string) File {
	t.Helper()
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(data), 0); err != nil {
		t.Fatal(err)
	}
	return f
}

func readAll(t *testing.T, f File) string {
	t.Helper()
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	return string(buf)
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, fsys FS, dir string)
	}{
		{"ReadAt follows os at EOF", func(t *testing.T, fsys FS, dir string) {
			f := mustCreate(t, fsys, path.Join(dir, "f"), "hello")
			defer f.Close()
			buf := make([]byte, 4)
			if n, err := f.ReadAt(buf, 3); n != 2 || err != io.EOF || string(buf[:n]) != "lo" {
				t.Errorf("ReadAt across EOF = %d, %v, %q; want 2, EOF, \"lo\"", n, err, buf[:n])
			}
			if n, err := f.ReadAt(buf, 5); n != 0 || err != io.EOF {
				t.Errorf("ReadAt at EOF = %d, %v; want 0, EOF", n, err)
			}
			if n, err := f.ReadAt(buf[:0], 99); n != 0 || err != nil {
				t.Errorf("empty ReadAt past EOF = %d, %v; want 0, nil", n, err)
			}
			if _, err := f.ReadAt(buf, -1); err == nil {
				t.Error("ReadAt at a negative offset succeeded")
			}
		}},
		{"WriteAt past the end zero-fills", func(t *testing.T, fsys FS, dir string) {
			f := mustCreate(t, fsys, path.Join(dir, "f"), "ab")
			defer f.Close()
			if _, err := f.WriteAt([]byte("z"), 4); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, f); got != "ab\x00\x00z" {
				t.Errorf("contents = %q", got)
			}
		}},
		{"Truncate shrinks and zero-extends", func(t *testing.T, fsys FS, dir string) {
			f := mustCreate(t, fsys, path.Join(dir, "f"), "abcdef")
			defer f.Close()
			if err := f.Truncate(2); err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(4); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, f); got != "ab\x00\x00" {
				t.Errorf("contents = %q", got)
			}
			if size, err := fsys.Stat(path.Join(dir, "f")); size != 4 || err != nil {
				t.Errorf("Stat = %d, %v; want 4", size, err)
			}
		}},
		{"Create truncates an existing file", func(t *testing.T, fsys FS, dir string) {
			name := path.Join(dir, "f")
			mustCreate(t, fsys, name, "old").Close()
			f, err := fsys.Create(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if size, _ := f.Size(); size != 0 {
				t.Errorf("size after Create = %d", size)
			}
		}},
		{"missing names report ErrNotExist", func(t *testing.T, fsys FS, dir string) {
			missing := path.Join(dir, "missing")
			_, errOpen := fsys.Open(missing)
			_, errOpenFile := fsys.OpenFile(missing)
			_, errStat := fsys.Stat(missing)
			_, errReadDir := fsys.ReadDir(missing)
			_, errCreate := fsys.Create(path.Join(missing, "f"))
			for op, err := range map[string]error{
				"Open": errOpen, "OpenFile": errOpenFile, "Stat": errStat,
				"ReadDir": errReadDir, "Create": errCreate,
				"Remove": fsys.Remove(missing),
				"Rename": fsys.Rename(missing, path.Join(dir, "x")),
			} {
				if !errors.Is(err, iofs.ErrNotExist) {
					t.Errorf("%s: %v; want ErrNotExist", op, err)
				}
			}
			if err := fsys.RemoveAll(missing); err != nil {
				t.Errorf("RemoveAll of a missing name: %v", err)
			}
		}},
		{"read-only handle refuses writes", func(t *testing.T, fsys FS, dir string) {
			name := path.Join(dir, "f")
			mustCreate(t, fsys, name, "x").Close()
			f, err := fsys.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("y"), 0); err == nil {
				t.Error("WriteAt on a read-only handle succeeded")
			}
			if got := readAll(t, f); got != "x" {
				t.Errorf("contents = %q", got)
			}
		}},
		{"closed handle reports ErrClosed", func(t *testing.T, fsys FS, dir string) {
			f := mustCreate(t, fsys, path.Join(dir, "f"), "x")
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
				t.Errorf("ReadAt after Close: %v", err)
			}
			if err := f.Close(); !errors.Is(err, os.ErrClosed) {
				t.Errorf("second Close: %v", err)
			}
		}},
		{"ReadDir lists sorted names", func(t *testing.T, fsys FS, dir string) {
			for _, n := range []string{"c", "a", "b"} {
				mustCreate(t, fsys, path.Join(dir, n), "").Close()
			}
			if err := fsys.MkdirAll(path.Join(dir, "d", "e")); err != nil {
				t.Fatal(err)
			}
			got, err := fsys.ReadDir(dir)
			if want := []string{"a", "b", "c", "d"}; err != nil || !slices.Equal(got, want) {
				t.Errorf("ReadDir = %q, %v; want %q", got, err, want)
			}
		}},
		{"Rename replaces the target", func(t *testing.T, fsys FS, dir string) {
			a, b := path.Join(dir, "a"), path.Join(dir, "b")
			mustCreate(t, fsys, a, "new").Close()
			mustCreate(t, fsys, b, "old").Close()
			if err := fsys.Rename(a, b); err != nil {
				t.Fatal(err)
			}
			if _, err := fsys.Stat(a); !errors.Is(err, iofs.ErrNotExist) {
				t.Errorf("old name still there: %v", err)
			}
			f, err := fsys.Open(b)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got := readAll(t, f); got != "new" {
				t.Errorf("contents = %q", got)
			}
		}},
		{"Remove refuses a non-empty directory", func(t *testing.T, fsys FS, dir string) {
			sub := path.Join(dir, "sub")
			if err := fsys.MkdirAll(sub); err != nil {
				t.Fatal(err)
			}
			if err := fsys.MkdirAll(sub); err != nil {
				t.Errorf("MkdirAll of an existing directory: %v", err)
			}
			mustCreate(t, fsys, path.Join(sub, "f"), "").Close()
			if err := fsys.Remove(sub); err == nil {
				t.Error("Remove of a non-empty directory succeeded")
			}
			if err := fsys.RemoveAll(sub); err != nil {
				t.Fatal(err)
			}
			if _, err := fsys.Stat(sub); !errors.Is(err, iofs.ErrNotExist) {
				t.Errorf("after RemoveAll: %v", err)
			}
		}},
		{"Sync and SyncDir succeed", func(t *testing.T, fsys FS, dir string) {
			f := mustCreate(t, fsys, path.Join(dir, "f"), "x")
			defer f.Close()
			if err := f.Sync(); err != nil {
				t.Error(err)
			}
			if err := fsys.SyncDir(dir); err != nil {
				t.Error(err)
			}
		}},
		{"second Lock fails until the first is released", func(t *testing.T, fsys FS, dir string) {
			name := path.Join(dir, "LOCK")
			l, err := fsys.Lock(name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fsys.Lock(name); !errors.Is(err, ErrLocked) {
				t.Fatalf("second Lock: %v; want ErrLocked", err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, err = fsys.Lock(name)
			if err != nil {
				t.Fatalf("Lock after release: %v", err)
			}
			l.Close()
		}},
	}
	for implName, setup := range implementations(t) {
		for _, tt := range tests {
			t.Run(implName+"/"+tt.name, func(t *testing.T) {
				fsys, dir := setup(t)
				tt.run(t, fsys, dir)
			})
		}
	}
}
