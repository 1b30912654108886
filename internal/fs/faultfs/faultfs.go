package faultfs

import (
	"errors"
	"io"
	"os"
	"sync/atomic"

	"github.com/loftmq/loft/internal/fs"
)

// FS is an fs.FS that consults an Injector before passing each call to the
// file system it wraps, and counts the calls it sees.
type FS struct {
	inner    fs.FS
	inj      Injector
	calls    [numOps]atomic.Int64
	injected [numOps]atomic.Int64
}

var _ fs.FS = (*FS)(nil)

// New wraps inner. A nil inj injects nothing; pass a *Switch to decide later.
func New(inner fs.FS, inj Injector) *FS {
	return &FS{inner: inner, inj: inj}
}

// Count returns how many calls of op the FS has seen, failed ones included.
func (f *FS) Count(op Op) int { return int(f.calls[op].Load()) }

// Injected returns how many calls of op failed by injection.
func (f *FS) Injected(op Op) int { return int(f.injected[op].Load()) }

// fault counts a call and returns the injected error for it, wrapped as
// package os would, or nil.
func (f *FS) fault(op Op, path string) error {
	f.calls[op].Add(1)
	if f.inj == nil {
		return nil
	}
	err := f.inj.MaybeError(op, path)
	if err == nil {
		return nil
	}
	f.injected[op].Add(1)
	return &os.PathError{Op: op.String(), Path: path, Err: err}
}

func (f *FS) Create(name string) (fs.File, error) {
	if err := f.fault(OpCreate, name); err != nil {
		return nil, err
	}
	inner, err := f.inner.Create(name)
	return f.wrap(name, inner, err)
}

func (f *FS) OpenFile(name string) (fs.File, error) {
	if err := f.fault(OpOpen, name); err != nil {
		return nil, err
	}
	inner, err := f.inner.OpenFile(name)
	return f.wrap(name, inner, err)
}

func (f *FS) Open(name string) (fs.File, error) {
	if err := f.fault(OpOpen, name); err != nil {
		return nil, err
	}
	inner, err := f.inner.Open(name)
	return f.wrap(name, inner, err)
}

func (f *FS) wrap(name string, inner fs.File, err error) (fs.File, error) {
	if err != nil {
		return nil, err
	}
	return &file{fs: f, name: name, inner: inner}, nil
}

func (f *FS) Remove(name string) error {
	if err := f.fault(OpRemove, name); err != nil {
		return err
	}
	return f.inner.Remove(name)
}

func (f *FS) RemoveAll(name string) error {
	if err := f.fault(OpRemove, name); err != nil {
		return err
	}
	return f.inner.RemoveAll(name)
}

// Rename asks the injector with oldname.
func (f *FS) Rename(oldname, newname string) error {
	if err := f.fault(OpRename, oldname); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: errors.Unwrap(err)}
	}
	return f.inner.Rename(oldname, newname)
}

func (f *FS) MkdirAll(dir string) error {
	if err := f.fault(OpMkdir, dir); err != nil {
		return err
	}
	return f.inner.MkdirAll(dir)
}

func (f *FS) ReadDir(dir string) ([]string, error) {
	if err := f.fault(OpReadDir, dir); err != nil {
		return nil, err
	}
	return f.inner.ReadDir(dir)
}

func (f *FS) Stat(name string) (int64, error) {
	if err := f.fault(OpStat, name); err != nil {
		return 0, err
	}
	return f.inner.Stat(name)
}

func (f *FS) SyncDir(dir string) error {
	if err := f.fault(OpSyncDir, dir); err != nil {
		return err
	}
	return f.inner.SyncDir(dir)
}

func (f *FS) Lock(name string) (io.Closer, error) {
	if err := f.fault(OpLock, name); err != nil {
		return nil, err
	}
	l, err := f.inner.Lock(name)
	if err != nil {
		return nil, err
	}
	return &lock{fs: f, name: name, inner: l}, nil
}

type lock struct {
	fs    *FS
	name  string
	inner io.Closer
}

// Close releases the lock even when a fault is injected: the kernel drops a
// flock with the descriptor, whatever close(2) reports.
func (l *lock) Close() error {
	ferr := l.fs.fault(OpClose, l.name)
	if err := l.inner.Close(); ferr == nil {
		return err
	}
	return ferr
}

type file struct {
	fs    *FS
	name  string
	inner fs.File
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.fault(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.inner.ReadAt(p, off)
}

// WriteAt writes nothing on a fault, or half of p on a ShortWrite fault.
func (f *file) WriteAt(p []byte, off int64) (int, error) {
	ferr := f.fs.fault(OpWrite, f.name)
	if ferr == nil {
		return f.inner.WriteAt(p, off)
	}
	var short *ShortWrite
	if !errors.As(ferr, &short) {
		return 0, ferr
	}
	n, err := f.inner.WriteAt(p[:len(p)/2], off)
	if err != nil {
		return n, err
	}
	return n, ferr
}

// Sync on a fault returns without syncing the wrapped file: its data stays
// as volatile as a failed fdatasync leaves it.
func (f *file) Sync() error {
	if err := f.fs.fault(OpSync, f.name); err != nil {
		return err
	}
	return f.inner.Sync()
}

func (f *file) Truncate(size int64) error {
	if err := f.fs.fault(OpTruncate, f.name); err != nil {
		return err
	}
	return f.inner.Truncate(size)
}

func (f *file) Size() (int64, error) {
	if err := f.fs.fault(OpStat, f.name); err != nil {
		return 0, err
	}
	return f.inner.Size()
}

// Close closes the wrapped file even on a fault, as close(2) frees the
// descriptor even when it reports an error.
func (f *file) Close() error {
	ferr := f.fs.fault(OpClose, f.name)
	if err := f.inner.Close(); ferr == nil {
		return err
	}
	return ferr
}
