package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/loftproc"
)

// Each run of the load lasts a random time in [killMin, killMax) before
// the SIGKILL, so that kills land while clients connect, join the group,
// publish, consume, ack and commit.
const (
	killMin = 50 * time.Millisecond
	killMax = 1500 * time.Millisecond
)

var faultQueues = []string{"faults.q0", "faults.q1", "faults.q2"}

// TestCrashUnderLoad runs `loft serve` under AMQP and Kafka load at once
// and SIGKILLs it at random moments LOFT_FAULT_KILLS times (20 by
// default), restarting it on the same data directory each time. The
// load: persistent messages with publisher confirms to three durable
// queues; a consumer of all three with manual acks and a prefetch, which
// settles its acks with a round trip on the channel; an idempotent acks=all
// producer to a four-partition topic; a consumer group member committing
// after every poll. Finally it checks that every confirmed message and
// every acknowledged record was delivered; that nothing was delivered
// that was never published; that within one consumer run sequence numbers
// never went back (AMQP redeliveries aside); that the group's committed
// offsets, fetched afresh after each restart, never went back nor behind
// a commit that had succeeded; that no AMQP message was delivered again
// after its ack was settled; and that each partition holds every record
// once, in order.
func TestCrashUnderLoad(t *testing.T) {
	kills := int(envInt(t, "LOFT_FAULT_KILLS", 20))
	seed := envInt(t, "LOFT_FAULT_SEED", time.Now().UnixNano())
	t.Logf("%d kills; LOFT_FAULT_SEED=%d replays this kill schedule", kills, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	parts := make([]string, nParts)
	for p := range parts {
		parts[p] = fmt.Sprintf("%s/%d", topic, p)
	}
	l := newLedger(faultQueues, parts)
	dir := filepath.Join(t.TempDir(), "data")

	p := loftproc.Start(t, loftBin, dir)
	setUp(t, p)
	var restarts restartStats
	for k := 1; k <= kills; k++ {
		delay := killMin + time.Duration(rng.Int64N(int64(killMax-killMin)))
		l.setRun("run %d (killed after %v)", k, delay)
		loadAndKill(t, p, l, delay)
		began := time.Now()
		p = loftproc.Start(t, loftBin, dir)
		restarts.add(p, time.Since(began))
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err := checkCommitted(ctx, p.Kafka, k, l)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	l.setRun("final drain")
	began := time.Now()
	drain(t, p, l)
	t.Logf("drained in %v", time.Since(began).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := readAll(ctx, p.Kafka, l); err != nil {
		t.Fatal(err)
	}
	report(t, l, kills, &restarts)
	verify(t, l)
}

// setUp declares the queues and creates the topic before the first kill.
func setUp(t *testing.T, p *loftproc.Process) {
	t.Helper()
	conn, err := dialAMQP(p.AMQP)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := declareQueues(conn, faultQueues); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := createTopic(ctx, p.Kafka); err != nil {
		t.Fatal(err)
	}
}

// loadAndKill runs the four clients against p for delay, kills p with
// SIGKILL, and waits for the clients to stop.
func loadAndKill(t *testing.T, p *loftproc.Process, l *ledger, delay time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { publishAMQP(ctx, p.AMQP, faultQueues, l) })
	wg.Go(func() { consumeAMQP(ctx, p.AMQP, faultQueues, l) })
	wg.Go(func() { produceKafka(ctx, p.Kafka, l) })
	wg.Go(func() { consumeGroup(ctx, p.Kafka, l) })
	time.Sleep(delay)
	p.Kill()
	cancel()
	waitFor(t, &wg, 30*time.Second, "the clients did not stop within 30 s of the kill")
}

func waitFor(t *testing.T, wg *sync.WaitGroup, d time.Duration, msg string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatal(msg)
	}
}

// drain consumes with both consumers until every confirmed message and
// every acknowledged record has been delivered, or a minute has passed.
func drain(t *testing.T, p *loftproc.Process, l *ledger) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { consumeAMQP(ctx, p.AMQP, faultQueues, l) })
	wg.Go(func() { consumeGroup(ctx, p.Kafka, l) })
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		if l.missingCount(l.queues, confirmed, delivered) == 0 && l.missingCount(l.parts, confirmed, delivered) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	waitFor(t, &wg, 30*time.Second, "the consumers did not stop within 30 s")
}

