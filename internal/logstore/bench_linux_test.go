//go:build linux

package logstore

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/fs"
)

// BenchmarkFsyncCPU measures what one write and fdatasync costs the
// process in CPU time (user+system, cpu-µs/op) and in wall time, when the
// write appends to the file and when it overwrites space written and
// synced before. Appending changes the file's size, so every fdatasync
// also commits metadata; overwriting does not. This is the measurement
// behind the preallocation idea in docs/BENCHMARKS.md.
func BenchmarkFsyncCPU(b *testing.B) {
	for _, mode := range []string{"append", "overwrite"} {
		for _, size := range []int{4 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("write=%s/size=%dKiB", mode, size>>10), func(b *testing.B) {
				f, err := fs.OS().Create(filepath.Join(benchDir(b), "fsynccpu"))
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				buf := make([]byte, size)
				rand.NewChaCha8([32]byte{4}).Read(buf)
				if mode == "overwrite" {
					zeros := make([]byte, 1<<20)
					for pos := int64(0); pos < int64(b.N*size); pos += int64(len(zeros)) {
						if _, err := f.WriteAt(zeros, pos); err != nil {
							b.Fatal(err)
						}
					}
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
				}
				cpu0 := processCPU()
				b.ResetTimer()
				for i := range b.N {
					if _, err := f.WriteAt(buf, int64(i*size)); err != nil {
						b.Fatal(err)
					}
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
