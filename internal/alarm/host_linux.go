package alarm

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// DiskFree returns the bytes an unprivileged process may still write to the
// file system holding dir (f_bavail, not f_bfree: the root reserve is of no
// use to Loft).
func DiskFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("alarm: statfs %s: %w", dir, err)
	}
	// Bsize is int32 on some 32-bit platforms; the product fits in int64
	// for any file system smaller than 8 EiB.
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// TotalMemory returns the host's physical memory, MemTotal in
// /proc/meminfo. A container's memory limit is not consulted: give an
// absolute memory watermark there.
func TotalMemory() (int64, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("alarm: total memory: %w", err)
	}
	return parseMemTotal(data)
}

// parseMemTotal finds the line "MemTotal:   16314284 kB"; the kernel
// always reports it in kB, meaning KiB.
func parseMemTotal(meminfo []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 2 || string(f[0]) != "MemTotal:" {
			continue
		}
		kb, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil || kb <= 0 || (len(f) > 2 && string(f[2]) != "kB") {
			return 0, fmt.Errorf("alarm: total memory: bad /proc/meminfo line %q", sc.Text())
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("alarm: total memory: no MemTotal in /proc/meminfo")
}
