package delay

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loftmq/loft/internal/logstore"
)

// run is the firing goroutine: it sleeps until the first message is due,
// or something changes the first, and fires what is due.
func (s *Store) run() {
	defer s.wg.Done()
	t := time.NewTimer(maxWait)
	defer t.Stop()
	var due []entry
	for {
		var wait time.Duration
		due, wait = s.take(due[:0])
		if len(due) > 0 {
			if !s.fireAll(due) {
				return
			}
			continue
		}
		t.Reset(wait)
		select {
		case <-s.stop:
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// take appends to dst the messages due now, as many as the fires in flight
// allow, and marks them in flight. When none is, it returns how long to
// sleep.
func (s *Store) take(dst []entry) ([]entry, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	ms := now.UnixMilli()
	for len(dst) < takeMax && len(s.heap) > 0 && s.heap[0].due <= ms && len(s.flying) < s.cfg.MaxInFlight {
		e := s.heap.pop()
		s.flying[e.off] = struct{}{}
		dst = append(dst, e)
	}
	if len(dst) > 0 || len(s.heap) == 0 || len(s.flying) >= s.cfg.MaxInFlight {
		return dst, maxWait
	}
	return dst, min(time.UnixMilli(s.heap[0].due).Sub(now), maxWait)
}

// fireAll reads and fires the messages taken, in order. It returns false
// when the store is stopping, having put back those not fired.
func (s *Store) fireAll(due []entry) bool {
	s.read(due)
	for i, e := range due {
		select {
		case <-s.stop:
			s.putBack(due[i:])
			clear(s.payloads)
			return false
		default:
		}
		p := s.payloads[i]
		s.payloads[i] = read{}
		if p.err != nil {
			s.unreadable(e, p.err)
			continue
		}
		s.cfg.Fire(p.payload, s.doneFunc(e))
	}
	return true
}

// read is a payload read back, or why not.
type read struct {
	payload []byte
	err     error
}

// readers read payloads back at once: messages falling due scattered over
// the log are read one by one, and a read costs mostly a copy from the
// page cache, which several cores do faster than one.
const readers = 4

// read reads the payloads of due into s.payloads, splitting the work among
// the readers when there is enough of it.
func (s *Store) read(due []entry) {
	s.payloads = slices.Grow(s.payloads[:0], len(due))[:len(due)]
	w := min(readers, len(due)/32)
	if w <= 1 {
		for i, e := range due {
			s.payloads[i].payload, s.payloads[i].err = s.rds[0].payload(e.off)
		}
		return
	}
	per := (len(due) + w - 1) / w
	var wg sync.WaitGroup
	for k := range w {
		lo, hi := k*per, min(len(due), (k+1)*per)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				s.payloads[i].payload, s.payloads[i].err = s.rds[k].payload(due[i].off)
			}
		})
	}
	wg.Wait()
}

func (s *Store) putBack(es []entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range es {
		delete(s.flying, e.off)
		s.heap.push(e)
	}
}

// unreadable handles a message whose payload cannot be read. Damage on
// disk, or a message trimmed away, cannot come back: the message is dropped
// with an error. Anything else may pass, and the message is tried again.
func (s *Store) unreadable(e entry, err error) {
	if errors.Is(err, logstore.ErrCorrupt) || errors.Is(err, logstore.ErrOffsetOutOfRange) || errors.Is(err, errMissing) {
		s.logger.Error("delay: dropping a message that cannot be read", "offset", e.off, "err", err)
		s.settle(e, nil)
		return
	}
	s.settle(e, fmt.Errorf("read: %w", err))
}

// doneFunc returns the done given to Fire for e; a second call is ignored.
func (s *Store) doneFunc(e entry) func(error) {
	var called atomic.Bool
	return func(err error) {
		if !called.Swap(true) {
			s.settle(e, err)
		}
	}
}

// settle takes the outcome of firing e: fired, or to fire again later.
func (s *Store) settle(e entry, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.final {
		return
	}
	if len(s.flying) >= s.cfg.MaxInFlight {
		s.signal() // room for one more
	}
	delete(s.flying, e.off)
	if err != nil {
		s.failedLocked(e, err)
		return
	}
	s.pending--
	s.counts.add(e.off, -1)
	s.markLocked(e.off)
}

// failedLocked schedules e again and logs, at most once a second, the
// failures since the last log.
func (s *Store) failedLocked(e entry, err error) {
	now := s.cfg.Now()
	s.failures++
	if now.Sub(s.failLogged) >= time.Second {
		s.logger.Warn("delay: fire failed; will retry", "offset", e.off, "err", err,
			"failures", s.failures, "retry_after", s.cfg.retryAfter)
		s.failures, s.failLogged = 0, now
	}
	e.due = millis(now.Add(s.cfg.retryAfter))
	if !s.closed {
		s.pushLocked(e)
	}
}

var errMissing = errors.New("delay: message not in the log")

// readAheadMax bounds the bytes read at once when messages fire in offset
// order, the common case of one delay for all.
const readAheadMax = 64 << 10

// reader reads payloads back from the message log. Messages due in offset
// order are read many batches at a time; scattered ones one at a time.
type reader struct {
	log     *logstore.Log
	buf     []byte
	batches [][]byte // of buf
	next    int64    // offset after the last payload read
	ahead   int
}

// payload returns the value of the record at off, copied.
func (r *reader) payload(off int64) ([]byte, error) {
	b := r.find(off)
	if b == nil {
		if off == r.next {
			r.ahead = min(max(2*r.ahead, 4096), readAheadMax)
		} else {
			r.ahead = 1 // one batch
		}
		var err error
		r.buf, err = r.log.Read(r.buf[:0], off, r.ahead)
		if err != nil {
			r.batches = r.batches[:0]
			return nil, err
		}
		r.batches = logstore.SplitBatches(r.buf)
		if b = r.find(off); b == nil {
			return nil, fmt.Errorf("%w: offset %d", errMissing, off)
		}
	}
	r.next = off + 1
	recs, err := logstore.DecodeRecords(b)
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if rec.Offset == off {
			if rec.Value == nil {
				return []byte{}, nil
			}
			return bytes.Clone(rec.Value), nil
		}
	}
	return nil, fmt.Errorf("%w: offset %d", errMissing, off)
}

// find returns the batch read that holds off, or nil.
func (r *reader) find(off int64) []byte {
	i := sort.Search(len(r.batches), func(i int) bool {
		end, err := logstore.BatchEnd(r.batches[i])
		return err != nil || end > off
	})
	if i == len(r.batches) || batchBase(r.batches[i]) > off {
		return nil
	}
	return r.batches[i]
}
