package streamapi

import (
	"encoding/base64"
	"fmt"
	"unicode/utf8"

	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/logstore"
)

// Encodings of keys, values and header values in JSON.
const (
	encUTF8   = "utf8"
	encBase64 = "base64"
)

// inRecord is a record to publish. Key, Value and header values are
// strings in Encoding (default utf8); null is no key, a null value (a
// tombstone) or a header without value.
type inRecord struct {
	Partition *int32     `json:"partition"`
	Key       *string    `json:"key"`
	Value     *string    `json:"value"`
	Headers   []inHeader `json:"headers"`
	Timestamp *int64     `json:"timestamp"`
	Encoding  string     `json:"encoding"`
}

type inHeader struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

// decode turns r into a record of the log, stamped now unless it carries
// its own timestamp. where names the record in errors.
func (r inRecord) decode(where string, now int64) (logstore.Record, error) {
	var rec logstore.Record
	dec, err := decoder(r.Encoding)
	if err != nil {
		return rec, fmt.Errorf("%s.encoding: %v", where, err)
	}
	if rec.Key, err = dec(r.Key); err != nil {
		return rec, fmt.Errorf("%s.key: %v", where, err)
	}
	if rec.Value, err = dec(r.Value); err != nil {
		return rec, fmt.Errorf("%s.value: %v", where, err)
	}
	for i, h := range r.Headers {
		v, err := dec(h.Value)
		if err != nil {
			return rec, fmt.Errorf("%s.headers[%d].value: %v", where, i, err)
		}
		rec.Headers = append(rec.Headers, logstore.RecordHeader{Key: h.Key, Value: v})
	}
	rec.Timestamp = now
	if r.Timestamp != nil {
		if *r.Timestamp < 0 {
			return rec, fmt.Errorf("%s.timestamp: %d, want milliseconds since the epoch", where, *r.Timestamp)
		}
		rec.Timestamp = *r.Timestamp
	}
	return rec, nil
}

// decoder returns the function that turns a JSON string of the encoding
// into bytes, nil staying nil.
func decoder(enc string) (func(*string) ([]byte, error), error) {
	switch enc {
	case "", encUTF8:
		return func(s *string) ([]byte, error) {
			if s == nil {
				return nil, nil
			}
			return []byte(*s), nil
		}, nil
	case encBase64:
		return func(s *string) ([]byte, error) {
			if s == nil {
				return nil, nil
			}
			b, err := base64.StdEncoding.DecodeString(*s)
			if err != nil {
				return nil, fmt.Errorf("not standard base64: %v", err)
			}
			if b == nil {
				b = []byte{}
			}
			return b, nil
		}, nil
	}
	return nil, fmt.Errorf("%q, want %s or %s", enc, encUTF8, encBase64)
}

// outRecord is a record read. Encoding says how Key, Value and the header
// values are spelt: utf8 when asked for and they all are valid UTF-8,
// base64 otherwise, so that no byte is ever lost.
type outRecord struct {
	Offset    int64       `json:"offset"`
	Timestamp int64       `json:"timestamp"`
	Encoding  string      `json:"encoding"`
	Key       *string     `json:"key"`
	Value     *string     `json:"value"`
	Headers   []outHeader `json:"headers"`
}

type outHeader struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

// encodeRecord spells r for JSON in enc (utf8 or base64), falling back to
// base64 for a record that is not all UTF-8.
func encodeRecord(r logstore.Record, enc string) outRecord {
	if enc == encUTF8 && !allUTF8(r) {
		enc = encBase64
	}
	spell := func(b []byte) *string {
		if b == nil {
			return nil
		}
		s := string(b)
		if enc == encBase64 {
			s = base64.StdEncoding.EncodeToString(b)
		}
		return &s
	}
	out := outRecord{Offset: r.Offset, Timestamp: r.Timestamp, Encoding: enc, Key: spell(r.Key), Value: spell(r.Value), Headers: []outHeader{}}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, outHeader{Key: h.Key, Value: spell(h.Value)})
	}
	return out
}

func allUTF8(r logstore.Record) bool {
	if !utf8.Valid(r.Key) || !utf8.Valid(r.Value) {
		return false
	}
	for _, h := range r.Headers {
		if !utf8.Valid(h.Value) {
			return false
		}
	}
	return true
}

// readChunk bounds one read of a partition; a batch larger than it is
// still read whole.
const readChunk = 1 << 20

// maxSkips bounds the reads of one call that find batches without a
// record to give (control batches, records before the offset).
const maxSkips = 64

// attrControl marks a control batch (a transaction marker), whose records
// are not the application's. The flag is in the low byte of the
// attributes, at byte 22 of the batch.
const (
	attrControl      = 0x20
	attrControlIndex = 22
)

// readFrom reads up to limit records at and after offset, and returns them
// with the offset to read next. Read with nothing to give (offset at the
// end) returns no records and offset itself. The records alias buf's
// storage, which readFrom returns for reuse.
func readFrom(p *broker.Partition, buf []byte, offset int64, limit int) (recs []logstore.Record, next int64, _ []byte, err error) {
	next = offset
	for range maxSkips {
		buf, err = p.Read(buf[:0], next, readChunk)
		if err != nil || len(buf) == 0 {
			return recs, next, buf, err
		}
		batches := logstore.SplitBatches(buf)
		if len(batches) == 0 {
			return recs, next, buf, fmt.Errorf("%w: no whole batch at offset %d", broker.ErrStorage, next)
		}
		for _, b := range batches {
			end, err := logstore.BatchEnd(b)
			if err != nil {
				return recs, next, buf, fmt.Errorf("%w: %v", broker.ErrStorage, err)
			}
			if len(b) > attrControlIndex && b[attrControlIndex]&attrControl != 0 {
				next = max(next, end)
				continue
			}
			batch, err := logstore.DecodeRecords(b)
			if err != nil {
				return recs, next, buf, fmt.Errorf("%w: %v", broker.ErrStorage, err)
			}
			for _, r := range batch {
				if r.Offset < next {
					continue
				}
				recs = append(recs, r)
				next = r.Offset + 1
				if len(recs) == limit {
					return recs, next, buf, nil
				}
			}
			next = max(next, end)
		}
		if len(recs) > 0 {
			return recs, next, buf, nil
		}
	}
	return recs, next, buf, nil
}
