package fs

import (
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
)

// memFile is a handle on a Mem file. closed is guarded by m.mu; the other
// fields never change.
type memFile struct {
	m        *Mem
	name     string
	n        *node
	gen      uint64
	writable bool
	closed   bool
}

// newHandle must be called with m.mu held.
func (m *Mem) newHandle(name string, n *node, writable bool) *memFile {
	return &memFile{m: m, name: name, n: n, gen: m.gen, writable: writable}
}

// check reports why the handle cannot be used for op; m.mu must be held.
func (f *memFile) check(op string, write bool) error {
	var err error
	switch {
	case f.gen != f.m.gen:
		err = ErrCrashed
	case f.closed:
		err = os.ErrClosed
	case write && !f.writable:
		err = syscall.EBADF
	default:
		return nil
	}
	return &os.PathError{Op: op, Path: f.name, Err: err}
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &os.PathError{Op: "readat", Path: f.name, Err: errors.New("negative offset")}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &os.PathError{Op: "writeat", Path: f.name, Err: errors.New("negative offset")}
	}
	f.n.writeAt(p, int(off))
	return len(p), nil
}

func (f *memFile) Truncate(size int64) error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return &os.PathError{Op: "truncate", Path: f.name, Err: syscall.EINVAL}
	}
	f.n.setSize(int(size))
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("stat", false); err != nil {
		return 0, err
	}
	return int64(len(f.n.data)), nil
}

// Sync is allowed on a read-only handle, as fsync(2) is.
func (f *memFile) Sync() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("sync", false); err != nil {
		return err
	}
	f.n.sync()
	return nil
}

func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("close", false); err != nil {
		return err
	}
	f.closed = true
	return nil
}

// sync makes the current contents durable without copying them.
func (n *node) sync() {
	n.durable = n.data[:len(n.data):len(n.data)]
	n.shared = true
}

// own gives data its own bytes before a change at off that would otherwise
// show through durable.
func (n *node) own(off int) {
	if n.shared && off < len(n.durable) {
		n.data = slices.Clone(n.data)
		n.shared = false
	}
}

func (n *node) writeAt(p []byte, off int) {
	if end := off + len(p); end > len(n.data) {
		n.setSize(end)
	}
	n.own(off)
	copy(n.data[off:], p)
}

// setSize truncates or zero-extends the file.
func (n *node) setSize(size int) {
	old := len(n.data)
	if size <= old {
		n.data = n.data[:size]
		return
	}
	n.own(old) // the bytes past old may still be durable's, after a truncate
	n.data = slices.Grow(n.data, size-old)[:size]
	clear(n.data[old:])
}

// Lock holds name until the returned Closer is closed or the Mem crashes. It
// creates name, like flock on a file opened with O_CREATE, as an unsynced
// entry.
func (m *Mem) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.create("open", name); err != nil {
		return nil, err
	}
	l := &memLock{m: m, name: name, key: strings.Join(split(name), "/"), gen: m.gen}
	if _, held := m.locks[l.key]; held {
		return nil, &os.PathError{Op: "lock", Path: name, Err: ErrLocked}
	}
	m.locks[l.key] = struct{}{}
	return l, nil
}

type memLock struct {
	m         *Mem
	name, key string
	gen       uint64
	closed    bool
}

func (l *memLock) Close() error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	switch {
	case l.gen != l.m.gen:
		return &os.PathError{Op: "unlock", Path: l.name, Err: ErrCrashed}
	case l.closed:
		return &os.PathError{Op: "unlock", Path: l.name, Err: os.ErrClosed}
	}
	l.closed = true
	delete(l.m.locks, l.key)
	return nil
}
