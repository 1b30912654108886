package frame

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

// everyType holds one value of every field type, and its exact encoding
// with keys in ascending order.
func everyType() (Table, []byte) {
	ts := time.Unix(1700000000, 0).UTC()
	t := Table{
		{"A", []any{int32(1), "x", nil}},
		{"B", uint8(0xfe)},
		{"D", Decimal{Scale: 2, Value: -12345}},
		{"F", Table{{"n", true}}},
		{"I", int32(-2)},
		{"S", "str"},
		{"T", ts},
		{"V", nil},
		{"b", int8(-3)},
		{"d", math.Pi},
		{"f", float32(1.5)},
		{"i", uint32(0xfffffffe)},
		{"l", int64(-4)},
		{"s", int16(-5)},
		{"t", true},
		{"u", uint16(0xfffd)},
		{"x", []byte{0, 1, 2}},
	}
	w := NewWriter(nil)
	body := NewWriter(nil)
	key := func(k string) { body.ShortStr(k) }
	key("A")
	body.Octet('A')
	body.Long(12) // I(5) + S(6) + V(1)
	body.Octet('I')
	body.Long(1)
	body.Octet('S')
	body.LongStr("x")
	body.Octet('V')
	key("B")
	body.Octet('B')
	body.Octet(0xfe)
	key("D")
	body.Octet('D')
	body.Octet(2)
	body.Long(uint32(0xffffcfc7)) // -12345
	key("F")
	body.Octet('F')
	body.Long(4)
	body.ShortStr("n")
	body.Octet('t')
	body.Octet(1)
	key("I")
	body.Octet('I')
	body.Long(0xfffffffe)
	key("S")
	body.Octet('S')
	body.LongStr("str")
	key("T")
	body.Octet('T')
	body.LongLong(1700000000)
	key("V")
	body.Octet('V')
	key("b")
	body.Octet('b')
	body.Octet(0xfd)
	key("d")
	body.Octet('d')
	body.LongLong(math.Float64bits(math.Pi))
	key("f")
	body.Octet('f')
	body.Long(math.Float32bits(1.5))
	key("i")
	body.Octet('i')
	body.Long(0xfffffffe)
	key("l")
	body.Octet('l')
	body.LongLong(0xfffffffffffffffc)
	key("s")
	body.Octet('s')
	body.Short(0xfffb)
	key("t")
	body.Octet('t')
	body.Octet(1)
	key("u")
	body.Octet('u')
	body.Short(0xfffd)
	key("x")
	body.Octet('x')
	body.Long(3)
	body.Octet(0)
	body.Octet(1)
	body.Octet(2)
	w.Long(uint32(len(body.Bytes())))
	return t, append(w.Bytes(), body.Bytes()...)
}

func TestTableEveryType(t *testing.T) {
	want, wire := everyType()
	if got := encodeTable(want); !bytes.Equal(got, wire) {
		t.Fatalf("encode:\n got %x\nwant %x", got, wire)
	}
	r := NewReader(wire)
	got := r.Table()
	if err := r.finish(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i, f := range want {
		g := got[i]
		if g.Key != f.Key || !equal(g.Value, f.Value) || reflect.TypeOf(g.Value) != reflect.TypeOf(f.Value) {
			t.Errorf("field %d: got %q %T %#v, want %q %T %#v", i, g.Key, g.Value, g.Value, f.Key, f.Value, f.Value)
		}
	}
	if again := encodeTable(got); !bytes.Equal(again, wire) {
		t.Fatalf("re-encode differs:\n got %x\nwant %x", again, wire)
	}
}

func TestTableConvenienceTypes(t *testing.T) {
	got := encodeTable(Table{{"a", 7}, {"m", map[string]any{"k": "v", "j": int8(1)}}})
	want := encodeTable(Table{{"a", int64(7)}, {"m", Table{{"j", int8(1)}, {"k", "v"}}}})
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
}

func TestTableUnsupportedValue(t *testing.T) {
	w := NewWriter(nil)
	w.Table(Table{{"c", complex(1, 2)}})
	if !errors.Is(w.Err(), ErrUnsupportedValue) {
		t.Fatalf("err %v, want ErrUnsupportedValue", w.Err())
	}
}

// nested returns a table nested n levels deep.
func nested(n int) Table {
	t := Table{}
	for range n - 1 {
		t = Table{{"n", t}}
	}
	return t
}

func TestTableDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"truncated length", []byte{0, 0}, ErrTruncated},
		{"length beyond input", []byte{0, 0, 0, 9, 1, 'a', 'V'}, ErrTruncated},
		{"unknown type", []byte{0, 0, 0, 3, 1, 'a', 'Z'}, ErrFieldType},
		{"printed-spec only type", []byte{0, 0, 0, 4, 1, 'a', 'U', 0}, ErrFieldType},
		{"value cut by table length", []byte{0, 0, 0, 4, 1, 'a', 'I', 0, 0, 0, 0}, ErrTruncated},
		{"inner length beyond outer", []byte{0, 0, 0, 7, 1, 'a', 'F', 0, 0, 0, 9}, ErrTruncated},
		{"array cut", []byte{0, 0, 0, 9, 1, 'a', 'A', 0, 0, 0, 2, 'I', 0}, ErrTruncated},
		{"too deep", encodeTable(nested(MaxDepth + 1)), ErrTooDeep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(tc.in)
			if tb := r.Table(); tb != nil || !errors.Is(r.Err(), tc.want) {
				t.Fatalf("got %v, %v; want nil, %v", tb, r.Err(), tc.want)
			}
		})
	}
	// The deepest allowed nesting decodes.
	r := NewReader(encodeTable(nested(MaxDepth)))
	if r.Table(); r.finish() != nil {
		t.Fatalf("depth %d: %v", MaxDepth, r.finish())
	}
}

func TestTableKeepsWireOrder(t *testing.T) {
	// Peers iterate their own maps: keys come in any order, even twice.
	// The table keeps them as they came, and re-encodes byte for byte.
	in := []byte{0, 0, 0, 12, 1, 'b', 't', 1, 1, 'a', 't', 0, 1, 'b', 'B', 7}
	r := NewReader(in)
	got := r.Table()
	if err := r.finish(); err != nil || !equal(got, Table{{"b", true}, {"a", false}, {"b", uint8(7)}}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if again := encodeTable(got); !bytes.Equal(again, in) {
		t.Fatalf("re-encoded as %x, want %x", again, in)
	}
	if v, ok := got.Get("b"); !ok || v != true {
		t.Fatalf("Get(b) = %v, %v; want the first b", v, ok)
	}
	got.Set("a", "x")
	got.Set("c", int32(1))
	if !equal(got, Table{{"b", true}, {"a", "x"}, {"b", uint8(7)}, {"c", int32(1)}}) {
		t.Fatalf("after Set: %v", got)
	}
}
