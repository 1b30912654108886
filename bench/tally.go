package main

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// headerSize is the start of every body: the message's sequence number and
// its publish start time, 8 bytes each, big-endian.
const headerSize = 16

// epoch anchors send times: bodies carry nanoseconds since epoch read from
// the monotonic clock, so a wall-clock step cannot bend a latency.
var epoch = time.Now()

func clock() time.Duration { return time.Since(epoch) }

// errLost is the verification failure: a message the broker acknowledged
// never reached one of the queues it was routed to.
var errLost = errors.New("bench: acknowledged messages missing")

// tally is one flow's bookkeeping: which messages were acknowledged by the
// broker and which arrived on which queue, how often and how late.
type tally struct {
	size, messages, queues int
	filler                 []byte // random, so that nothing can compress bodies away

	published, confirmed atomic.Int64
	allConfirmed         chan struct{}
	lastConfirm          atomic.Int64 // clock() of the last confirm, ns

	mu          sync.Mutex
	acked       []bool  // by sequence number
	seen        []uint8 // deliveries of message seq to queue q at [q*messages+seq], saturating
	latency     []time.Duration
	received    int // first deliveries
	duplicates  int
	lastAt      time.Duration
	allReceived chan struct{}

	failOnce sync.Once
	err      error
	failed   chan struct{}
}

func newTally(size, messages, queues int) *tally {
	t := &tally{
		size:         size,
		messages:     messages,
		queues:       queues,
		filler:       make([]byte, max(size-headerSize, 0)),
		allConfirmed: make(chan struct{}),
		acked:        make([]bool, messages),
		seen:         make([]uint8, messages*queues),
		latency:      make([]time.Duration, 0, messages*queues),
		allReceived:  make(chan struct{}),
		failed:       make(chan struct{}),
	}
	_, _ = crand.Read(t.filler)
	return t
}

// fail records the flow's first failure; wait returns it.
func (t *tally) fail(err error) {
	if err == nil {
		err = errors.New("bench: failed without an error")
	}
	t.failOnce.Do(func() { t.err = err; close(t.failed) })
}

// body builds message seq, stamped with the current time.
func (t *tally) body(seq int) []byte {
	b := make([]byte, max(t.size, headerSize))
	copy(b[headerSize:], t.filler)
	binary.BigEndian.PutUint64(b, uint64(seq))
	binary.BigEndian.PutUint64(b[8:], uint64(clock()))
	return b
}

// confirm records the broker's acknowledgement of message seq.
func (t *tally) confirm(seq int, err error) {
	if err != nil {
		t.fail(fmt.Errorf("message %d not acknowledged: %w", seq, err))
		return
	}
	t.mu.Lock()
	t.acked[seq] = true
	t.mu.Unlock()
	t.lastConfirm.Store(int64(clock()))
	if t.confirmed.Add(1) == int64(t.messages) {
		close(t.allConfirmed)
	}
}

// deliver checks and records one body received from queue q.
func (t *tally) deliver(q int, body []byte) {
	now := clock()
	if len(body) != max(t.size, headerSize) {
		t.fail(fmt.Errorf("received a %d-byte body, sent %d bytes", len(body), t.size))
		return
	}
	seq := binary.BigEndian.Uint64(body)
	sent := time.Duration(binary.BigEndian.Uint64(body[8:]))
	if seq >= uint64(t.messages) {
		t.fail(fmt.Errorf("received message %d, sent only %d", seq, t.messages))
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	i := q*t.messages + int(seq)
	if t.seen[i] > 0 {
		t.duplicates++
		if t.seen[i] < 255 {
			t.seen[i]++
		}
		return
	}
	t.seen[i] = 1
	t.latency = append(t.latency, now-sent)
	t.received++
	if t.received == t.messages*t.queues {
		t.lastAt = now
		close(t.allReceived)
	}
}

// wait returns once every message is acknowledged and received on every
// queue. It returns the first failure, or an error after stall without
// progress; when everything was acknowledged but some never arrived, that
// error wraps errLost.
func (t *tally) wait(stall time.Duration, stop <-chan struct{}) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	received, confirmed := t.allReceived, t.allConfirmed
	var last [3]int64
	lastChange := time.Now()
	for received != nil || confirmed != nil {
		select {
		case <-t.failed:
			return fmt.Errorf("%w (%s)", t.err, t.state())
		case <-stop:
			return fmt.Errorf("bench: interrupted (%s)", t.state())
		case <-received:
			received = nil
		case <-confirmed:
			confirmed = nil
		case <-tick.C:
			now := [3]int64{t.published.Load(), t.confirmed.Load(), int64(t.receivedCount())}
			if now != last {
				last, lastChange = now, time.Now()
				continue
			}
			if time.Since(lastChange) < stall {
				continue
			}
			if confirmed == nil {
				return fmt.Errorf("%w: no delivery for %v (%s)", errLost, stall, t.state())
			}
			return fmt.Errorf("bench: no progress for %v (%s)", stall, t.state())
		}
	}
	return nil
}

// waitConfirmed returns once every message is acknowledged, on a failure,
// or after stall without a new acknowledgement.
func (t *tally) waitConfirmed(stall time.Duration, stop <-chan struct{}) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last int64 = -1
	lastChange := time.Now()
	for {
		select {
		case <-t.allConfirmed:
			return nil
		case <-t.failed:
			return fmt.Errorf("%w (%s)", t.err, t.state())
		case <-stop:
			return fmt.Errorf("bench: interrupted (%s)", t.state())
		case <-tick.C:
			if n := t.confirmed.Load(); n != last {
				last, lastChange = n, time.Now()
			} else if time.Since(lastChange) > stall {
				return fmt.Errorf("bench: no acknowledgement for %v (%s)", stall, t.state())
			}
		}
	}
}

func (t *tally) receivedCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.received
}

// counts returns how many acknowledged messages are missing from some
// queue (each queue counted) and how many deliveries were duplicates.
func (t *tally) counts() (missing, duplicates int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for q := range t.queues {
		for seq, ok := range t.acked {
			if ok && t.seen[q*t.messages+seq] == 0 {
				missing++
			}
		}
	}
	return missing, t.duplicates
}

// state describes how far the flow got, for error messages.
func (t *tally) state() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var missing []string
	for q := range t.queues {
		for seq, ok := range t.acked {
			if ok && t.seen[q*t.messages+seq] == 0 && len(missing) < 10 {
				missing = append(missing, fmt.Sprintf("%d@q%d", seq, q))
			}
		}
	}
	return fmt.Sprintf("published %d, acknowledged %d, received %d of %d × %d queues, %d duplicates; first acknowledged but missing: %v",
		t.published.Load(), t.confirmed.Load(), t.received, t.messages, t.queues, t.duplicates, missing)
}
