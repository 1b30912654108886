package faults

import (
	"encoding/binary"
	"fmt"
	"sync"
)

// What happened to one sequence number of a stream (a queue or a
// partition), as bits.
const (
	sent      uint8 = 1 << iota // handed to the client to publish or produce
	confirmed                   // publisher confirm (AMQP) or produce ack (Kafka)
	delivered                   // a consumer received it at least once
	ackSent                     // AMQP: the consumer sent basic.ack for it
	settled                     // AMQP: and a round trip on that channel returned after the ack
	inLog                       // Kafka: seen in the final read of the whole partition
)

// stream is the history of one queue or partition, by sequence number:
// its one producer numbers messages from 0 in publishing order, across
// every run.
type stream struct {
	name  string
	state []uint8
}

// A message's body is bodySize bytes: magic, the stream's index, the
// sequence number, zeros.
const (
	bodySize = 128
	magic    = 0x10F7FA17
)

func encode(stream int, seq int64) []byte {
	b := make([]byte, bodySize)
	binary.BigEndian.PutUint32(b, magic)
	binary.BigEndian.PutUint32(b[4:], uint32(stream))
	binary.BigEndian.PutUint64(b[8:], uint64(seq))
	return b
}

func decode(b []byte) (stream int, seq int64, ok bool) {
	if len(b) != bodySize || binary.BigEndian.Uint32(b) != magic {
		return 0, 0, false
	}
	return int(binary.BigEndian.Uint32(b[4:])), int64(binary.BigEndian.Uint64(b[8:])), true
}

// ledger records what the clients were told and what they received, and
// the invariants broken on the way. Safe for concurrent use.
type ledger struct {
	mu     sync.Mutex
	queues []stream
	parts  []stream
	// committed holds, per partition, the highest offset a commit was
	// told succeeded; fetched what OffsetFetch returned after the latest
	// restart (-1: none).
	committed, fetched []int64

	redelivered int // AMQP deliveries of a message delivered before
	afterAck    int // of them, of a message whose ack was sent but not settled
	refetched   int // Kafka records the group member received again

	run        string // the run under way, which violations name
	violations []string
}

func newLedger(queues, parts []string) *ledger {
	l := &ledger{committed: make([]int64, len(parts)), fetched: make([]int64, len(parts))}
	for _, q := range queues {
		l.queues = append(l.queues, stream{name: "queue " + q})
	}
	for i, p := range parts {
		l.parts = append(l.parts, stream{name: "partition " + p})
		l.committed[i], l.fetched[i] = -1, -1
	}
	return l
}

// fail records a broken invariant; the test fails at the end with the
// first few.
func (l *ledger) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failLocked(format, args...)
}

func (l *ledger) failLocked(format string, args ...any) {
	l.violations = append(l.violations, l.run+": "+fmt.Sprintf(format, args...))
}

// setRun names the run under way.
func (l *ledger) setRun(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.run = fmt.Sprintf(format, args...)
}

// next numbers the next message of s and marks it sent.
func (l *ledger) next(s *stream) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.state = append(s.state, sent)
	return int64(len(s.state) - 1)
}

func (l *ledger) mark(s *stream, seq int64, bit uint8) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.state[seq] |= bit
}

// markAll sets bit on each of ms, of ss.
func (l *ledger) markAll(ss []stream, ms []streamSeq, bit uint8) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range ms {
		ss[m.stream].state[m.seq] |= bit
	}
}

type streamSeq struct {
	stream int
	seq    int64
}

// runOrder is one consumer run's view of order: the last sequence number
// it received from each stream (-1: none yet).
type runOrder []int64

func newRunOrder(n int) runOrder {
	r := make(runOrder, n)
	for i := range r {
		r[i] = -1
	}
	return r
}

// checkDelivery checks a message a consumer received from stream from of
// ss and records it. It returns the message's sequence number and its
// state before, ok false when the body is not a message sent there. A
// first delivery (AMQP redelivered flag clear, or any Kafka fetch) must
// come after everything this run received from the stream before.
func (l *ledger) checkDelivery(ss []stream, from int, body []byte, first bool, run runOrder) (seq int64, prev uint8, ok bool) {
	i, seq, ok := decode(body)
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &ss[from]
	if !ok || i != from || seq >= int64(len(s.state)) {
		l.failLocked("%s: received a message that was never published there (body %x)", s.name, body[:min(len(body), 16)])
		return 0, 0, false
	}
	if first && seq <= run[from] {
		l.failLocked("%s: message %d received after %d in the same run and not flagged as redelivered: out of order", s.name, seq, run[from])
	}
	run[from] = max(run[from], seq)
	prev = s.state[seq]
	if prev&settled != 0 {
		l.failLocked("%s: message %d delivered again although its ack was settled (acked, then a round trip on the channel returned)", s.name, seq)
	}
	s.state[seq] |= delivered
	return seq, prev, true
}

// counted adds to the counters of repeated deliveries.
func (l *ledger) counted(redelivered, afterAck, refetched int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.redelivered += redelivered
	l.afterAck += afterAck
	l.refetched += refetched
}

// commitOK records that a commit of offset for partition p succeeded.
func (l *ledger) commitOK(p int, offset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.committed[p] = max(l.committed[p], offset)
}

// checkFetched checks the committed offsets OffsetFetch returned after a
// restart (-1 for a partition with none) against what commits were told
// and what the previous restart returned.
func (l *ledger) checkFetched(restart int, offsets []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, o := range offsets {
		if o < l.committed[p] {
			l.failLocked("%s: after restart %d the group's committed offset is %d, but a commit of %d had succeeded", l.parts[p].name, restart, o, l.committed[p])
		}
		if o < l.fetched[p] {
			l.failLocked("%s: after restart %d the group's committed offset is %d, after the previous restart it was %d: it went back", l.parts[p].name, restart, o, l.fetched[p])
		}
		l.fetched[p] = o
	}
}

// count returns how many sequence numbers of ss have all the bits of
// want, and the first few that have those of has but not all of want.
func (l *ledger) count(ss []stream, has, want uint8) (n int, missing []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range ss {
		for seq, st := range ss[i].state {
			if st&want == want {
				n++
			} else if st&has == has && len(missing) < 10 {
				missing = append(missing, fmt.Sprintf("%s message %d", ss[i].name, seq))
			}
		}
	}
	return n, missing
}

// missingCount returns how many messages of ss have has but not want.
func (l *ledger) missingCount(ss []stream, has, want uint8) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for i := range ss {
		for _, st := range ss[i].state {
			if st&has == has && st&want != want {
				n++
			}
		}
	}
	return n
}
