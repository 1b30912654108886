package fs

import (
	"errors"
	"io"
)

// File is an open file. Offsets are explicit: the log engine always knows
// where it writes, so no call depends on a shared seek position and a File
// may be used from several goroutines at once.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer

	// Sync makes the file's data (and the size it needs to reach that data)
	// durable: fdatasync on Linux. Until Sync returns nil, a power loss may
	// drop any write made through any handle of this file.
	Sync() error
	// Truncate sets the file's size; the change is durable after Sync.
	Truncate(size int64) error
	// Size returns the file's current size, including unsynced writes.
	Size() (int64, error)
}

// FS is the file system the log engine works through. Paths are
// slash-separated and interpreted by the implementation; OS uses them as
// ordinary host paths.
type FS interface {
	// Create creates the named file, or truncates it if it exists, and opens
	// it for reading and writing. The new directory entry is durable only
	// after SyncDir of its directory.
	Create(name string) (File, error)
	// OpenFile opens an existing file for reading and writing.
	OpenFile(name string) (File, error)
	// Open opens an existing file for reading only.
	Open(name string) (File, error)
	// Remove removes a file or an empty directory; durable after SyncDir.
	Remove(name string) error
	// RemoveAll removes a directory and everything below it.
	RemoveAll(name string) error
	// Rename atomically replaces newname with oldname; durable after SyncDir
	// of the directory (or directories) involved.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and any missing parents.
	MkdirAll(dir string) error
	// ReadDir lists the names of the entries of dir, sorted.
	ReadDir(dir string) ([]string, error)
	// Stat returns the size of the named file.
	Stat(name string) (size int64, err error)
	// SyncDir makes the creations, removals and renames of entries in dir
	// durable.
	SyncDir(dir string) error
	// Lock takes an exclusive lock on the named file, creating it if needed.
	// It fails with ErrLocked, wrapped, when another holder has it: another
	// process for OS, another Lock call for in-memory file systems.
	Lock(name string) (io.Closer, error)
}

// Errors returned by implementations, wrapped with the path concerned.
var (
	// ErrLocked reports that a lock is held by someone else.
	ErrLocked = errors.New("fs: locked by another holder")
)
