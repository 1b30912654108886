package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/config"
	"github.com/loftmq/loft/internal/fs"
)

// testConfig listens on a kernel-chosen loopback port and opens no
// listener that does not exist yet.
func testConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.KafkaAddr, cfg.AMQPAddr = "", ""
	return cfg
}

// running is a server started by start, with Run's result on done.
type running struct {
	*Server
	cancel context.CancelFunc
	done   chan error
}

// start runs a server and waits, bounded, until it is ready.
func start(t *testing.T, cfg config.Config) *running {
	t.Helper()
	return startOn(t, cfg, nil)
}

// stop cancels the server and returns Run's result, bounded.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(ShutdownTimeout + 5*time.Second):
		t.Fatal("Run did not return after cancel")
		return nil
	}
}

// runOnce runs a server expected to fail at startup and returns its error.
func runOnce(t *testing.T, cfg config.Config) error {
	t.Helper()
	srv, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
		t.Fatal("server became ready, want a startup error")
	case err := <-done:
		return err
	}
	return nil
}

var client = &http.Client{Timeout: 5 * time.Second}

func get(t *testing.T, addr net.Addr, path string) (int, string) {
	t.Helper()
	resp, err := client.Get("http://" + addr.String() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

func TestRunServesHealthAndStopsCleanly(t *testing.T) {
	cfg := testConfig(t)
	r := start(t, cfg)
	addr := r.HTTPAddr()

	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, addr, path); code != http.StatusOK || body != "ok" {
			t.Errorf("GET %s = %d %q, want 200 \"ok\"", path, code, body)
		}
	}
	if code, _ := get(t, addr, "/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", code)
	}
	resp, err := client.Post("http://"+addr.String()+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "LOCK")); err != nil {
		t.Errorf("LOCK: %v", err)
	}

	if err := r.stop(t); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	if c, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		c.Close()
		t.Error("HTTP listener still accepting after Run returned")
	}
	lock, err := fs.OS().Lock(filepath.Join(cfg.DataDir, "LOCK"))
	if err != nil {
		t.Fatalf("lock not released after Run returned: %v", err)
	}
	lock.Close()
}

func TestCreatesMissingDataDir(t *testing.T) {
	cfg := testConfig(t)
	cfg.DataDir = filepath.Join(t.TempDir(), "a", "b", "data")
	start(t, cfg)
	fi, err := os.Stat(cfg.DataDir)
	if err != nil || !fi.IsDir() {
		t.Fatalf("data dir after start: %v, %v", fi, err)
	}
}

func TestSecondServerOnSameDataDirFails(t *testing.T) {
	cfg := testConfig(t)
	start(t, cfg)

	begin := time.Now()
	err := runOnce(t, cfg)
	if err == nil {
		t.Fatal("second Run succeeded, want the data dir to be locked")
	}
	if time.Since(begin) > 2*time.Second {
		t.Errorf("second Run took %v to fail, want fast", time.Since(begin))
	}
	if !errors.Is(err, fs.ErrLocked) {
		t.Errorf("err = %v, want it to wrap fs.ErrLocked", err)
	}
	var inUse *DataDirInUseError
	if !errors.As(err, &inUse) || inUse.PID != os.Getpid() {
		t.Errorf("err = %#v, want a DataDirInUseError naming pid %d", err, os.Getpid())
	}
	want := fmt.Sprintf("data dir %s is in use by another loft process (pid %d): LOCK is held", cfg.DataDir, os.Getpid())
	if err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
}

func TestRestartOnExistingDataDir(t *testing.T) {
	cfg := testConfig(t)
	for i := range 3 {
		r := start(t, cfg)
		if code, _ := get(t, r.HTTPAddr(), "/readyz"); code != http.StatusOK {
			t.Fatalf("start %d: /readyz = %d", i, code)
		}
		if err := r.stop(t); err != nil {
			t.Fatalf("start %d: Run = %v", i, err)
		}
	}
}

func TestBusyPortIsStartupError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t)
	cfg.HTTPAddr = busy.Addr().String()

	err = runOnce(t, cfg)
	if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("Run = %v, want a bind error naming %s", err, busy.Addr())
	}
	// Startup failed after the lock was taken: it must have been released.
	cfg.HTTPAddr = "127.0.0.1:0"
	start(t, cfg)
}

func TestDisabledHTTPListener(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTPAddr = ""
	r := start(t, cfg)
	if r.HTTPAddr() != nil {
		t.Errorf("HTTPAddr = %v, want nil when disabled", r.HTTPAddr())
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTPAddr = "nonsense"
	if _, err := New(cfg, nil); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("New = %v, want config.ErrInvalid", err)
	}
}

func TestRunTwice(t *testing.T) {
	r := start(t, testConfig(t))
	if err := r.Run(context.Background()); !errors.Is(err, ErrRunTwice) {
		t.Fatalf("second Run = %v, want ErrRunTwice", err)
	}
}
