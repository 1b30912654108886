package mapping

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/logstore"
)

type hdr = logstore.RecordHeader

// Records as plain Kafka producers write them: no Loft headers, or Loft
// headers written by hand, right or wrong.
func TestPlainRecords(t *testing.T) {
	long := strings.Repeat("k", 256)
	for _, tc := range []struct {
		name  string
		rec   logstore.Record
		props frame.Properties // Flags are derived from the headers wanted
		key   string
		body  []byte
	}{
		{name: "bare", rec: logstore.Record{Value: []byte("v")}, body: []byte("v")},
		{name: "null key, tombstone", rec: logstore.Record{}, body: []byte{}},
		{name: "empty key, empty value", rec: logstore.Record{Key: []byte{}, Value: []byte{}}, body: []byte{}},
		{name: "key", rec: logstore.Record{Key: []byte("user-7"), Value: []byte("v")}, key: "user-7", body: []byte("v")},
		{name: "binary key", rec: logstore.Record{Key: []byte{0, 0xff}}, key: "\x00\xff", body: []byte{}},
		{name: "key too long for a routing key", rec: logstore.Record{Key: []byte(long)}, body: []byte{},
			props: withHeaders(frame.Table{{Key: "x-kafka-key", Value: []byte(long)}})},
		{name: "headers", rec: logstore.Record{Headers: []hdr{
			{Key: "trace", Value: []byte("abc")},
			{Key: "bin", Value: []byte{0xff, 0xfe}},
			{Key: "nul", Value: nil},
			{Key: "empty", Value: []byte{}},
		}}, body: []byte{}, props: withHeaders(frame.Table{
			{Key: "trace", Value: "abc"},
			{Key: "bin", Value: []byte{0xff, 0xfe}},
			{Key: "nul", Value: nil},
			{Key: "empty", Value: ""},
		})},
		{name: "repeated headers", rec: logstore.Record{Headers: []hdr{
			{Key: "d", Value: []byte("1")}, {Key: "e", Value: []byte("x")}, {Key: "d", Value: []byte("2")},
		}}, body: []byte{}, props: withHeaders(frame.Table{
			{Key: "d", Value: "1"}, {Key: "e", Value: "x"}, {Key: "d", Value: "2"},
		})},
		{name: "content-type", rec: logstore.Record{Headers: []hdr{
			{Key: "content-type", Value: []byte("application/avro")},
		}}, body: []byte{}, props: frame.Properties{ContentType: "application/avro"}},
		{name: "Content-Type is another header", rec: logstore.Record{Headers: []hdr{
			{Key: "Content-Type", Value: []byte("text/plain")},
		}}, body: []byte{}, props: withHeaders(frame.Table{{Key: "Content-Type", Value: "text/plain"}})},
		{name: "content-type too long", rec: logstore.Record{Headers: []hdr{
			{Key: "content-type", Value: []byte(long)},
		}}, body: []byte{}, props: withHeaders(frame.Table{{Key: "content-type", Value: long}})},
		{name: "properties set by a Kafka producer", rec: logstore.Record{Headers: []hdr{
			{Key: "amqp.reply-to", Value: []byte("replies")},
			{Key: "amqp.correlation-id", Value: []byte("c-1")},
			{Key: "amqp.priority", Value: []byte("7")},
			{Key: "amqp.timestamp", Value: []byte("1700000000")},
		}}, body: []byte{}, props: frame.Properties{ReplyTo: "replies", CorrelationID: "c-1", Priority: 7,
			Timestamp: time.Unix(1_700_000_000, 0).UTC()}},
		{name: "property values they cannot hold", rec: logstore.Record{Headers: []hdr{
			{Key: "amqp.priority", Value: []byte("high")},
			{Key: "amqp.delivery-mode", Value: []byte("256")},
			{Key: "amqp.timestamp", Value: []byte("2024-05-06T07:08:09Z")},
			{Key: "amqp.message-id", Value: nil},
			{Key: "amqp.exchange", Value: []byte(long)},
		}}, body: []byte{}, props: withHeaders(frame.Table{
			{Key: "amqp.priority", Value: "high"},
			{Key: "amqp.delivery-mode", Value: "256"},
			{Key: "amqp.timestamp", Value: "2024-05-06T07:08:09Z"},
			{Key: "amqp.message-id", Value: nil},
			{Key: "amqp.exchange", Value: long},
		})},
		{name: "repeated property: the last valid wins", rec: logstore.Record{Headers: []hdr{
			{Key: "amqp.message-id", Value: []byte("first")},
			{Key: "amqp.message-id", Value: []byte("second")},
			{Key: "amqp.priority", Value: []byte("1")},
			{Key: "amqp.priority", Value: []byte("urgent")},
		}}, body: []byte{}, props: frame.Properties{MessageID: "second", Priority: 1, Headers: frame.Table{
			{Key: "amqp.message-id", Value: "first"},
			{Key: "amqp.priority", Value: "urgent"},
		}}},
		{name: "unknown Loft-looking names", rec: logstore.Record{Headers: []hdr{
			{Key: "amqp.routing-key", Value: []byte("r")},
			{Key: "amqp.header.content-type", Value: []byte("escaped")},
		}}, body: []byte{}, props: withHeaders(frame.Table{
			{Key: "amqp.routing-key", Value: "r"},
			{Key: "content-type", Value: "escaped"},
		})},
		{name: "amqp.headers that do not decode", rec: logstore.Record{Headers: []hdr{
			{Key: "amqp.headers", Value: []byte{0, 0, 0, 9, 1}},
			{Key: "amqp.headers", Value: nil},
		}}, body: []byte{}, props: withHeaders(frame.Table{
			{Key: "amqp.headers", Value: "\x00\x00\x00\x09\x01"}, // control characters, but UTF-8
			{Key: "amqp.headers", Value: nil},
		})},
		{name: "amqp.headers with bytes after the table", rec: logstore.Record{Headers: []hdr{
			{Key: "amqp.headers", Value: []byte{0, 0, 0, 0, 0}},
		}}, body: []byte{}, props: withHeaders(frame.Table{
			{Key: "amqp.headers", Value: "\x00\x00\x00\x00\x00"},
		})},
		{name: "header name too long for AMQP", rec: logstore.Record{Headers: []hdr{
			{Key: long, Value: []byte("dropped")}, {Key: "kept", Value: []byte("k")},
		}}, body: []byte{}, props: withHeaders(frame.Table{{Key: "kept", Value: "k"}})},
		{name: "ce_ name that cloudEvents_ would make too long", rec: logstore.Record{Headers: []hdr{
			{Key: "ce_" + long[:250], Value: []byte("v")},
		}}, body: []byte{}, props: withHeaders(frame.Table{{Key: "ce_" + long[:250], Value: "v"}})},
		{name: "CloudEvents binary mode", rec: logstore.Record{Key: []byte("mykey"), Value: []byte("avro"), Headers: []hdr{
			{Key: "ce_specversion", Value: []byte("1.0")},
			{Key: "ce_type", Value: []byte("com.example.someevent")},
			{Key: "ce_source", Value: []byte("/mycontext/subcontext")},
			{Key: "ce_id", Value: []byte("1234-1234-1234")},
			{Key: "ce_time", Value: []byte("2018-04-05T03:56:24Z")},
			{Key: "content-type", Value: []byte("application/avro")},
		}}, key: "mykey", body: []byte("avro"), props: frame.Properties{ContentType: "application/avro", Headers: frame.Table{
			{Key: "cloudEvents_specversion", Value: "1.0"},
			{Key: "cloudEvents_type", Value: "com.example.someevent"},
			{Key: "cloudEvents_source", Value: "/mycontext/subcontext"},
			{Key: "cloudEvents_id", Value: "1234-1234-1234"},
			{Key: "cloudEvents_time", Value: "2018-04-05T03:56:24Z"},
		}}},
		{name: "CloudEvents structured mode", rec: logstore.Record{Value: []byte(`{"specversion":"1.0"}`), Headers: []hdr{
			{Key: "content-type", Value: []byte("application/cloudevents+json; charset=UTF-8")},
		}}, body: []byte(`{"specversion":"1.0"}`), props: frame.Properties{ContentType: "application/cloudevents+json; charset=UTF-8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fromRecord(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.props
			want.SetFlags()
			if p := decoded(t, got); !reflect.DeepEqual(p, want) {
				t.Errorf("properties\n got %+v %s\nwant %+v %s", p, showTable(p.Headers), want, showTable(want.Headers))
			}
			if got.RoutingKey != tc.key || !bytes.Equal(got.Body, tc.body) || got.Body == nil {
				t.Errorf("routing key %q body %q, want %q %q", got.RoutingKey, got.Body, tc.key, tc.body)
			}
			// Whatever a Kafka producer sent, the message it became goes
			// to Kafka and back unchanged.
			_, again := roundTrip(t, got)
			sameMessage(t, got, again)
		})
	}
}

// A CloudEvent crosses in binary mode both ways: ce_ headers become
// cloudEvents_ headers and back, content-type stays content-type.
func TestCloudEventsAcross(t *testing.T) {
	r := logstore.Record{Key: []byte("k"), Value: []byte("{}"), Headers: []hdr{
		{Key: "content-type", Value: []byte("application/json")},
		{Key: "ce_specversion", Value: []byte("1.0")},
		{Key: "ce_id", Value: []byte("1")},
	}}
	back, err := ToRecord(FromRecord(r))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Headers, r.Headers) {
		t.Errorf("Kafka → AMQP → Kafka headers %q, want %q", back.Headers, r.Headers)
	}
}

func TestTimestampCarried(t *testing.T) {
	got := FromRecord(logstore.Record{Timestamp: 1_700_000_000_123})
	if got.Timestamp != 1_700_000_000_123 {
		t.Errorf("timestamp %d", got.Timestamp)
	}
	if p := decoded(t, got); p.Flags != 0 {
		t.Errorf("flags %#x: the timestamp property is not invented", p.Flags)
	}
}
