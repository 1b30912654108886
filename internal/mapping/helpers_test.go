package mapping

import (
	"bytes"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/logstore"
)

// encode is p in wire form.
func encode(t testing.TB, p frame.Properties) []byte {
	t.Helper()
	b, err := frame.AppendProperties(nil, &p)
	if err != nil {
		t.Fatalf("encode properties: %v", err)
	}
	return b
}

// canonical decodes properties and encodes them again: two property lists
// with the same flags, values and field types have the same canonical form.
func canonical(t testing.TB, b []byte) []byte {
	t.Helper()
	p, err := frame.DecodeProperties(b)
	if err != nil {
		t.Fatalf("decode properties %x: %v", b, err)
	}
	return encode(t, p)
}

// stored passes a record through the log's batch codec, as a topic or
// stream queue does: what a reader gets back, not what was appended.
func stored(t testing.TB, r logstore.Record) logstore.Record {
	t.Helper()
	recs, err := logstore.DecodeRecords(logstore.AppendBatch(nil, logstore.BatchOptions{ProducerID: -1}, []logstore.Record{r}))
	if err != nil || len(recs) != 1 {
		t.Fatalf("batch codec: %d records, %v", len(recs), err)
	}
	return recs[0]
}

// roundTrip is FromRecord(ToRecord(m)) through the log.
func roundTrip(t testing.TB, m AMQP) (logstore.Record, AMQP) {
	t.Helper()
	r, err := ToRecord(m)
	if err != nil {
		t.Fatalf("ToRecord: %v", err)
	}
	got, err := fromRecord(stored(t, r))
	if err != nil {
		t.Fatalf("fromRecord: %v", err)
	}
	return r, got
}

// sameMessage fails unless got is m: properties alike in canonical form,
// and the same exchange, routing key, body and timestamp.
func sameMessage(t testing.TB, m, got AMQP) {
	t.Helper()
	if want, have := canonical(t, m.Properties), canonical(t, got.Properties); !bytes.Equal(want, have) {
		t.Errorf("properties\nwant %s\n got %s", show(t, want), show(t, have))
	}
	if got.Exchange != m.Exchange || got.RoutingKey != m.RoutingKey || got.Timestamp != m.Timestamp {
		t.Errorf("got exchange %q key %q ts %d, want %q %q %d",
			got.Exchange, got.RoutingKey, got.Timestamp, m.Exchange, m.RoutingKey, m.Timestamp)
	}
	if !bytes.Equal(got.Body, m.Body) || got.Body == nil {
		t.Errorf("body %q, want %q", got.Body, m.Body)
	}
}

// show prints properties with their field types, for failure messages.
func show(t testing.TB, b []byte) string {
	p, err := frame.DecodeProperties(b)
	if err != nil {
		return fmt.Sprintf("undecodable %x", b)
	}
	hs := p.Headers
	p.Headers = nil
	return fmt.Sprintf("%+v headers %s", p, showTable(hs))
}

func showTable(t frame.Table) string {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range t {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q: %s", f.Key, showValue(f.Value))
	}
	b.WriteByte('}')
	return b.String()
}

func showValue(v any) string {
	switch v := v.(type) {
	case frame.Table:
		return showTable(v)
	case []any:
		s := make([]string, len(v))
		for i, e := range v {
			s[i] = showValue(e)
		}
		return fmt.Sprint(s)
	case float32:
		return fmt.Sprintf("float32(%v %#x)", v, math.Float32bits(v))
	case float64:
		return fmt.Sprintf("float64(%v %#x)", v, math.Float64bits(v))
	}
	return fmt.Sprintf("%T(%#v)", v, v)
}

// header returns the values of the record headers named name.
func header(r logstore.Record, name string) [][]byte {
	var vs [][]byte
	for _, h := range r.Headers {
		if h.Key == name {
			vs = append(vs, h.Value)
		}
	}
	return vs
}

func names(r logstore.Record) []string {
	var ns []string
	for _, h := range r.Headers {
		ns = append(ns, h.Key)
	}
	return ns
}

// message is an AMQP message with the given properties.
func message(t testing.TB, p frame.Properties) AMQP {
	return AMQP{
		Exchange:   "orders",
		RoutingKey: "order.created",
		Properties: encode(t, p),
		Body:       []byte(`{"id":1}`),
		Timestamp:  1_700_000_000_123,
	}
}

// withHeaders is properties holding just the table.
func withHeaders(t frame.Table) frame.Properties {
	return frame.Properties{Flags: frame.FlagHeaders, Headers: t}
}

// decoded returns the properties of m, failing the test if they do not
// decode.
func decoded(t testing.TB, m AMQP) frame.Properties {
	t.Helper()
	p, err := frame.DecodeProperties(m.Properties)
	if err != nil {
		t.Fatalf("FromRecord properties do not decode: %v", err)
	}
	return p
}

// keys are a table's field names in order.
func keys(tb frame.Table) []string {
	var ks []string
	for _, f := range tb {
		ks = append(ks, f.Key)
	}
	return ks
}

var when = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
