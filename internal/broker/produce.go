package broker

import (
	"errors"
	"fmt"

	"github.com/loftmq/loft/internal/logstore"
)

// ProduceResult is the outcome of one Produce.
type ProduceResult struct {
	BaseOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
	Err            error // nil, or one of the sentinel errors
}

func failed(err error) ProduceResult {
	return ProduceResult{BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1, Err: err}
}

// Produce validates one RecordBatch v2 (layout, size against
// max.message.bytes, CRC, magic, keys on a compacted topic), applies
// idempotence (producer id, epoch, sequence), stamps LogAppendTime if the
// topic uses it, and appends the batch. done is called exactly once, from
// any goroutine, when the batch is durable or has failed; at once for a
// duplicate, with the original batch's offset. done must not block.
//
// Produce rewrites batch in place (base offset, and for LogAppendTime the
// max timestamp, attributes and CRC); the bytes may be reused once Produce
// returns.
func (p *Partition) Produce(batch []byte, done func(ProduceResult)) {
	b := p.t.b
	cfg := p.t.cfg.Load()
	h, err := checkBatch(batch, cfg)
	if err != nil {
		done(failed(err))
		return
	}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		done(failed(ErrClosed))
		return
	}
	b.inflight.Add(1)
	b.mu.RUnlock()

	appendTime := int64(-1)
	now := b.opts.Now().UnixMilli()
	if setTimestampType(batch, cfg.logAppendTime, now) && cfg.logAppendTime {
		appendTime = now
	}

	p.enq.Lock()
	defer p.enq.Unlock()
	p.mu.Lock()
	if p.isDeleted() {
		p.mu.Unlock()
		p.finish(done, failed(fmt.Errorf("%w: %s-%d", ErrUnknownTopic, p.t.name, p.index)))
		return
	}
	var e *batchEntry
	if h.pid >= 0 {
		bi := batchInfo{pid: h.pid, epoch: h.epoch, firstSeq: h.firstSeq, lastSeq: addSeq(h.firstSeq, h.lastDelta)}
		var dup *batchEntry
		dup, e, err = p.admitLocked(bi, p.log.HighWatermark(), now)
		switch {
		case err != nil:
			p.mu.Unlock()
			p.finish(done, failed(err))
			return
		case dup != nil && dup.pending:
			// A retry of a batch still in flight: answer it with the
			// original's outcome.
			dup.waiters = append(dup.waiters, done)
			p.mu.Unlock()
			return
		case dup != nil:
			res := ProduceResult{BaseOffset: dup.base, LogAppendTime: dup.appendTime}
			p.mu.Unlock()
			res.LogStartOffset = p.log.StartOffset()
			p.finish(done, res)
			return
		}
	}
	p.mu.Unlock()
	// Under enq, so that batches reach the log in the order their
	// sequences were checked. The callback takes mu only, so it may run
	// inside AppendAsync (a closed log answers at once).
	size := len(batch)
	p.log.AppendAsync(batch, func(base int64, err error) {
		if err == nil {
			p.stats.produced(int64(h.lastDelta)+1, size)
		}
		p.appended(h.pid, e, base, base+int64(h.lastDelta), appendTime, err, done)
	})
}

// appended completes a batch: it records the outcome in the producer's
// state, wakes Wait on success, and answers the batch and any duplicates
// that waited for it.
func (p *Partition) appended(pid int64, e *batchEntry, base, last, appendTime int64, err error, done func(ProduceResult)) {
	var waiters []func(ProduceResult)
	p.mu.Lock()
	if e != nil {
		waiters = p.settleLocked(pid, e, base, last, err)
	}
	if err == nil {
		p.wakeLocked(false)
	}
	p.mu.Unlock()
	var res ProduceResult
	if err != nil {
		res = failed(p.appendErr(err))
	} else {
		res = ProduceResult{BaseOffset: base, LogAppendTime: appendTime, LogStartOffset: p.log.StartOffset()}
	}
	for _, w := range waiters {
		p.finish(w, res)
	}
	p.finish(done, res)
}

// finish answers a produce and ends its count in the broker's in-flight
// produces.
func (p *Partition) finish(done func(ProduceResult), res ProduceResult) {
	done(res)
	p.t.b.inflight.Done()
}

// appendErr maps an append error of the log engine to the broker's.
func (p *Partition) appendErr(err error) error {
	switch {
	case errors.Is(err, logstore.ErrClosed):
		if p.isDeleted() {
			return fmt.Errorf("%w: %s-%d", ErrUnknownTopic, p.t.name, p.index)
		}
		return ErrClosed
	case errors.Is(err, logstore.ErrCorrupt):
		return fmt.Errorf("%w: %v", ErrCorruptMessage, err)
	}
	return fmt.Errorf("%w: %v", ErrStorage, err)
}
