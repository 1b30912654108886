package queue

import (
	"errors"
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
	now, later := splitAt(q.ackPending, hw)
	if len(later) > 0 && !q.closed {
		q.ackTimer = time.AfterFunc(ackFlushDelay, q.flushAcks)
	}
	if len(now) == 0 {
		return
	}
	floor, delivered := min(q.floor, hw), min(q.delivered, hw)
	q.ackRecords++
	snapshot := q.ackRecords >= snapshotEvery
	var value []byte
	if snapshot {
		q.ackRecords = 0
		value = appendAckRecord(nil, ackSnapshot, floor, delivered, clipped(q.acked.s, hw))
	} else {
		value = appendAckRecord(nil, ackDelta, floor, delivered, now)
	}
	q.ackPending = append(q.ackPending[:0], later...)
	recs := []logstore.Record{{Timestamp: time.Now().UnixMilli(), Value: value}}
	if snapshot && len(q.returns) > 0 {
		// The records before the snapshot go: the counts they hold come
		// right after it, in the same batch.
		all := make([]offsetReturns, 0, len(q.returns))
		for o, n := range q.returns {
			all = append(all, offsetReturns{o, n})
		}
		recs = append(recs, logstore.Record{Offset: 1, Timestamp: recs[0].Timestamp, Value: appendReturnsRecord(nil, all)})
	}
	batch := logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: -1}, recs)
	acks, logger := q.acks, q.logger
	q.acks.AppendAsync(batch, func(base int64, err error) {
		if err != nil {
			logger.Warn("queue: cannot write acks; they may be delivered again after a restart", "err", err)
			return
		}
		if snapshot {
			// The snapshot holds everything before it.
			go func() {
				if _, err := acks.DeleteRecordsBefore(base); err != nil && !errors.Is(err, logstore.ErrClosed) {
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
