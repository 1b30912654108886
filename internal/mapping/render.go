package mapping

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/loftmq/loft/internal/amqp/frame"
)

// appendNatural appends an application header's value as a Kafka reader
// sees it: a string as its bytes, a byte array as itself, a number, bool,
// decimal or timestamp as text, and an array or table as JSON. A
// CloudEvents attribute's byte array is base64 instead, the canonical
// string form the Kafka binding asks header values to be. Void is a null
// value: ok is false and nothing is appended.
func appendNatural(dst []byte, f frame.Field) (_ []byte, ok bool) {
	switch v := f.Value.(type) {
	case nil:
		return dst, false
	case string:
		return append(dst, v...), true
	case []byte:
		if _, ce := ceAttribute(f.Key); ce {
			return base64.StdEncoding.AppendEncode(dst, v), true
		}
		return append(dst, v...), true
	case []any, frame.Table:
		return appendJSON(dst, v), true
	}
	return appendScalar(dst, f.Value), true
}

// plain reports whether a record header reading back as a plain Kafka
// header (see plainValue and amqpName) gives the field exactly; if every
// field is plain, ToRecord needs no amqp.headers.
func plain(f frame.Field) bool {
	if amqpName(kafkaName(f.Key)) != f.Key {
		return false
	}
	switch v := f.Value.(type) {
	case nil:
		return true
	case string:
		return utf8.ValidString(v)
	case []byte:
		_, ce := ceAttribute(f.Key)
		return !ce && !utf8.Valid(v)
	}
	return false
}

// plainValue is the field value of a record header Loft knows no type for:
// void for a null value, a string if the bytes are UTF-8, else a byte
// array.
func plainValue(v []byte) any {
	switch {
	case v == nil:
		return nil
	case utf8.Valid(v):
		return string(v)
	}
	return v
}

// appendScalar appends the text of a value that is neither string, byte
// array, array nor table.
func appendScalar(dst []byte, v any) []byte {
	switch v := v.(type) {
	case bool:
		return strconv.AppendBool(dst, v)
	case int8:
		return strconv.AppendInt(dst, int64(v), 10)
	case uint8:
		return strconv.AppendUint(dst, uint64(v), 10)
	case int16:
		return strconv.AppendInt(dst, int64(v), 10)
	case uint16:
		return strconv.AppendUint(dst, uint64(v), 10)
	case int32:
		return strconv.AppendInt(dst, int64(v), 10)
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	case float32:
		return strconv.AppendFloat(dst, float64(v), 'g', -1, 32)
	case float64:
		return strconv.AppendFloat(dst, v, 'g', -1, 64)
	case frame.Decimal:
		return appendDecimal(dst, v)
	case time.Time:
		return v.UTC().AppendFormat(dst, time.RFC3339)
	}
	return dst // no other type decodes from a table
}

// appendDecimal writes Value × 10^-Scale with exactly Scale fraction
// digits, so that 1.50 and 1.5 read differently, as they are.
func appendDecimal(dst []byte, d frame.Decimal) []byte {
	v := int64(d.Value)
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	var buf [10]byte
	digits := strconv.AppendInt(buf[:0], v, 10)
	scale := int(d.Scale)
	if scale == 0 {
		return append(dst, digits...)
	}
	if len(digits) <= scale {
		dst = append(dst, '0', '.')
		for range scale - len(digits) {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	whole := len(digits) - scale
	dst = append(dst, digits[:whole]...)
	dst = append(dst, '.')
	return append(dst, digits[whole:]...)
}

// appendJSON writes a value as JSON: tables as objects with their keys in
// order (repeats included), byte arrays as base64 strings, timestamps as
// RFC 3339 strings, and NaN and infinities, which JSON lacks, as strings.
func appendJSON(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...)
	case string:
		return appendJSONString(dst, v)
	case []byte:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v)
		return append(dst, '"')
	case time.Time:
		dst = append(dst, '"')
		dst = appendScalar(dst, v)
		return append(dst, '"')
	case float32, float64:
		n := len(dst)
		dst = appendScalar(dst, v)
		if c := dst[len(dst)-1]; c == 'N' || c == 'f' { // NaN, ±Inf
			return appendJSONString(dst[:n], string(dst[n:]))
		}
		return dst
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSON(dst, e)
		}
		return append(dst, ']')
	case frame.Table:
		dst = append(dst, '{')
		for i, f := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, f.Key)
			dst = append(dst, ':')
			dst = appendJSON(dst, f.Value)
		}
		return append(dst, '}')
	}
	return appendScalar(dst, v)
}

// appendJSONString writes s as a JSON string; bytes that are not UTF-8
// become U+FFFD, as JSON text must be Unicode.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return append(dst, '"')
}
