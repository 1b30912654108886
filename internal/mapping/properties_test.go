package mapping

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/logstore"
)

// Each property maps to one header with the documented name and format,
// and that header alone maps back to the property.
func TestProperties(t *testing.T) {
	for _, tc := range []struct {
		props  frame.Properties
		header string
		value  string
	}{
		{frame.Properties{ContentType: "application/json"}, "content-type", "application/json"},
		{frame.Properties{ContentEncoding: "gzip"}, "amqp.content-encoding", "gzip"},
		{frame.Properties{DeliveryMode: 2}, "amqp.delivery-mode", "2"},
		{frame.Properties{DeliveryMode: 1}, "amqp.delivery-mode", "1"},
		{frame.Properties{Priority: 9}, "amqp.priority", "9"},
		{frame.Properties{Priority: 255}, "amqp.priority", "255"},
		{frame.Properties{CorrelationID: "c-42"}, "amqp.correlation-id", "c-42"},
		{frame.Properties{ReplyTo: "amq.rabbitmq.reply-to"}, "amqp.reply-to", "amq.rabbitmq.reply-to"},
		{frame.Properties{Expiration: "60000"}, "amqp.expiration", "60000"},
		{frame.Properties{MessageID: "9f1c"}, "amqp.message-id", "9f1c"},
		{frame.Properties{Timestamp: time.Unix(1_700_000_000, 0).UTC()}, "amqp.timestamp", "1700000000"},
		{frame.Properties{Type: "order.created"}, "amqp.type", "order.created"},
		{frame.Properties{UserID: "guest"}, "amqp.user-id", "guest"},
		{frame.Properties{AppID: "billing"}, "amqp.app-id", "billing"},
		{frame.Properties{ClusterID: "eu-1"}, "amqp.cluster-id", "eu-1"},
		// Octets, not UTF-8: a shortstr is bytes.
		{frame.Properties{MessageID: "\xff\x00"}, "amqp.message-id", "\xff\x00"},
		// Beyond int64 seconds: what a client sends as uint64 comes back.
		{frame.Properties{Timestamp: time.Unix(-1, 0).UTC()}, "amqp.timestamp", "18446744073709551615"},
	} {
		t.Run(tc.header+"="+tc.value, func(t *testing.T) {
			p := tc.props
			p.SetFlags()
			m := AMQP{Properties: encode(t, p), Body: []byte("x")}
			r, err := ToRecord(m)
			if err != nil {
				t.Fatal(err)
			}
			want := []logstore.RecordHeader{{Key: tc.header, Value: []byte(tc.value)}}
			if !reflect.DeepEqual(r.Headers, want) {
				t.Errorf("ToRecord headers %q, want %q", r.Headers, want)
			}
			got := FromRecord(logstore.Record{Value: []byte("x"), Headers: want})
			if g := decoded(t, got); !reflect.DeepEqual(g, p) {
				t.Errorf("FromRecord properties %+v, want %+v", g, p)
			}
		})
	}
}

// A property sent empty is a header with an empty value, which maps back
// to the property present and empty.
func TestEmptyProperties(t *testing.T) {
	var p frame.Properties
	for i := range properties {
		p.Flags |= properties[i].flag
	}
	p.Timestamp = time.Unix(0, 0).UTC()
	m := AMQP{Properties: encode(t, p), Body: []byte{}}
	r, got := roundTrip(t, m)
	for _, h := range r.Headers {
		if h.Value == nil {
			t.Errorf("header %s: null value", h.Key)
		}
	}
	if len(r.Headers) != len(properties) {
		t.Errorf("headers %q, want one per property", names(r))
	}
	sameMessage(t, m, got)
}

func TestEveryProperty(t *testing.T) {
	p := frame.Properties{
		ContentType: "text/plain", ContentEncoding: "utf-8",
		Headers:      frame.Table{{Key: "trace", Value: "abc"}},
		DeliveryMode: 2, Priority: 5, CorrelationID: "c", ReplyTo: "r",
		Expiration: "1000", MessageID: "m", Timestamp: when, Type: "t",
		UserID: "u", AppID: "a", ClusterID: "cl",
	}
	p.SetFlags()
	m := message(t, p)
	r, got := roundTrip(t, m)
	want := []string{"amqp.exchange", "content-type", "amqp.content-encoding", "amqp.delivery-mode",
		"amqp.priority", "amqp.correlation-id", "amqp.reply-to", "amqp.expiration", "amqp.message-id",
		"amqp.timestamp", "amqp.type", "amqp.user-id", "amqp.app-id", "amqp.cluster-id", "trace"}
	if !slices.Equal(names(r), want) {
		t.Errorf("headers %q\nwant %q", names(r), want)
	}
	sameMessage(t, m, got)
}

func TestKeyExchangeBodyTimestamp(t *testing.T) {
	props := encode(t, frame.Properties{})
	for _, tc := range []struct {
		name string
		m    AMQP
		key  []byte
	}{
		{"routing key", AMQP{Exchange: "x", RoutingKey: "a.b", Properties: props, Body: []byte("b"), Timestamp: 5}, []byte("a.b")},
		{"default exchange, no key", AMQP{Properties: props, Body: []byte("b")}, nil},
		{"empty body", AMQP{RoutingKey: "k", Properties: props, Body: []byte{}}, []byte("k")},
		{"nil body", AMQP{RoutingKey: "k", Properties: props}, []byte("k")},
		{"binary routing key", AMQP{RoutingKey: "\xff\x00", Properties: props, Body: []byte("b")}, []byte("\xff\x00")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, got := roundTrip(t, tc.m)
			if !bytes.Equal(r.Key, tc.key) || (r.Key == nil) != (tc.key == nil) {
				t.Errorf("key %q, want %q", r.Key, tc.key)
			}
			if r.Value == nil {
				t.Error("null value: a tombstone")
			}
			if r.Timestamp != tc.m.Timestamp {
				t.Errorf("timestamp %d, want %d", r.Timestamp, tc.m.Timestamp)
			}
			if ex := header(r, "amqp.exchange"); (tc.m.Exchange == "") != (ex == nil) {
				t.Errorf("amqp.exchange %q for exchange %q", ex, tc.m.Exchange)
			}
			if tc.m.Body == nil {
				tc.m.Body = []byte{}
			}
			sameMessage(t, tc.m, got)
		})
	}
}

func TestBadProperties(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {0x80, 0}, {0, 1}, {0x80, 0, 5, 'a'}} {
		if _, err := ToRecord(AMQP{Properties: b}); !errors.Is(err, ErrProperties) {
			t.Errorf("ToRecord(%x): %v, want ErrProperties", b, err)
		}
	}
}

// docs/PROTOCOLS.md is the documentation of this table: every property has its
// row, naming its header.
func TestTableDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/PROTOCOLS.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range properties {
		row := "| `" + d.name + "` | `" + d.header + "` |"
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/PROTOCOLS.md lacks the row %s", row)
		}
	}
	for _, name := range []string{headerExchange, headerTable, escapePrefix, ceKafka, ceAMQP, ceAMQPColon, headerKafkaKey} {
		if !strings.Contains(string(doc), "`"+name) {
			t.Errorf("docs/PROTOCOLS.md does not mention %s", name)
		}
	}
}
