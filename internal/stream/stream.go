// Package stream is the stream queue (x-queue-type=stream): an
// append-only queue read without consuming, each consumer from an offset
// of its own. Its log is the single partition of a Kafka topic of the
// same name, so what AMQP publishes Kafka clients fetch, and the other way
// round; messages cross through internal/mapping.
package stream

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/logstore"
	"github.com/loftmq/loft/internal/mapping"
	"github.com/loftmq/loft/internal/queue"
)

// ErrNotSupported: an operation streams do not have (basic.get, purge).
var ErrNotSupported = errors.New("stream: not supported by stream queues")

// Where a consumer starts (x-stream-offset).
type Kind int

const (
	Next  Kind = iota // the next message published (the default)
	First             // the first message kept
	Last              // the last message published
	At                // Offset.Value, or the first kept if that is gone
	Since             // the first message published at or after Offset.Value ms
)

// Offset is where a consumer starts.
type Offset struct {
	Kind  Kind
	Value int64
}

// readBytes bounds one read of the log by a consumer.
const readBytes = 256 << 10

// Queue is a stream queue over a topic's partition.
type Queue struct {
	name   string
	part   *broker.Partition
	logger *slog.Logger

	mu      sync.Mutex
	readers map[queue.Consumer]*reader
	order   []queue.Consumer
	closed  bool
}

// New returns the stream queue over part.
func New(name string, part *broker.Partition, logger *slog.Logger) *Queue {
	return &Queue{name: name, part: part, logger: logger.With("stream", name), readers: make(map[queue.Consumer]*reader)}
}

// Enqueue appends m, mapped to a Kafka record, to the log; done is called
// once it is durable or failed. batch, the queue encoding, is not used.
func (s *Queue) Enqueue(_ []byte, m *queue.Message, done func(error)) {
	Produce(s.part, m, done)
}

// Produce appends m, mapped to a Kafka record (internal/mapping), to
// part; done is called once it is durable or failed.
func Produce(part *broker.Partition, m *queue.Message, done func(error)) {
	props := m.Properties
	if len(props) < 2 {
		props = []byte{0, 0} // no properties
	}
	rec, err := mapping.ToRecord(mapping.AMQP{
		Exchange: m.Exchange, RoutingKey: m.RoutingKey, Properties: props,
		Body: m.Body, Timestamp: m.Timestamp,
	})
	if err != nil {
		done(fmt.Errorf("stream %s: %w", part.Topic(), err))
		return
	}
	rec.Timestamp = m.Timestamp
	batch := logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: -1}, []logstore.Record{rec})
	part.Produce(batch, func(r broker.ProduceResult) { done(r.Err) })
}

// AddConsumer adds a consumer reading from the next message.
func (s *Queue) AddConsumer(c queue.Consumer, exclusive bool) error {
	return s.Subscribe(c, Offset{Kind: Next})
}

// Subscribe adds a consumer reading from from. It is offered the messages
// in order, each once, as its credit allows; acks only give credit back.
func (s *Queue) Subscribe(c queue.Consumer, from Offset) error {
	start, err := s.resolve(from)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return queue.ErrClosed
	}
	r := &reader{s: s, c: c, next: start, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	s.readers[c] = r
	s.order = append(s.order, c)
	go r.run()
	return nil
}

// resolve turns from into an offset of the log.
func (s *Queue) resolve(from Offset) (int64, error) {
	start, end := s.part.LogStartOffset(), s.part.HighWatermark()
	switch from.Kind {
	case First:
		return start, nil
	case Last:
		return max(start, end-1), nil
	case At:
		return min(max(from.Value, start), end), nil
	case Since:
		off, _, found, err := s.part.ListOffset(from.Value)
		if err != nil {
			return 0, fmt.Errorf("stream %s: find time %d: %w", s.name, from.Value, err)
		}
		if !found {
			return end, nil
		}
		return off, nil
	}
	return end, nil
}

// RemoveConsumer stops c's reader and returns how many are left.
func (s *Queue) RemoveConsumer(c queue.Consumer) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.readers[c]; ok {
		close(r.stop)
		delete(s.readers, c)
		for i, have := range s.order {
			if have == c {
				s.order = append(s.order[:i], s.order[i+1:]...)
				break
			}
		}
	}
	return len(s.readers)
}

