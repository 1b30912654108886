package amqpbench

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// BenchmarkDelayedMillion holds LOFT_BENCH_DELAYED (default 1,000,000)
// 1 KiB messages in a durable x-delayed-message exchange of Loft, each
// published with confirms and x-delay LOFT_BENCH_DELAY (default 60s), at
// LOFT_BENCH_DELAYED_RATE messages per second (default 20,000; less than
// a queue moves end to end, so that lateness measures the delays and not
// a backlog), so that all are pending at once; then they fire, at that
// rate, into a queue a consumer drains. It reports the broker's RSS with all of them pending and its
// peak, the publish rate, and how late they arrived after their due time
// (p50, p99, max), failing unless every message arrived exactly once and
// none early. Loft only: RabbitMQ's delayed-message plugin is not in
// Debian, and JetStream has no delays.
func BenchmarkDelayedMillion(b *testing.B) {
	n := envInt(b, "LOFT_BENCH_DELAYED", 1_000_000)
	delay := envDuration(b, "LOFT_BENCH_DELAY", 60*time.Second)
	rate := envFloat(b, "LOFT_BENCH_DELAYED_RATE", 20000)
	b.StopTimer()
	c := startLoft(b).(*amqpClient)
	conn, ch, err := dialAMQP(c.url)
	if err != nil {
		b.Fatal(err)
	}
	defer closeAMQP(conn)
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	must(ch.ExchangeDeclare("later", "x-delayed-message", true, false, false, false, amqp.Table{"x-delayed-type": "direct"}))
	_, err = ch.QueueDeclare("due", true, false, false, false, nil)
	must(err)
	must(ch.QueueBind("due", "due", "later", false, nil))

	// The consumer: each body holds its sequence number and due time.
	var mu sync.Mutex
	seen := make([]bool, n)
	var late []time.Duration
	var early, dups int
	all := make(chan struct{})
	cconn, cch, err := dialAMQP(c.url)
	must(err)
	defer closeAMQP(cconn)
	must(cch.Qos(window, 0, false))
	ds, err := cch.Consume("due", "", false, false, false, false, nil)
	must(err)
	go func() {
		for d := range ds {
			now := time.Now()
			seq := binary.BigEndian.Uint64(d.Body)
			due := time.Unix(0, int64(binary.BigEndian.Uint64(d.Body[8:])))
			mu.Lock()
			switch {
			case seq >= uint64(n):
			case seen[seq]:
				dups++
			default:
				seen[seq] = true
				if now.Before(due) {
					early++
				}
				late = append(late, now.Sub(due))
				if len(late) == n {
					close(all)
				}
			}
			mu.Unlock()
			d.Ack(false)
		}
	}()

	// RSS, sampled.
	var peak int64
	stopRSS := make(chan struct{})
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		for {
			peak = max(peak, rssKiB(c.pid))
			select {
			case <-stopRSS:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()

	b.StartTimer()
	must(ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, window))
	body := make([]byte, 1024)
	start := time.Now()
	ctx := context.Background()
	inFlight := 0
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); wait > 0 {
			time.Sleep(wait)
		}
		for inFlight >= window {
			if cf := <-confirms; !cf.Ack {
				b.Fatalf("nack")
			}
			inFlight--
		}
		binary.BigEndian.PutUint64(body, uint64(i))
		binary.BigEndian.PutUint64(body[8:], uint64(time.Now().Add(delay).UnixNano()))
		must(ch.PublishWithContext(ctx, "later", "due", false, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent, Headers: amqp.Table{"x-delay": int64(delay / time.Millisecond)}, Body: body,
		}))
		inFlight++
	}
	for ; inFlight > 0; inFlight-- {
		if cf := <-confirms; !cf.Ack {
			b.Fatalf("nack")
		}
	}
	published := time.Since(start)
	pendingRSS := rssKiB(c.pid)
	if published > delay {
		b.Logf("publishing took %v, longer than the delay: not all were pending at once", published)
	}
	select {
	case <-all:
	case <-time.After(delay + 10*time.Minute):
		b.Fatalf("only %d of %d arrived", len(late), n)
	}
	b.StopTimer()
	close(stopRSS)
	<-rssDone
	mu.Lock()
	defer mu.Unlock()
	if early > 0 || dups > 0 {
		b.Fatalf("%d early, %d duplicates", early, dups)
	}
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	ms := func(p float64) float64 { return float64(late[int(p*float64(len(late)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(float64(n)/published.Seconds(), "publish-msgs/s")
	b.ReportMetric(float64(pendingRSS)/1024, "rss-all-pending-MiB")
	b.ReportMetric(float64(peak)/1024, "peak-rss-MiB")
	b.ReportMetric(ms(0.5), "late-p50-ms")
	b.ReportMetric(ms(0.99), "late-p99-ms")
	b.ReportMetric(ms(1), "late-max-ms")
}

// rssKiB returns a process's resident set in KiB, 0 if unknown.
func rssKiB(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
