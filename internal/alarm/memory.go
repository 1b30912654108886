package alarm

import "runtime/metrics"

// The runtime/metrics names MemoryUsed reads. total counts every byte the
// runtime has mapped; released is heap it has returned to the OS but keeps
// address space for, which costs the host nothing.
const (
	metricTotal    = "/memory/classes/total:bytes"
	metricReleased = "/memory/classes/heap/released:bytes"
)

// MemoryUsed returns the bytes of memory the Go runtime has mapped from the
// operating system and not released back to it. For a pure Go process it
// is close to, and at most a little above, the resident set: it counts
// mapped pages not yet touched, and misses only what C code allocates.
func MemoryUsed() int64 {
	s := []metrics.Sample{{Name: metricTotal}, {Name: metricReleased}}
	metrics.Read(s)
	total, released := uint64Value(s[0]), uint64Value(s[1])
	if released > total {
		return 0
	}
	return int64(total - released)
}

// uint64Value is 0 for a metric this runtime does not know, which leaves
// the memory alarm down rather than raising it on a misreading.
func uint64Value(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s.Value.Uint64()
}
