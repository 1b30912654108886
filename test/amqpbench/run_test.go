package amqpbench

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// client is what the harness needs of a started broker. Every method may
// block on the broker; the harness bounds each call with stallTimeout.
type client interface {
	// declare creates the durable queue (or stream) q.
	declare(q string) error
	// consume attaches one consumer to q with a prefetch of window. It calls
	// deliver with each body, from one goroutine, then acknowledges it, and
	// reports asynchronous failures (a closed channel, a lost connection)
	// through fail.
	consume(q string, deliver func(body []byte), fail func(error)) (stop func(), err error)
	// publisher opens a publisher for q that waits for broker
	// acknowledgements, reporting asynchronous failures through fail.
	publisher(q string, fail func(error)) (publisher, error)
}

type publisher interface {
	// publish sends body as a persistent message; confirmed is called once,
	// from another goroutine, when the broker has acknowledged it (nil) or
	// refused it.
	publish(body []byte, confirmed func(error)) error
	close()
}

// A workload is one of the reference's three.
type workload struct {
	size     int     // body bytes, the header included
	messages int     // per run
	rate     float64 // messages per second; 0 is as fast as confirms allow
}

// headerSize is the start of every body: the sequence number and the
// publish start time, 8 bytes each, big-endian.
const headerSize = 16

// epoch anchors send times: bodies carry nanoseconds since epoch read
// from the monotonic clock, so a wall-clock step cannot bend a latency.
var epoch = time.Now()

func clock() time.Duration { return time.Since(epoch) }

// result is what one or more runs measured.
type result struct {
	messages  int
	elapsed   time.Duration   // first publish to last receipt, summed over runs
	latencies []time.Duration // publish start to receipt, every message
	// CPU time spent during the runs by this process and by the broker
	// (negative when the broker's is unknown).
	clientCPU, brokerCPU time.Duration
}

func (r *result) add(o result) {
	r.messages += o.messages
	r.elapsed += o.elapsed
	r.latencies = append(r.latencies, o.latencies...)
	r.clientCPU += o.clientCPU
	if r.brokerCPU >= 0 && o.brokerCPU >= 0 {
		r.brokerCPU += o.brokerCPU
	} else {
		r.brokerCPU = -1
	}
}

func (r result) msgsPerSec() float64 { return float64(r.messages) / r.elapsed.Seconds() }

// run moves w.messages through a fresh queue q with one publisher and one
// consumer, and fails b unless every message arrived exactly once.
func run(b *testing.B, c client, q string, w workload) result {
	b.Helper()
	t := newTally(w)
	within(b, "declare "+q, func() error { return c.declare(q) })
	var stopConsumer func()
	within(b, "consume "+q, func() (err error) {
		stopConsumer, err = c.consume(q, t.deliver, t.fail)
		return err
	})
	defer stopConsumer()
	var pub publisher
	within(b, "open publisher on "+q, func() (err error) {
		pub, err = c.publisher(q, t.fail)
		return err
	})
	defer pub.close()
	stop := make(chan struct{})
	defer close(stop)

	brokerCPU := func() time.Duration { return -1 }
	if pc, ok := c.(pidClient); ok {
		brokerCPU = func() time.Duration { return procCPU(pc.brokerPid()) }
	}
	cpu0, bcpu0 := selfCPU(), brokerCPU()
	b.StartTimer()
	start := clock()
	go t.publish(pub, start, stop)
	t.wait(b)
	b.StopTimer()
	cpu, bcpu := selfCPU()-cpu0, brokerCPU()
	if bcpu0 >= 0 && bcpu >= 0 {
		bcpu -= bcpu0
	} else {
		bcpu = -1
	}

	// Give a duplicate arriving right behind the last message the chance
	// to be seen.
	time.Sleep(200 * time.Millisecond)
	select {
	case <-t.failed:
		b.Fatalf("%v (%s)", t.err, t.state())
	default:
	}
	return result{messages: w.messages, elapsed: t.lastAt - start, latencies: t.latency, clientCPU: cpu, brokerCPU: bcpu}
}

// within runs f and fails b if it errs or takes longer than stallTimeout.
func within(b *testing.B, what string, f func() error) {
	b.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			b.Fatalf("%s: %v", what, err)
		}
	case <-time.After(stallTimeout):
		b.Fatalf("%s: no answer within %v", what, stallTimeout)
	}
}

