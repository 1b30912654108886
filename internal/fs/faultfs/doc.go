// Package faultfs wraps an fs.FS and makes chosen operations fail, so that
// tests can drive the log engine through short writes, fsync errors, a full
// disk or a lock that will not come.
//
// # Use
//
// Wrap the file system the engine is given, usually an fs.Mem, and decide
// through an [Injector] which calls fail and with what error:
//
//	mem := fs.NewMem()
//	var sw faultfs.Switch
//	fsys := faultfs.New(mem, &sw)
//	// ... open the engine on fsys, append ...
//	sw.Set(faultfs.OnOp(faultfs.OpSync, syscall.EIO))
//	// ... append: the engine must report the failure, not acknowledge ...
//	sw.Clear()
//	mem.Crash()
//
// Injectors compose: [OnOp] picks an operation and an error, [PathContains],
// [Nth] and [Random] narrow another injector down, [Any] joins several, and
// [Switch] turns one on and off while the engine runs.
//
// # What a fault does
//
// A failed call does not reach the wrapped file system, so a failed Sync
// leaves the data as undurable as it was, and a crash of an fs.Mem loses it.
// Two exceptions mirror the kernel: a write failing with a [ShortWrite]
// error first writes a prefix of its bytes, and a failed Close still closes
// the wrapped file, since close(2) releases the descriptor even when it
// reports an error.
//
// Injected errors come back inside an *os.PathError naming the operation and
// path, so errors.Is(err, syscall.ENOSPC) holds for a test that injected
// syscall.ENOSPC.
//
// This package is test support: nothing outside tests should import it.
package faultfs
