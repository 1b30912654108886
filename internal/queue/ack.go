package queue

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/loftmq/loft/internal/logstore"
)

// ackLocked marks offset o acked.
func (q *Queue) ackLocked(o int64) {
	if len(q.returns) > 0 {
		delete(q.returns, o)
	}
	q.ackRange(o, o+1)
}

// ackRange marks [from, to) acked and schedules the ack record.
func (q *Queue) ackRange(from, to int64) {
	if to <= q.floor {
		return
	}
	from = max(from, q.floor)
	if q.acked.add(from, to) == 0 {
		return
	}
	q.advanceFloor()
	if q.acks == nil || q.closed {
		return
	}
	if k := len(q.ackPending); k > 0 && q.ackPending[k-1].to == from {
		q.ackPending[k-1].to = to
	} else {
		q.ackPending = append(q.ackPending, span{from, to})
	}
	if len(q.ackPending) >= 4096 {
		q.flushAcksLocked()
	} else if q.ackTimer == nil {
		q.ackTimer = time.AfterFunc(ackFlushDelay, q.flushAcks)
	}
}

// advanceFloor moves the floor over the acked offsets at its front.
func (q *Queue) advanceFloor() {
	if s, ok := q.acked.first(); ok && s.from <= q.floor {
		q.floor = max(q.floor, s.to)
	}
	q.acked.dropBelow(q.floor)
}

func (q *Queue) flushAcks() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ackTimer = nil
	if !q.closed {
		q.flushAcksLocked()
	}
}

// flushAcksLocked appends the pending acks to the ack log, without waiting:
// an ack lost to a crash means a redelivery, not a loss. Every
// snapshotEvery records, it writes the whole state instead and trims the
// ack log before it, and at most every trimEvery it trims the message log
// to the floor.
func (q *Queue) flushAcksLocked() {
	if q.acks == nil || len(q.ackPending) == 0 {
		return
	}
	if q.ackTimer != nil {
		q.ackTimer.Stop()
		q.ackTimer = nil
	}
	// Acks of messages not yet durable wait until they are: their append
	// may still fail, and the log then gives their offsets to the next
	// messages, which a written ack would hide for good.
	hw := q.log.HighWatermark()
	ready, later := splitAt(q.ackPending, hw)
	if len(later) > 0 && !q.closed {
		q.ackTimer = time.AfterFunc(ackFlushDelay, q.flushAcks)
	}
	if len(ready) == 0 {
		return
	}
	floor, delivered := min(q.floor, hw), min(q.delivered, hw)
	q.ackRecords++
	snapshot := q.ackRecords >= snapshotEvery
	ts := time.Now().UnixMilli()
	var recs []logstore.Record
	if snapshot {
		q.ackRecords = 0
		recs = q.snapshotRecords(ts, floor, delivered, clipped(q.acked.s, hw))
	} else {
		recs = []logstore.Record{{Timestamp: ts, Value: appendAckRecord(nil, ackDelta, floor, delivered, ready)}}
	}
	q.ackPending = append(q.ackPending[:0], later...)
	batch := logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: -1}, recs)
	acks, logger := q.acks, q.logger
	written := make(chan struct{})
	q.ackWritten = written
	q.acks.AppendAsync(batch, func(base int64, err error) {
		close(written)
		if err != nil {
			logger.Warn("queue: cannot write acks; they may be delivered again after a restart", "err", err)
			return
		}
		if snapshot {
			// The snapshot holds everything before it, once it is
			// synced: trimmed first, a power loss could leave the log
			// starting past its own end, every ack forgotten.
			go func() {
				err := acks.Sync()
				if err == nil {
					_, err = acks.DeleteRecordsBefore(base)
				}
				if err != nil && !errors.Is(err, logstore.ErrClosed) {
					logger.Warn("queue: cannot trim the ack log", "err", err)
				}
			}()
		}
	})
	// The trim stops one short of the log's end: a start offset at the
	// end would make the whole log deletable, and the log would roll its
	// active segment away, pausing appends, every time a consumer caught
	// up. The one acked message left behind is below the floor, never
	// delivered again, and goes with its segment.
	to := min(q.floor, q.log.HighWatermark()-1)
	if now := time.Now(); now.Sub(q.trimmed) >= trimEvery && to > q.log.StartOffset() {
		q.trimmed = now
		log := q.log
		go func() {
			if _, err := log.DeleteRecordsBefore(to); err != nil && !errors.Is(err, logstore.ErrClosed) {
				logger.Warn("queue: cannot delete acked messages", "err", err)
			}
		}()
	}
}

// splitAt splits spans, in any order, into their parts below o and the
// rest. When all of spans is below o, below is spans itself.
func splitAt(spans []span, o int64) (below, rest []span) {
	if !slices.ContainsFunc(spans, func(s span) bool { return s.to > o }) {
		return spans, nil
	}
	for _, s := range spans {
		switch {
		case s.to <= o:
			below = append(below, s)
		case s.from >= o:
			rest = append(rest, s)
		default:
			below = append(below, span{s.from, o})
			rest = append(rest, span{o, s.to})
		}
	}
	return below, rest
}

