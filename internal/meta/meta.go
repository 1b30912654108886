package meta

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/loftmq/loft/internal/logstore"
)

// LogName is the internal log holding the metadata. Log names beginning
// with "__" are reserved for internal logs: the broker must refuse them as
// topic or queue names.
const LogName = "__meta"

// Limits on one Apply. They bound the batch a single call can write, and so
// the memory a bad caller can make the log and its replay hold.
const (
	MaxOps        = 1024    // operations in one Apply
	MaxKeyBytes   = 4096    // bytes in one key
	MaxBatchBytes = 4 << 20 // keys and values of one Apply together
)

// Errors returned by the store, often wrapped with details.
var (
	// ErrBadKey reports an empty or oversized key.
	ErrBadKey = errors.New("meta: bad key")
	// ErrTooManyOps reports an Apply of more than MaxOps operations.
	ErrTooManyOps = errors.New("meta: too many operations")
	// ErrTooLarge reports an Apply whose keys and values exceed MaxBatchBytes.
	ErrTooLarge = errors.New("meta: batch too large")
	// ErrClosed reports a write after Close.
	ErrClosed = errors.New("meta: closed")
	// ErrBadRecord reports a record in the log that this package did not
	// write: one without a key.
	ErrBadRecord = errors.New("meta: bad record in log")
)

// Op is one change of an Apply: a put of Value under Key, or, when Delete
// is set, the removal of Key (Value is then ignored).
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// Put returns the Op storing value under key. A nil value is stored as an
// empty one: only Delete removes a key.
func Put(key string, value []byte) Op { return Op{Key: key, Value: value} }

// Delete returns the Op removing key. Removing a missing key is not an
// error: it writes a tombstone all the same, which is harmless.
func Delete(key string) Op { return Op{Key: key, Delete: true} }

// KV is a key and its value, as Scan returns them.
type KV struct {
	Key   string
	Value []byte
}

// Store is the metadata of one logstore.Store: the state replayed from the
// __meta log, kept current by every write. It is safe for concurrent use.
// Open one Store per logstore.Store: two would each miss the other's writes.
type Store struct {
	log *logstore.Log

	mu sync.RWMutex
	// state maps each live key to its value. Stored values are never
	// modified, so they may be copied out after mu is released.
	state    map[string][]byte
	closed   bool
	inflight sync.WaitGroup // appends whose callback has not run yet
}

// logConfig is the configuration of the __meta log: compacted, never
// deleted by age or size, so the log stays bounded by the number of live
// keys and never loses one.
func logConfig() logstore.Config {
	c := logstore.DefaultConfig()
	c.Compact, c.Delete = true, false
	c.RetentionAge, c.RetentionBytes = -1, -1
	c.SegmentBytes = 16 << 20 // small, so compaction has sealed segments to work on
	return c
}

// Open opens the __meta log of store, creating it if missing, and replays
// it into memory. The log is not closed by Store.Close: store owns it.
func Open(store *logstore.Store) (*Store, error) {
	l, ok := store.Log(LogName)
	if !ok {
		var err error
		if l, err = store.Create(LogName, logConfig()); err != nil {
			return nil, fmt.Errorf("meta: create %s: %w", LogName, err)
		}
	} else if l.Config() != logConfig() {
		// The log keeps the config it was created with; this only upgrades
		// one made by an older Loft with other settings.
		if err := l.SetConfig(logConfig()); err != nil {
			return nil, fmt.Errorf("meta: configure %s: %w", LogName, err)
		}
	}
	s := &Store{log: l, state: make(map[string][]byte)}
	if err := s.replay(); err != nil {
		return nil, err
	}
	return s, nil
}

// replayReadBytes is how much replay asks of each Read.
const replayReadBytes = 1 << 20

// replay applies every record from the log start to the high watermark, in
// offset order, exactly as the writes applied them. Compaction may have
// removed records, left batches with gaps or no records at all, and moved
// the start: none of that changes the result, since it only drops records
// that a later record of the same key overrides, and tombstones whose key
// has no earlier record left.
func (s *Store) replay() error {
	from, end := s.log.StartOffset(), s.log.HighWatermark()
	var buf []byte
	for off := from; off < end; {
		var err error
		buf, err = s.log.Read(buf[:0], off, replayReadBytes)
		if err != nil {
			return fmt.Errorf("meta: replay %s at offset %d: %w", LogName, off, err)
		}
		batches := logstore.SplitBatches(buf)
		if len(batches) == 0 {
			return fmt.Errorf("meta: replay %s: nothing at offset %d, below the high watermark %d", LogName, off, end)
		}
		for _, b := range batches {
			recs, err := decode(b)
			if err != nil {
				return err
			}
			for _, r := range recs {
				if r.Offset >= off { // the first batch may begin before the log start
					s.applyRecord(r)
				}
			}
			next := batchEnd(b)
			if next <= off {
				return fmt.Errorf("meta: replay %s: batch at offset %d ends at %d", LogName, off, next)
			}
			off = next
		}
	}
	return nil
}

// decode returns the records of a batch of the __meta log.
func decode(b []byte) ([]logstore.Record, error) {
	recs, err := logstore.DecodeRecords(b)
	if err != nil {
		return nil, fmt.Errorf("meta: decode %s: %w", LogName, err)
	}
	for _, r := range recs {
		if r.Key == nil {
			return nil, fmt.Errorf("%w: no key at offset %d", ErrBadRecord, r.Offset)
		}
	}
	return recs, nil
}

