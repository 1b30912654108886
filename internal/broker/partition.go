package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/loftmq/loft/internal/logstore"
)

// Partition is one partition of a topic: one log, named "<topic>-<index>",
// and the state of the idempotent producers writing to it.
//
// Locks: enq orders the idempotence checks of Produce with the appends
// they admit and is taken before mu, which guards the producers' state and
// the wait channel. The log's append callbacks take mu only.
type Partition struct {
	t     *Topic
	index int32
	log   *logstore.Log

	enq sync.Mutex

	mu        sync.Mutex
	producers map[int64]*producer
	swept     int64         // ms: when expired producers were last dropped
	wait      chan struct{} // closed when the high watermark advances
	waited    bool          // someone holds wait: replace it on the next advance

	deleted atomic.Bool
	stats   counters // see stats.go
}

func newPartition(t *Topic, i int32, l *logstore.Log) *Partition {
	return &Partition{
		t: t, index: i, log: l,
		producers: make(map[int64]*producer),
		wait:      make(chan struct{}),
	}
}

// Topic returns the name of the partition's topic.
func (p *Partition) Topic() string { return p.t.name }

// Index returns the partition's index in its topic.
func (p *Partition) Index() int32 { return p.index }

// HighWatermark returns the offset after the last durable record.
func (p *Partition) HighWatermark() int64 { return p.log.HighWatermark() }

// LogStartOffset returns the first offset that may be read.
func (p *Partition) LogStartOffset() int64 { return p.log.StartOffset() }

// markDeleted makes the partition refuse work and wakes its waiters for
// good.
func (p *Partition) markDeleted() {
	p.deleted.Store(true)
	p.wake(true)
}

func (p *Partition) isDeleted() bool { return p.deleted.Load() }

// Wait returns a channel closed when the high watermark next advances, or
// when the partition is deleted or the broker closed. To long-poll without
// missing an advance, call Wait before checking HighWatermark:
//
//	ch := p.Wait()
//	if p.HighWatermark() > offset { ... }
//	select { case <-ch: ...; case <-ctx.Done(): ... }
func (p *Partition) Wait() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.wait == nil {
		return closedChan
	}
	p.waited = true
	return p.wait
}

// wake closes the wait channel. A new channel replaces it unless final:
// a deleted partition's channel stays closed.
func (p *Partition) wake(final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wakeLocked(final)
}

func (p *Partition) wakeLocked(final bool) {
	if p.wait == nil {
		return // closed for good
	}
	if !p.waited && !final {
		return // nobody holds the channel: spare the allocation
	}
	close(p.wait)
	p.waited = false
	if final {
		p.wait = nil
		return
	}
	p.wait = make(chan struct{})
}

// closedChan is returned by Wait after a final wake.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Read appends to buf whole batches starting with the one holding offset,
// up to maxBytes (at least one batch), as logstore.Log.Read does. The
// first batch may begin before offset. At the high watermark it returns
// buf unchanged; outside [log start, high watermark] ErrOffsetOutOfRange.
func (p *Partition) Read(buf []byte, offset int64, maxBytes int) ([]byte, error) {
	if p.isDeleted() {
		return buf, fmt.Errorf("%w: %s-%d", ErrUnknownTopic, p.t.name, p.index)
	}
	out, err := p.log.Read(buf, offset, maxBytes)
	if err != nil {
		return out, p.readErr(err)
	}
	p.stats.read(len(out) - len(buf))
	return out, nil
}

// readErr maps an error of the log engine to the broker's.
func (p *Partition) readErr(err error) error {
	switch {
	case errors.Is(err, logstore.ErrOffsetOutOfRange):
		return fmt.Errorf("%w: %v", ErrOffsetOutOfRange, err)
	case errors.Is(err, logstore.ErrCorrupt):
		// Damage on disk: CORRUPT_MESSAGE, as Kafka answers a read that
		// meets a corrupt batch. The *logstore.CorruptError stays in the
		// chain: it names the offsets a reader may step over.
		return fmt.Errorf("%w: %w", ErrCorruptMessage, err)
	case errors.Is(err, logstore.ErrClosed):
		if p.isDeleted() {
			return fmt.Errorf("%w: %s-%d", ErrUnknownTopic, p.t.name, p.index)
		}
		return ErrClosed
	}
	return fmt.Errorf("%w: %v", ErrStorage, err)
}

// DeleteRecordsBefore makes offset the log start offset (-1: the high
// watermark), durably, and returns the new log start offset (Kafka's low
// watermark). Offsets below the current start are no-ops.
func (p *Partition) DeleteRecordsBefore(ctx context.Context, offset int64) (lowWatermark int64, err error) {
	if p.isDeleted() {
		return -1, fmt.Errorf("%w: %s-%d", ErrUnknownTopic, p.t.name, p.index)
	}
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	if offset == -1 {
		offset = p.log.HighWatermark()
	}
	if offset < 0 {
		return -1, fmt.Errorf("%w: %d", ErrOffsetOutOfRange, offset)
	}
	start, err := p.log.DeleteRecordsBefore(offset)
	if err != nil {
		return -1, p.readErr(err)
	}
	p.dropProducersBefore(start)
	return start, nil
}
