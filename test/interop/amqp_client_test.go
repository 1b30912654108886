package interop

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/loftproc"
)

// clientTimeout bounds each call of the well-behaved client. amqp091-go's
// synchronous methods take no context, so within enforces it.
const clientTimeout = 5 * time.Second

// within runs f and waits at most d for it. On a timeout f's goroutine is
// left blocked until its connection closes at the end of the test.
func within[T any](d time.Duration, what string, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return r.v, fmt.Errorf("%s: %w", what, r.err)
		}
		return r.v, nil
	case <-time.After(d):
		var zero T
		return zero, fmt.Errorf("%s: no answer within %v", what, d)
	}
}

func dialAMQP(addr string) (*amqp.Connection, error) {
	return amqp.DialConfig("amqp://guest:guest@"+addr+"/", amqp.Config{
		Dial:      amqp.DefaultDial(clientTimeout),
		Heartbeat: 10 * time.Second,
	})
}

// wellBehaved is an amqp091-go connection and channel held open through a
// test, whose check says whether the broker still serves them.
type wellBehaved struct {
	l      *loftproc.Process
	conn   *amqp.Connection
	ch     *amqp.Channel
	closed chan *amqp.Error
	seq    atomic.Int64
}

func newWellBehaved(t *testing.T, l *loftproc.Process) *wellBehaved {
	t.Helper()
	conn, err := dialAMQP(l.AMQP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := within(clientTimeout, "channel.open", conn.Channel)
	if err != nil {
		t.Fatal(err)
	}
	return &wellBehaved{l: l, conn: conn, ch: ch, closed: conn.NotifyClose(make(chan *amqp.Error, 1))}
}

// check runs two subtests: "connection", which needs only the connection
// and channel layer, and "queue", a declare, publish and get on a fresh
// channel of the held connection.
func (w *wellBehaved) check(t *testing.T) {
	t.Helper()
	t.Run("connection", w.checkConnection)
	t.Run("queue", w.checkQueue)
}

func (w *wellBehaved) checkConnection(t *testing.T) {
	select {
	case err := <-w.closed:
		t.Fatalf("the held connection was closed: %v", err)
	default:
	}
	if _, err := within(clientTimeout, "channel.flow on the held channel", func() (struct{}, error) {
		return struct{}{}, w.ch.Flow(true)
	}); err != nil {
		t.Fatal(err)
	}
	ch, err := within(clientTimeout, "channel.open on the held connection", w.conn.Channel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := within(clientTimeout, "channel.close", func() (struct{}, error) { return struct{}{}, ch.Close() }); err != nil {
		t.Fatal(err)
	}

	conn, err := dialAMQP(w.l.AMQP)
	if err != nil {
		t.Fatalf("a new connection: %v", err)
	}
	defer conn.Close()
	if _, err := within(clientTimeout, "channel.open on a new connection", conn.Channel); err != nil {
		t.Fatal(err)
	}
	if _, err := within(clientTimeout, "connection.close", func() (struct{}, error) { return struct{}{}, conn.Close() }); err != nil {
		t.Fatal(err)
	}

	checkHealthz(t, w.l)
}

func (w *wellBehaved) checkQueue(t *testing.T) {
	ch, err := within(clientTimeout, "channel.open", w.conn.Channel)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	name := fmt.Sprintf("well-behaved-%d", w.seq.Add(1))
	if _, err := within(clientTimeout, "queue.declare", func() (amqp.Queue, error) {
		return ch.QueueDeclare(name, false, false, false, false, nil)
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	body := []byte("still here: " + name)
	if err := ch.PublishWithContext(ctx, "", name, false, false, amqp.Publishing{Body: body}); err != nil {
		t.Fatalf("basic.publish: %v", err)
	}
	// Publish and get on one channel are ordered, so the message is
	// there; the short retry only spares a broker that routes in the
	// background a flaky failure.
	deadline := time.Now().Add(2 * time.Second)
	for {
		d, ok, err := getOne(ch, name)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if !bytes.Equal(d.Body, body) {
				t.Fatalf("basic.get returned %q, want %q", d.Body, body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("basic.get found %s empty after publishing to it", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := within(clientTimeout, "queue.delete", func() (int, error) {
		return ch.QueueDelete(name, false, false, false)
	}); err != nil {
		t.Fatal(err)
	}
}

func getOne(ch *amqp.Channel, queue string) (amqp.Delivery, bool, error) {
	type got struct {
		d  amqp.Delivery
		ok bool
	}
	g, err := within(clientTimeout, "basic.get", func() (got, error) {
		d, ok, err := ch.Get(queue, true)
		return got{d, ok}, err
	})
	return g.d, g.ok, err
}

func checkHealthz(t *testing.T, l *loftproc.Process) {
	t.Helper()
	client := &http.Client{Timeout: clientTimeout}
	resp, err := client.Get("http://" + l.HTTP + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %s", resp.Status)
	}
}

// memWatch compares the broker's peak memory with what it was at the
// start, to catch a reader that allocates a frame's declared size.
type memWatch struct {
	pid               int
	vmPeakKB, vmHWMKB int64 // at the start
}

// Limits on growth over a test: far below one 4 GiB frame, far above
// what tens of connections need.
const (
	maxVMGrowthKB  = 1 << 20   // 1 GiB of address space
	maxRSSGrowthKB = 256 << 10 // 256 MiB resident
)

// watchMemory finds the broker's process through /proc (Linux only; it
// logs and checks nothing elsewhere).
func watchMemory(t *testing.T, l *loftproc.Process) *memWatch {
	t.Helper()
	pid := findPid("--amqp-addr", l.AMQP)
	if pid == 0 {
		t.Logf("cannot find the broker's pid in /proc: not checking its memory")
		return &memWatch{}
	}
	m := &memWatch{pid: pid}
	var err error
	if m.vmPeakKB, m.vmHWMKB, err = procPeaks(pid); err != nil {
		t.Logf("reading the broker's memory: %v: not checking it", err)
		return &memWatch{}
	}
	return m
}

func (m *memWatch) check(t *testing.T) {
	t.Helper()
	if m.pid == 0 {
		return
	}
	vm, rss, err := procPeaks(m.pid)
	if err != nil {
		t.Fatalf("reading the broker's memory: %v", err)
	}
	t.Logf("broker peak memory: VmPeak %d -> %d kB, VmHWM %d -> %d kB", m.vmPeakKB, vm, m.vmHWMKB, rss)
	if vm-m.vmPeakKB > maxVMGrowthKB || rss-m.vmHWMKB > maxRSSGrowthKB {
		t.Errorf("broker memory grew too much: VmPeak by %d kB, VmHWM by %d kB", vm-m.vmPeakKB, rss-m.vmHWMKB)
	}
}

// findPid returns the pid of the process whose command line has flag
// followed by value, or 0.
func findPid(flag, value string) int {
	want := "\x00" + flag + "\x00" + value + "\x00"
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmdline, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || !bytes.Contains(append(cmdline, 0), []byte(want)) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(d))
		if err == nil {
			return pid
		}
	}
	return 0
}

// procPeaks reads VmPeak and VmHWM, in kB, from /proc/pid/status.
func procPeaks(pid int) (vmPeak, vmHWM int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmPeak" && key != "VmHWM") {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", key, err)
		}
		if key == "VmPeak" {
			vmPeak = v
		} else {
			vmHWM = v
		}
	}
	if vmPeak == 0 || vmHWM == 0 {
		return 0, 0, fmt.Errorf("no VmPeak or VmHWM in /proc/%d/status", pid)
	}
	return vmPeak, vmHWM, sc.Err()
}
