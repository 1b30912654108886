package frame

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Writer appends AMQP primitives to a buffer. The first encoding error
// sticks and later calls do nothing, so generated code can write a whole
// method and check once.
type Writer struct {
	buf []byte
	err error
}

// NewWriter returns a Writer appending to buf (which may be nil).
func NewWriter(buf []byte) *Writer { return &Writer{buf: buf} }

// Bytes returns the encoded bytes.
func (w *Writer) Bytes() []byte { return w.buf }

// Err returns the first encoding error.
func (w *Writer) Err() error { return w.err }

func (w *Writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// Octet writes one byte.
func (w *Writer) Octet(v uint8) { w.buf = append(w.buf, v) }

// Short writes a big-endian uint16.
func (w *Writer) Short(v uint16) { w.buf = binary.BigEndian.AppendUint16(w.buf, v) }

// Long writes a big-endian uint32.
func (w *Writer) Long(v uint32) { w.buf = binary.BigEndian.AppendUint32(w.buf, v) }

// LongLong writes a big-endian uint64.
func (w *Writer) LongLong(v uint64) { w.buf = binary.BigEndian.AppendUint64(w.buf, v) }

// ShortStr writes a string of at most 255 bytes behind a one-octet length.
func (w *Writer) ShortStr(s string) {
	if len(s) > math.MaxUint8 {
		w.fail(fmt.Errorf("%w: %d bytes", ErrShortStrTooLong, len(s)))
		return
	}
	w.buf = append(append(w.buf, byte(len(s))), s...)
}

// LongStr writes a string behind a uint32 length.
func (w *Writer) LongStr(s string) {
	w.Long(uint32(len(s)))
	w.buf = append(w.buf, s...)
}

// Timestamp writes t as uint64 seconds since the Unix epoch. Seconds that
// decoded from beyond int64 come back as negative Unix times, and the
// conversion below restores the same bits.
func (w *Writer) Timestamp(t time.Time) { w.LongLong(uint64(t.Unix())) }

// Table writes a field table; see [Table] for the Go types accepted.
func (w *Writer) Table(t Table) { w.writeTable(t) }

// Reader consumes AMQP primitives from a byte slice. Reads past the end
// return zero values and record [ErrTruncated]; check [Reader.Err] once at
// the end.
type Reader struct {
	buf []byte
	off int
	err error
}

// NewReader returns a Reader over buf. Strings it returns are copies, so
// buf may be reused afterwards.
func NewReader(buf []byte) *Reader { return &Reader{buf: buf} }

// Err returns the first decoding error.
func (r *Reader) Err() error { return r.err }

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return len(r.buf) - r.off }

func (r *Reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.off = len(r.buf)
}

// next returns the next n bytes, or nil after recording ErrTruncated. The
// length is checked against what is present before anything is allocated.
func (r *Reader) next(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(r.Len()) {
		r.fail(ErrTruncated)
		return nil
	}
	b := r.buf[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

// finish reports the sticky error, or ErrTrailingBytes if input remains.
func (r *Reader) finish() error {
	if r.err != nil {
		return r.err
	}
	if r.Len() != 0 {
		return fmt.Errorf("%w: %d", ErrTrailingBytes, r.Len())
	}
	return nil
}

// Octet reads one byte.
func (r *Reader) Octet() uint8 {
	if b := r.next(1); b != nil {
		return b[0]
	}
	return 0
}

// Short reads a big-endian uint16.
func (r *Reader) Short() uint16 {
	if b := r.next(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

// Long reads a big-endian uint32.
func (r *Reader) Long() uint32 {
	if b := r.next(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

// LongLong reads a big-endian uint64.
func (r *Reader) LongLong() uint64 {
	if b := r.next(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// ShortStr reads a string behind a one-octet length.
func (r *Reader) ShortStr() string { return string(r.next(uint64(r.Octet()))) }

// LongStr reads a string behind a uint32 length.
func (r *Reader) LongStr() string { return string(r.next(uint64(r.Long()))) }

// Timestamp reads uint64 seconds since the Unix epoch, in UTC.
func (r *Reader) Timestamp() time.Time { return time.Unix(int64(r.LongLong()), 0).UTC() }

// Table reads a field table.
func (r *Reader) Table() Table { return r.readTable(0) }
