package mapping

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/logstore"
)

// What a Kafka reader sees of each application header, and whether the
// typed table has to travel alongside.
func TestHeaderValues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		field frame.Field
		kafka string // header name
		value []byte // nil: a null value
		exact bool   // amqp.headers written
	}{
		{"longstr", frame.Field{Key: "s", Value: "hello"}, "s", []byte("hello"), false},
		{"empty longstr", frame.Field{Key: "s", Value: ""}, "s", []byte{}, false},
		{"longstr not UTF-8", frame.Field{Key: "s", Value: "\xff\xfe"}, "s", []byte("\xff\xfe"), true},
		{"bytes", frame.Field{Key: "b", Value: []byte{0xff, 0}}, "b", []byte{0xff, 0}, false},
		{"bytes that are UTF-8", frame.Field{Key: "b", Value: []byte("text")}, "b", []byte("text"), true},
		{"empty bytes", frame.Field{Key: "b", Value: []byte{}}, "b", []byte{}, true},
		{"void", frame.Field{Key: "v", Value: nil}, "v", nil, false},
		{"bool", frame.Field{Key: "t", Value: true}, "t", []byte("true"), true},
		{"int8", frame.Field{Key: "n", Value: int8(-5)}, "n", []byte("-5"), true},
		{"uint8", frame.Field{Key: "n", Value: uint8(200)}, "n", []byte("200"), true},
		{"int16", frame.Field{Key: "n", Value: int16(-300)}, "n", []byte("-300"), true},
		{"uint16", frame.Field{Key: "n", Value: uint16(65535)}, "n", []byte("65535"), true},
		{"int32", frame.Field{Key: "n", Value: int32(3)}, "n", []byte("3"), true},
		{"uint32", frame.Field{Key: "n", Value: uint32(4_000_000_000)}, "n", []byte("4000000000"), true},
		{"int64", frame.Field{Key: "n", Value: int64(math.MinInt64)}, "n", []byte("-9223372036854775808"), true},
		{"float32", frame.Field{Key: "f", Value: float32(0.1)}, "f", []byte("0.1"), true},
		{"float64", frame.Field{Key: "f", Value: 1e21}, "f", []byte("1e+21"), true},
		{"NaN", frame.Field{Key: "f", Value: math.NaN()}, "f", []byte("NaN"), true},
		{"-Inf", frame.Field{Key: "f", Value: float32(math.Inf(-1))}, "f", []byte("-Inf"), true},
		{"decimal", frame.Field{Key: "d", Value: frame.Decimal{Scale: 2, Value: 12345}}, "d", []byte("123.45"), true},
		{"decimal trailing zero", frame.Field{Key: "d", Value: frame.Decimal{Scale: 2, Value: 150}}, "d", []byte("1.50"), true},
		{"decimal small", frame.Field{Key: "d", Value: frame.Decimal{Scale: 3, Value: -5}}, "d", []byte("-0.005"), true},
		{"decimal scale 0", frame.Field{Key: "d", Value: frame.Decimal{Value: math.MinInt32}}, "d", []byte("-2147483648"), true},
		{"timestamp", frame.Field{Key: "at", Value: when}, "at", []byte("2024-05-06T07:08:09Z"), true},
		{"array", frame.Field{Key: "a", Value: []any{int32(1), "a\"\n", nil, true, []byte{1, 2}, when, math.Inf(1)}},
			"a", []byte(`[1,"a\"\n",null,true,"AQI=","2024-05-06T07:08:09Z","+Inf"]`), true},
		{"table", frame.Field{Key: "x-death", Value: frame.Table{
			{Key: "count", Value: int64(2)}, {Key: "queue", Value: "q"}, {Key: "n", Value: frame.Table{}}, {Key: "count", Value: frame.Decimal{Scale: 1, Value: 5}},
		}}, "x-death", []byte(`{"count":2,"queue":"q","n":{},"count":0.5}`), true},
		{"empty array", frame.Field{Key: "a", Value: []any{}}, "a", []byte("[]"), true},
		{"JSON string escapes", frame.Field{Key: "a", Value: []any{"\x01\xff\t\\é"}}, "a", []byte(`["\u0001` + "\uFFFD" + `\t\\é"]`), true},

		// Names.
		{"named content-type", frame.Field{Key: "content-type", Value: "x"}, "amqp.header.content-type", []byte("x"), false},
		{"named like a property", frame.Field{Key: "amqp.message-id", Value: "x"}, "amqp.header.amqp.message-id", []byte("x"), false},
		{"named like the table", frame.Field{Key: "amqp.headers", Value: "x"}, "amqp.header.amqp.headers", []byte("x"), false},
		{"named escaped", frame.Field{Key: "amqp.header.x", Value: "x"}, "amqp.header.amqp.header.x", []byte("x"), false},
		{"named ce_", frame.Field{Key: "ce_id", Value: "x"}, "amqp.header.ce_id", []byte("x"), false},
		{"Content-Type is not content-type", frame.Field{Key: "Content-Type", Value: "x"}, "Content-Type", []byte("x"), false},
		{"empty name", frame.Field{Key: "", Value: "x"}, "", []byte("x"), false},

		// CloudEvents attributes.
		{"cloudEvents_", frame.Field{Key: "cloudEvents_id", Value: "1234"}, "ce_id", []byte("1234"), false},
		{"cloudEvents:", frame.Field{Key: "cloudEvents:id", Value: "1234"}, "ce_id", []byte("1234"), true},
		{"cloudEvents time", frame.Field{Key: "cloudEvents_time", Value: when}, "ce_time", []byte("2024-05-06T07:08:09Z"), true},
		{"cloudEvents binary", frame.Field{Key: "cloudEvents_sig", Value: []byte{0xff, 0xfe}}, "ce_sig", []byte("//4="), true},
		{"cloudEvents long", frame.Field{Key: "cloudEvents_seq", Value: int64(7)}, "ce_seq", []byte("7"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := message(t, withHeaders(frame.Table{tc.field}))
			r, got := roundTrip(t, m)
			sameMessage(t, m, got)

			vs := header(r, tc.kafka)
			if len(vs) != 1 {
				t.Fatalf("headers %q, want one %q", names(r), tc.kafka)
			}
			if !bytes.Equal(vs[0], tc.value) || (vs[0] == nil) != (tc.value == nil) {
				t.Errorf("%s = %q, want %q", tc.kafka, vs[0], tc.value)
			}
			if exact := header(r, "amqp.headers") != nil; exact != tc.exact {
				t.Errorf("amqp.headers written: %v, want %v", exact, tc.exact)
			}
			if plain(tc.field) == tc.exact {
				t.Errorf("plain = %v for a field that needs amqp.headers: %v", plain(tc.field), tc.exact)
			}
		})
	}
}

