package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/loftmq/loft/internal/config"
)

func TestVersionString(t *testing.T) {
	stamped := &debug.BuildInfo{
		Main: debug.Module{Version: "v0.3.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	unstamped := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
	gov := runtime.Version()
	tests := []struct {
		name            string
		version, commit string
		info            *debug.BuildInfo
		want            string
	}{
		{"ldflags win", "v1.2.3", "abc1234", stamped, "loft v1.2.3 (commit abc1234, " + gov + ")"},
		{"build info fallback", "dev", "unknown", stamped, "loft v0.3.0 (commit 0123456789ab-dirty, " + gov + ")"},
		{"nothing known", "dev", "unknown", unstamped, "loft dev (commit unknown, " + gov + ")"},
		{"no build info", "dev", "unknown", nil, "loft dev (commit unknown, " + gov + ")"},
	}
	for _, tt := range tests {
		if got := versionString(tt.version, tt.commit, tt.info); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestNewLogger(t *testing.T) {
	cfg := config.Default()
	cfg.LogLevel, cfg.LogFormat = "warn", "json"
	var buf bytes.Buffer
	logger := newLogger(&buf, cfg)
	logger.Info("hidden")
	logger.Warn("shown", "k", 1)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("want exactly one JSON record, got %q: %v", buf.String(), err)
	}
	if rec["msg"] != "shown" || rec["level"] != "WARN" {
		t.Errorf("record = %v", rec)
	}

	cfg.LogLevel, cfg.LogFormat = "debug", "text"
	buf.Reset()
	newLogger(&buf, cfg).Debug("visible")
	if !strings.Contains(buf.String(), "level=DEBUG msg=visible") {
		t.Errorf("text debug log = %q", buf.String())
	}
}

func TestRunExitStatus(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	tests := []struct {
		args       []string
		wantStatus int
		wantOut    string
		wantErr    string
	}{
		{[]string{"version"}, 0, "loft ", ""},
		{[]string{"--help"}, 0, "serve", ""},
		{[]string{"serve", "--log-level", "loud"}, 1, "", `loft: invalid argument "loud" for "--log-level"`},
		{[]string{"serve", "--fsync", "sometimes"}, 1, "", "loft: "},
		{[]string{"serve", "extra-arg"}, 1, "", "loft: unknown command"},
		{[]string{"frobnicate"}, 1, "", `loft: unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		status := run(context.Background(), tt.args, &out, &errOut, noEnv)
		if status != tt.wantStatus || !strings.Contains(out.String(), tt.wantOut) || !strings.Contains(errOut.String(), tt.wantErr) {
			t.Errorf("loft %v: status %d, stdout %q, stderr %q; want %d, stdout with %q, stderr with %q",
				tt.args, status, out.String(), errOut.String(), tt.wantStatus, tt.wantOut, tt.wantErr)
		}
	}
}
