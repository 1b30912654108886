package fs

import (
	"errors"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// OS returns the FS of the host, backed by package os. Names are host paths.
func OS() FS { return osFS{} }

type osFS struct{}

// openFlags are the flags every read-write open uses. Files are never opened
// with O_APPEND: WriteAt needs explicit offsets, which O_APPEND forbids.
const openFlags = os.O_RDWR

func (osFS) Create(name string) (File, error) {
	return openOS(name, openFlags|os.O_CREATE|os.O_TRUNC)
}

func (osFS) OpenFile(name string) (File, error) { return openOS(name, openFlags) }

func (osFS) Open(name string) (File, error) { return openOS(name, os.O_RDONLY) }

func openOS(name string, flag int) (File, error) {
	f, err := os.OpenFile(name, flag, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error                 { return os.Remove(name) }
func (osFS) RemoveAll(name string) error              { return os.RemoveAll(name) }
func (osFS) Rename(oldname, newname string) error     { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(dir string) error                { return os.MkdirAll(dir, 0o755) }
func (osFS) Stat(name string) (size int64, err error) { return statSize(name) }

func statSize(name string) (int64, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (osFS) ReadDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	slices.Sort(names) // os.ReadDir sorts today; the contract should not rest on it.
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	// A directory's entries are metadata, which fdatasync may skip: use a
	// full fsync here.
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Lock takes flock(LOCK_EX|LOCK_NB) on name. flock locks belong to an open
// file description, so two Lock calls in one process conflict just as two
// processes do, and the kernel drops the lock when the holder dies: a stale
// lock file left by a crash never blocks a restart.
func (osFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	err = withFd(f, func(fd int) error { return unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) })
	if err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			err = lockedBy(f)
		}
		f.Close()
		return nil, &os.PathError{Op: "lock", Path: name, Err: err}
	}
	// The PID is only a hint for the error a second broker prints.
	if err := writePID(f); err != nil {
		f.Close()
		return nil, err
	}
	return osLock{f}, nil
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// lockedBy returns ErrLocked, naming the holder's PID when the lock file
// says which process it is.
func lockedBy(f *os.File) error {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return ErrLocked
	}
	return &lockedError{pid: pid}
}

type lockedError struct{ pid int }

func (e *lockedError) Error() string {
	return ErrLocked.Error() + " (held by pid " + strconv.Itoa(e.pid) + ")"
}

func (e *lockedError) Unwrap() error { return ErrLocked }

type osLock struct{ f *os.File }

// Close unlocks explicitly rather than relying on close(2) alone, so the
// lock is released even if the descriptor was somehow duplicated.
func (l osLock) Close() error {
	err := withFd(l.f, func(fd int) error { return unix.Flock(fd, unix.LOCK_UN) })
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// osFile narrows *os.File to File, so callers cannot reach for Seek, Write
// or a raw descriptor behind the interface's back.
type osFile struct{ f *os.File }

func (f osFile) ReadAt(p []byte, off int64) (int, error)  { return f.f.ReadAt(p, off) }
func (f osFile) WriteAt(p []byte, off int64) (int, error) { return f.f.WriteAt(p, off) }
func (f osFile) Close() error                             { return f.f.Close() }
func (f osFile) Truncate(size int64) error                { return f.f.Truncate(size) }

func (f osFile) Size() (int64, error) {
	fi, err := f.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (f osFile) Sync() error {
	err := withFd(f.f, datasync)
	if err != nil {
		return &os.PathError{Op: "fdatasync", Path: f.f.Name(), Err: err}
	}
	return nil
}

// withFd runs fn on f's descriptor, retrying on EINTR. It goes through
// SyscallConn rather than Fd so that a concurrent Close cannot recycle the
// descriptor while fn uses it.
func withFd(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	err = rc.Control(func(fd uintptr) {
		for {
			opErr = fn(int(fd))
			if opErr != syscall.EINTR {
				return
			}
		}
	})
	if err != nil {
		// Control fails only when f is closed, and says so with an
		// internal poll error; report it the way package os does.
		return os.ErrClosed
	}
	return opErr
}
