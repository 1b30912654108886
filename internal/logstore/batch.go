package logstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// The RecordBatch v2 header, as kmsg.RecordBatch lays it out. Offsets are
// fixed, so the hot path reads fields in place instead of decoding.
const (
	offBaseOffset   = 0  // int64, rewritten on append
	offLength       = 8  // int32, bytes after this field
	offMagic        = 16 // int8, must be 2
	offCRC          = 17 // uint32, CRC-32C of everything from offAttributes on
	offAttributes   = 21 // int16
	offLastDelta    = 23 // int32
	offFirstTime    = 27 // int64
	offMaxTime      = 35 // int64
	offProducerID   = 43 // int64
	offRecordCount  = 57 // int32
	batchHeaderSize = 61

	// lengthPrefix is what precedes the length field's count: a batch
	// occupies lengthPrefix+length bytes.
	lengthPrefix = 12
	// maxBatchSize bounds one batch; positions in a segment fit in 31 bits.
	maxBatchSize = 1<<30 - 1

	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrControl         = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header holds the fields of a batch header the engine uses.
type header struct {
	base      int64
	size      int64 // whole batch, length prefix included
	lastDelta int32
	firstTime int64
	maxTime   int64
	attrs     int16
	count     int32
}

func (h header) last() int64 { return h.base + int64(h.lastDelta) }
func (h header) end() int64  { return h.base + int64(h.lastDelta) + 1 }

// parseHeader decodes and sanity-checks a batch header from the first
// batchHeaderSize bytes of b. It does not check the CRC.
func parseHeader(b []byte) (header, error) {
	if len(b) < batchHeaderSize {
		return header{}, fmt.Errorf("%w: %d bytes, need a %d-byte header", ErrCorrupt, len(b), batchHeaderSize)
	}
	length := int32(binary.BigEndian.Uint32(b[offLength:]))
	if b[offMagic] != 2 {
		return header{}, fmt.Errorf("%w: magic %d, want 2", ErrCorrupt, int8(b[offMagic]))
	}
	if length < batchHeaderSize-lengthPrefix || length > maxBatchSize {
		return header{}, fmt.Errorf("%w: batch length %d", ErrCorrupt, length)
	}
	h := header{
		base:      int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		size:      lengthPrefix + int64(length),
		lastDelta: int32(binary.BigEndian.Uint32(b[offLastDelta:])),
		firstTime: int64(binary.BigEndian.Uint64(b[offFirstTime:])),
		maxTime:   int64(binary.BigEndian.Uint64(b[offMaxTime:])),
		attrs:     int16(binary.BigEndian.Uint16(b[offAttributes:])),
		count:     int32(binary.BigEndian.Uint32(b[offRecordCount:])),
	}
	if h.lastDelta < 0 || h.count < 0 || h.base < 0 || h.base > math.MaxInt64-int64(h.lastDelta)-1 {
		return header{}, fmt.Errorf("%w: base offset %d, last offset delta %d, record count %d",
			ErrCorrupt, h.base, h.lastDelta, h.count)
	}
	return h, nil
}

// checkBatch verifies that b is exactly one well-formed batch with a
// correct CRC, and returns its header.
func checkBatch(b []byte) (header, error) {
	h, err := parseHeader(b)
	if err != nil {
		return h, err
	}
	if int64(len(b)) != h.size {
		return h, fmt.Errorf("%w: batch declares %d bytes, has %d", ErrCorrupt, h.size, len(b))
	}
	want := binary.BigEndian.Uint32(b[offCRC:])
	if got := crc32.Checksum(b[offAttributes:], castagnoli); got != want {
		return h, fmt.Errorf("%w: crc %08x, want %08x", ErrCorrupt, got, want)
	}
	return h, nil
}

// setCRC recomputes the CRC of a batch whose covered bytes changed.
func setCRC(b []byte) {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}

// BatchEnd returns the offset after the last record of the batch at the
// start of b, from its header alone: where the next batch's offsets begin,
// gaps left by compaction included.
func BatchEnd(b []byte) (int64, error) {
	h, err := parseHeader(b)
	if err != nil {
		return 0, err
	}
	return h.end(), nil
}
