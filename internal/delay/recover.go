package delay

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/loftmq/loft/internal/logstore"
)

// readChunk is the bytes read at once when replaying a log.
const readChunk = 1 << 20

// recover rebuilds the state from the logs, at Open.
func (s *Store) recover() error {
	floor, fired, err := s.replay()
	if err != nil {
		return err
	}
	// Trimming the message log is durable before the mark that allowed it
	// may be: its start is a floor too. A floor past the end means the log
	// lost a tail the done log had seen (a log not synced): what the done
	// log says of offsets past the end is about messages that are gone, and
	// would be wrong of those that take their offsets next.
	hw := s.log.HighWatermark()
	if floor > hw {
		s.logger.Warn("delay: the done log is ahead of the message log; its marks past the end are dropped",
			"floor", floor, "end", hw)
	}
	floor = min(max(floor, s.log.StartOffset()), hw)
	fired = clip(fired, floor, hw)
	s.floor, s.durable = floor, hw
	s.counts.base = floor >> bucketShift
	if err := s.scan(floor, hw, fired); err != nil {
		return err
	}
	s.heap.init()
	return s.rewriteDone(fired)
}

// replay reads the done log: the highest floor and the fired spans above
// it, sorted and merged. Malformed records are skipped: a lost mark fires a
// message again, no worse.
func (s *Store) replay() (int64, []span, error) {
	var floor int64
	var fired []span
	var buf []byte
	for off := s.done.StartOffset(); off < s.done.HighWatermark(); {
		var err error
		buf, err = s.done.Read(buf[:0], off, readChunk)
		if ce := (*logstore.CorruptError)(nil); errors.As(err, &ce) && ce.To > off {
			// Marks lost to damage on disk: their messages fire again.
			s.logger.Error("delay: skipped mark records damaged on disk; their messages may fire again",
				"from_offset", off, "to_offset", ce.To)
			off = ce.To
			continue
		}
		if err != nil {
			return 0, nil, fmt.Errorf("delay %s: read the done log: %w", s.cfg.Name, err)
		}
		if len(buf) == 0 {
			break
		}
		for _, b := range logstore.SplitBatches(buf) {
			recs, err := logstore.DecodeRecords(b)
			if err != nil {
				return 0, nil, fmt.Errorf("delay %s: read the done log: %w", s.cfg.Name, err)
			}
			for _, r := range recs {
				if r.Offset < off {
					continue
				}
				off = r.Offset + 1
				m, err := parseMarkRecord(r.Value)
				if err != nil {
					s.logger.Warn("delay: skipping a malformed mark record", "offset", r.Offset)
					continue
				}
				floor = max(floor, m.floor)
				fired = append(fired, m.spans...)
			}
			if end, err := logstore.BatchEnd(b); err == nil {
				off = max(off, end)
			}
		}
		// Spans below the floor go as it rises, so that replay holds
		// about as much as the state, not the whole log.
		if len(fired) > 1<<16 {
			fired = clip(merge(fired), floor, 1<<62)
		}
	}
	return floor, clip(merge(fired), floor, 1<<62), nil
}

// scan reads the message log over [from, to), skipping the fired spans,
// and takes in every message found as pending.
func (s *Store) scan(from, to int64, fired []span) error {
	var buf []byte
	i := 0 // fired[i] is the first span not wholly below off
	isFired := func(o int64) bool {
		for i < len(fired) && fired[i].to <= o {
			i++
		}
		return i < len(fired) && fired[i].from <= o
	}
	for off := from; off < to; {
		if isFired(off) {
			off = fired[i].to
			continue
		}
		var err error
		buf, err = s.log.Read(buf[:0], off, readChunk)
		if ce := (*logstore.CorruptError)(nil); errors.As(err, &ce) && ce.To > off {
			s.logger.Error("delay: skipped messages damaged on disk", "from_offset", off, "to_offset", ce.To)
			off = ce.To
			continue
		}
		if err != nil {
			return fmt.Errorf("delay %s: read the message log at %d: %w", s.cfg.Name, off, err)
		}
		batches := logstore.SplitBatches(buf)
		if len(batches) == 0 {
			return fmt.Errorf("delay %s: read the message log: nothing at %d, below its end %d", s.cfg.Name, off, to)
		}
		for _, b := range batches {
			err := eachMessage(b, func(o, due int64) {
				if o >= off && o < to && !isFired(o) {
					s.heap = append(s.heap, entry{due: due, off: o})
					s.counts.add(o, 1)
					s.pending++
				}
			})
			if err != nil {
				return fmt.Errorf("delay %s: read the message log at %d: %w", s.cfg.Name, batchBase(b), err)
			}
			end, err := logstore.BatchEnd(b)
			if err != nil {
				return err
			}
			off = max(off, end)
		}
	}
	return nil
}

// The fields of a RecordBatch v2 header that scan reads in place, at their
// fixed positions in Kafka's layout.
const (
	hdrLastDelta = 23 // int32
	hdrMaxTime   = 35 // int64
	hdrCount     = 57 // int32
	hdrSize      = 61
)

func batchBase(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) }

// eachMessage calls fn with the offset and due time of each record of a
// batch. A batch of one record, as Add writes, is read from its header
// alone: the record's timestamp is the batch's maximum.
func eachMessage(b []byte, fn func(off, due int64)) error {
	if len(b) >= hdrSize && binary.BigEndian.Uint32(b[hdrLastDelta:]) == 0 && binary.BigEndian.Uint32(b[hdrCount:]) == 1 {
		fn(batchBase(b), int64(binary.BigEndian.Uint64(b[hdrMaxTime:])))
		return nil
	}
	recs, err := logstore.DecodeRecords(b)
	if err != nil {
		return err
	}
	for _, r := range recs {
		fn(r.Offset, r.Timestamp)
	}
	return nil
}

// rewriteDone replaces the done log by one snapshot of the state just
// recovered. It is synced before the records before it go; a crash
// between leaves both, before any message was added or fired, and the next
// Open does the same again.
func (s *Store) rewriteDone(fired []span) error {
	value := appendMarkRecord(nil, markSnapshot, s.floor, fired)
	rec := [1]logstore.Record{{Timestamp: s.cfg.Now().UnixMilli(), Value: value}}
	base, err := s.done.Append(logstore.AppendBatch(nil, batchOptions, rec[:]))
	if err == nil {
		err = s.done.Sync()
	}
	if err == nil {
		_, err = s.done.DeleteRecordsBefore(base)
	}
	if err != nil {
		return fmt.Errorf("delay %s: rewrite the done log: %w", s.cfg.Name, err)
	}
	s.snapshotSize = len(value)
	s.snapshotAt.Store(base)
	return nil
}
