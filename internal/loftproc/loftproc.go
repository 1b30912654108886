package loftproc

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
	log   *syncbuf.Buffer

	exited  chan struct{} // closed when the process has ended
	waitErr error         // how it ended; read after exited is closed
	killed  bool          // Kill ended the process: stop has nothing to check
}

// Start runs bin serve on dataDir, with the Kafka, AMQP and HTTP listeners
// on free loopback ports, plus args, and waits up to 15 s for /readyz (or
// a resource alarm, all it lacks to be ready).
// The three ports are picked while all three are held, so they differ; a
// port another process takes meanwhile makes the server fail to bind, and
// Start tries again on new ports. When tb ends, the process gets SIGTERM
// and must exit 0 within 15 s; its log is printed if the test failed.
func Start(tb testing.TB, bin, dataDir string, args ...string) *Process {
	tb.Helper()
	for attempt := 1; ; attempt++ {
		p, err := start(tb, bin, dataDir, args)
		if err == nil {
			return p
		}
		if !errors.Is(err, errPortTaken) || attempt == 5 {
			tb.Fatal(err)
		}
	}
}

var errPortTaken = errors.New("loftproc: a port was taken before loft could bind it")

func start(tb testing.TB, bin, dataDir string, args []string) (*Process, error) {
	ports := freePorts(tb, 3)
	p := &Process{Kafka: ports[0], AMQP: ports[1], HTTP: ports[2], log: &syncbuf.Buffer{}, exited: make(chan struct{})}
	all := append([]string{"serve", "--data-dir", dataDir,
		"--kafka-addr", p.Kafka, "--amqp-addr", p.AMQP, "--http-addr", p.HTTP}, args...)
	p.cmd = exec.Command(bin, all...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-p.exited:
			if strings.Contains(p.log.String(), "address already in use") {
				return nil, errPortTaken
			}
			return nil, fmt.Errorf("loft exited before it was ready: %v\n%s", p.waitErr, p.log.String())
		default:
		}
		if resp, err := http.Get("http://" + p.HTTP + "/readyz"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// Up, though a resource alarm (which a test may have set
			// out to raise) makes it not ready for traffic.
			if resp.StatusCode == http.StatusOK || strings.HasPrefix(string(body), "resource alarm") {
				tb.Cleanup(func() { p.stop(tb) })
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.cmd.Process.Kill()
			<-p.exited
			return nil, fmt.Errorf("loft not ready within 15 s\n%s", p.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePorts returns n distinct free loopback addresses, holding each
// until all are found.
func freePorts(tb testing.TB, n int) []string {
	tb.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		defer ln.Close()
		addrs[i] = ln.Addr().String()
	}
	return addrs
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

// Terminate sends SIGTERM, as an orchestrator stopping the broker does,
// and waits up to wait for the process to end; it returns how long that
// took and how it ended (nil: exit status 0), or an error after wait.
func (p *Process) Terminate(wait time.Duration) (time.Duration, error) {
	p.killed = true // the cleanup has nothing left to stop
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return time.Since(start), p.waitErr
	case <-time.After(wait):
		p.cmd.Process.Kill()
		<-p.exited
		return time.Since(start), fmt.Errorf("loftproc: still running %v after SIGTERM", wait)
	}
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
