package frame

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

// allMethods returns a zero value of every generated method.
func allMethods() []Method {
	var ms []Method
	for _, c := range []uint16{ClassConnection, ClassChannel, ClassAccess, ClassExchange, ClassQueue, ClassBasic, ClassTx, ClassConfirm} {
		for id := range uint16(256) {
			if m := newMethod(c, id); m != nil {
				ms = append(ms, m)
			}
		}
	}
	return ms
}

// fill sets every field of the struct m points to a non-zero value derived
// from seed, so that distinct fields are distinguishable on the wire.
func fill(m Method, seed int) {
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		n := seed + i + 1
		switch f.Interface().(type) {
		case bool:
			f.SetBool(true)
		case uint8, uint16, uint32, uint64:
			f.SetUint(uint64(n) * 0x0101010101)
		case string:
			f.SetString(v.Type().Field(i).Name)
		case Table:
			f.Set(reflect.ValueOf(Table{{"k", int32(n)}, {"cap", Table{{"on", true}}}}))
		case time.Time:
			f.Set(reflect.ValueOf(time.Unix(int64(n)*1000, 0).UTC()))
		default:
			panic("fill: unhandled field type " + f.Type().String())
		}
	}
}

func TestMethodRoundTrip(t *testing.T) {
	ms := allMethods()
	if len(ms) != 66 {
		t.Fatalf("%d methods generated, want 66", len(ms))
	}
	for _, m := range ms {
		t.Run(m.Name(), func(t *testing.T) {
			fill(m, 7)
			roundTrip(t, m)
		})
	}
}

func roundTrip(t *testing.T, m Method) {
	t.Helper()
	f, err := MethodFrame(3, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Method()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("decoded %+v, want %+v", got, m)
	}
	again, err := MethodFrame(3, got)
	if err != nil || !again.Equal(f) {
		t.Fatalf("re-encode differs: %x vs %x (%v)", again.Payload, f.Payload, err)
	}
}

// TestMethodBits sets each bit field alone, which would catch two fields
// sharing a bit or a bit landing in the wrong octet.
func TestMethodBits(t *testing.T) {
	for _, m := range allMethods() {
		v := reflect.ValueOf(m).Elem()
		for i := range v.NumField() {
			if v.Field(i).Kind() != reflect.Bool {
				continue
			}
			v.SetZero()
			v.Field(i).SetBool(true)
			// An empty table decodes as Table{}, not nil.
			for j := range v.NumField() {
				if v.Field(j).Type() == reflect.TypeFor[Table]() {
					v.Field(j).Set(reflect.ValueOf(Table{}))
				}
			}
			roundTrip(t, m)
		}
	}
}

func TestMethodWire(t *testing.T) {
	// queue.declare: ticket, queue, five bits in one octet, arguments.
	m := &QueueDeclare{Queue: "q", Durable: true, AutoDelete: true, NoWait: true, Arguments: Table{}}
	p, err := AppendMethod(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 50, 0, 10, 0, 0, 1, 'q', 0b11010, 0, 0, 0, 0}
	if !bytes.Equal(p, want) {
		t.Fatalf("got %x, want %x", p, want)
	}
	// basic.deliver: a bit between a longlong and a shortstr.
	d := &BasicDeliver{ConsumerTag: "c", DeliveryTag: 9, Redelivered: true, Exchange: "e", RoutingKey: "r"}
	p, _ = AppendMethod(nil, d)
	want = []byte{0, 60, 0, 60, 1, 'c', 0, 0, 0, 0, 0, 0, 0, 9, 1, 1, 'e', 1, 'r'}
	if !bytes.Equal(p, want) {
		t.Fatalf("got %x, want %x", p, want)
	}
	if !d.HasContent() || d.Synchronous() || !m.Synchronous() || m.HasContent() {
		t.Fatal("wrong synchronous/content flags")
	}
}

func TestDecodeMethodErrors(t *testing.T) {
	good, _ := AppendMethod(nil, &BasicAck{DeliveryTag: 1})
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"ids only half", []byte{0, 60}, ErrTruncated},
		{"unknown class", []byte{0, 99, 0, 10}, ErrUnknownMethod},
		{"unknown method", []byte{0, 60, 0, 99}, ErrUnknownMethod},
		{"truncated args", good[:len(good)-1], ErrTruncated},
		{"trailing bytes", append(good, 0), ErrTrailingBytes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if m, err := DecodeMethod(tc.in); m != nil || !errors.Is(err, tc.want) {
				t.Fatalf("got %v, %v; want %v", m, err, tc.want)
			}
		})
	}
}
