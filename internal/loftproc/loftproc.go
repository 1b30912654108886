package loftproc

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles cmd/loft into dir and returns the binary's path.
func Build(dir string) (string, error) {
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(here), "..", "..")
	bin := filepath.Join(dir, "loft")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/loft")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("loftproc: build loft: %v\n%s", err, out)
	}
	return bin, nil
}

// Process is a running `loft serve`.
type Process struct {
	Kafka string // the Kafka listener's address
	AMQP  string // the AMQP listener's address
	HTTP  string // the HTTP listener's address
	cmd   *exec.Cmd
	log   *syncBuffer

	exited  chan struct{} // closed when the process has ended
	waitErr error         // how it ended; read after exited is closed
	killed  bool          // Kill ended the process: stop has nothing to check
}

// Start runs bin serve on dataDir, with the Kafka, AMQP and HTTP listeners
// on ports the kernel picks (read back from the "listening" log lines, so
// two tests can never be handed the same port), plus args, and waits up to
// 15 s for /readyz. When tb ends, the process gets SIGTERM and must exit 0
// within 15 s; its log is printed if the test failed.
func Start(tb testing.TB, bin, dataDir string, args ...string) *Process {
	tb.Helper()
	p := &Process{log: &syncBuffer{}, exited: make(chan struct{})}
	const kernelPicks = "127.0.0.1:0"
	all := append([]string{"serve", "--data-dir", dataDir,
		"--kafka-addr", kernelPicks, "--amqp-addr", kernelPicks, "--http-addr", kernelPicks}, args...)
	p.cmd = exec.Command(bin, all...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() { p.stop(tb) })
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-p.exited:
			tb.Fatalf("loft exited before it was ready: %v", p.waitErr)
		default:
		}
		if p.HTTP == "" || p.AMQP == "" || p.Kafka == "" {
			p.readAddrs()
		} else if resp, err := http.Get("http://" + p.HTTP + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("loft not ready within 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readAddrs fills in the listeners' addresses from the log lines
// "msg=listening proto=P addr=A" written so far.
func (p *Process) readAddrs() {
	for _, line := range strings.Split(p.log.String(), "\n") {
		if !strings.Contains(line, "msg=listening ") {
			continue
		}
		var proto, addr string
		for _, field := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(field, "proto="); ok {
				proto = v
			} else if v, ok := strings.CutPrefix(field, "addr="); ok {
				addr = v
			}
		}
		switch proto {
		case "kafka":
			p.Kafka = addr
		case "amqp":
			p.AMQP = addr
		case "http":
			p.HTTP = addr
		}
	}
}

// Kill ends the process with SIGKILL, as a crash or power loss would from
// the broker's point of view, and waits for it to be gone.
func (p *Process) Kill() {
	if p.killed {
		return
	}
	p.killed = true
	p.cmd.Process.Kill()
	<-p.exited
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Log returns what the process has written so far.
func (p *Process) Log() string { return p.log.String() }

func (p *Process) stop(tb testing.TB) {
	if p.killed {
		if tb.Failed() {
			tb.Logf("loft log:\n%s", p.log.String())
		}
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.waitErr != nil {
			tb.Errorf("loft exited with %v", p.waitErr)
		}
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		tb.Errorf("loft did not stop within 15 s of SIGTERM")
	}
	if tb.Failed() {
		tb.Logf("loft log:\n%s", p.log.String())
	}
}

// syncBuffer collects a process's output from two writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Main builds the binary into a temporary directory, runs the tests with
// its path, and removes it: for a package's TestMain.
func Main(m *testing.M, dir string, bin *string) {
	tmp, err := os.MkdirTemp(dir, "loft-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *bin, err = Build(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}
