//go:build !linux

package fs

import "golang.org/x/sys/unix"

// datasync falls back to fsync where fdatasync is missing; it is stronger,
// only slower.
func datasync(fd int) error { return unix.Fsync(fd) }