// tally is one run's bookkeeping: what was published, confirmed and
// received, and the first failure.
type tally struct {
	workload
	filler []byte // random, so that no layer can compress bodies away
	sem    chan struct{}

	published, confirmed atomic.Int64
	allConfirmed         chan struct{}

	mu          sync.Mutex
	seen        []bool
	latency     []time.Duration
	received    int
	lastAt      time.Duration
	allReceived chan struct{}

	failOnce sync.Once
	err      error
	failed   chan struct{}
}

func newTally(w workload) *tally {
	t := &tally{
		workload:     w,
		filler:       make([]byte, max(w.size-headerSize, 0)),
		sem:          make(chan struct{}, window),
		allConfirmed: make(chan struct{}),
		seen:         make([]bool, w.messages),
		latency:      make([]time.Duration, w.messages),
		allReceived:  make(chan struct{}),
		failed:       make(chan struct{}),
	}
	crand.Read(t.filler)
	return t
}

// fail records the run's first failure; wait turns it into b.Fatal.
func (t *tally) fail(err error) {
	if err == nil {
		err = errors.New("failed without an error")
	}
	t.failOnce.Do(func() { t.err = err; close(t.failed) })
}

// publish sends the run's messages, paced when the workload has a rate,
// with at most window of them unconfirmed. Its own goroutine; stop ends it.
func (t *tally) publish(p publisher, start time.Duration, stop <-chan struct{}) {
	for seq := range t.messages {
		if t.rate > 0 {
			due := start + time.Duration(float64(seq)*float64(time.Second)/t.rate)
			if d := due - clock(); d > 0 {
				select {
				case <-time.After(d):
				case <-stop:
					return
				}
			}
		}
		select {
		case t.sem <- struct{}{}:
		case <-stop:
			return
		}
		body := make([]byte, t.size)
		copy(body[headerSize:], t.filler)
		binary.BigEndian.PutUint64(body, uint64(seq))
		binary.BigEndian.PutUint64(body[8:], uint64(clock()))
		err := p.publish(body, func(err error) {
			if err != nil {
				t.fail(fmt.Errorf("message %d not confirmed: %w", seq, err))
				return
			}
			<-t.sem
			if t.confirmed.Add(1) == int64(t.messages) {
				close(t.allConfirmed)
			}
		})
		if err != nil {
			t.fail(fmt.Errorf("publish message %d: %w", seq, err))
			return
		}
		t.published.Add(1)
	}
}

// deliver checks and records one received body.
func (t *tally) deliver(body []byte) {
	now := clock()
	if len(body) != t.size {
		t.fail(fmt.Errorf("received a %d-byte body, sent %d bytes", len(body), t.size))
		return
	}
	seq := binary.BigEndian.Uint64(body)
	sent := time.Duration(binary.BigEndian.Uint64(body[8:]))
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case seq >= uint64(t.messages):
		t.fail(fmt.Errorf("received message %d, sent only %d", seq, t.messages))
	case t.seen[seq]:
		t.fail(fmt.Errorf("message %d delivered twice", seq))
	default:
		t.seen[seq] = true
		t.latency[seq] = now - sent
		t.received++
		if t.received == t.messages {
			t.lastAt = now
			close(t.allReceived)
		}
	}
}

// wait returns once every message is confirmed and received; it fails b
// on the first failure or after stallTimeout without progress.
func (t *tally) wait(b *testing.B) {
	b.Helper()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	received, confirmed := t.allReceived, t.allConfirmed
	var last [3]int64
	lastChange := time.Now()
	for received != nil || confirmed != nil {
		select {
		case <-t.failed:
			b.Fatalf("%v (%s)", t.err, t.state())
		case <-received:
			received = nil
		case <-confirmed:
			confirmed = nil
		case <-tick.C:
			now := [3]int64{t.published.Load(), t.confirmed.Load(), int64(t.receivedCount())}
			if now != last {
				last, lastChange = now, time.Now()
			} else if time.Since(lastChange) > stallTimeout {
				b.Fatalf("no progress for %v (%s)", stallTimeout, t.state())
			}
		}
	}
}

func (t *tally) receivedCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.received
}

// state describes how far the run got, for failure messages.
func (t *tally) state() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	published := t.published.Load()
	var missing []int
	for seq, ok := range t.seen[:published] {
		if !ok && len(missing) < 10 {
			missing = append(missing, seq)
		}
	}
	return fmt.Sprintf("published %d, confirmed %d, received %d of %d; first missing of those published: %v",
		published, t.confirmed.Load(), t.received, t.messages, missing)
}
