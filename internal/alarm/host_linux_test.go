package alarm

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestRealDiskAlarm watches a real file system with a limit no disk can
// meet, so the alarm must be raised by Start's first check.
func TestRealDiskAlarm(t *testing.T) {
	dir := t.TempDir()
	free, err := DiskFree(dir)
	if err != nil {
		t.Fatalf("DiskFree(%s): %v", dir, err)
	}
	if free <= 0 {
		t.Errorf("DiskFree(%s) = %d, want positive", dir, free)
	}
	m := Start(Config{Dir: dir, DiskFreeLimit: 1 << 62, Logger: slog.New(slog.DiscardHandler)})
	defer m.Close()
	if got := m.Active(); !slices.Equal(got, []Resource{Disk}) {
		t.Errorf("Active() = %v, want [disk]", got)
	}
}

func TestDiskFreeMissingDir(t *testing.T) {
	_, err := DiskFree(t.TempDir() + "/missing")
	if !errors.Is(err, syscall.ENOENT) || !strings.HasPrefix(err.Error(), "alarm: ") {
		t.Errorf("DiskFree(missing) = %v, want an alarm: error wrapping ENOENT", err)
	}
}

func TestTotalMemory(t *testing.T) {
	n, err := TotalMemory()
	if err != nil {
		t.Fatal(err)
	}
	if n < 64<<20 {
		t.Errorf("TotalMemory() = %d, want at least 64MiB", n)
	}
}

func TestParseMemTotal(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"MemTotal:       16314284 kB\nMemFree:  1 kB\n", 16314284 << 10, false},
		{"MemFree:  1 kB\nMemTotal: 1024 kB\n", 1 << 20, false},
		{"MemTotal: 1024\n", 1 << 20, false},
		{"MemFree:  1 kB\n", 0, true},
		{"MemTotal: lots kB\n", 0, true},
		{"MemTotal: 1024 MB\n", 0, true},
		{"MemTotal: 0 kB\n", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := parseMemTotal([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseMemTotal(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
