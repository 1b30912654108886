package logstore

import "errors"

// Errors returned by the engine, often wrapped with details.
var (
	// ErrCorrupt reports bytes that are not a valid batch: on Append, a
	// malformed batch or a wrong CRC; on Read, damage found on disk.
	ErrCorrupt = errors.New("logstore: corrupt batch")
	// ErrOffsetOutOfRange reports a read or lookup outside
	// [StartOffset, HighWatermark].
	ErrOffsetOutOfRange = errors.New("logstore: offset out of range")
	// ErrClosed reports use of a closed log or store.
	ErrClosed = errors.New("logstore: closed")
	// ErrExists reports creating a log that exists.
	ErrExists = errors.New("logstore: log exists")
	// ErrNotFound reports a log that does not exist.
	ErrNotFound = errors.New("logstore: log not found")
	// ErrBadName reports a log name that is not a safe directory name.
	ErrBadName = errors.New("logstore: bad log name")
)
