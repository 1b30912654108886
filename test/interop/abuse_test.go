package interop

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/loftproc"
)

// The broker's read bounds that the stalled connections run into. The
// Kafka idle timeout is shortened by its flag; the others are fixed.
const (
	abuseKafkaIdle     = 3 * time.Second  // --kafka-idle-timeout below
	kafkaWriteLimit    = 30 * time.Second // kafka.DefaultWriteTimeout
	amqpHandshakeLimit = 10 * time.Second // amqp.DefaultHandshakeTimeout
	amqpFrameLimit     = 30 * time.Second // amqp.DefaultFrameTimeout, heartbeats off
	httpHeaderLimit    = 5 * time.Second  // the HTTP listener's ReadHeaderTimeout
	httpBodyLimit      = 30 * time.Second // its ReadTimeout
)

// abuseScale sizes one run of TestProtocolAbuse.
type abuseScale struct {
	attackFor time.Duration // how long the attackers run
	attackers int           // attackers per port, each one misuse at a time
	stalled   int           // stalled connections of each kind
	// slack is how much later than its bound a stalled connection may
	// be closed: the broker's timers (and accept loop) and this test run
	// on a loaded machine, under the race detector, and the heavy form
	// loads it more.
	slack time.Duration
}

// abuseSeed returns LOFT_ABUSE_SEED, or a fresh seed.
func abuseSeed(t *testing.T) uint64 {
	if s := os.Getenv("LOFT_ABUSE_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("LOFT_ABUSE_SEED=%q: %v", s, err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// TestProtocolAbuse runs one broker while well-behaved clients use all
// three ports (amqp091-go publishing persistent messages with confirms
// and consuming with acks, franz-go producing with acks=all and
// consuming, HTTP GETs of the management API) and attackers misuse every
// port at once: random bytes, valid prefixes cut short, frames and
// requests declaring enormous lengths, abrupt disconnects and resets
// mid-frame, and stalled connections (silent, half-sent, trickled a byte
// a second). It checks that every misuse gets the protocol's own answer
// and a log line naming its connection; that every stalled connection is
// closed within the listener's bound; that the well-behaved clients see
// no error and every message they were told is stored arrives; and that
// the broker's goroutines, descriptors and memory come back.
//
// LOFT_FAULT_HEAVY=1 runs more attackers for longer, with 50 stalled
// connections of each kind; LOFT_ABUSE_SEED replays a run.
func TestProtocolAbuse(t *testing.T) {
	if testing.Short() {
		t.Skip("the abuse run takes half a minute")
	}
	scale := abuseScale{attackFor: 12 * time.Second, attackers: 2, stalled: 2, slack: 5 * time.Second}
	if os.Getenv("LOFT_FAULT_HEAVY") != "" {
		scale = abuseScale{attackFor: 90 * time.Second, attackers: 8, stalled: 50, slack: 15 * time.Second}
	}
	seed := abuseSeed(t)
	t.Logf("seed %d (LOFT_ABUSE_SEED=%d replays this run)", seed, seed)

	p := loftproc.Start(t, loftBin, filepath.Join(t.TempDir(), "data"),
		"--kafka-idle-timeout", abuseKafkaIdle.String())
	load := newSteadyLoad(t, p)
	// The baseline: the queue and topic exist, no client is connected.
	g0, f0, _ := processGauges(t, p)
	s0 := procSockets(t, p.Pid())
	rss0, hwm0 := procRSS(t, p.Pid())
	load.start()
	defer load.stop()
	if err := load.warmUp(30 * time.Second); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	var stalls []*stalledConn
	for _, k := range stallKinds(p) {
		for range scale.stalled {
			stalls = append(stalls, stall(k, scale.slack))
		}
	}
	results := runAttackers(p, seed, scale)
	for _, s := range stalls {
		<-s.done
	}
	t.Logf("%d misuses and %d stalled connections in %v", len(results), len(stalls), time.Since(start).Round(time.Millisecond))

	t.Run("answers", func(t *testing.T) {
		counts := map[string]int{}
		for _, r := range results {
			counts[r.port+": "+r.name]++
			if r.err != nil {
				t.Errorf("%s: %s (from %s): %v", r.port, r.name, r.local, r.err)
			}
		}
		t.Logf("misuses: %v", counts)
	})
	t.Run("stalled connections closed", func(t *testing.T) {
		worst := map[string]time.Duration{}
		for _, s := range stalls {
			name := s.kind.port + ": " + s.kind.name
			if s.err != nil {
				t.Errorf("%s (from %s): %v", name, s.local, s.err)
				continue
			}
			worst[name] = max(worst[name], s.closedAfter)
			if s.closedAfter > s.kind.bound+scale.slack {
				t.Errorf("%s (from %s): closed after %v, bound %v", name, s.local, s.closedAfter, s.kind.bound)
			}
		}
		t.Logf("longest time to close each kind: %v", worst)
	})

	t.Run("well-behaved clients", func(t *testing.T) {
		load.stop()
		if err := load.verify(30 * time.Second); err != nil {
			t.Error(err)
		}
		t.Log(load.summary())
	})

	t.Run("resources given back", func(t *testing.T) {
		// Every client is gone now, well-behaved ones included.
		// Wait (bounded) for them to come all the way back, for the
		// figures; within slack of the baseline passes. (Open files
		// may grow: the queue's and the topic's segments.)
		const slack = 10
		var g1, f1 float64
		var s1 int
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			g1, f1, _ = processGauges(t, p)
			s1 = procSockets(t, p.Pid())
			if (g1 <= g0+2 && s1 <= s0) || time.Now().After(deadline) {
				break
			}
		}
		rss1, hwm1 := procRSS(t, p.Pid())
		t.Logf("goroutines %v → %v, sockets %d → %d, open fds %v → %v, RSS %d → %d MiB (peak %d → %d MiB)",
			g0, g1, s0, s1, f0, f1, rss0>>10, rss1>>10, hwm0>>10, hwm1>>10)
		if g1 > g0+slack || s1 > s0+2 {
			t.Errorf("not given back: goroutines %v → %v, sockets %d → %d", g0, g1, s0, s1)
		}
		if rss1-rss0 > 64<<10 {
			t.Errorf("RSS grew from %d to %d MiB", rss0>>10, rss1>>10)
		}
		checkHealthz(t, p)
	})

	t.Run("log lines", func(t *testing.T) {
		lines := logByClient(p.Log())
		key := func(port, local string) string { return "proto=" + port + " " + local }
		missing := map[string]int{}
		for _, r := range results {
			if r.logs != nil && r.local != "" && !logged(lines[key(r.port, r.local)], r.logs) {
				missing[r.port+": "+r.name]++
				if missing[r.port+": "+r.name] == 1 {
					t.Errorf("%s: %s: no log line for %s with one of %q; its lines: %q", r.port, r.name, r.local, r.logs, lines[key(r.port, r.local)])
				}
			}
		}
		for _, s := range stalls {
			if s.kind.logs != nil && s.local != "" && !logged(lines[key(s.kind.port, s.local)], s.kind.logs) {
				missing[s.kind.port+": "+s.kind.name]++
				if missing[s.kind.port+": "+s.kind.name] == 1 {
					t.Errorf("%s: %s: no log line for %s with one of %q; its lines: %q", s.kind.port, s.kind.name, s.local, s.kind.logs, lines[key(s.kind.port, s.local)])
				}
			}
		}
		if len(missing) > 0 {
			t.Errorf("misuses without their log line: %v", missing)
		}
	})
}

// logByClient indexes the broker's log lines by the protocol and client
// address they name: "proto=kafka 127.0.0.1:40000". (A client port is
// used again by later connections, to other ports too.)
func logByClient(log string) map[string][]string {
	lines := map[string][]string{}
	for _, line := range strings.Split(log, "\n") {
		_, proto, ok1 := strings.Cut(line, " proto=")
		_, client, ok2 := strings.Cut(line, " client=")
		if !ok1 || !ok2 {
			continue
		}
		proto, _, _ = strings.Cut(proto, " ")
		client, _, _ = strings.Cut(client, " ")
		k := "proto=" + proto + " " + client
		lines[k] = append(lines[k], line)
	}
	return lines
}

// logged reports whether one of lines holds one of msgs.
func logged(lines, msgs []string) bool {
	for _, l := range lines {
		for _, m := range msgs {
			if strings.Contains(l, m) {
				return true
			}
		}
	}
	return false
}

// procSockets counts the broker's open sockets (listeners and
// connections) in /proc/<pid>/fd.
func procSockets(t *testing.T, pid int) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("the broker's descriptors: %v", err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n
}

// procRSS reads the broker's resident memory and its peak, in KiB, from
// /proc/<pid>/status.
func procRSS(t *testing.T, pid int) (rss, hwm int64) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("the broker's memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, rest, _ := strings.Cut(sc.Text(), ":")
		v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		switch key {
		case "VmRSS":
			rss = v
		case "VmHWM":
			hwm = v
		}
	}
	if rss == 0 || hwm == 0 {
		t.Fatalf("no VmRSS or VmHWM in /proc/%d/status", pid)
	}
	return rss, hwm
}

