package broker

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/loftmq/loft/internal/logstore"
)

// Idempotent producers, as Kafka's ProducerStateManager keeps them: per
// partition and producer id, the epoch, the sequence the next batch must
// start with, and the last retainBatches batches, so that a retried batch
// is recognised and answered with its original offset instead of being
// stored twice.
//
// The state of a batch is recorded when Produce admits it, before the log
// has made it durable: batches a producer pipelines are checked against
// each other. When an append fails, the log fails every append queued
// behind it too; the failed batch's entry and every later one of the same
// producer are removed and the expected sequence goes back to the failed
// batch's, so the producer's retries, with the same sequences, succeed.
//
// One corner remains: a batch admitted while an earlier one's failure is
// being reported can reach a fresh pass of the log and succeed. It is then
// in the log after a gap in the producer's sequences; the state follows the
// log (that batch becomes the last), so retries of the failed ones get
// OUT_OF_ORDER_SEQUENCE_NUMBER. That takes a failed write under pipelined
// load; Kafka's appends are synchronous and never meet it.
const retainBatches = 5

// producerExpiration is how long a producer's state is kept after its
// last batch: Kafka's producer.id.expiration.ms default. Every idempotent
// client (franz-go's default) gets a new producer id, so without expiry
// the state would grow with every client ever connected. An expired
// producer is unknown: accepted at any sequence.
const producerExpiration = 24 * time.Hour

// producerScanOffsets bounds how far back Open reads a partition's log to
// rebuild its producers' state: the last producerScanOffsets offsets (see
// loadProducers).
const producerScanOffsets = 1 << 16

type producer struct {
	used    int64 // ms: when its last batch was admitted (or, after a restart, loaded)
	epoch   int16
	next    int32         // the sequence the next batch must start with
	batches []*batchEntry // oldest first; the last retainBatches, plus any pending
}

// batchEntry is one batch of a producer.
type batchEntry struct {
	epoch             int16
	firstSeq, lastSeq int32
	base, last        int64 // offsets; -1 while pending
	appendTime        int64 // LogAppendTime, or -1
	pending           bool  // the log has not answered yet
	// orphaned: removed from its producer because an earlier batch failed
	// (the log fails this one too, but for the corner described above).
	orphaned bool
	waiters  []func(ProduceResult) // duplicates that arrived while pending
}

// batchInfo is what idempotence needs of a batch header.
type batchInfo struct {
	pid      int64
	epoch    int16
	firstSeq int32
	lastSeq  int32
}

// addSeq adds n to a sequence number, wrapping past math.MaxInt32 to 0 as
// Kafka's sequences do.
func addSeq(seq, n int32) int32 {
	if seq > math.MaxInt32-n {
		return n - (math.MaxInt32 - seq) - 1
	}
	return seq + n
}

// admitLocked checks a batch of an idempotent producer against the
// producer's state. It returns the entry of an earlier batch it duplicates,
// or records and returns a new pending entry. The caller holds enq and mu.
func (p *Partition) admitLocked(bi batchInfo, hw, now int64) (dup, e *batchEntry, err error) {
	p.expireLocked(now)
	pr := p.producers[bi.pid]
	if pr != nil {
		pr.used = now
	}
	switch {
	case pr == nil:
		// Unknown producer: its state expired or was never here. Kafka
		// (since 2.5, KIP-360) accepts any sequence then; but a partition
		// that never held a record takes only sequence 0 (KAFKA-15591), so
		// that a lost first batch cannot go unnoticed.
		if hw == 0 && bi.firstSeq != 0 {
			return nil, nil, fmt.Errorf("%w: producer %d starts at sequence %d in an empty partition, want 0", ErrOutOfOrderSequence, bi.pid, bi.firstSeq)
		}
		pr = &producer{epoch: bi.epoch, used: now}
		p.producers[bi.pid] = pr
	case bi.epoch < pr.epoch:
		return nil, nil, fmt.Errorf("%w: producer %d epoch %d, current %d", ErrInvalidProducerEpoch, bi.pid, bi.epoch, pr.epoch)
	case bi.epoch > pr.epoch:
		if bi.firstSeq != 0 {
			return nil, nil, fmt.Errorf("%w: producer %d new epoch %d starts at sequence %d, want 0", ErrOutOfOrderSequence, bi.pid, bi.epoch, bi.firstSeq)
		}
		pr.epoch = bi.epoch
		pr.batches = nil // entries in flight complete without the state
	default:
		for _, b := range pr.batches {
			if b.firstSeq == bi.firstSeq && b.lastSeq == bi.lastSeq {
				return b, nil, nil
			}
		}
		if bi.firstSeq != pr.next {
			return nil, nil, fmt.Errorf("%w: producer %d epoch %d sequence %d, expected %d", ErrOutOfOrderSequence, bi.pid, bi.epoch, bi.firstSeq, pr.next)
		}
	}
	e = &batchEntry{epoch: bi.epoch, firstSeq: bi.firstSeq, lastSeq: bi.lastSeq, base: -1, last: -1, appendTime: -1, pending: true}
	pr.push(e)
	return nil, e, nil
}

