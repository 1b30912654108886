package amqpbench

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// dataDir makes a fresh directory on the disk under test, removed when b
// ends (after the broker using it has stopped: cleanups run in reverse).
func dataDir(b *testing.B, prefix string) string {
	dir, err := os.MkdirTemp(benchDir(), prefix)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// proc is a broker process (or a helper such as epmd) started by a
// benchmark, in a process group of its own.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // path of its stdout and stderr
	done chan struct{}
	err  error // its exit, once done is closed
}

// startProc starts cmd with its output in logPath and stops it with
// SIGTERM when b ends, printing the end of its log if b failed.
func startProc(b *testing.B, name string, cmd *exec.Cmd, logPath string) *proc {
	b.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	b.Cleanup(func() { p.stop(b) })
	return p
}

// exited says whether the process has ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

func (p *proc) stop(b *testing.B) {
	pid := p.cmd.Process.Pid
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stallTimeout):
		b.Errorf("%s did not stop within %v of SIGTERM; killing it", p.name, stallTimeout)
	}
	// Whatever it left behind in its group (the Erlang VM's port
	// helpers, if the VM was killed) goes too.
	syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		b.Errorf("%s (pid %d) survived SIGKILL", p.name, pid)
	}
	if b.Failed() {
		b.Logf("%s log, the end (%s):\n%s", p.name, p.log, tail(p.log, 4<<10))
	}
}

// waitReady polls ready until it succeeds, the process exits, or timeout
// passes; the latter two fail b.
func (p *proc) waitReady(b *testing.B, timeout time.Duration, ready func() error) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return
		}
		if done, exit := p.exited(); done {
			b.Fatalf("%s exited before it was ready (%v); last attempt: %v\n%s", p.name, exit, err, tail(p.log, 4<<10))
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s not ready within %v: %v", p.name, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(path string, n int64) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if int64(len(data)) > n {
		data = data[int64(len(data))-n:]
	}
	return string(data)
}

// freePort returns a loopback port nothing listens on now.
func freePort(b *testing.B) int {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// findBinary returns the first of paths that exists (bare names are looked
// up in PATH), or skips b.
func findBinary(b *testing.B, paths ...string) string {
	b.Helper()
	for _, p := range paths {
		if filepath.Base(p) == p {
			if found, err := exec.LookPath(p); err == nil {
				return found
			}
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	b.Skipf("none of %q found: install it (Debian: apt-get install rabbitmq-server nats-server) to compare", paths)
	return ""
}