// Dispatch tells every reader its consumer may have credit again.
func (s *Queue) Dispatch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.readers {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// Get is not supported: a stream is read by consumers.
func (s *Queue) Get(bool) (*queue.Queue, *queue.Message, bool, int, int, error) {
	return nil, nil, false, 0, 0, ErrNotSupported
}

// Counts returns the messages kept as ready; nothing is unacked.
func (s *Queue) Counts() (ready, unacked, consumers int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.part.HighWatermark() - s.part.LogStartOffset()), 0, len(s.readers)
}

// Purge is not supported: retention trims a stream.
func (s *Queue) Purge() int { return 0 }

// Delete stops every reader and returns their consumers. The caller
// deletes the topic.
func (s *Queue) Delete() []queue.Consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.order
	s.stopLocked()
	return cs
}

// SetLimits does nothing: a stream's retention is its topic's configs.
func (s *Queue) SetLimits(queue.Limits) error { return nil }

// Close stops every reader.
func (s *Queue) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Queue) stopLocked() {
	if s.closed {
		return
	}
	s.closed = true
	for _, r := range s.readers {
		close(r.stop)
	}
	clear(s.readers)
	s.order = nil
}

// reader feeds one consumer from its offset.
type reader struct {
	s    *Queue
	c    queue.Consumer
	next int64
	wake chan struct{} // credit may have grown
	stop chan struct{}
}

func (r *reader) run() {
	var buf []byte
	for {
		newData := r.s.part.Wait()
		if r.next >= r.s.part.HighWatermark() {
			select {
			case <-newData:
				continue
			case <-r.stop:
				return
			}
		}
		var err error
		buf, err = r.s.part.Read(buf[:0], r.next, readBytes)
		if errors.Is(err, broker.ErrOffsetOutOfRange) {
			// Retention passed the reader: go on from what is kept.
			r.next = max(r.next, r.s.part.LogStartOffset())
			continue
		}
		if ce := (*logstore.CorruptError)(nil); errors.As(err, &ce) && ce.To > r.next {
			// Damaged on disk (logged and counted by the log): step over
			// it, as over a batch that does not decode, rather than stop
			// this consumer for good.
			r.s.logger.Error("stream: records damaged on disk are skipped", "from_offset", r.next, "to_offset", ce.To)
			r.next = ce.To
			continue
		}
		if err != nil {
			r.s.logger.Error("stream: read failed; the consumer stops receiving", "offset", r.next, "err", err)
			<-r.stop
			return
		}
		for _, b := range logstore.SplitBatches(buf) {
			recs, err := logstore.DecodeRecords(b)
			if err != nil {
				r.s.logger.Error("stream: a damaged batch is skipped", "offset", r.next, "err", err)
				end, herr := logstore.BatchEnd(b)
				if herr != nil {
					end = r.next + 1 // not even its header reads: step over one offset
				}
				r.next = max(r.next, end)
				continue
			}
			for _, rec := range recs {
				if rec.Offset < r.next {
					continue
				}
				if !r.deliver(message(rec)) {
					return
				}
				r.next = rec.Offset + 1
			}
		}
	}
}

// deliver offers m until the consumer takes it; false when stopped.
func (r *reader) deliver(m *queue.Message) bool {
	for !r.c.Deliver(nil, m, false, 0) {
		select {
		case <-r.wake:
		case <-time.After(time.Second):
			// A consumer that ran out of write buffer is not told when
			// it drains: look again now and then.
		case <-r.stop:
			return false
		}
	}
	return true
}

// message maps a record to the message delivered, with the
// x-stream-offset header RabbitMQ sets on stream deliveries.
func message(rec logstore.Record) *queue.Message {
	a := mapping.FromRecord(rec)
	props := a.Properties
	if p, err := frame.DecodeProperties(props); err == nil {
		p.Headers = slices.Clone(p.Headers)
		p.Headers.Set("x-stream-offset", rec.Offset)
		p.Flags |= frame.FlagHeaders
		if out, err := frame.AppendProperties(nil, &p); err == nil {
			props = out
		}
	}
	return &queue.Message{
		Offset: rec.Offset, Timestamp: rec.Timestamp, Exchange: a.Exchange, RoutingKey: a.RoutingKey,
		Properties: props, Body: a.Body, Persistent: true,
	}
}
