package server

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/config"
	"github.com/loftmq/loft/internal/fs"
)

// startOn is start for a server whose file I/O goes through fsys instead
// of the host's (nil: the host's): the one test hook into Server, its
// unexported fsys.
func startOn(t *testing.T, cfg config.Config, fsys fs.FS) *running {
	t.Helper()
	srv, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if fsys != nil {
		srv.fsys = fsys
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Server: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(ShutdownTimeout + 5*time.Second):
			t.Error("server did not stop")
		}
	})
	select {
	case <-srv.Ready():
	case err := <-r.done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("server not ready after 20s")
	}
	return r
}

// powerFS is one boot of a process on an in-memory disk: every call goes
// to mem until cut, which crashes mem and kills this boot, so that from
// then on every call fails with fs.ErrCrashed, as nothing more reaches a
// disk from a process that lost its power. Calls hold a read lock across
// their work, so none straddles the crash: each lands wholly before it (and
// is judged by what it made durable) or fails. A new boot over the same mem
// stands for the process started after the power came back.
type powerFS struct {
	mem  *fs.Mem
	mu   sync.RWMutex
	dead bool
}

var _ fs.FS = (*powerFS)(nil)

func boot(mem *fs.Mem) *powerFS { return &powerFS{mem: mem} }

// cut loses the power: Crash, or CrashTorn with rng when rng is not nil.
func (p *powerFS) cut(rng *rand.Rand) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dead = true
	if rng != nil {
		p.mem.CrashTorn(rng)
	} else {
		p.mem.Crash()
	}
}

// enter takes the read lock for one call, or fails it after the cut.
func (p *powerFS) enter(op, name string) error {
	p.mu.RLock()
	if p.dead {
		p.mu.RUnlock()
		return &os.PathError{Op: op, Path: name, Err: fs.ErrCrashed}
	}
	return nil
}

func (p *powerFS) leave() { p.mu.RUnlock() }

func (p *powerFS) file(f fs.File, err error) (fs.File, error) {
	if err != nil {
		return nil, err
	}
	return &powerFile{p: p, f: f}, nil
}

func (p *powerFS) Create(name string) (fs.File, error) {
	if err := p.enter("create", name); err != nil {
		return nil, err
	}
	defer p.leave()
	return p.file(p.mem.Create(name))
}

func (p *powerFS) OpenFile(name string) (fs.File, error) {
	if err := p.enter("open", name); err != nil {
		return nil, err
	}
	defer p.leave()
	return p.file(p.mem.OpenFile(name))
}

func (p *powerFS) Open(name string) (fs.File, error) {
	if err := p.enter("open", name); err != nil {
		return nil, err
	}
	defer p.leave()
	return p.file(p.mem.Open(name))
}

func (p *powerFS) Remove(name string) error {
	if err := p.enter("remove", name); err != nil {
		return err
	}
	defer p.leave()
	return p.mem.Remove(name)
}

func (p *powerFS) RemoveAll(name string) error {
	if err := p.enter("remove", name); err != nil {
		return err
	}
	defer p.leave()
	return p.mem.RemoveAll(name)
}

func (p *powerFS) Rename(oldname, newname string) error {
	if err := p.enter("rename", oldname); err != nil {
		return err
	}
	defer p.leave()
	return p.mem.Rename(oldname, newname)
}

func (p *powerFS) MkdirAll(dir string) error {
	if err := p.enter("mkdir", dir); err != nil {
		return err
	}
	defer p.leave()
	return p.mem.MkdirAll(dir)
}

func (p *powerFS) ReadDir(dir string) ([]string, error) {
	if err := p.enter("readdir", dir); err != nil {
		return nil, err
	}
	defer p.leave()
	return p.mem.ReadDir(dir)
}

func (p *powerFS) Stat(name string) (int64, error) {
	if err := p.enter("stat", name); err != nil {
		return 0, err
	}
	defer p.leave()
	return p.mem.Stat(name)
}

func (p *powerFS) SyncDir(dir string) error {
	if err := p.enter("syncdir", dir); err != nil {
		return err
	}
	defer p.leave()
	return p.mem.SyncDir(dir)
}

// Lock goes to mem, whose crash drops every lock, as a reboot does.
func (p *powerFS) Lock(name string) (io.Closer, error) {
	if err := p.enter("lock", name); err != nil {
		return nil, err
	}
	defer p.leave()
	return p.mem.Lock(name)
}

type powerFile struct {
	p *powerFS
	f fs.File
}

func (f *powerFile) ReadAt(b []byte, off int64) (int, error) {
	if err := f.p.enter("read", ""); err != nil {
		return 0, err
	}
	defer f.p.leave()
	return f.f.ReadAt(b, off)
}

func (f *powerFile) WriteAt(b []byte, off int64) (int, error) {
	if err := f.p.enter("write", ""); err != nil {
		return 0, err
	}
	defer f.p.leave()
	return f.f.WriteAt(b, off)
}

func (f *powerFile) Sync() error {
	if err := f.p.enter("sync", ""); err != nil {
		return err
	}
	defer f.p.leave()
	return f.f.Sync()
}

func (f *powerFile) Truncate(size int64) error {
	if err := f.p.enter("truncate", ""); err != nil {
		return err
	}
	defer f.p.leave()
	return f.f.Truncate(size)
}

func (f *powerFile) Size() (int64, error) {
	if err := f.p.enter("stat", ""); err != nil {
		return 0, err
	}
	defer f.p.leave()
	return f.f.Size()
}

// Close closes the handle below even after the cut (it then fails there
// with ErrCrashed), so nothing leaks.
func (f *powerFile) Close() error { return f.f.Close() }
