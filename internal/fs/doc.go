// Package fs is the only way Loft's storage engine touches files.
//
// The log engine never calls package os directly. It works through [FS] and
// [File], so that the same code runs against the host's disk ([OS]), an
// in-memory disk that models power loss ([Mem]), and the fault-injecting
// wrapper in package faultfs. Durability bugs are then testable without
// pulling a plug.
//
// # Durable versus volatile
//
// Every change an implementation accepts is visible at once to every reader,
// but survives a power loss only once it has been made durable:
//
//   - a file's contents and size, by [File.Sync] (fdatasync on Linux);
//   - a directory's entries (files created, removed or renamed in it, and
//     subdirectories made in it), by [FS.SyncDir] on that directory.
//
// Syncing a file does not make its name durable, and syncing a directory does
// not make the contents of its files durable: a new segment needs both.
// [Mem] enforces exactly this contract, and [Mem.Crash] shows what a caller
// that skipped a step would lose.
//
// # Locking
//
// [FS.Lock] guards a data directory against a second broker: flock(2) for
// [OS], a table of held names for [Mem].
//
// # What this package must not do
//
// It knows nothing of logs, segments, records or protocols, and it neither
// retries nor hides errors: the storage engine decides what a failed write
// or sync means. Errors keep the shape package os gives them (an
// *os.PathError around the cause), so errors.Is(err, io/fs.ErrNotExist) and
// errors.Is(err, syscall.ENOSPC) hold whichever implementation produced them.
package fs