// allTypes is a table holding every field type, at edges where they
// have them, nested, repeated, and under names the collision rule moves.
func allTypes() frame.Table {
	return frame.Table{
		{Key: "s", Value: "string"},
		{Key: "s-empty", Value: ""},
		{Key: "s-binary", Value: "\x00\xff"},
		{Key: "x", Value: []byte{0, 1, 0xff}},
		{Key: "x-utf8", Value: []byte("looks like text")},
		{Key: "x-empty", Value: []byte{}},
		{Key: "V", Value: nil},
		{Key: "t", Value: true},
		{Key: "t-false", Value: false},
		{Key: "b", Value: int8(math.MinInt8)},
		{Key: "B", Value: uint8(math.MaxUint8)},
		{Key: "s16", Value: int16(math.MinInt16)},
		{Key: "u", Value: uint16(math.MaxUint16)},
		{Key: "I", Value: int32(math.MinInt32)},
		{Key: "i", Value: uint32(math.MaxUint32)},
		{Key: "l", Value: int64(math.MaxInt64)},
		{Key: "f", Value: float32(math.Copysign(0, -1))},
		{Key: "f-nan", Value: math.Float32frombits(0x7fc00001)},
		{Key: "d", Value: math.SmallestNonzeroFloat64},
		{Key: "d-negzero", Value: math.Copysign(0, -1)},
		{Key: "d-nan", Value: math.Float64frombits(0x7ff8000000000abc)},
		{Key: "d-inf", Value: math.Inf(1)},
		{Key: "D", Value: frame.Decimal{Scale: 255, Value: math.MaxInt32}},
		{Key: "T", Value: when},
		{Key: "T-epoch", Value: time.Unix(0, 0).UTC()},
		{Key: "T-max", Value: time.Unix(-1, 0).UTC()},
		{Key: "A", Value: []any{int32(1), "two", []any{}, frame.Table{{Key: "k", Value: nil}}, []byte{9}}},
		{Key: "A-empty", Value: []any{}},
		{Key: "F", Value: frame.Table{
			{Key: "count", Value: int64(1)},
			{Key: "nested", Value: frame.Table{{Key: "deeper", Value: []any{frame.Decimal{Scale: 1, Value: 1}}}}},
		}},
		{Key: "F-empty", Value: frame.Table{}},
		{Key: "s", Value: int32(7)}, // a repeat, of another type
		{Key: "content-type", Value: "not the property"},
		{Key: "amqp.priority", Value: uint8(1)},
		{Key: "cloudEvents_id", Value: "e-1"},
		{Key: "cloudEvents:time", Value: when},
		{Key: "ce_id", Value: "not an attribute"},
	}
}

