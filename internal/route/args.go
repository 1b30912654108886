package route

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// argsKey encodes an arguments table canonically: keys in order, values
// tagged with their type, so that two tables yield the same key exactly
// when RabbitMQ would consider the bindings identical.
func argsKey(args map[string]any) string {
	if len(args) == 0 {
		return ""
	}
	return string(appendTable(nil, args))
}

func appendTable(b []byte, m map[string]any) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = strconv.AppendInt(b, int64(len(keys)), 10)
	b = append(b, '{')
	for _, k := range keys {
		b = appendString(b, k)
		b = appendValue(b, m[k])
	}
	return append(b, '}')
}

func appendString(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

// appendValue tags values with the AMQP field type they would travel as.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 'V')
	case bool:
		if x {
			return append(b, 't', '1')
		}
		return append(b, 't', '0')
	case int8:
		return strconv.AppendInt(append(b, 'b'), int64(x), 10)
	case uint8:
		return strconv.AppendUint(append(b, 'B'), uint64(x), 10)
	case int16:
		return strconv.AppendInt(append(b, 's'), int64(x), 10)
	case uint16:
		return strconv.AppendUint(append(b, 'u'), uint64(x), 10)
	case int32:
		return strconv.AppendInt(append(b, 'I'), int64(x), 10)
	case uint32:
		return strconv.AppendUint(append(b, 'i'), uint64(x), 10)
	case int64:
		return strconv.AppendInt(append(b, 'l'), x, 10)
	case int:
		return strconv.AppendInt(append(b, 'l'), int64(x), 10)
	case uint64:
		return strconv.AppendUint(append(b, 'L'), x, 10)
	case float32:
		return strconv.AppendUint(append(b, 'f'), uint64(math.Float32bits(x)), 16)
	case float64:
		return strconv.AppendUint(append(b, 'd'), math.Float64bits(x), 16)
	case string:
		return appendString(append(b, 'S'), x)
	case []byte:
		return appendString(append(b, 'x'), string(x))
	case []any:
		b = strconv.AppendInt(append(b, 'A'), int64(len(x)), 10)
		b = append(b, '[')
		for _, e := range x {
			b = appendValue(b, e)
		}
		return append(b, ']')
	case map[string]any:
		return appendTable(append(b, 'F'), x)
	default:
		// Other types (decimals, timestamps, decoded tables) are compared
		// by their Go representation, which is deterministic for them.
		return appendString(append(b, '?'), fmt.Sprintf("%T:%#v", v, v))
	}
}

// equal reports whether a header value matches a binding value. Numbers
// compare by value across types and strings equal byte arrays, as Erlang's
// == does on the decoded terms; everything else compares by type and value.
func equal(a, b any) bool {
	if na, ok := toNumber(a); ok {
		nb, ok := toNumber(b)
		return ok && na.equal(nb)
	}
	if sa, ok := toBytes(a); ok {
		sb, ok := toBytes(b)
		return ok && sa == sb
	}
	return string(appendValue(nil, a)) == string(appendValue(nil, b))
}

func toBytes(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}

// number holds any Go numeric value without loss: integers as int64, or
// as uint64 when they do not fit, and floats as float64.
type number struct {
	kind byte // 'i', 'u' or 'f'
	i    int64
	u    uint64
	f    float64
}

func toNumber(v any) (number, bool) {
	switch x := v.(type) {
	case int8:
		return number{kind: 'i', i: int64(x)}, true
	case int16:
		return number{kind: 'i', i: int64(x)}, true
	case int32:
		return number{kind: 'i', i: int64(x)}, true
	case int64:
		return number{kind: 'i', i: x}, true
	case int:
		return number{kind: 'i', i: int64(x)}, true
	case uint8:
		return number{kind: 'i', i: int64(x)}, true
	case uint16:
		return number{kind: 'i', i: int64(x)}, true
	case uint32:
		return number{kind: 'i', i: int64(x)}, true
	case uint64:
		if x <= math.MaxInt64 {
			return number{kind: 'i', i: int64(x)}, true
		}
		return number{kind: 'u', u: x}, true
	case float32:
		return number{kind: 'f', f: float64(x)}, true
	case float64:
		return number{kind: 'f', f: x}, true
	}
	return number{}, false
}

func (n number) float() float64 {
	switch n.kind {
	case 'i':
		return float64(n.i)
	case 'u':
		return float64(n.u)
	}
	return n.f
}

func (n number) equal(o number) bool {
	if n.kind == 'f' || o.kind == 'f' {
		return n.float() == o.float()
	}
	return n == o
}
