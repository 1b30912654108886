package interop

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

var loftBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "loft-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	loftBin = filepath.Join(dir, "loft")
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(here), "..", "..")
	build := exec.Command("go", "build", "-o", loftBin, "./cmd/loft")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build loft:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// need returns the path of an outside tool, skipping the test when it is
// missing, except in CI, where it is a failure.
func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; .ci/run must install it", tool)
		}
		t.Skipf("%s is not installed", tool)
	}
	return p
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// loft is a running `loft serve` process.
type loft struct {
	kafka string
	cmd   *exec.Cmd
	log   *os.File
}

// startLoft runs loft serve on a fresh data dir and waits until ready; the
// process is stopped with SIGTERM when the test ends.
func startLoft(t *testing.T) *loft {
	t.Helper()
	dir := t.TempDir()
	l := &loft{kafka: freePort(t)}
	httpAddr := freePort(t)
	logf, err := os.Create(filepath.Join(dir, "loft.log"))
	if err != nil {
		t.Fatal(err)
	}
	l.log = logf
	l.cmd = exec.Command(loftBin, "serve",
		"--data-dir", filepath.Join(dir, "data"),
		"--kafka-addr", l.kafka, "--amqp-addr", "", "--http-addr", httpAddr)
	l.cmd.Stdout, l.cmd.Stderr = logf, logf
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- l.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("loft exited with %v", err)
			}
		case <-time.After(15 * time.Second):
			l.cmd.Process.Kill()
			t.Errorf("loft did not stop within 15 s of SIGTERM")
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("loft log:\n%s", b)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("loft not ready within 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