func TestRoundTripEveryType(t *testing.T) {
	p := withHeaders(allTypes())
	p.ContentType, p.MessageID, p.DeliveryMode = "application/json", "m", 2
	p.Flags |= frame.FlagContentType | frame.FlagMessageID | frame.FlagDeliveryMode
	m := message(t, p)
	_, got := roundTrip(t, m)
	sameMessage(t, m, got)
	if !slices.Equal(keys(decoded(t, got).Headers), keys(allTypes())) {
		t.Errorf("keys %q", keys(decoded(t, got).Headers))
	}
}

// Each type alone, first and last among strings, so that a field is never
// matched to its neighbour's header.
func TestRoundTripEachType(t *testing.T) {
	for _, f := range allTypes() {
		for _, tb := range []frame.Table{
			{f},
			{{Key: f.Key, Value: "1"}, f, {Key: f.Key, Value: "1"}},
			{f, {Key: "z", Value: "z"}, f},
		} {
			m := message(t, withHeaders(tb))
			_, got := roundTrip(t, m)
			sameMessage(t, m, got)
		}
	}
}

// A table sent empty comes back sent and empty; a table not sent, not.
func TestEmptyTable(t *testing.T) {
	for _, p := range []frame.Properties{withHeaders(frame.Table{}), {}} {
		m := message(t, p)
		r, got := roundTrip(t, m)
		sameMessage(t, m, got)
		if exact := header(r, "amqp.headers") != nil; exact != (p.Flags != 0) {
			t.Errorf("flags %#x: amqp.headers written: %v", p.Flags, exact)
		}
	}
}

// Repeated names in both orders: the text "1" in both headers, but which
// was the int is kept.
func TestRepeatedNamesKeepOrder(t *testing.T) {
	for _, tb := range []frame.Table{
		{{Key: "a", Value: "1"}, {Key: "a", Value: int32(1)}},
		{{Key: "a", Value: int32(1)}, {Key: "a", Value: "1"}},
		{{Key: "a", Value: int64(1)}, {Key: "a", Value: int32(1)}, {Key: "a", Value: uint8(1)}},
	} {
		m := message(t, withHeaders(tb))
		_, got := roundTrip(t, m)
		sameMessage(t, m, got)
	}
}

// A Kafka client that passes records on may add, change or remove
// headers. What it wrote is delivered; what it left alone keeps its type.
func TestHeadersChangedInKafka(t *testing.T) {
	tb := frame.Table{
		{Key: "retries", Value: int32(3)},
		{Key: "tenant", Value: "acme"},
		{Key: "price", Value: frame.Decimal{Scale: 2, Value: 1999}},
		{Key: "at", Value: when},
	}
	r, err := ToRecord(message(t, withHeaders(tb)))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(hs []logstore.RecordHeader) []logstore.RecordHeader) frame.Table {
		r2 := r
		r2.Headers = f(slices.Clone(r.Headers))
		return decoded(t, FromRecord(stored(t, r2))).Headers
	}
	set := func(name, v string) func([]logstore.RecordHeader) []logstore.RecordHeader {
		return func(hs []logstore.RecordHeader) []logstore.RecordHeader {
			for i := range hs {
				if hs[i].Key == name {
					hs[i].Value = []byte(v)
				}
			}
			return hs
		}
	}
	for _, tc := range []struct {
		name string
		f    func([]logstore.RecordHeader) []logstore.RecordHeader
		want frame.Table
	}{
		{"added", func(hs []logstore.RecordHeader) []logstore.RecordHeader {
			return append(hs, logstore.RecordHeader{Key: "traceparent", Value: []byte("00-ab")})
		}, append(slices.Clone(tb), frame.Field{Key: "traceparent", Value: "00-ab"})},
		{"changed", set("retries", "4"), frame.Table{
			{Key: "retries", Value: "4"}, tb[1], tb[2], tb[3],
		}},
		{"changed to what it was", set("retries", "3"), tb},
		{"removed", func(hs []logstore.RecordHeader) []logstore.RecordHeader {
			return slices.DeleteFunc(hs, func(h logstore.RecordHeader) bool { return h.Key == "tenant" || h.Key == "retries" })
		}, frame.Table{tb[2], tb[3]}},
		{"reordered", func(hs []logstore.RecordHeader) []logstore.RecordHeader {
			slices.Reverse(hs)
			return hs
		}, frame.Table{tb[3], {Key: "price", Value: "19.99"}, {Key: "tenant", Value: "acme"}, {Key: "retries", Value: "3"}}},
		{"table removed", func(hs []logstore.RecordHeader) []logstore.RecordHeader {
			return slices.DeleteFunc(hs, func(h logstore.RecordHeader) bool { return h.Key == "amqp.headers" })
		}, frame.Table{{Key: "retries", Value: "3"}, tb[1], {Key: "price", Value: "19.99"}, {Key: "at", Value: "2024-05-06T07:08:09Z"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := edit(tc.f); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("headers\n got %s\nwant %s", showTable(got), showTable(tc.want))
			}
		})
	}
}

