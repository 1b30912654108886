package broker

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/loftmq/loft/internal/logstore"
)

// The RecordBatch v2 header fields the broker reads or rewrites.
const (
	offBaseOffset   = 0  // int64
	offLength       = 8  // int32: bytes after this field
	offMagic        = 16 // int8
	offCRC          = 17 // uint32: CRC-32C of the bytes from offAttributes on
	offAttributes   = 21 // int16
	offLastDelta    = 23 // int32
	offFirstTime    = 27 // int64
	offMaxTime      = 35 // int64
	offProducerID   = 43 // int64
	offEpoch        = 51 // int16
	offBaseSequence = 53 // int32
	offRecordCount  = 57 // int32
	headerSize      = 61
	lengthPrefix    = 12 // base offset and length: not counted by the length field

	attrCompression   = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
	maxCodec          = 4 // zstd
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type header struct {
	base      int64
	attrs     int16
	lastDelta int32
	maxTime   int64
	pid       int64
	epoch     int16
	firstSeq  int32
	count     int32
}

// readHeader decodes the header of a batch of at least headerSize bytes.
func readHeader(b []byte) header {
	return header{
		base:      int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		attrs:     int16(binary.BigEndian.Uint16(b[offAttributes:])),
		lastDelta: int32(binary.BigEndian.Uint32(b[offLastDelta:])),
		maxTime:   int64(binary.BigEndian.Uint64(b[offMaxTime:])),
		pid:       int64(binary.BigEndian.Uint64(b[offProducerID:])),
		epoch:     int16(binary.BigEndian.Uint16(b[offEpoch:])),
		firstSeq:  int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		count:     int32(binary.BigEndian.Uint32(b[offRecordCount:])),
	}
}

// checkBatch validates one batch from a client as Kafka's log validator
// does, for the topic's config, and returns its header. The log engine
// checks the layout and CRC again; these checks come first so that each
// fault gets Kafka's error code.
func checkBatch(b []byte, cfg *topicConfig) (header, error) {
	if len(b) < headerSize {
		return header{}, fmt.Errorf("%w: %d bytes, shorter than a batch header", ErrCorruptMessage, len(b))
	}
	if magic := int8(b[offMagic]); magic != 2 {
		return header{}, fmt.Errorf("%w: message format v%d is not supported: Loft takes RecordBatch v2 (Kafka 0.11 and later clients)", ErrCorruptMessage, magic)
	}
	if n := int64(int32(binary.BigEndian.Uint32(b[offLength:]))) + lengthPrefix; n != int64(len(b)) {
		return header{}, fmt.Errorf("%w: batch length says %d bytes, got %d", ErrCorruptMessage, n, len(b))
	}
	if len(b) > cfg.maxMessageBytes {
		return header{}, fmt.Errorf("%w: %d bytes, max.message.bytes is %d", ErrMessageTooLarge, len(b), cfg.maxMessageBytes)
	}
	if got, want := crc32.Checksum(b[offAttributes:], castagnoli), binary.BigEndian.Uint32(b[offCRC:]); got != want {
		return header{}, fmt.Errorf("%w: crc %08x, want %08x", ErrCorruptMessage, got, want)
	}
	h := readHeader(b)
	switch {
	case h.attrs&attrCompression > maxCodec:
		return h, fmt.Errorf("%w: compression codec %d", ErrCorruptMessage, h.attrs&attrCompression)
	case h.attrs&attrControl != 0:
		return h, fmt.Errorf("%w: clients may not write control batches", ErrInvalidRecord)
	case h.attrs&attrTransactional != 0:
		return h, fmt.Errorf("%w: transactional batches are not supported yet", ErrInvalidRecord)
	case h.count <= 0 || h.lastDelta != h.count-1:
		return h, fmt.Errorf("%w: %d records with last offset delta %d", ErrInvalidRecord, h.count, h.lastDelta)
	case h.pid >= 0 && (h.epoch < 0 || h.firstSeq < 0):
		return h, fmt.Errorf("%w: producer %d with epoch %d and sequence %d", ErrInvalidRecord, h.pid, h.epoch, h.firstSeq)
	}
	if cfg.compact {
		recs, err := logstore.DecodeRecords(b)
		if err != nil {
			return h, fmt.Errorf("%w: %v", ErrCorruptMessage, err)
		}
		for _, r := range recs {
			if r.Key == nil {
				return h, fmt.Errorf("%w: a compacted topic takes only records with a key", ErrInvalidRecord)
			}
		}
	}
	return h, nil
}

// setTimestampType rewrites a batch for the topic's timestamp type: with
// LogAppendTime, the broker's time becomes the batch's max timestamp and
// the attribute says so (readers then use it for every record, as Kafka
// does); with CreateTime a LogAppendTime flag from the client is cleared.
// Either change recomputes the CRC. It reports whether b changed.
func setTimestampType(b []byte, logAppendTime bool, now int64) bool {
	attrs := binary.BigEndian.Uint16(b[offAttributes:])
	switch {
	case logAppendTime:
		binary.BigEndian.PutUint16(b[offAttributes:], attrs|attrLogAppendTime)
		binary.BigEndian.PutUint64(b[offMaxTime:], uint64(now))
	case attrs&attrLogAppendTime != 0:
		binary.BigEndian.PutUint16(b[offAttributes:], attrs&^attrLogAppendTime)
	default:
		return false
	}
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return true
}
