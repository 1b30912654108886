package auth

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestParsePlain(t *testing.T) {
	tests := []struct {
		in         string
		user, pass string
		ok         bool
	}{
		{"\x00guest\x00guest", "guest", "guest", true},
		{"admin\x00guest\x00pw", "guest", "pw", true},
		{"\x00u\x00", "u", "", true},
		{"\x00u\x00p\x00w", "", "", false},
		{"\x00\x00pw", "", "", false},
		{"guest", "", "", false},
		{"", "", "", false},
		{"\x00u", "", "", false},
	}
	for _, tt := range tests {
		u, p, err := ParsePlain([]byte(tt.in))
		if (err == nil) != tt.ok || u != tt.user || p != tt.pass {
			t.Errorf("ParsePlain(%q) = %q, %q, %v", tt.in, u, p, err)
		}
		if err != nil && !errors.Is(err, ErrBadResponse) {
			t.Errorf("ParsePlain(%q) error %v is not ErrBadResponse", tt.in, err)
		}
	}
}

// table encodes fields as an AMQP field table without its length prefix.
type field struct {
	name string
	typ  byte
	val  []byte // encoded value, length prefix included
}

func longStr(s string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...)
}

func table(fields ...field) []byte {
	var b []byte
	for _, f := range fields {
		b = append(b, byte(len(f.name)))
		b = append(b, f.name...)
		b = append(b, f.typ)
		b = append(b, f.val...)
	}
	return b
}

func TestParseAMQPLAIN(t *testing.T) {
	login, password := field{"LOGIN", 'S', longStr("guest")}, field{"PASSWORD", 'S', longStr("p\x00w")}
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"plain", table(login, password), true},
		{"reversed", table(password, login), true},
		{"extra fields skipped", table(
			field{"b", 't', []byte{1}}, field{"i", 'I', make([]byte, 4)}, field{"d", 'D', make([]byte, 5)},
			field{"l", 'l', make([]byte, 8)}, field{"v", 'V', nil}, field{"x", 'x', longStr("zz")},
			field{"F", 'F', longStr("\x01a\x56")}, login, field{"s", 's', []byte{0, 1}}, password), true},
		{"empty", nil, false},
		{"no password", table(login), false},
		{"no login", table(password), false},
		{"login not a long string", table(field{"LOGIN", 'x', longStr("guest")}, password), false},
		{"unknown type", table(field{"z", '?', nil}, login, password), false},
		{"truncated name", []byte{10, 'L', 'O'}, false},
		{"name without type", []byte{1, 'L'}, false},
		{"length past end", table(login, field{"PASSWORD", 'S', []byte{0, 0, 0, 9, 'x'}}), false},
		{"huge length", table(login, field{"PASSWORD", 'S', []byte{0xff, 0xff, 0xff, 0xff}}), false},
		{"short length", table(login, field{"PASSWORD", 'S', []byte{0, 0}}), false},
		{"truncated int", table(login, password, field{"i", 'I', []byte{1, 2}}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, p, err := ParseAMQPLAIN(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseAMQPLAIN = %q, %q, %v; want ok %v", u, p, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadResponse) {
				t.Fatalf("error %v is not ErrBadResponse", err)
			}
			if tt.ok && (u != "guest" || p != "p\x00w") {
				t.Fatalf("ParseAMQPLAIN = %q, %q", u, p)
			}
		})
	}
}

func FuzzParseAMQPLAIN(f *testing.F) {
	f.Add(table(field{"LOGIN", 'S', longStr("guest")}, field{"PASSWORD", 'S', longStr("guest")}))
	f.Add(table(field{"x", 'F', longStr("")}, field{"LOGIN", 'S', longStr("")}))
	f.Add([]byte{5, 'L', 'O', 'G', 'I', 'N', 'S', 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Add([]byte{0, 'V', 0, 'V'})
	f.Fuzz(func(t *testing.T, b []byte) {
		u, p, err := ParseAMQPLAIN(b)
		if err != nil {
			if u != "" || p != "" {
				t.Fatalf("error %v with user %q and password %q", err, u, p)
			}
			return
		}
		if len(u)+len(p) > len(b) {
			t.Fatalf("user and password longer than the input")
		}
	})
}

func FuzzParsePlain(f *testing.F) {
	f.Add([]byte("\x00guest\x00guest"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParsePlain(b)
	})
}
