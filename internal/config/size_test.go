package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/loftmq/loft/internal/alarm"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		unit    bool
		wantErr string
	}{
		{"0", 0, false, ""},
		{"500000000", 500_000_000, false, ""},
		{"123B", 123, true, ""},
		{"50MB", 50_000_000, true, ""},
		{"50mb", 50_000_000, true, ""},
		{"50M", 50_000_000, true, ""},
		{"1kB", 1000, true, ""},
		{"1KB", 1000, true, ""},
		{"1k", 1000, true, ""},
		{"1GB", 1_000_000_000, true, ""},
		{"2GiB", 2 << 30, true, ""},
		{"2gib", 2 << 30, true, ""},
		{"2Gi", 2 << 30, true, ""},
		{"3KiB", 3 << 10, true, ""},
		{"4MiB", 4 << 20, true, ""},
		{"1TB", 1e12, true, ""},
		{"1TiB", 1 << 40, true, ""},
		{"1PiB", 1 << 50, true, ""},
		{"8191PiB", 8191 << 50, true, ""},

		{"", 0, false, "want a whole number"},
		{"MB", 0, false, "want a whole number"},
		{"1.5GB", 0, false, "want a whole number"},
		{"-1", 0, false, "want a whole number"},
		{"+1", 0, false, "want a whole number"},
		{" 1MB", 0, false, "want a whole number"},
		{"1 MB", 0, false, "want a whole number"},
		{"1XB", 0, false, "want a whole number"},
		{"1MBB", 0, false, "want a whole number"},
		{"1iB", 0, false, "want a whole number"},
		{"0x10", 0, false, "want a whole number"},
		{"8192PiB", 0, false, "too large"},
		{"99999999999999999999", 0, false, "too large"},
	}
	for _, tt := range tests {
		n, unit, err := parseSize(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseSize(%q) = %d, %v; want error containing %q", tt.in, n, err, tt.wantErr)
			}
			continue
		}
		if err != nil || n != tt.want || unit != tt.unit {
			t.Errorf("parseSize(%q) = %d, %v, %v; want %d, %v", tt.in, n, unit, err, tt.want, tt.unit)
		}
	}
}

func TestFormatSize(t *testing.T) {
	tests := map[int64]string{
		0:              "0",
		1:              "1B",
		999:            "999B",
		1000:           "1kB",
		1024:           "1KiB",
		50_000_000:     "50MB",
		2 << 30:        "2GiB",
		1000 << 20:     "1000MiB",
		1_500_000_000:  "1500MB",
		6871947673:     "6871947673B",
		int64(1) << 62: "4096PiB",
	}
	for n, want := range tests {
		got := formatSize(n)
		if got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
		if back, _, err := parseSize(got); err != nil || back != n {
			t.Errorf("parseSize(formatSize(%d)) = %d, %v", n, back, err)
		}
	}
}

func TestParseWatermark(t *testing.T) {
	total := int64(16 << 30)
	known := func() (int64, error) { return total, nil }
	unknown := func() (int64, error) { return 0, alarm.ErrUnsupported }
	broken := func() (int64, error) { return 0, errors.New("alarm: total memory: no MemTotal") }
	tests := []struct {
		in      string
		total   func() (int64, error)
		want    int64
		wantErr string
	}{
		{"0.4", known, int64(0.4 * float64(total)), ""},
		{"1", known, total, ""},
		{"1.0", known, total, ""},
		{".5", known, total / 2, ""},
		{"0", known, 0, ""},
		{"0.0", unknown, 0, ""}, // disabling needs no memory size
		{"2GiB", unknown, 2 << 30, ""},
		{"1GB", known, 1e9, ""},
		{"512B", known, 512, ""},
		{"0.000000000001", known, 1, ""},

		{"1.5", known, 0, "must be in [0, 1]; give an absolute size with a unit, e.g. 2GiB"},
		{"2", known, 0, "e.g. 2B or 2GiB"},
		{"-0.4", known, 0, "such as 0.4"},
		{"1e-1", known, 0, "such as 0.4"},
		{"NaN", known, 0, "such as 0.4"},
		{"", known, 0, "such as 0.4"},
		{"0.4GB", known, 0, "such as 0.4"},
		{"1..2", known, 0, "must be in [0, 1]"},
		{"0.4", unknown, 0, "physical memory is unknown on this platform"},
		{"0.4", broken, 0, "no MemTotal"},
	}
	for _, tt := range tests {
		got, err := parseWatermark(tt.in, tt.total)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseWatermark(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseWatermark(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}
