package frame

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func FuzzFrame(f *testing.F) {
	for _, m := range allMethods() {
		fill(m, 3)
		fr, _ := MethodFrame(1, m)
		f.Add(fr.Append(nil))
	}
	h := Header{ClassID: ClassBasic, BodySize: 3, Properties: fullProperties()}
	hf, _ := HeaderFrame(1, h)
	f.Add(hf.Append(nil))
	f.Add(append(hf.Append(nil), BodyFrame(1, []byte("abc")).Append(Heartbeat.Append(nil))...))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 4, 0, 60, 0, 99, 0xce})
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0xcd})

	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			start := len(in) - r.Len()
			fr, err := Read(r, 1<<16)
			if err != nil {
				return
			}
			// A frame re-encodes to exactly the bytes it came from.
			if got := fr.Append(nil); !bytes.Equal(got, in[start:len(in)-r.Len()]) {
				t.Fatalf("frame re-encode %x, read from %x", got, in[start:len(in)-r.Len()])
			}
			switch fr.Type {
			case FrameMethod:
				m, err := fr.Method()
				if err != nil {
					continue
				}
				enc, err := AppendMethod(nil, m)
				if err != nil {
					t.Fatalf("%s: re-encode: %v", m.Name(), err)
				}
				m2, err := DecodeMethod(enc)
				if err != nil {
					t.Fatalf("%s: decode of re-encoding: %v", m.Name(), err)
				}
				if enc2, _ := AppendMethod(nil, m2); !bytes.Equal(enc, enc2) {
					t.Fatalf("%s: not stable: %x then %x", m.Name(), enc, enc2)
				}
			case FrameHeader:
				h, err := fr.Header()
				if err != nil {
					continue
				}
				enc, err := h.Append(nil)
				if err != nil {
					t.Fatalf("header re-encode: %v", err)
				}
				h2, err := DecodeHeader(enc)
				if err != nil {
					t.Fatalf("decode of re-encoded header: %v", err)
				}
				if enc2, _ := h2.Append(nil); !bytes.Equal(enc, enc2) {
					t.Fatalf("header not stable: %x then %x", enc, enc2)
				}
			}
		}
	})
}

func FuzzTable(f *testing.F) {
	_, wire := everyType()
	f.Add(wire)
	f.Add(encodeTable(nested(MaxDepth)))
	f.Add(encodeTable(nested(MaxDepth + 1)))
	f.Add(encodeTable(fullProperties().Headers))
	f.Add([]byte{0, 0, 0, 8, 1, 'b', 't', 1, 1, 'a', 't', 0})
	f.Add([]byte{0, 0, 0, 6, 1, 'a', 'A', 0, 0, 0, 0})

	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(in)
		tb := r.Table()
		if r.Err() != nil {
			return
		}
		consumed := in[:r.off]
		enc := NewWriter(nil)
		enc.Table(tb)
		if enc.Err() != nil {
			t.Fatalf("re-encode: %v", enc.Err())
		}
		// Canonical input (bools as 0 or 1; key order and repeats are kept)
		// re-encodes byte for byte; any other bool byte is written back as 1.
		if canonicalTable(consumed) && !bytes.Equal(enc.Bytes(), consumed) {
			t.Fatalf("re-encode %x, consumed %x", enc.Bytes(), consumed)
		}
		r2 := NewReader(enc.Bytes())
		tb2 := r2.Table()
		if err := r2.finish(); err != nil {
			t.Fatalf("decode of re-encoding: %v", err)
		}
		if again := encodeTable(tb2); !bytes.Equal(again, enc.Bytes()) {
			t.Fatalf("not stable: %x then %x", enc.Bytes(), again)
		}
	})
}

// canonicalTable reports whether b, a table that decodes without error,
// is in the form the encoder writes. It walks the bytes independently of
// the decoder so that the fuzz test checks one against the other.
func canonicalTable(b []byte) bool {
	body := b[4:]
	for len(body) > 0 {
		n, ok := canonicalValue(body[1+int(body[0]):])
		if !ok {
			return false
		}
		body = body[1+int(body[0])+n:]
	}
	return true
}

// canonicalValue returns the encoded length of the value at the start of b
// and whether it is canonical.
func canonicalValue(b []byte) (int, bool) {
	fixed := map[byte]int{'b': 1, 'B': 1, 's': 2, 'u': 2, 'I': 4, 'i': 4, 'l': 8, 'f': 4, 'd': 8, 'D': 5, 'T': 8, 'V': 0}
	if n, ok := fixed[b[0]]; ok {
		return 1 + n, true
	}
	switch b[0] {
	case 't':
		return 2, b[1] <= 1
	case 'S', 'x':
		return 5 + int(binary.BigEndian.Uint32(b[1:])), true
	case 'F':
		n := 4 + int(binary.BigEndian.Uint32(b[1:]))
		return 1 + n, canonicalTable(b[1 : 1+n])
	case 'A':
		n := int(binary.BigEndian.Uint32(b[1:]))
		elems := b[5 : 5+n]
		for len(elems) > 0 {
			m, ok := canonicalValue(elems)
			if !ok {
				return 0, false
			}
			elems = elems[m:]
		}
		return 5 + n, true
	}
	return 0, false
}
