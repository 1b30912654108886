package mapping

import (
	"encoding/binary"
	"fmt"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/logstore"
)

// ToRecord maps an AMQP message to a Kafka record, as docs/PROTOCOLS.md lays out:
// routing key as the key (none when empty), body as the value, each
// property present as a header, then each application header under its
// own name. Offset is left for the log to assign. The record shares Body
// and part of Properties with m.
//
// It fails only when m.Properties do not decode, with an error wrapping
// [ErrProperties].
func ToRecord(m AMQP) (logstore.Record, error) {
	p, err := frame.DecodeProperties(m.Properties)
	if err != nil {
		return logstore.Record{}, fmt.Errorf("%w: %w", ErrProperties, err)
	}
	// Header values are rendered into one buffer and sliced once it stops
	// growing: one allocation, not one a header.
	n := headerCount(&p) + 1
	hs := make([]logstore.RecordHeader, 0, n)
	ends := make([]int, 0, n)
	buf := make([]byte, 0, 2*len(m.Properties)+len(m.Exchange)+16)
	add := func(name string, b []byte, ok bool) {
		buf = b
		hs, ends = append(hs, logstore.RecordHeader{Key: name}), append(ends, len(buf))
		if !ok {
			ends[len(ends)-1] = -1 // null
		}
	}
	if m.Exchange != "" {
		add(headerExchange, append(buf, m.Exchange...), true)
	}
	for i := range properties {
		if d := &properties[i]; p.Flags&d.flag != 0 {
			add(d.header, d.appendValue(buf, &p), true)
		}
	}
	// An empty table that was sent is not the same as none: only the
	// amqp.headers header can say so.
	exact := p.Flags&frame.FlagHeaders != 0 && len(p.Headers) == 0
	for _, f := range p.Headers {
		b, ok := appendNatural(buf, f)
		add(kafkaName(f.Key), b, ok)
		exact = exact || !plain(f)
	}
	start := 0
	for i, end := range ends {
		if end >= 0 {
			hs[i].Value = buf[start:end:end]
			start = end
		}
	}
	if exact {
		hs = append(hs, logstore.RecordHeader{Key: headerTable, Value: rawTable(m.Properties, &p)})
	}
	r := logstore.Record{Timestamp: m.Timestamp, Value: m.Body, Headers: hs}
	if m.RoutingKey != "" {
		r.Key = []byte(m.RoutingKey)
	}
	if r.Value == nil {
		r.Value = []byte{} // an empty body, not a tombstone
	}
	return r, nil
}

func headerCount(p *frame.Properties) int {
	n := len(p.Headers)
	for f := p.Flags; f != 0; f &= f - 1 {
		n++
	}
	return n
}

// rawTable returns the headers table of encoded properties that decoded
// to p, exactly as the publisher wrote it: length, then fields. It is
// cheaper than encoding p.Headers again, and keeps every octet.
func rawTable(b []byte, p *frame.Properties) []byte {
	off := 2 // property flags
	if p.Flags&frame.FlagContentType != 0 {
		off += 1 + len(p.ContentType)
	}
	if p.Flags&frame.FlagContentEncoding != 0 {
		off += 1 + len(p.ContentEncoding)
	}
	n := int(binary.BigEndian.Uint32(b[off:]))
	return b[off : off+4+n : off+4+n]
}
