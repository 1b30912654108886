package main

// End-to-end tests: the real binary, as a child process, on loopback only.
// Every wait is bounded.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/syncbuf"
)

const (
	testVersion = "v0.0.0-e2e"
	testCommit  = "e2e1234"
)

// loftBin is the binary TestMain builds, with the version baked in the way
// the Makefile does it.
var loftBin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "loft-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		loftBin = filepath.Join(dir, "loft")
		args := []string{"build", "-o", loftBin,
			"-ldflags", "-X main.version=" + testVersion + " -X main.commit=" + testCommit}
		if raceEnabled {
			args = append(args, "-race")
		}
		// go test puts its own GOROOT/bin first in PATH: "go" is the go running this test.
		build := exec.Command("go", append(args, ".")...)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building loft:", err)
			return 1
		}
		return m.Run()
	}())
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// proc is a running loft process.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	done   chan struct{}
	err    error // Wait's result, valid once done is closed
}

// startLoft starts the binary with a clean environment: no LOFT_* variable
// of the caller leaks in, only env. The process is killed at cleanup if it
// is still running.
func startLoft(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(loftBin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LOFT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// The race runtime waits 1 s at exit by default for late reports;
	// races in a served process are reported as they happen.
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=50")
	cmd.Env = append(cmd.Env, env...)
	p := &proc{cmd: cmd, stderr: new(syncbuf.Buffer), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = io.Discard, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// exitCode waits up to timeout for the process to exit.
func (p *proc) exitCode(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("loft still running after %v; stderr:\n%s", timeout, p.stderr)
	}
	if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
		t.Errorf("data race in loft:\n%s", p.stderr)
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("loft: %v", p.err)
	}
	return 0
}

// stop sends sig and requires a clean exit within the shutdown bound.
func (p *proc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d after %v, want 0; stderr:\n%s", code, sig, p.stderr)
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitReady polls /readyz until 200, for at most 10 s.
func (p *proc) waitReady(t *testing.T, addr string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("loft exited before ready (%v); stderr:\n%s", p.err, p.stderr)
		default:
		}
		resp, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s/readyz not 200 after 10s; stderr:\n%s", addr, p.stderr)
}

// serveArgs are the flags for a server on dir and addr with the
// unbuilt listeners disabled.
func serveArgs(dir, addr string, extra ...string) []string {
	return append([]string{"serve", "--data-dir", dir, "--http-addr", addr,
		"--kafka-addr", "", "--amqp-addr", ""}, extra...)
}

func TestServeLifecycle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)

	first := startLoft(t, nil, serveArgs(dir, addr)...)
	first.waitReady(t, addr)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("data dir: %v", err)
	}

	second := startLoft(t, nil, serveArgs(dir, freeAddr(t))...)
	if code := second.exitCode(t, 5*time.Second); code == 0 {
		t.Fatal("second loft on the same data dir exited 0")
	}
	want := fmt.Sprintf("loft: data dir %s is in use by another loft process (pid %d): LOCK is held",
		dir, first.cmd.Process.Pid)
	if !strings.Contains(second.stderr.String(), want) {
		t.Errorf("second loft stderr:\n%s\nwant it to contain %q", second.stderr, want)
	}

	first.stop(t, syscall.SIGTERM)
	if strings.Contains(first.stderr.String(), "level=ERROR") {
		t.Errorf("errors logged during a clean run:\n%s", first.stderr)
	}

	again := startLoft(t, nil, serveArgs(dir, addr)...)
	again.waitReady(t, addr)
	again.stop(t, syscall.SIGINT)
}

func TestVersionCommand(t *testing.T) {
	out, err := exec.Command(loftBin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("loft %s (commit %s, %s)\n", testVersion, testCommit, runtime.Version())
	if string(out) != want {
		t.Errorf("loft version = %q, want %q", out, want)
	}
}

func TestEnvironmentIsHonoured(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	p := startLoft(t, []string{
		"LOFT_HTTP_ADDR=" + addr,
		"LOFT_DATA_DIR=" + dir,
		"LOFT_KAFKA_ADDR=",
		"LOFT_AMQP_ADDR=",
		"LOFT_LOG_FORMAT=json",
	}, "serve")
	p.waitReady(t, addr)
	if !fileExists(filepath.Join(dir, "LOCK")) {
		t.Errorf("LOFT_DATA_DIR ignored: no LOCK in %s", dir)
	}
	p.stop(t, syscall.SIGTERM)
	if !strings.HasPrefix(p.stderr.String(), "{") {
		t.Errorf("LOFT_LOG_FORMAT=json ignored; stderr:\n%s", p.stderr)
	}
}

func TestConfigFileIsHonoured(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "data")
	fileAddr, flagAddr := freeAddr(t), freeAddr(t)
	file := filepath.Join(tmp, "loft.yaml")
	yaml := fmt.Sprintf("data-dir: %s\nhttp-addr: %s\nkafka-addr: \"\"\namqp-addr: \"\"\nfsync: interval:100ms\n", dir, fileAddr)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}

	p := startLoft(t, []string{"LOFT_CONFIG=" + file}, "serve")
	p.waitReady(t, fileAddr)
	p.stop(t, syscall.SIGTERM)

	// A flag overrides the file that --config names.
	p = startLoft(t, nil, "serve", "--config", file, "--http-addr", flagAddr)
	p.waitReady(t, flagAddr)
	p.stop(t, syscall.SIGTERM)
}

func TestStartupErrorsExit1(t *testing.T) {
	tmp := t.TempDir()
	bad := filepath.Join(tmp, "bad.yaml")
	if err := os.WriteFile(bad, []byte("data-dir: "+tmp+"\nhttp-port: 8080\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown config key", []string{"serve", "--config", bad}, `unknown key "http-port"`},
		{"bad flag value", serveArgs(tmp, "127.0.0.1:0", "--fsync", "sometimes"), `"sometimes"`},
		{"port in use", serveArgs(filepath.Join(tmp, "d"), busy.Addr().String()), busy.Addr().String()},
	}
	for _, tt := range tests {
		p := startLoft(t, nil, tt.args...)
		code := p.exitCode(t, 10*time.Second)
		stderr := p.stderr.String()
		if code != 1 || !strings.Contains(stderr, "loft: ") || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant exit 1 and %q", tt.name, code, stderr, tt.want)
		}
	}
}
