package frame

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// MaxDepth bounds how deeply field tables and arrays may nest. Real peers
// nest two or three levels (client capabilities); the bound keeps a crafted
// frame from driving recursion into the stack limit.
const MaxDepth = 32

// Table is an AMQP field table: its fields in wire order, repeated keys
// included, so that a decoded table re-encodes byte for byte (header
// tables are passed on to consumers exactly as published). Decoded values
// carry their wire type in their Go type, so re-encoding reproduces the
// type codes:
//
//	't' bool      'b' int8     'B' uint8    's' int16   'u' uint16
//	'I' int32     'i' uint32   'l' int64    'f' float32 'd' float64
//	'D' Decimal   'S' string   'x' []byte   'A' []any   'T' time.Time
//	'F' Table     'V' nil
//
// For convenience the encoder also takes int (as 'l') and map[string]any
// (as 'F', keys in ascending order); those decode as int64 and Table.
type Table []Field

// Field is one entry of a Table.
type Field struct {
	Key   string
	Value any
}

// Get returns the value of the first field named key, as RabbitMQ's
// lookups do.
func (t Table) Get(key string) (any, bool) {
	for _, f := range t {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

// Set replaces the value of the first field named key, or appends one.
// Map returns the table as a map, nil when empty; of repeated keys the
// first wins, as Get reads them.
func (t Table) Map() map[string]any {
	if len(t) == 0 {
		return nil
	}
	m := make(map[string]any, len(t))
	for _, f := range t {
		if _, dup := m[f.Key]; !dup {
			m[f.Key] = f.Value
		}
	}
	return m
}

func (t *Table) Set(key string, v any) {
	for i := range *t {
		if (*t)[i].Key == key {
			(*t)[i].Value = v
			return
		}
	}
	*t = append(*t, Field{key, v})
}

// tableOf orders a map's entries by key, for encoding.
func tableOf(m map[string]any) Table {
	t := make(Table, 0, len(m))
	for k, v := range m {
		t = append(t, Field{k, v})
	}
	slices.SortFunc(t, func(a, b Field) int { return strings.Compare(a.Key, b.Key) })
	return t
}

// Decimal is the 'D' field type: Value × 10^-Scale.
type Decimal struct {
	Scale uint8
	Value int32
}

func (w *Writer) writeTable(t Table) {
	lenAt := len(w.buf)
	w.Long(0)
	for _, f := range t {
		w.ShortStr(f.Key)
		w.writeValue(f.Value)
	}
	w.patchLength(lenAt)
}

// patchLength fills in the uint32 length written at lenAt once the bytes
// after it are known.
func (w *Writer) patchLength(lenAt int) {
	n := len(w.buf) - lenAt - 4
	if uint64(n) > math.MaxUint32 {
		w.fail(fmt.Errorf("%w: table larger than 4 GiB", ErrUnsupportedValue))
		return
	}
	w.buf[lenAt] = byte(n >> 24)
	w.buf[lenAt+1] = byte(n >> 16)
	w.buf[lenAt+2] = byte(n >> 8)
	w.buf[lenAt+3] = byte(n)
}

func (w *Writer) writeArray(a []any) {
	lenAt := len(w.buf)
	w.Long(0)
	for _, v := range a {
		w.writeValue(v)
	}
	w.patchLength(lenAt)
}

func (w *Writer) writeValue(v any) {
	switch v := v.(type) {
	case bool:
		b := uint8(0)
		if v {
			b = 1
		}
		w.buf = append(w.buf, 't', b)
	case int8:
		w.buf = append(w.buf, 'b', byte(v))
	case uint8:
		w.buf = append(w.buf, 'B', v)
	case int16:
		w.Octet('s')
		w.Short(uint16(v))
	case uint16:
		w.Octet('u')
		w.Short(v)
	case int32:
		w.Octet('I')
		w.Long(uint32(v))
	case uint32:
		w.Octet('i')
		w.Long(v)
	case int64:
		w.Octet('l')
		w.LongLong(uint64(v))
	case int:
		w.Octet('l')
		w.LongLong(uint64(int64(v)))
	case float32:
		w.Octet('f')
		w.Long(math.Float32bits(v))
	case float64:
		w.Octet('d')
		w.LongLong(math.Float64bits(v))
	case Decimal:
		w.buf = append(w.buf, 'D', v.Scale)
		w.Long(uint32(v.Value))
	case string:
		w.Octet('S')
		w.LongStr(v)
	case []byte:
		w.Octet('x')
		w.Long(uint32(len(v)))
		w.buf = append(w.buf, v...)
	case []any:
		w.Octet('A')
		w.writeArray(v)
	case time.Time:
		w.Octet('T')
		w.Timestamp(v)
	case Table:
		w.Octet('F')
		w.writeTable(v)
	case map[string]any:
		w.Octet('F')
		w.writeTable(tableOf(v))
	case nil:
		w.Octet('V')
	default:
		w.fail(fmt.Errorf("%w: %T", ErrUnsupportedValue, v))
	}
}

// readTable decodes a table. Entries are read from a sub-slice bounded by
// the table's own length, so a lying inner length cannot read past it.
func (r *Reader) readTable(depth int) Table {
	body := r.next(uint64(r.Long()))
	if r.err != nil {
		return nil
	}
	if depth >= MaxDepth {
		r.fail(ErrTooDeep)
		return nil
	}
	sub := Reader{buf: body}
	t := Table{}
	for sub.Len() > 0 && sub.err == nil {
		k := sub.ShortStr()
		v := sub.readValue(depth + 1)
		if sub.err == nil {
			t = append(t, Field{k, v})
		}
	}
	if sub.err != nil {
		r.fail(sub.err)
		return nil
	}
	return t
}

func (r *Reader) readArray(depth int) []any {
	body := r.next(uint64(r.Long()))
	if r.err != nil {
		return nil
	}
	if depth >= MaxDepth {
		r.fail(ErrTooDeep)
		return nil
	}
	sub := Reader{buf: body}
	a := []any{}
	for sub.Len() > 0 && sub.err == nil {
		v := sub.readValue(depth + 1)
		if sub.err == nil {
			a = append(a, v)
		}
	}
	if sub.err != nil {
		r.fail(sub.err)
		return nil
	}
	return a
}

func (r *Reader) readValue(depth int) any {
	typ := r.Octet()
	if r.err != nil {
		return nil
	}
	switch typ {
	case 't':
		return r.Octet() != 0
	case 'b':
		return int8(r.Octet())
	case 'B':
		return r.Octet()
	case 's':
		return int16(r.Short())
	case 'u':
		return r.Short()
	case 'I':
		return int32(r.Long())
	case 'i':
		return r.Long()
	case 'l':
		return int64(r.LongLong())
	case 'f':
		return math.Float32frombits(r.Long())
	case 'd':
		return math.Float64frombits(r.LongLong())
	case 'D':
		scale := r.Octet()
		return Decimal{Scale: scale, Value: int32(r.Long())}
	case 'S':
		return r.LongStr()
	case 'x':
		b := r.next(uint64(r.Long()))
		return append([]byte{}, b...)
	case 'A':
		return r.readArray(depth)
	case 'T':
		return r.Timestamp()
	case 'F':
		return r.readTable(depth)
	case 'V':
		return nil
	default:
		r.fail(fmt.Errorf("%w: %q", ErrFieldType, typ))
		return nil
	}
}
