package broker

import (
	"fmt"
	"math"

	"github.com/loftmq/loft/internal/logstore"
)

// Special timestamps of ListOffsets.
const (
	TimestampLatest        = -1 // the high watermark
	TimestampEarliest      = -2 // the log start offset
	TimestampMax           = -3 // the record with the largest timestamp (KIP-734)
	TimestampEarliestLocal = -4 // the log start offset: Loft keeps everything locally (KIP-405)
	TimestampLatestTiered  = -5 // none: Loft has no tiered storage (KIP-1005)
)

// ListOffset answers Kafka's ListOffsets for one partition: ts -2 gives the
// log start offset, -1 the high watermark, -3 the offset and timestamp of
// the record with the largest timestamp, and any other value the first
// offset whose record has a timestamp at or after ts, with that timestamp.
// found is false when no record qualifies (Kafka then answers offset -1).
// The timestamp is -1 for -1 and -2.
func (p *Partition) ListOffset(ts int64) (offset, timestamp int64, found bool, err error) {
	if p.isDeleted() {
		return -1, -1, false, fmt.Errorf("%w: %s-%d", ErrUnknownTopic, p.t.name, p.index)
	}
	switch ts {
	case TimestampLatest:
		return p.log.HighWatermark(), -1, true, nil
	case TimestampEarliest, TimestampEarliestLocal:
		return p.log.StartOffset(), -1, true, nil
	case TimestampLatestTiered:
		return -1, -1, false, nil
	case TimestampMax:
		return p.maxTimestamp()
	}
	off, ok, err := p.log.OffsetForTime(ts)
	if err != nil || !ok {
		return -1, -1, false, p.mapErr(err)
	}
	t, err := p.timestampAt(off)
	if err != nil {
		return -1, -1, false, err
	}
	return off, t, true, nil
}

func (p *Partition) mapErr(err error) error {
	if err == nil {
		return nil
	}
	return p.readErr(err)
}

// maxTimestamp finds the largest timestamp in the log, and the first
// offset holding it, with OffsetForTime alone: whether any record has a
// timestamp at or after t only turns false as t grows, so a binary search
// over t finds the largest, in at most 64 lookups, each of which reads
// little (most find no segment with a large enough timestamp and read
// nothing). Scanning the batch headers would read the whole log.
//
// Like Kafka, it goes by the batches' max timestamp fields.
func (p *Partition) maxTimestamp() (offset, timestamp int64, found bool, err error) {
	has := func(t int64) (bool, error) {
		_, ok, err := p.log.OffsetForTime(t)
		return ok, err
	}
	ok, err := has(math.MinInt64)
	if err != nil || !ok {
		return -1, -1, false, p.mapErr(err)
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64) // has(lo) holds
	for lo < hi {
		span := uint64(hi) - uint64(lo) // may exceed math.MaxInt64
		mid := int64(uint64(lo) + span/2 + span%2)
		ok, err := has(mid)
		if err != nil {
			return -1, -1, false, p.mapErr(err)
		}
		if ok {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	off, ok, err := p.log.OffsetForTime(lo)
	if err != nil || !ok {
		return -1, -1, false, p.mapErr(err) // the log lost records meanwhile
	}
	return off, lo, true, nil
}

// timestampAt returns the timestamp of the record at offset.
func (p *Partition) timestampAt(offset int64) (int64, error) {
	buf, err := p.log.Read(nil, offset, 1)
	if err != nil {
		return -1, p.readErr(err)
	}
	batches := logstore.SplitBatches(buf)
	if len(batches) == 0 {
		return -1, fmt.Errorf("%w: no batch at offset %d", ErrStorage, offset)
	}
	recs, err := logstore.DecodeRecords(batches[0])
	if err != nil {
		return -1, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	for _, r := range recs {
		if r.Offset >= offset {
			return r.Timestamp, nil
		}
	}
	return readHeader(batches[0]).maxTime, nil
}
