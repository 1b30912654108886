package frame

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPrimitives(t *testing.T) {
	ts := time.Unix(1700000000, 0).UTC()
	tests := []struct {
		name  string
		write func(*Writer)
		read  func(*Reader) any
		want  any
		wire  []byte
	}{
		{"octet", func(w *Writer) { w.Octet(0xab) }, func(r *Reader) any { return r.Octet() }, uint8(0xab), []byte{0xab}},
		{"short", func(w *Writer) { w.Short(0x1234) }, func(r *Reader) any { return r.Short() }, uint16(0x1234), []byte{0x12, 0x34}},
		{"long", func(w *Writer) { w.Long(0x01020304) }, func(r *Reader) any { return r.Long() }, uint32(0x01020304), []byte{1, 2, 3, 4}},
		{"longlong", func(w *Writer) { w.LongLong(0x0102030405060708) }, func(r *Reader) any { return r.LongLong() }, uint64(0x0102030405060708), []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{"shortstr", func(w *Writer) { w.ShortStr("hi") }, func(r *Reader) any { return r.ShortStr() }, "hi", []byte{2, 'h', 'i'}},
		{"shortstr empty", func(w *Writer) { w.ShortStr("") }, func(r *Reader) any { return r.ShortStr() }, "", []byte{0}},
		{"longstr", func(w *Writer) { w.LongStr("hey") }, func(r *Reader) any { return r.LongStr() }, "hey", []byte{0, 0, 0, 3, 'h', 'e', 'y'}},
		{"timestamp", func(w *Writer) { w.Timestamp(ts) }, func(r *Reader) any { return r.Timestamp() }, ts, []byte{0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00}},
		{"table empty", func(w *Writer) { w.Table(Table{}) }, func(r *Reader) any { return r.Table() }, Table{}, []byte{0, 0, 0, 0}},
		{"table nil", func(w *Writer) { w.Table(nil) }, func(r *Reader) any { return r.Table() }, Table{}, []byte{0, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWriter(nil)
			tc.write(w)
			if w.Err() != nil || !bytes.Equal(w.Bytes(), tc.wire) {
				t.Fatalf("wrote %x, %v; want %x", w.Bytes(), w.Err(), tc.wire)
			}
			r := NewReader(tc.wire)
			got := tc.read(r)
			if err := r.finish(); err != nil {
				t.Fatal(err)
			}
			if !equal(got, tc.want) {
				t.Fatalf("read %#v, want %#v", got, tc.want)
			}
			// Every proper prefix is truncated input.
			for n := range len(tc.wire) {
				r := NewReader(tc.wire[:n])
				tc.read(r)
				if !errors.Is(r.Err(), ErrTruncated) {
					t.Fatalf("prefix %d: err %v, want ErrTruncated", n, r.Err())
				}
			}
		})
	}
}

func TestShortStrTooLong(t *testing.T) {
	w := NewWriter(nil)
	w.ShortStr(strings.Repeat("a", 256))
	w.Octet(1) // later writes must not hide the first error
	if !errors.Is(w.Err(), ErrShortStrTooLong) {
		t.Fatalf("err %v, want ErrShortStrTooLong", w.Err())
	}
}

func TestLongStrLengthBeyondInput(t *testing.T) {
	// A 4 GiB length with nothing behind it must fail without allocating.
	r := NewReader([]byte{0xff, 0xff, 0xff, 0xff, 'a'})
	allocs := testing.AllocsPerRun(10, func() {
		r.off, r.err = 0, nil
		_ = r.LongStr()
	})
	if !errors.Is(r.Err(), ErrTruncated) || allocs > 0 {
		t.Fatalf("err %v, %v allocs; want ErrTruncated, 0", r.Err(), allocs)
	}
}
