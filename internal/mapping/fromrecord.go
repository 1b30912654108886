package mapping

import (
	"bytes"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/logstore"
)

// FromRecord maps a Kafka record to an AMQP message, as docs/PROTOCOLS.md lays out.
// It never fails: a header that cannot be what its name says (a priority
// of "high", a content-type over 255 bytes, a second message-id) is kept
// as an application header under its own name instead, and a record from
// a plain Kafka producer becomes a message whose application headers are
// its headers. Body and byte-array headers may share memory with r.
func FromRecord(r logstore.Record) AMQP {
	m, err := fromRecord(r)
	if err != nil {
		// Unreachable: every string is bounded before it is set and
		// every table value has a wire type. An empty property list
		// still delivers the body.
		m.Properties = []byte{0, 0}
	}
	return m
}

// fromRecord is FromRecord with the encoding error it cannot have, for
// tests to assert that it has none.
func fromRecord(r logstore.Record) (AMQP, error) {
	m := AMQP{Body: r.Value, Timestamp: r.Timestamp}
	if m.Body == nil {
		m.Body = []byte{}
	}
	var p frame.Properties
	taken, typed := special(r.Headers, &p, &m.Exchange)

	var app frame.Table
	for i, h := range r.Headers {
		if taken != nil && taken[i] {
			continue
		}
		if f, ok := typed.match(h.Key, h.Value); ok {
			app = append(app, f)
			continue
		}
		key := amqpName(h.Key)
		if len(key) > maxShortStr {
			// ce_ grew into cloudEvents_: better the name as sent.
			key = h.Key
		}
		if len(key) <= maxShortStr {
			app = append(app, frame.Field{Key: key, Value: plainValue(h.Value)})
		}
		// A longer name cannot be a field name in AMQP: dropped.
	}
	switch {
	case len(r.Key) <= maxShortStr:
		m.RoutingKey = string(r.Key)
	default:
		app = append(app, frame.Field{Key: headerKafkaKey, Value: r.Key})
	}
	if app != nil || typed != nil {
		p.Flags |= frame.FlagHeaders
		p.Headers = app
		if p.Headers == nil {
			p.Headers = frame.Table{}
		}
	}
	var err error
	m.Properties, err = frame.AppendProperties(nil, &p)
	return m, err
}

// special reads the headers that are not application headers: the
// properties, the exchange and amqp.headers. When a name repeats, the last
// occurrence that holds a valid value is taken, as Kafka clients read a
// header by its last value; taken marks the headers used (nil if none).
func special(hs []logstore.RecordHeader, p *frame.Properties, exchange *string) (taken []bool, typed *exactTable) {
	var haveExchange bool
	for i := len(hs) - 1; i >= 0; i-- {
		h := hs[i]
		if d := propertyFor(h.Key); d >= 0 {
			if p.Flags&properties[d].flag == 0 && properties[d].set(p, h.Value) {
				taken = mark(taken, len(hs), i)
			}
			continue
		}
		switch h.Key {
		case headerExchange:
			if !haveExchange && h.Value != nil && len(h.Value) <= maxShortStr {
				haveExchange, *exchange = true, string(h.Value)
				taken = mark(taken, len(hs), i)
			}
		case headerTable:
			if typed == nil {
				if t, ok := decodeTable(h.Value); ok {
					typed = &exactTable{fields: t}
					taken = mark(taken, len(hs), i)
				}
			}
		}
	}
	return taken, typed
}

func mark(taken []bool, n, i int) []bool {
	if taken == nil {
		taken = make([]bool, n)
	}
	taken[i] = true
	return taken
}

// decodeTable decodes an amqp.headers value: one field table, nothing
// after it.
func decodeTable(b []byte) (frame.Table, bool) {
	r := frame.NewReader(b)
	t := r.Table()
	if r.Err() != nil || r.Len() != 0 {
		return nil, false
	}
	return t, true
}

// matchWindow bounds how far past the last field matched FromRecord looks
// for the next, so that crafted headers cost linear time. A Kafka client
// would have to delete more headers than this in a row for later ones to
// lose their AMQP types.
const matchWindow = 32

// exactTable is the application headers table from amqp.headers, matched
// in order against the record's headers.
type exactTable struct {
	fields frame.Table
	next   int // fields before next are matched or passed over
	// The Kafka name and natural value of each field, computed when
	// first compared, so that no field is rendered twice. Values are
	// appended to buf; earlier ones stay valid as it grows.
	seen []rendered
	buf  []byte
}

type rendered struct {
	name          string
	value         []byte
	null          bool
	named, valued bool
}

// match returns the field the record header (name, value) was written
// from: the first unmatched field within the window that has this Kafka
// name and renders to this value. Fields skipped over are headers a Kafka
// client removed.
func (t *exactTable) match(name string, value []byte) (frame.Field, bool) {
	if t == nil {
		return frame.Field{}, false
	}
	if t.seen == nil {
		t.seen = make([]rendered, len(t.fields))
	}
	for k := t.next; k < len(t.fields) && k < t.next+matchWindow; k++ {
		f, r := t.fields[k], &t.seen[k]
		if !r.named {
			r.name, r.named = kafkaName(f.Key), true
		}
		if r.name != name {
			continue
		}
		if !r.valued {
			b, ok := appendNatural(t.buf, f)
			r.value, r.null, r.valued = b[len(t.buf):], !ok, true
			t.buf = b
		}
		if r.null == (value == nil) && bytes.Equal(r.value, value) {
			t.next = k + 1
			return f, true
		}
	}
	return frame.Field{}, false
}