// verify fails the test with every broken invariant.
func verify(t *testing.T, l *ledger) {
	t.Helper()
	var problems []string
	l.mu.Lock()
	problems = append(problems, l.violations...)
	l.mu.Unlock()
	checks := []struct {
		ss        []stream
		has, want uint8
		what      string
	}{
		{l.queues, confirmed, delivered, "confirmed AMQP messages never delivered"},
		{l.parts, confirmed, inLog, "acknowledged Kafka records missing from the log"},
		{l.parts, confirmed, delivered, "acknowledged Kafka records never delivered to the group member"},
	}
	for _, c := range checks {
		if n := l.missingCount(c.ss, c.has, c.want); n > 0 {
			_, first := l.count(c.ss, c.has, c.has|c.want)
			problems = append(problems, fmt.Sprintf("%d %s, e.g. %s", n, c.what, strings.Join(first, ", ")))
		}
	}
	if len(problems) > 0 {
		if len(problems) > 20 {
			problems = append(problems[:20], fmt.Sprintf("… and %d more", len(problems)-20))
		}
		t.Fatalf("%d broken promises:\n%s", len(problems), strings.Join(problems, "\n"))
	}
}

// restartStats holds what the restarts took and found.
type restartStats struct {
	took   []time.Duration // from exec to /readyz answering
	opened []time.Duration // from the broker's start to ready, as its log says
	forgot int             // restarts that forgot acks past a queue's recovered end
}

// readyTook finds how long the broker says it took to be ready.
var readyTook = regexp.MustCompile(`msg=ready took=(\S+)`)

func (rs *restartStats) add(p *loftproc.Process, took time.Duration) {
	rs.took = append(rs.took, took)
	log := p.Log()
	if m := readyTook.FindStringSubmatch(log); m != nil {
		if d, err := time.ParseDuration(m[1]); err == nil {
			rs.opened = append(rs.opened, d)
		}
	}
	if strings.Contains(log, "acks of messages a crash took") {
		rs.forgot++
	}
}

// medianMax returns the median and the maximum of ds, which it sorts.
func medianMax(ds []time.Duration) (median, worst time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond)
}

// report logs the figures of the run.
func report(t *testing.T, l *ledger, kills int, rs *restartStats) {
	t.Helper()
	amqpSent, _ := l.count(l.queues, sent, sent)
	amqpConfirmed, _ := l.count(l.queues, confirmed, confirmed)
	amqpVerified, _ := l.count(l.queues, confirmed, confirmed|delivered)
	amqpSettled, _ := l.count(l.queues, settled, settled)
	kafkaSent, _ := l.count(l.parts, sent, sent)
	kafkaAcked, _ := l.count(l.parts, confirmed, confirmed)
	kafkaVerified, _ := l.count(l.parts, confirmed, confirmed|delivered|inLog)
	median, worst := medianMax(rs.took)
	openMedian, openWorst := medianMax(rs.opened)
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("%d SIGKILLs; restart from exec to /readyz answering median %v, max %v; the broker's own start to ready (its log) median %v, max %v",
		kills, median, worst, openMedian, openWorst)
	t.Logf("%d restarts forgot acks of messages past a queue's recovered end", rs.forgot)
	t.Logf("AMQP: %d published, %d confirmed, %d of them verified delivered; %d acks settled; %d redeliveries, %d of them of a message whose ack was sent but not settled",
		amqpSent, amqpConfirmed, amqpVerified, amqpSettled, l.redelivered, l.afterAck)
	t.Logf("Kafka: %d produced, %d acknowledged, %d of them verified in the log and delivered to the group; %d records fetched again after a restart; committed offsets %v",
		kafkaSent, kafkaAcked, kafkaVerified, l.refetched, l.committed)
}