// batchEnd returns the offset after a batch: its base offset plus its last
// offset delta, plus one. The header, not the last record, says where a
// batch ends: compaction may remove a batch's last records and keep it.
func batchEnd(b []byte) int64 {
	const offLastDelta = 23 // RecordBatch v2: after base offset, length, epoch, magic, crc, attributes
	return int64(binary.BigEndian.Uint64(b)) + int64(int32(binary.BigEndian.Uint32(b[offLastDelta:]))) + 1
}

// applyRecord applies one record to the state: a tombstone deletes, any
// other value replaces. Replay and live writes both go through it, so the
// state is by construction a function of the log. The caller holds mu or
// is replay, which runs before anyone else sees s.
func (s *Store) applyRecord(r logstore.Record) {
	if r.Value == nil {
		delete(s.state, string(r.Key))
		return
	}
	s.state[string(r.Key)] = bytes.Clone(r.Value)
}

// Get returns the value of key. The slice is the caller's.
func (s *Store) Get(key string) ([]byte, bool) {
	s.mu.RLock()
	v, ok := s.state[key]
	s.mu.RUnlock()
	return bytes.Clone(v), ok
}

// Scan returns the keys beginning with prefix, sorted, with their values.
// Use Prefix to build the prefix of an entity's children.
func (s *Store) Scan(prefix string) []KV {
	s.mu.RLock()
	var kvs []KV
	for k, v := range s.state {
		if strings.HasPrefix(k, prefix) {
			kvs = append(kvs, KV{Key: k, Value: v})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(kvs, func(a, b KV) int { return strings.Compare(a.Key, b.Key) })
	for i := range kvs {
		kvs[i].Value = bytes.Clone(kvs[i].Value)
	}
	return kvs
}

// Put stores value under key; see Apply.
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	return s.Apply(ctx, Put(key, value))
}

// Delete removes key; see Apply.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.Apply(ctx, Delete(key))
}

// Apply writes ops, in order, as one record batch, and applies them to the
// state once the log has taken the batch. Later ops win over earlier ones of
// the same key.
//
// All of ops take effect or none does, across a crash too: the batch is one
// RecordBatch v2 with one CRC-32C over all its records, appended as a unit
// and never split across segments; recovery keeps or cuts whole batches,
// cutting at the first whose length or CRC does not check out. So a torn
// write leaves the batch wholly present or wholly gone.
//
// Apply returns when the batch is as durable as the store's fsync policy
// makes appends: with FsyncAlways (the default) after fdatasync covered it;
// with an interval or never, once written, so a crash may lose it. Metadata
// gets no stronger promise than the data it describes.
//
// On error the state is unchanged. An append that fails is undone by the
// log before its next write, but a crash before that undo may still bring
// the batch back: callers should make changes they can safely repeat. If
// ctx ends while waiting, Apply returns its error and the batch may still
// take effect.
func (s *Store) Apply(ctx context.Context, ops ...Op) error {
	if len(ops) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	batch, err := encode(ops, time.Now().UnixMilli())
	if err != nil {
		return err
	}
	recs, err := logstore.DecodeRecords(batch)
	if err != nil {
		return fmt.Errorf("meta: encode: %w", err) // a bug, not bad input
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.inflight.Add(1)
	s.mu.Unlock()

	done := make(chan error, 1)
	// The log calls back in offset order from one goroutine, so applying
	// in the callback keeps the state in log order however many callers
	// race, while their appends share one group commit. recs alias batch,
	// which nothing else touches; applyRecord copies what it keeps.
	s.log.AppendAsync(batch, func(_ int64, err error) {
		if err == nil {
			s.mu.Lock()
			for _, r := range recs {
				s.applyRecord(r)
			}
			s.mu.Unlock()
		}
		s.inflight.Done()
		done <- err
	})
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("meta: append to %s: %w", LogName, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("meta: stopped waiting for the append, which may still take effect: %w", context.Cause(ctx))
	}
}

// encode checks ops and returns them as one batch, each record stamped now.
func encode(ops []Op, now int64) ([]byte, error) {
	if len(ops) > MaxOps {
		return nil, fmt.Errorf("%w: %d, at most %d", ErrTooManyOps, len(ops), MaxOps)
	}
	recs := make([]logstore.Record, len(ops))
	size := 0
	for i, op := range ops {
		if op.Key == "" || len(op.Key) > MaxKeyBytes {
			return nil, fmt.Errorf("%w: %d bytes, want 1 to %d", ErrBadKey, len(op.Key), MaxKeyBytes)
		}
		v := op.Value
		switch {
		case op.Delete:
			v = nil // a tombstone
		case v == nil:
			v = []byte{}
		}
		size += len(op.Key) + len(v)
		recs[i] = logstore.Record{Offset: int64(i), Timestamp: now, Key: []byte(op.Key), Value: v}
	}
	if size > MaxBatchBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, size, MaxBatchBytes)
	}
	opts := logstore.BatchOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	return logstore.AppendBatch(nil, opts, recs), nil
}

// Close waits for appends under way to settle and makes later writes fail
// with ErrClosed. Reads keep working on the last state. It does not close
// the log, which belongs to the logstore.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.inflight.Wait()
	return nil
}