// A crafted amqp.headers with many fields under one name costs linear
// time: the search for a match stops after matchWindow fields.
func TestMatchWindow(t *testing.T) {
	var tb frame.Table
	for range 2 * matchWindow {
		tb = append(tb, frame.Field{Key: "a", Value: int32(1)})
	}
	tb = append(tb, frame.Field{Key: "a", Value: int32(2)})
	raw := frame.NewWriter(nil)
	raw.Table(tb)
	r := logstore.Record{Headers: []logstore.RecordHeader{
		{Key: "a", Value: []byte("2")},
		{Key: "amqp.headers", Value: raw.Bytes()},
	}}
	got := decoded(t, FromRecord(r)).Headers
	want := frame.Table{{Key: "a", Value: "2"}} // too far to be matched: taken as text
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %s, want %s", showTable(got), showTable(want))
	}
}

// Random tables, drawn from names the collision rule cares about and from
// values of every type, nested: each comes back exactly.
func TestRoundTripRandomTables(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"a", "a", "content-type", "amqp.x", "amqp.header.a", "ce_a", "cloudEvents_a", "cloudEvents:a", "", "x-death"}
	var value func(depth int) any
	value = func(depth int) any {
		switch n := rng.IntN(19); {
		case n == 0:
			return nil
		case n == 1:
			return rng.IntN(2) == 0
		case n == 2:
			return int8(rng.Uint32())
		case n == 3:
			return uint8(rng.Uint32())
		case n == 4:
			return int16(rng.Uint32())
		case n == 5:
			return uint16(rng.Uint32())
		case n == 6:
			return int32(rng.Uint32())
		case n == 7:
			return rng.Uint32()
		case n == 8:
			return int64(rng.Uint64())
		case n == 9:
			return math.Float32frombits(rng.Uint32())
		case n == 10:
			return math.Float64frombits(rng.Uint64())
		case n == 11:
			return frame.Decimal{Scale: uint8(rng.Uint32()), Value: int32(rng.Uint32())}
		case n == 12:
			return time.Unix(int64(rng.Uint64()), 0).UTC()
		case n == 13:
			return []byte{byte(rng.Uint32()), byte(rng.Uint32())}
		case n == 14 && depth < 3:
			a := []any{}
			for range rng.IntN(4) {
				a = append(a, value(depth+1))
			}
			return a
		case n == 15 && depth < 3:
			tb := frame.Table{}
			for range rng.IntN(4) {
				tb = append(tb, frame.Field{Key: names[rng.IntN(len(names))], Value: value(depth + 1)})
			}
			return tb
		case n == 16:
			return string([]byte{byte(rng.Uint32()), 'x'})
		}
		return "text"
	}
	for range 2000 {
		var tb frame.Table
		for range rng.IntN(8) {
			tb = append(tb, frame.Field{Key: names[rng.IntN(len(names))], Value: value(0)})
		}
		p := withHeaders(tb)
		if tb == nil {
			p = frame.Properties{}
		}
		m := message(t, p)
		_, got := roundTrip(t, m)
		sameMessage(t, m, got)
		if t.Failed() {
			t.Fatalf("table %s", showTable(tb))
		}
	}
}
