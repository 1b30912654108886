package mapping

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/logstore"
)

// FuzzFromRecord feeds records as any Kafka client might write them. The
// message must have properties that encode and decode, and must itself
// survive AMQP → Kafka → AMQP.
func FuzzFromRecord(f *testing.F) {
	f.Fuzz(func(t *testing.T, key, value, headers []byte, nullKey, nullValue bool) {
		r := logstore.Record{Key: key, Value: value, Headers: splitHeaders(headers), Timestamp: 42}
		if nullKey {
			r.Key = nil
		}
		if nullValue {
			r.Value = nil
		}
		m, err := fromRecord(r)
		if err != nil {
			t.Fatalf("properties do not encode: %v", err)
		}
		if got := canonical(t, m.Properties); !bytes.Equal(got, m.Properties) {
			t.Fatalf("properties %x decode and re-encode to %x", m.Properties, got)
		}
		if len(m.RoutingKey) > maxShortStr || len(m.Exchange) > maxShortStr {
			t.Fatalf("routing key of %d bytes, exchange of %d", len(m.RoutingKey), len(m.Exchange))
		}
		_, again := roundTrip(t, m)
		sameMessage(t, m, again)
	})
}

// FuzzRoundTrip feeds property lists as any AMQP client might send them:
// those that decode must come back from Kafka exactly.
func FuzzRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, props []byte, exchange, routingKey string, body []byte, ts int64) {
		if len(exchange) > maxShortStr || len(routingKey) > maxShortStr {
			return // not an AMQP message: both are shortstr
		}
		m := AMQP{Exchange: exchange, RoutingKey: routingKey, Properties: props, Body: body, Timestamp: ts}
		if _, err := frame.DecodeProperties(props); err != nil {
			if _, err := ToRecord(m); !errors.Is(err, ErrProperties) {
				t.Fatalf("ToRecord of undecodable properties: %v", err)
			}
			return
		}
		if m.Body == nil {
			m.Body = []byte{}
		}
		_, got := roundTrip(t, m)
		sameMessage(t, m, got)
	})
}

// splitHeaders reads fuzz input as record headers: a name length octet and
// the name, then a two-octet value length (0xffff: a null value) and the
// value, until the input runs out.
func splitHeaders(b []byte) []logstore.RecordHeader {
	var hs []logstore.RecordHeader
	for len(b) >= 3 {
		n := int(b[0])
		if len(b) < 1+n+2 {
			break
		}
		name := string(b[1 : 1+n])
		b = b[1+n:]
		vn := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		var v []byte
		if vn != 0xffff {
			vn = min(vn, len(b))
			v, b = b[:vn:vn], b[vn:]
		}
		hs = append(hs, logstore.RecordHeader{Key: name, Value: v})
	}
	return hs
}

func joinHeaders(hs []logstore.RecordHeader) []byte {
	var b []byte
	for _, h := range hs {
		b = append(b, byte(len(h.Key)))
		b = append(b, h.Key...)
		if h.Value == nil {
			b = binary.BigEndian.AppendUint16(b, 0xffff)
			continue
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(h.Value)))
		b = append(b, h.Value...)
	}
	return b
}

var writeSeeds = flag.Bool("write-seeds", false, "rewrite the seed corpora under testdata/fuzz")

// TestWriteSeeds writes the seed corpora that go test runs the fuzz
// targets on: typical messages, every field type, CloudEvents, and plain
// Kafka records. Run with -write-seeds after changing them.
func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -write-seeds to rewrite testdata/fuzz")
	}
	full := frame.Properties{
		ContentType: "application/json", ContentEncoding: "gzip", Headers: allTypes(),
		DeliveryMode: 2, Priority: 9, CorrelationID: "c", ReplyTo: "r", Expiration: "60000",
		MessageID: "m", Timestamp: when, Type: "t", UserID: "guest", AppID: "a", ClusterID: "cl",
	}
	full.SetFlags()
	typical := typicalProperties()
	var empty frame.Properties
	for i := range properties {
		empty.Flags |= properties[i].flag
	}
	empty.Flags |= frame.FlagHeaders
	empty.Headers = frame.Table{}
	ce := withHeaders(frame.Table{
		{Key: "cloudEvents_specversion", Value: "1.0"}, {Key: "cloudEvents:time", Value: when},
		{Key: "cloudEvents_data", Value: []byte{1, 2}},
	})
	seeds := map[string][]any{
		"full":        {encode(t, full), "orders", "order.created", []byte(`{"id":1}`), int64(1_700_000_000_123)},
		"typical":     {encode(t, typical), "", "jobs", []byte("payload"), int64(1)},
		"empty":       {encode(t, empty), "", "", []byte{}, int64(0)},
		"none":        {[]byte{0, 0}, "x", "", []byte(nil), int64(-1)},
		"cloudevents": {encode(t, ce), "events", "k", []byte("{}"), int64(2)},
		"bad-flags":   {[]byte{0, 1}, "", "", []byte{}, int64(0)},
	}
	for name, args := range seeds {
		writeSeed(t, "FuzzRoundTrip", name, args)
	}

	// Records: plain ones, and ToRecord's own output.
	records := map[string]logstore.Record{
		"bare": {Value: []byte("v")},
		"plain": {Key: []byte("user-7"), Value: []byte("v"), Headers: []logstore.RecordHeader{
			{Key: "trace", Value: []byte("abc")}, {Key: "bin", Value: []byte{0xff}}, {Key: "nul"},
			{Key: "trace", Value: []byte("again")}, {Key: "content-type", Value: []byte("text/plain")},
		}},
		"cloudevents": {Key: []byte("k"), Value: []byte("{}"), Headers: []logstore.RecordHeader{
			{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("1")},
			{Key: "content-type", Value: []byte("application/json")},
		}},
		"loft-by-hand": {Headers: []logstore.RecordHeader{
			{Key: "amqp.priority", Value: []byte("300")}, {Key: "amqp.timestamp", Value: []byte("12")},
			{Key: "amqp.message-id", Value: []byte("a")}, {Key: "amqp.message-id", Value: []byte("b")},
			{Key: "amqp.headers", Value: []byte{0, 0, 0, 3, 1, 'a', 'V'}}, {Key: "amqp.header.x", Value: []byte("y")},
		}},
	}
	for name, p := range map[string]frame.Properties{"full": full, "typical": typical, "empty": empty, "cloudevents": ce} {
		r, err := ToRecord(AMQP{Exchange: "x", RoutingKey: "rk", Properties: encode(t, p), Body: []byte("b")})
		if err != nil {
			t.Fatal(err)
		}
		records["torecord-"+name] = r
	}
	for name, r := range records {
		writeSeed(t, "FuzzFromRecord", name, []any{r.Key, r.Value, joinHeaders(r.Headers), r.Key == nil, r.Value == nil})
	}
}

// writeSeed writes one corpus entry in the format go test reads.
func writeSeed(t *testing.T, target, name string, args []any) {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch a := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", a)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", a)
		case int64:
			fmt.Fprintf(&b, "int64(%d)\n", a)
		case bool:
			fmt.Fprintf(&b, "bool(%t)\n", a)
		default:
			t.Fatalf("seed argument of type %T", a)
		}
	}
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
