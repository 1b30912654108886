package auth

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrBadResponse reports a malformed SASL response.
var ErrBadResponse = errors.New("auth: malformed SASL response")

// ParsePlain parses a SASL PLAIN response (RFC 4616):
// authzid NUL authcid NUL passwd. The authorisation identity is ignored,
// as RabbitMQ does; the user is authcid.
func ParsePlain(response []byte) (user, pass string, err error) {
	parts := bytes.Split(response, []byte{0})
	if len(parts) != 3 {
		return "", "", fmt.Errorf("%w: PLAIN: %d NUL-separated fields, want 3", ErrBadResponse, len(parts))
	}
	if len(parts[1]) == 0 {
		return "", "", fmt.Errorf("%w: PLAIN: empty user", ErrBadResponse)
	}
	return string(parts[1]), string(parts[2]), nil
}

// ParseAMQPLAIN parses an AMQPLAIN response: an AMQP field table without
// its length prefix, holding LOGIN and PASSWORD as long strings ('S').
// Other fields of known types are skipped; an unknown type, a length past
// the end, or a missing LOGIN or PASSWORD is ErrBadResponse. It reads
// nothing beyond response and allocates only the two strings.
func ParseAMQPLAIN(response []byte) (user, pass string, err error) {
	var haveUser, havePass bool
	b := response
	for len(b) > 0 {
		n := int(b[0])
		if len(b) < 1+n+1 {
			return "", "", fmt.Errorf("%w: AMQPLAIN: truncated field name", ErrBadResponse)
		}
		name := string(b[1 : 1+n])
		typ := b[1+n]
		b = b[1+n+1:]
		size, ok := fieldSize(typ, b)
		if !ok {
			return "", "", fmt.Errorf("%w: AMQPLAIN: field %q: bad or truncated value of type %q", ErrBadResponse, name, typ)
		}
		if typ == 'S' {
			switch v := string(b[4:size]); name {
			case "LOGIN":
				user, haveUser = v, true
			case "PASSWORD":
				pass, havePass = v, true
			}
		}
		b = b[size:]
	}
	if !haveUser || !havePass {
		return "", "", fmt.Errorf("%w: AMQPLAIN: LOGIN and PASSWORD long strings required", ErrBadResponse)
	}
	return user, pass, nil
}

// fieldSize returns the encoded size of a field value of type typ at the
// start of b, with the types of RabbitMQ's field tables, and false if the
// type is unknown or the value runs past b.
func fieldSize(typ byte, b []byte) (int, bool) {
	var size int
	switch typ {
	case 'V':
		size = 0
	case 't', 'b', 'B':
		size = 1
	case 's', 'u':
		size = 2
	case 'I', 'i', 'f':
		size = 4
	case 'D':
		size = 5
	case 'l', 'd', 'T':
		size = 8
	case 'S', 'x', 'A', 'F': // a 32-bit length, then that many bytes
		if len(b) < 4 {
			return 0, false
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return 0, false
		}
		size = 4 + int(n)
	default:
		return 0, false
	}
	return size, size <= len(b)
}
