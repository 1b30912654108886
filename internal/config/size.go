package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/loftmq/loft/internal/alarm"
)

// Sizes are written as RabbitMQ 3.13 writes them (and Kubernetes): a whole
// number of bytes with an optional unit, case-insensitive. One letter or a
// B after it (k, kB, M, MB) is a power of 1000; an i (Ki, KiB, Mi, MiB) a
// power of 1024. A bare B means bytes. Fractions such as 1.5GB are
// refused, as RabbitMQ does.
var sizeUnits = []struct {
	name  string // as printed by formatSize
	alias string // the other spelling accepted, besides any case
	mult  int64
}{
	{"PiB", "Pi", 1 << 50},
	{"PB", "P", 1e15},
	{"TiB", "Ti", 1 << 40},
	{"TB", "T", 1e12},
	{"GiB", "Gi", 1 << 30},
	{"GB", "G", 1e9},
	{"MiB", "Mi", 1 << 20},
	{"MB", "M", 1e6},
	{"KiB", "Ki", 1 << 10},
	{"kB", "k", 1e3},
	{"B", "", 1},
}

const sizeSyntax = "want a whole number of bytes with an optional unit, e.g. 50MB or 2GiB" +
	" (kB, MB, GB, TB, PB are powers of 1000; KiB, MiB, GiB, TiB, PiB powers of 1024)"

// parseSize parses a size; unit reports whether s had one.
func parseSize(s string) (n int64, unit bool, err error) {
	digits := strings.TrimRight(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
	suffix := s[len(digits):]
	mult := int64(1)
	if suffix != "" {
		mult = 0
		for _, u := range sizeUnits {
			if strings.EqualFold(suffix, u.name) || (u.alias != "" && strings.EqualFold(suffix, u.alias)) {
				mult = u.mult
				break
			}
		}
	}
	if mult == 0 || digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, false, fmt.Errorf("%q: %s", s, sizeSyntax)
	}
	n, err = strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, false, fmt.Errorf("%q is too large: the most is 8EiB", s)
	}
	return n * mult, suffix != "", nil
}

// formatSize writes n in the largest unit that divides it exactly, so that
// parseSize reads back the same number: 50000000 is 50MB, 1073741824 is
// 1GiB.
func formatSize(n int64) string {
	if n == 0 {
		return "0"
	}
	for _, u := range sizeUnits {
		if n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	panic("unreachable: every number is a multiple of 1B")
}

// totalMemory is the host's physical memory, read once: it does not change
// while the process runs.
var totalMemory = sync.OnceValues(alarm.TotalMemory)

// parseWatermark parses a memory high watermark: a fraction of total
// memory in [0, 1] written without a unit, as RabbitMQ's
// vm_memory_high_watermark.relative, or a size with a unit, as its
// vm_memory_high_watermark.absolute. A unit is required for a size because
// a bare 1 could otherwise mean all of memory or one byte. 0 disables the
// alarm. total is called only for a non-zero fraction.
func parseWatermark(s string, total func() (int64, error)) (int64, error) {
	if n, unit, err := parseSize(s); err == nil && unit {
		return n, nil
	}
	if s == "" || strings.Trim(s, "0123456789.") != "" {
		return 0, fmt.Errorf("%q: want a fraction of physical memory such as 0.4, or a size with a unit such as 2GiB; "+
			"sizes: %s", s, strings.TrimPrefix(sizeSyntax, "want "))
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f > 1 {
		example := "2GiB"
		if !strings.Contains(s, ".") {
			example = s + "B or " + example
		}
		return 0, fmt.Errorf("%q: a number without a unit is a fraction of physical memory and must be in [0, 1];"+
			" give an absolute size with a unit, e.g. %s", s, example)
	}
	if f == 0 {
		return 0, nil
	}
	mem, err := total()
	if err != nil {
		if errors.Is(err, alarm.ErrUnsupported) {
			return 0, fmt.Errorf("%q: physical memory is unknown on this platform: give an absolute size such as 2GiB", s)
		}
		return 0, fmt.Errorf("%q: give an absolute size such as 2GiB: %w", s, err)
	}
	// A fraction too small to be a single byte still means "alarm", not
	// the 0 that disables it.
	return max(1, int64(f*float64(mem))), nil
}

// defaultMemoryHighWatermark resolves DefaultMemoryHighWatermark, or is 0,
// the alarm disabled, where physical memory is unknown.
func defaultMemoryHighWatermark() int64 {
	n, err := parseWatermark(DefaultMemoryHighWatermark, totalMemory)
	if err != nil {
		return 0
	}
	return n
}
