package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a process the harness started (a broker, or RabbitMQ's epmd),
// in a process group of its own so that stopping it also ends whatever
// it spawned (the Erlang VM behind rabbitmq-server's script).
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // the file holding its stdout and stderr
	done chan struct{}
	err  error // how it ended, once done is closed
}

// startProc starts cmd with its output in logPath.
func startProc(name string, cmd *exec.Cmd, logPath string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM and waits up to grace for the process to end, then
// kills its whole group. It reports a process that needed the kill.
func (p *proc) stop(grace time.Duration) error {
	pid := p.pid()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case <-p.done:
	case <-time.After(grace):
		err = fmt.Errorf("%s did not stop within %v of SIGTERM; killed", p.name, grace)
	}
	// Whatever it left behind in its group goes too.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		err = fmt.Errorf("%s (pid %d) survived SIGKILL", p.name, pid)
	}
	return err
}

// waitReady polls ready until it succeeds, the process exits, ctx ends or
// timeout passes.
func (p *proc) waitReady(ctx context.Context, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); last attempt: %v\n%s", p.name, p.err, err, tail(p.log, 2<<10))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v: %v\n%s", p.name, timeout, err, tail(p.log, 2<<10))
		}
	}
}

// tail returns the last n bytes of the file at path.
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

// freePorts returns n distinct loopback ports nothing listens on now,
// holding each until all are found.
func freePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

func dialTCP(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
	}
	return err
}

// errMissing marks a broker whose binary is not installed: it is skipped,
// which is no failure.
var errMissing = errors.New("bench: not installed")

// findBinary returns the first of paths that exists (bare names are looked
// up in PATH).
func findBinary(paths ...string) (string, error) {
	for _, p := range paths {
		if filepath.Base(p) == p {
			if found, err := exec.LookPath(p); err == nil {
				return found, nil
			}
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: none of %q found (Debian: apt-get install rabbitmq-server nats-server)", errMissing, paths)
}

// groupRSS returns the resident memory of every process in process group
// pgid, in bytes, read from /proc; 0 when unknown. A broker's group holds
// the broker and its helpers (for RabbitMQ: the start script, the Erlang
// VM and its port programs).
func groupRSS(pgid int) int64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	pageSize := int64(os.Getpagesize())
	var total int64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command, which is in parentheses and may hold
		// spaces: state, ppid, pgrp, ...; rss (in pages) is the 24th field
		// of the line, the 22nd after the command.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 22 || fields[2] != strconv.Itoa(pgid) {
			continue
		}
		pages, _ := strconv.ParseInt(fields[21], 10, 64)
		total += pages * pageSize
	}
	return total
}

// rssSampler records the peak resident memory of a process group,
// sampled every 100 ms until stopped.
type rssSampler struct {
	stopc chan struct{}
	done  chan struct{}
	peak  int64
}

func sampleRSS(pgid int) *rssSampler {
	s := &rssSampler{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			s.peak = max(s.peak, groupRSS(pgid))
			select {
			case <-tick.C:
			case <-s.stopc:
				return
			}
		}
	}()
	return s
}

// stop ends sampling and returns the peak in bytes.
func (s *rssSampler) stop() int64 {
	close(s.stopc)
	<-s.done
	return s.peak
}