// attackResult is one misuse's outcome.
type attackResult struct {
	port, name string
	local      string   // the attacker's address, which log lines name
	logs       []string // the log line it must have caused, one of these
	err        error
}

// attack is one way of misusing a port. run gets a fresh connection and
// a random source, and returns an error if the broker's answer breaks the
// protocol or does not come in time.
type attack struct {
	name string
	logs []string // nil: no log line is required
	run  func(c *rawConn, rng *rand.Rand) error
}

// runAttackers runs scale.attackers attackers on each port for
// scale.attackFor, each picking its next misuse at random, and returns
// what every misuse came to.
func runAttackers(p *loftproc.Process, seed uint64, scale abuseScale) []attackResult {
	ports := []struct {
		name, addr string
		attacks    []attack
	}{
		{"amqp", p.AMQP, amqpAttacks()},
		{"kafka", p.Kafka, kafkaAttacks()},
		{"http", p.HTTP, httpAttacks()},
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []attackResult
	)
	deadline := time.Now().Add(scale.attackFor)
	for pi, port := range ports {
		for w := range scale.attackers {
			rng := rand.New(rand.NewPCG(seed, uint64(pi<<16|w)))
			wg.Go(func() {
				for time.Now().Before(deadline) {
					a := port.attacks[rng.IntN(len(port.attacks))]
					local, err := runRaw(port.addr, func(c *rawConn) error { return a.run(c, rng) })
					mu.Lock()
					results = append(results, attackResult{port.name, a.name, local, a.logs, err})
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return results
}

// reset ends c with a TCP reset instead of a FIN, as a crashed client or
// a middlebox does.
func reset(c *rawConn) {
	c.nc.SetLinger(0)
	c.nc.Close()
}

// cutAndEnd sends b cut at a random point, then ends the connection with
// a FIN (and waits for the broker to close its side) or a reset.
func cutAndEnd(c *rawConn, rng *rand.Rand, b []byte) error {
	if err := c.write(b[:1+rng.IntN(len(b)-1)]); err != nil {
		return err
	}
	if rng.IntN(2) == 0 {
		reset(c)
		return nil
	}
	c.nc.CloseWrite()
	_, err := c.expectClosed()
	return err
}

func randomBytes(rng *rand.Rand, lo, hi int) []byte {
	b := make([]byte, lo+rng.IntN(hi-lo+1))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// stallKind is a way of holding a connection without finishing what it
// started. begin sends what comes before the stall (and may go on
// trickling in the background until the connection closes); the broker
// must close it within bound of begin's return, with a log line holding
// one of logs.
type stallKind struct {
	port, name string
	addr       string
	bound      time.Duration
	logs       []string
	begin      func(c *rawConn) error
	// closed, if set, waits for the broker to close the connection in
	// place of reading until it does, and says when the stall began, if
	// later than begin's return.
	closed func(c *rawConn) (stalledAt time.Time, err error)
}

// stalledConn is one stalled connection, watched until the broker closes
// it.
type stalledConn struct {
	kind        stallKind
	local       string
	closedAfter time.Duration
	err         error
	done        chan struct{}
}

// stall opens a connection of kind k and watches it in the background,
// for at most slack longer than its bound.
func stall(k stallKind, slack time.Duration) *stalledConn {
	s := &stalledConn{kind: k, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		c, err := dialRaw(k.addr, k.bound+slack+5*time.Second)
		if err != nil {
			s.err = err
			return
		}
		defer c.Close()
		s.local = c.nc.LocalAddr().String()
		if s.err = k.begin(c); s.err != nil {
			return
		}
		since := time.Now()
		closed := k.closed
		if closed == nil {
			closed = func(c *rawConn) (time.Time, error) { _, err := c.expectClosed(); return time.Time{}, err }
		}
		stalledAt, err := closed(c)
		if stalledAt.After(since) {
			since = stalledAt
		}
		if err != nil {
			s.err = fmt.Errorf("%w (%v after the stall)", err, time.Since(since).Round(time.Millisecond))
			return
		}
		s.closedAfter = time.Since(since)
	}()
	return s
}

// trickle sends b's first byte, then the rest one byte a second in the
// background, until the connection fails.
func trickle(c *rawConn, b []byte) error {
	if _, err := c.nc.Write(b[:1]); err != nil {
		return err
	}
	go func() {
		for _, x := range b[1:] {
			time.Sleep(time.Second)
			if _, err := c.nc.Write([]byte{x}); err != nil {
				return
			}
		}
	}()
	return nil
}

func stallKinds(p *loftproc.Process) []stallKind {
	var ks []stallKind
	for _, k := range amqpStalls() {
		k.port, k.addr = "amqp", p.AMQP
		ks = append(ks, k)
	}
	for _, k := range kafkaStalls() {
		k.port, k.addr = "kafka", p.Kafka
		ks = append(ks, k)
	}
	for _, k := range httpStalls() {
		k.port, k.addr = "http", p.HTTP
		ks = append(ks, k)
	}
	return ks
}
