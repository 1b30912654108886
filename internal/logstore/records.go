package logstore

import (
	"encoding/binary"
	"fmt"
)

// Record is one record of a batch, decoded.
type Record struct {
	Offset    int64
	Timestamp int64 // milliseconds since the epoch
	Key       []byte
	Value     []byte // nil for a tombstone
	Headers   []RecordHeader
}

// RecordHeader is a record header: a key and an optional value.
type RecordHeader struct {
	Key   string
	Value []byte
}

// BatchOptions are the batch-level fields AppendBatch writes.
type BatchOptions struct {
	ProducerID    int64 // -1 when not idempotent
	ProducerEpoch int16
	BaseSequence  int32
}

// AppendBatch appends to dst an uncompressed RecordBatch v2 holding recs,
// with offsets relative to recs[0].Offset (0 if recs is empty) and a valid
// CRC, ready for Append.
func AppendBatch(dst []byte, opts BatchOptions, recs []Record) []byte {
	start := len(dst)
	var base, first, maxTS, lastDelta int64
	if len(recs) > 0 {
		base, first, maxTS = recs[0].Offset, recs[0].Timestamp, recs[0].Timestamp
		for _, r := range recs {
			first, maxTS = min(first, r.Timestamp), max(maxTS, r.Timestamp)
		}
		lastDelta = recs[len(recs)-1].Offset - base
	}
	dst = append(dst, make([]byte, batchHeaderSize)...)
	h := dst[start:]
	binary.BigEndian.PutUint64(h[offBaseOffset:], uint64(base))
	binary.BigEndian.PutUint32(h[12:], 0xffffffff) // partition leader epoch: none
	h[offMagic] = 2
	binary.BigEndian.PutUint32(h[offLastDelta:], uint32(lastDelta))
	binary.BigEndian.PutUint64(h[offFirstTime:], uint64(first))
	binary.BigEndian.PutUint64(h[offMaxTime:], uint64(maxTS))
	binary.BigEndian.PutUint64(h[offProducerID:], uint64(opts.ProducerID))
	binary.BigEndian.PutUint16(h[51:], uint16(opts.ProducerEpoch))
	binary.BigEndian.PutUint32(h[53:], uint32(opts.BaseSequence))
	binary.BigEndian.PutUint32(h[offRecordCount:], uint32(len(recs)))
	for _, r := range recs {
		// The body is sized first and written in place: building it in a
		// scratch buffer and copying cost an allocation per record.
		od, td := r.Offset-base, r.Timestamp-first
		dst = binary.AppendVarint(dst, int64(recordBodySize(r, od, td)))
		dst = appendRecordBody(dst, r, od, td)
	}
	binary.BigEndian.PutUint32(dst[start+offLength:], uint32(len(dst)-start-lengthPrefix))
	setCRC(dst[start:])
	return dst
}

func appendRecordBody(b []byte, r Record, offsetDelta, timeDelta int64) []byte {
	b = append(b, 0) // attributes: unused
	b = binary.AppendVarint(b, timeDelta)
	b = binary.AppendVarint(b, offsetDelta)
	b = appendVarBytes(b, r.Key)
	b = appendVarBytes(b, r.Value)
	b = binary.AppendVarint(b, int64(len(r.Headers)))
	for _, h := range r.Headers {
		b = appendVarBytes(b, []byte(h.Key))
		b = appendVarBytes(b, h.Value)
	}
	return b
}

// recordBodySize is len(appendRecordBody(nil, r, offsetDelta, timeDelta)).
func recordBodySize(r Record, offsetDelta, timeDelta int64) int {
	n := 1 + varintLen(timeDelta) + varintLen(offsetDelta) + varBytesLen(r.Key) + varBytesLen(r.Value) +
		varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += varintLen(int64(len(h.Key))) + len(h.Key) + varBytesLen(h.Value)
	}
	return n
}

func varintLen(v int64) int {
	var b [binary.MaxVarintLen64]byte
	return len(binary.AppendVarint(b[:0], v))
}

func varBytesLen(v []byte) int {
	if v == nil {
		return 1
	}
	return varintLen(int64(len(v))) + len(v)
}

func appendVarBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	b = binary.AppendVarint(b, int64(len(v)))
	return append(b, v...)
}

var errShortRecord = fmt.Errorf("%w: truncated record", ErrCorrupt)

// recordReader walks the records section of an uncompressed batch. Byte
// slices it returns alias the batch.
type recordReader struct {
	b         []byte
	base      int64
	firstTime int64
}

// next decodes one record; ok is false at the end.
func (rr *recordReader) next() (r Record, ok bool, err error) {
	r, _, ok, err = rr.nextRaw()
	return r, ok, err
}

// nextRaw is next that also returns the record's bytes, length included,
// so that a filter can copy kept records without encoding them again.
func (rr *recordReader) nextRaw() (r Record, raw []byte, ok bool, err error) {
	if len(rr.b) == 0 {
		return r, nil, false, nil
	}
	n, b := varint(rr.b)
	if n < 0 || b == nil || int64(len(b)) < n {
		return r, nil, false, errShortRecord
	}
	body := b[:n]
	raw = rr.b[:len(rr.b)-len(b)+int(n)]
	rr.b = b[n:]
	r, err = decodeRecordBody(body, rr.base, rr.firstTime)
	return r, raw, err == nil, err
}

func decodeRecordBody(body []byte, base, firstTime int64) (r Record, err error) {
	if len(body) < 1 {
		return r, errShortRecord
	}
	body = body[1:] // attributes
	var td, od int64
	if td, body = varint(body); body == nil {
		return r, errShortRecord
	}
	if od, body = varint(body); body == nil {
		return r, errShortRecord
	}
	r.Timestamp, r.Offset = firstTime+td, base+od
	if r.Key, body, err = varBytes(body); err != nil {
		return r, err
	}
	if r.Value, body, err = varBytes(body); err != nil {
		return r, err
	}
	nh, body := varint(body)
	if body == nil || nh < 0 || nh > int64(len(body)) {
		return r, errShortRecord
	}
	for range nh {
		var k, v []byte
		if k, body, err = varBytes(body); err != nil {
			return r, err
		}
		if v, body, err = varBytes(body); err != nil {
			return r, err
		}
		r.Headers = append(r.Headers, RecordHeader{Key: string(k), Value: v})
	}
	return r, nil
}

// varint decodes a zigzag varint; the rest is nil when b holds none.
func varint(b []byte) (int64, []byte) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, nil
	}
	return v, b[n:]
}

func varBytes(b []byte) ([]byte, []byte, error) {
	n, rest := varint(b)
	switch {
	case rest == nil || n < -1 || n > int64(len(rest)):
		return nil, nil, errShortRecord
	case n == -1:
		return nil, rest, nil
	}
	return rest[:n:n], rest[n:], nil
}

// records returns a reader over the records of a checked batch,
// decompressing them if needed.
func records(batch []byte, h header) (*recordReader, error) {
	b, err := decompress(int(h.attrs&attrCompressionMask), batch[batchHeaderSize:])
	if err != nil {
		return nil, err
	}
	return &recordReader{b: b, base: h.base, firstTime: h.firstTime}, nil
}

// DecodeRecords decodes the records of one batch, compressed or not.
func DecodeRecords(batch []byte) ([]Record, error) {
	h, err := checkBatch(batch)
	if err != nil {
		return nil, err
	}
	rr, err := records(batch, h)
	if err != nil {
		return nil, err
	}
	recs := make([]Record, 0, min(h.count, 4096))
	for {
		r, ok, err := rr.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return recs, nil
		}
		if h.attrs&attrLogAppendTime != 0 {
			r.Timestamp = h.maxTime // the broker's time stands for every record
		}
		recs = append(recs, r)
	}
}

// SplitBatches cuts b into its batches without checking CRCs, stopping at
// the first incomplete one.
func SplitBatches(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= batchHeaderSize {
		h, err := parseHeader(b)
		if err != nil || h.size > int64(len(b)) {
			break
		}
		out = append(out, b[:h.size])
		b = b[h.size:]
	}
	return out
}
