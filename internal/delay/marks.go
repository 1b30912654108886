package delay

import (
	"errors"
	"slices"
	"time"

	"github.com/loftmq/loft/internal/logstore"
)

// markLocked records that off has fired; the mark is written soon.
func (s *Store) markLocked(off int64) {
	if k := len(s.marks); k > 0 && s.marks[k-1].to == off {
		s.marks[k-1].to++
	} else {
		s.marks = append(s.marks, span{off, off + 1})
	}
	if len(s.marks) >= maxMarkSpans {
		s.flushLocked()
	} else if s.markTimer == nil && !s.closed {
		s.markTimer = time.AfterFunc(markDelay, s.flushMarks)
	}
}

func (s *Store) flushMarks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.markTimer = nil
	if !s.closed {
		s.flushLocked()
	}
}

// flushLocked appends the marks waiting to the done log, without waiting
// for the append: a mark lost to a crash fires its message again, which
// at-least-once allows. While a snapshot is being made, marks wait for it.
func (s *Store) flushLocked() {
	if len(s.marks) == 0 || s.snapshotting || s.final {
		return
	}
	if s.markTimer != nil {
		s.markTimer.Stop()
		s.markTimer = nil
	}
	value := appendMarkRecord(nil, markDelta, s.floorLocked(), s.marks)
	s.marks = s.marks[:0]
	if cap(s.marks) > 4*maxMarkSpans {
		s.marks = nil
	}
	s.markBytes += len(value)
	s.appendDone(value, false)
}

// appendDone appends a mark record to the done log. Its callback must not
// take the mutex: a failed append calls it at once, under the mutex.
func (s *Store) appendDone(value []byte, snapshot bool) {
	rec := [1]logstore.Record{{Timestamp: time.Now().UnixMilli(), Value: value}}
	batch := logstore.AppendBatch(nil, batchOptions, rec[:])
	s.writing.Add(1)
	s.done.AppendAsync(batch, func(base int64, err error) {
		defer s.writing.Add(-1)
		if err != nil {
			s.logger.Warn("delay: cannot write fired marks; those messages may fire again after a restart", "err", err)
			return
		}
		if snapshot {
			s.snapshotAt.Store(base)
		}
	})
}

// tidy is the maintenance goroutine: every interval it snapshots the done
// log when the marks written since the last snapshot call for it, and
// trims both logs.
func (s *Store) tidy() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.tidyEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.snapshot()
		s.trim()
	}
}

// snapshot writes the whole fired state as one record, so that the done
// log can be trimmed before it. The fired offsets are those of
// [floor, durable) not pending: sorting the pending offsets takes a while
// for a million, so it is done without the mutex, and the marks of fires
// done meanwhile wait, to be written after the snapshot.
func (s *Store) snapshot() {
	s.mu.Lock()
	if s.closed || s.markBytes < max(s.snapshotSize, s.cfg.snapshotMin) {
		s.mu.Unlock()
		return
	}
	pending := make([]int64, 0, len(s.heap)+len(s.flying))
	for _, e := range s.heap {
		pending = append(pending, e.off)
	}
	for off := range s.flying {
		pending = append(pending, off)
	}
	floor, end := s.floorLocked(), s.durable
	s.snapshotting = true
	s.mu.Unlock()

	slices.Sort(pending)
	value := appendMarkRecord(nil, markSnapshot, floor, gaps(floor, end, pending))

	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshotting = false
	if s.closed {
		return // Close writes the marks held
	}
	s.snapshotSize, s.markBytes = len(value), 0
	s.appendDone(value, true)
	s.flushLocked()
}

// trim deletes the done log before its latest snapshot, and the message
// log below the floor.
func (s *Store) trim() {
	if at := s.snapshotAt.Load(); at > s.done.StartOffset() {
		if _, err := s.done.DeleteRecordsBefore(at); err != nil && !errors.Is(err, logstore.ErrClosed) {
			s.logger.Warn("delay: cannot trim the done log", "err", err)
		}
	}
	s.mu.Lock()
	floor := s.floorLocked()
	s.mu.Unlock()
	// The trim stops one short of the log's end, as the queue's does: a
	// start offset at the end would roll the active segment away, pausing
	// appends, each time the store runs empty. The message left behind
	// has fired; at worst, should its mark be lost, it fires again.
	to := min(floor, s.log.HighWatermark()-1)
	if to > s.log.StartOffset() {
		if _, err := s.log.DeleteRecordsBefore(to); err != nil && !errors.Is(err, logstore.ErrClosed) {
			s.logger.Warn("delay: cannot trim fired messages", "err", err)
		}
	}
}
