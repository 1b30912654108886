package interop

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loftmq/loft/internal/loftproc"
)

// heavy reports whether the long forms of the fault suite were asked for
// (LOFT_FAULT_HEAVY=1, which `make faults` sets).
func heavy() bool { return os.Getenv("LOFT_FAULT_HEAVY") != "" }

// procStats is what /proc says of a process: resident memory and its
// peak (VmRSS, VmHWM, in MiB; the kernel's own count, including what the
// Go runtime's figures leave out) and open file descriptors.
type procStats struct {
	rss, peak float64
	fds       int
}

// readProc reads procStats of pid; on a system without /proc it skips the
// test, so it must be called from the test's goroutine.
func readProc(t *testing.T, pid int) procStats {
	t.Helper()
	s, err := procStatsOf(pid)
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	return s
}

func procStatsOf(pid int) (procStats, error) {
	var st procStats
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		kib, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "VmRSS:":
			st.rss = kib / 1024
		case "VmHWM:":
			st.peak = kib / 1024
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	st.fds = len(ents)
	return st, err
}

// TestMemoryFloodNeverAcked floods 100 durable queues with persistent
// messages, with confirms, while 1,000 consumers (100 channels on each of
// 10 connections, 10 per queue, prefetch 10) take deliveries and never
// ack them. The broker's peak resident memory (VmHWM) stays under its
// --memory-high-watermark: the backlog stays on disk, and publishers are
// held back by TCP back-pressure (the broker's bound on bytes published
// and not yet stored) and, should memory pass the watermark,
// connection.blocked, rather than memory filling. Then nothing is missing: once the never-acking
// consumers are gone, consumers that ack receive every confirmed message,
// and nothing that was never published. The light form (CI) sends
// 320 MiB, LOFT_FAULT_HEAVY=1 2 GiB, against a 256 MiB watermark.
func TestMemoryFloodNeverAcked(t *testing.T) {
	if testing.Short() {
		t.Skip("the memory flood takes a while")
	}
	const (
		queues     = 100
		conns      = 10
		perConn    = 100 // consumer channels on each connection
		prefetch   = 10
		publishers = 8
		window     = 4096 // unconfirmed publishes per publisher: 16 MiB, what the broker reads ahead of its log
		bodySize   = 4 << 10
	)
	watermark, total := 256, 320<<20
	if heavy() {
		watermark, total = 256, 2048<<20
	}
	perPublisher := total / bodySize / publishers
	p := loftproc.Start(t, loftBin, filepath.Join(t.TempDir(), "data"),
		"--log-level", "warn", "--memory-high-watermark", fmt.Sprintf("%dMiB", watermark))
	s0 := readProc(t, p.Pid())
	g0, _, _ := processGauges(t, p)

	admin := amqpChannel(t, p.AMQP)
	name := func(q int) string { return "flood" + strconv.Itoa(q) }
	for q := range queues {
		if _, err := admin.QueueDeclare(name(q), true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}

	// The consumers that never ack.
	var delivered atomic.Int64
	var consumerConns []*amqp.Connection
	for c := range conns {
		conn, err := dialAMQP(p.AMQP)
		if err != nil {
			t.Fatal(err)
		}
		consumerConns = append(consumerConns, conn)
		defer conn.Close()
		for i := range perConn {
			ch, err := conn.Channel()
			if err != nil {
				t.Fatal(err)
			}
			if err := ch.Qos(prefetch, 0, false); err != nil {
				t.Fatal(err)
			}
			d, err := ch.Consume(name((c*perConn+i)%queues), "", false, false, false, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				for range d {
					delivered.Add(1)
				}
			}()
		}
	}

	// Sample the broker while the flood runs.
	var peakRSS float64
	var peakFDs int
	sampleDone := make(chan struct{})
	stopSampling := make(chan struct{})
	go func() {
		defer close(sampleDone)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if s, err := procStatsOf(p.Pid()); err == nil {
				peakRSS, peakFDs = max(peakRSS, s.rss), max(peakFDs, s.fds)
			}
		}
	}()

	// The flood: each publisher sends to every queue in turn; a message's
	// body starts with its queue and its number.
	var blockedSeen atomic.Int64
	confirmed := make([][]bool, queues) // [queue][number in that queue]: confirmed, not yet drained
	for q := range confirmed {
		confirmed[q] = make([]bool, publishers*perPublisher/queues+publishers)
	}
	var mu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for w := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- flood(ctx, p.AMQP, w, publishers, perPublisher, queues, bodySize, window, name, &blockedSeen,
				func(q, n int) { mu.Lock(); confirmed[q][n] = true; mu.Unlock() })
		}()
	}
	wg.Wait()
	close(errs)
	took := time.Since(start)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	g1, _, _ := processGauges(t, p)
	close(stopSampling)
	<-sampleDone
	hwm := readProc(t, p.Pid()).peak
	t.Logf("flood of %d MiB (%d messages of %d B) into %d queues with %d consumers never acking: %v; connection.blocked seen %d times; %d deliveries",
		total>>20, publishers*perPublisher, bodySize, queues, conns*perConn, took.Round(time.Millisecond), blockedSeen.Load(), delivered.Load())
	t.Logf("broker: RSS %.1f MiB at start, peak sampled %.1f MiB, VmHWM %.1f MiB (watermark %d MiB); goroutines %v → %v; fds %d → peak %d",
		s0.rss, peakRSS, hwm, watermark, g0, g1, s0.fds, peakFDs)
	if hwm > float64(watermark) {
		t.Errorf("peak RSS %.1f MiB went over the %d MiB watermark", hwm, watermark)
	}

	// The never-acking consumers go; their deliveries return to the
	// queues. Consumers that ack now drain every queue.
	for _, conn := range consumerConns {
		conn.Close()
	}
	drainFlood(t, p, queues, publishers*perPublisher, name, func(q, n int) bool {
		mu.Lock()
		defer mu.Unlock()
		if n >= len(confirmed[q]) || !confirmed[q][n] {
			return false
		}
		confirmed[q][n] = false
		return true
	})
	for q := range confirmed {
		for n, missing := range confirmed[q] {
			if missing {
				t.Fatalf("confirmed message %d of queue %s never came back", n, name(q))
			}
		}
	}
}