// expireLocked forgets producers idle for producerExpiration, at most
// once a minute so that admitting a batch stays cheap. The caller holds mu.
func (p *Partition) expireLocked(now int64) {
	if now-p.swept < time.Minute.Milliseconds() && now >= p.swept {
		return
	}
	p.swept = now
	for pid, pr := range p.producers {
		if now-pr.used >= producerExpiration.Milliseconds() && !pr.pending() {
			delete(p.producers, pid)
		}
	}
}

func (pr *producer) pending() bool {
	n := len(pr.batches)
	return n > 0 && pr.batches[n-1].pending
}

// push appends e as the producer's newest batch and forgets the oldest
// completed ones beyond retainBatches.
func (pr *producer) push(e *batchEntry) {
	pr.batches = append(pr.batches, e)
	pr.next = addSeq(e.lastSeq, 1)
	for len(pr.batches) > retainBatches && !pr.batches[0].pending {
		pr.batches[0] = nil
		pr.batches = pr.batches[1:]
	}
}

// settleLocked records the log's answer for a pending entry and returns the
// duplicates waiting on it. The caller holds mu.
func (p *Partition) settleLocked(pid int64, e *batchEntry, base, last int64, err error) []func(ProduceResult) {
	waiters := e.waiters
	e.waiters, e.pending = nil, false
	pr := p.producers[pid]
	attached := pr != nil && pr.epoch == e.epoch && !e.orphaned
	if err != nil {
		if !attached {
			return waiters
		}
		for i, b := range pr.batches {
			if b != e {
				continue
			}
			for _, later := range pr.batches[i+1:] {
				later.orphaned = true
			}
			clear(pr.batches[i:])
			pr.batches = pr.batches[:i]
			pr.next = e.firstSeq
			break
		}
		return waiters
	}
	e.base, e.last = base, last
	if e.orphaned && pr != nil && pr.epoch == e.epoch {
		// The corner in the comment at the top: the log has this batch
		// after one that failed. Follow the log.
		p.t.b.logger.Warn("broker: idempotent batch stored after a failed one; its producer's retries will be out of order",
			"topic", p.t.name, "partition", p.index, "producer", pid, "sequence", e.firstSeq, "offset", base)
		e.orphaned = false
		pr.push(e)
	}
	if pr != nil {
		for len(pr.batches) > retainBatches && !pr.batches[0].pending {
			pr.batches[0] = nil
			pr.batches = pr.batches[1:]
		}
	}
	return waiters
}

// loadProducers rebuilds the producers' state from the end of the log.
//
// Bound: only the last producerScanOffsets offsets are read. A producer
// whose last batches all lie before that is unknown after the restart and
// is accepted at any sequence (as Kafka does for a producer whose state
// expired), so only a duplicate retried across the restart by such a
// producer would be stored twice. Producers with requests in flight when
// the broker stopped wrote the log's last batches, which are read.
// Kafka reads the last two segments (or a snapshot); the log engine does
// not expose segment boundaries to the broker, hence the bound in offsets.
func (p *Partition) loadProducers() error {
	start, hw := p.log.StartOffset(), p.log.HighWatermark()
	from := max(start, hw-producerScanOffsets)
	if from >= hw {
		return nil
	}
	now := p.t.b.opts.Now().UnixMilli()
	// Headers only: the records are not needed, and reading them all
	// made a restart with gigabytes per partition read gigabytes.
	off := from
	var bad error
	for {
		err := p.log.ReadHeaders(off, func(b []byte) bool {
			h := readHeader(b)
			end := h.base + int64(h.lastDelta) + 1
			if end <= off {
				bad = fmt.Errorf("broker: rebuild producers of %s: batch at %d ends at %d", p.log.Name(), off, end)
				return false
			}
			off = end
			if h.pid >= 0 && h.attrs&attrControl == 0 {
				p.replayBatch(h, now)
			}
			return true
		})
		if bad != nil {
			return bad
		}
		if ce := (*logstore.CorruptError)(nil); errors.As(err, &ce) && ce.To > off {
			off = ce.To // damaged on disk (the log reported it): the batches after it count
			continue
		}
		if err != nil {
			p.t.b.logger.Warn("broker: producer state rebuilt up to an unreadable batch",
				"topic", p.t.name, "partition", p.index, "offset", off, "err", err)
		}
		return nil
	}
}

// replayBatch applies a stored batch to the producers' state, unchecked,
// as Kafka does when it loads producer state from the log.
func (p *Partition) replayBatch(h header, now int64) {
	pr := p.producers[h.pid]
	switch {
	case pr == nil || h.epoch > pr.epoch:
		pr = &producer{epoch: h.epoch, used: now}
		p.producers[h.pid] = pr
	case h.epoch < pr.epoch:
		return
	}
	e := &batchEntry{
		epoch: h.epoch, firstSeq: h.firstSeq, lastSeq: addSeq(h.firstSeq, h.lastDelta),
		base: h.base, last: h.base + int64(h.lastDelta), appendTime: -1,
	}
	if h.attrs&attrLogAppendTime != 0 {
		e.appendTime = h.maxTime
	}
	pr.push(e)
}

// dropProducersBefore forgets producers whose last batch lies wholly below
// the log start offset, as Kafka does after DeleteRecords: their state is
// no longer backed by the log.
func (p *Partition) dropProducersBefore(start int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pid, pr := range p.producers {
		n := len(pr.batches)
		if n == 0 || (!pr.batches[n-1].pending && pr.batches[n-1].last < start) {
			delete(p.producers, pid)
		}
	}
}