// snapshotRecords returns the records of a snapshot of the ack state:
// the acks, and the delivery counts right after them, in the same batch,
// as the records before the snapshot go.
func (q *Queue) snapshotRecords(ts, floor, delivered int64, acked []span) []logstore.Record {
	recs := []logstore.Record{{Timestamp: ts, Value: appendAckRecord(nil, ackSnapshot, floor, delivered, acked)}}
	if len(q.returns) > 0 {
		all := make([]offsetReturns, 0, len(q.returns))
		for o, n := range q.returns {
			all = append(all, offsetReturns{o, n})
		}
		recs = append(recs, logstore.Record{Offset: 1, Timestamp: ts, Value: appendReturnsRecord(nil, all)})
	}
	return recs
}

// forgetPastEnd drops the ack state of the offsets at or past end, the
// message log's end after recovery, and reports whether there was any.
// Such acks are of messages a crash took before they were written: a
// consumer may be served a message from the cache before it is durable
// and ack it, and the ack log may be written first. Kept, they would ack
// the new messages that take those offsets, which would never be
// delivered.
func (q *Queue) forgetPastEnd(end int64) bool {
	forgot := q.floor > end || q.delivered > end
	q.floor, q.delivered = min(q.floor, end), min(q.delivered, end)
	n := q.acked.n
	q.acked.dropFrom(end)
	forgot = forgot || q.acked.n != n
	for o := range q.returns {
		if o >= end {
			delete(q.returns, o)
			forgot = true
		}
	}
	return forgot
}

// resetAckLog writes a snapshot of the ack state, synced, and makes it
// the start of the ack log, so that no record before it is replayed
// again. Open calls it after forgetPastEnd forgot something, before the
// queue serves.
func (q *Queue) resetAckLog() error {
	batch := logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: -1}, q.snapshotRecords(time.Now().UnixMilli(), q.floor, q.delivered, q.acked.s))
	base, err := q.acks.Append(batch)
	if err == nil {
		err = q.acks.Sync()
	}
	if err == nil {
		_, err = q.acks.DeleteRecordsBefore(base)
	}
	if err != nil {
		return fmt.Errorf("queue %s: rewrite the ack log: %w", q.name, err)
	}
	return nil
}

// writeAcksWait bounds how long WriteAcks waits for acked messages to
// become durable: an fsync, with room for a slow disk.
const writeAcksWait = time.Second

// WriteAcks writes the acks taken so far to the ack log at once and
// returns when they are written, not synced: from then on a crash of the
// process does not forget them (a power loss still may). Acks of messages
// not yet durable (served from the cache before their fsync) are written
// once the messages are, which WriteAcks waits for, at most writeAcksWait.
// The AMQP channel calls it before answering a synchronous method after
// acks, so that an ack followed by a round trip is settled. It returns at
// once for a queue without an ack log, and may return early if the log
// failed or closed.
func (q *Queue) WriteAcks() {
	deadline := time.Now().Add(writeAcksWait)
	for {
		settled := q.settledSignal()
		q.mu.Lock()
		if !q.closed {
			q.flushAcksLocked()
		}
		// Appends are written in order: the latest one written, every
		// earlier one is too.
		written := q.ackWritten
		waiting := len(q.ackPending) > 0 && !q.closed
		q.mu.Unlock()
		if waiting && time.Now().Before(deadline) {
			select {
			case <-settled:
				continue
			case <-time.After(time.Until(deadline)):
			}
		}
		if written != nil {
			<-written
		}
		return
	}
}

// settledSignal returns the channel closed when the next message append
// completes; taken before reading the high watermark, it cannot miss one.
func (q *Queue) settledSignal() <-chan struct{} {
	for {
		if c := q.settled.Load(); c != nil {
			return *c
		}
		c := make(chan struct{})
		q.settled.CompareAndSwap(nil, &c)
	}
}

// signalSettled wakes those waiting for a message append to complete.
func (q *Queue) signalSettled() {
	if c := q.settled.Swap(nil); c != nil {
		close(*c)
	}
}

// logReturns appends the counts of messages just given back to the ack
// log, without waiting (a count lost to a power loss only allows a
// message one more delivery). q.mu is held.
func (q *Queue) logReturns(rs []offsetReturns) {
	if q.acks == nil || q.closed || len(rs) == 0 {
		return
	}
	rec := [1]logstore.Record{{Timestamp: time.Now().UnixMilli(), Value: appendReturnsRecord(nil, rs)}}
	logger := q.logger
	q.acks.AppendAsync(logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: -1}, rec[:]), func(_ int64, err error) {
		if err != nil {
			logger.Warn("queue: cannot write delivery counts; a restart may forget them", "err", err)
		}
	})
}