// flood publishes publisher w's share: messages w, w+publishers, ... of
// the whole sequence, message i going to queue i%queues as that queue's
// message i/queues, persistent, with at most window unconfirmed. It calls
// stored for each message confirmed.
func flood(ctx context.Context, addr string, w, publishers, n, queues, bodySize, window int,
	name func(int) string, blocked *atomic.Int64, stored func(q, n int)) error {
	conn, err := dialAMQP(addr)
	if err != nil {
		return err
	}
	// Close bounded: a blocked connection answers nothing until the alarm
	// clears.
	defer conn.CloseDeadline(time.Now().Add(5 * time.Second))
	notes := conn.NotifyBlocked(make(chan amqp.Blocking, 16))
	go func() {
		for b := range notes {
			if b.Active {
				blocked.Add(1)
			}
		}
	}()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Confirm(false); err != nil {
		return err
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, window))
	body := make([]byte, bodySize)
	type sent struct{ q, n int }
	pending := make(map[uint64]sent, window)
	var seq uint64
	settle := func() error {
		select {
		case c, ok := <-confirms:
			if !ok {
				return fmt.Errorf("publisher %d: channel closed", w)
			}
			s := pending[c.DeliveryTag]
			delete(pending, c.DeliveryTag)
			if !c.Ack {
				return fmt.Errorf("publisher %d: message %d of %s nacked", w, s.n, name(s.q))
			}
			stored(s.q, s.n)
			return nil
		case <-ctx.Done():
			return fmt.Errorf("publisher %d: confirms stopped coming: %w", w, ctx.Err())
		}
	}
	for i := 0; i < n; i++ {
		global := i*publishers + w
		q, m := global%queues, global/queues
		binary.BigEndian.PutUint32(body[0:], uint32(q))
		binary.BigEndian.PutUint32(body[4:], uint32(m))
		for len(pending) >= window {
			if err := settle(); err != nil {
				return err
			}
		}
		seq++
		pending[seq] = sent{q, m}
		if err := ch.PublishWithContext(ctx, "", name(q), false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: body}); err != nil {
			return err
		}
	}
	for len(pending) > 0 {
		if err := settle(); err != nil {
			return err
		}
	}
	return nil
}

// drainFlood consumes every queue with acks until all of want messages
// have come back; take reports whether a message (queue, number) was
// expected and not yet seen.
func drainFlood(t *testing.T, p *loftproc.Process, queues, want int, name func(int) string, take func(q, n int) bool) {
	t.Helper()
	conn, err := dialAMQP(p.AMQP)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var got atomic.Int64
	errs := make(chan error, queues)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for q := range queues {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Qos(500, 0, false); err != nil {
			t.Fatal(err)
		}
		d, err := ch.Consume(name(q), "", false, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for got.Load() < int64(want) {
				select {
				case m, ok := <-d:
					if !ok {
						errs <- fmt.Errorf("consumer of %s closed", name(q))
						return
					}
					mq, mn := int(binary.BigEndian.Uint32(m.Body[0:])), int(binary.BigEndian.Uint32(m.Body[4:]))
					if mq != q || !take(mq, mn) {
						errs <- fmt.Errorf("%s delivered message %d of queue %d, not one confirmed there (or twice)", name(q), mn, mq)
						return
					}
					got.Add(1)
					if err := m.Ack(false); err != nil {
						errs <- err
						return
					}
				case <-time.After(100 * time.Millisecond):
				case <-ctx.Done():
					errs <- fmt.Errorf("drained %d of %d messages: %w", got.Load(), want, ctx.Err())
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
