package frame

import (
	"fmt"
	"time"
)

// Property flag bits of the basic class, highest bit first in spec order.
// Bit 0 would announce a further flag word; basic has only 14 properties,
// so it and bit 1 must be clear.
const (
	FlagContentType     uint16 = 1 << 15
	FlagContentEncoding uint16 = 1 << 14
	FlagHeaders         uint16 = 1 << 13
	FlagDeliveryMode    uint16 = 1 << 12
	FlagPriority        uint16 = 1 << 11
	FlagCorrelationID   uint16 = 1 << 10
	FlagReplyTo         uint16 = 1 << 9
	FlagExpiration      uint16 = 1 << 8
	FlagMessageID       uint16 = 1 << 7
	FlagTimestamp       uint16 = 1 << 6
	FlagType            uint16 = 1 << 5
	FlagUserID          uint16 = 1 << 4
	FlagAppID           uint16 = 1 << 3
	FlagClusterID       uint16 = 1 << 2

	flagsDefined = 0xfffc
)

// Properties are the basic class's content properties. Flags says which are
// present: a property sent empty is not the same as one not sent, and
// re-encoding must say the same thing the peer said. [Properties.SetFlags]
// derives Flags from the non-zero fields for callers building new ones.
type Properties struct {
	Flags           uint16
	ContentType     string
	ContentEncoding string
	Headers         Table
	DeliveryMode    uint8
	Priority        uint8
	CorrelationID   string
	ReplyTo         string
	Expiration      string
	MessageID       string
	Timestamp       time.Time
	Type            string
	UserID          string
	AppID           string
	ClusterID       string
}

// SetFlags marks every non-zero property present (and the rest absent).
func (p *Properties) SetFlags() {
	var f uint16
	set := func(bit uint16, present bool) {
		if present {
			f |= bit
		}
	}
	set(FlagContentType, p.ContentType != "")
	set(FlagContentEncoding, p.ContentEncoding != "")
	set(FlagHeaders, p.Headers != nil)
	set(FlagDeliveryMode, p.DeliveryMode != 0)
	set(FlagPriority, p.Priority != 0)
	set(FlagCorrelationID, p.CorrelationID != "")
	set(FlagReplyTo, p.ReplyTo != "")
	set(FlagExpiration, p.Expiration != "")
	set(FlagMessageID, p.MessageID != "")
	set(FlagTimestamp, !p.Timestamp.IsZero())
	set(FlagType, p.Type != "")
	set(FlagUserID, p.UserID != "")
	set(FlagAppID, p.AppID != "")
	set(FlagClusterID, p.ClusterID != "")
	p.Flags = f
}

func (p *Properties) write(w *Writer) {
	f := p.Flags
	w.Short(f)
	str := func(bit uint16, s string) {
		if f&bit != 0 {
			w.ShortStr(s)
		}
	}
	oct := func(bit uint16, v uint8) {
		if f&bit != 0 {
			w.Octet(v)
		}
	}
	str(FlagContentType, p.ContentType)
	str(FlagContentEncoding, p.ContentEncoding)
	if f&FlagHeaders != 0 {
		w.Table(p.Headers)
	}
	oct(FlagDeliveryMode, p.DeliveryMode)
	oct(FlagPriority, p.Priority)
	str(FlagCorrelationID, p.CorrelationID)
	str(FlagReplyTo, p.ReplyTo)
	str(FlagExpiration, p.Expiration)
	str(FlagMessageID, p.MessageID)
	if f&FlagTimestamp != 0 {
		w.Timestamp(p.Timestamp)
	}
	str(FlagType, p.Type)
	str(FlagUserID, p.UserID)
	str(FlagAppID, p.AppID)
	str(FlagClusterID, p.ClusterID)
}

func (p *Properties) read(r *Reader) {
	f := r.Short()
	if r.err != nil {
		return
	}
	if f&^flagsDefined != 0 {
		r.fail(fmt.Errorf("%w: %#04x", ErrPropertyFlags, f))
		return
	}
	p.Flags = f
	str := func(bit uint16, s *string) {
		if f&bit != 0 {
			*s = r.ShortStr()
		}
	}
	oct := func(bit uint16, v *uint8) {
		if f&bit != 0 {
			*v = r.Octet()
		}
	}
	str(FlagContentType, &p.ContentType)
	str(FlagContentEncoding, &p.ContentEncoding)
	if f&FlagHeaders != 0 {
		p.Headers = r.Table()
	}
	oct(FlagDeliveryMode, &p.DeliveryMode)
	oct(FlagPriority, &p.Priority)
	str(FlagCorrelationID, &p.CorrelationID)
	str(FlagReplyTo, &p.ReplyTo)
	str(FlagExpiration, &p.Expiration)
	str(FlagMessageID, &p.MessageID)
	if f&FlagTimestamp != 0 {
		p.Timestamp = r.Timestamp()
	}
	str(FlagType, &p.Type)
	str(FlagUserID, &p.UserID)
	str(FlagAppID, &p.AppID)
	str(FlagClusterID, &p.ClusterID)
}

// Header is a content header frame's payload: the class of the method it
// follows, the total body size, and the properties.
type Header struct {
	ClassID uint16
	// Weight is unused by 0-9-1 and must be zero; it is kept so that
	// decoding and re-encoding reproduce the peer's bytes.
	Weight     uint16
	BodySize   uint64
	Properties Properties
}

// Append appends the header's payload to buf.
func (h Header) Append(buf []byte) ([]byte, error) {
	w := NewWriter(buf)
	w.Short(h.ClassID)
	w.Short(h.Weight)
	w.LongLong(h.BodySize)
	h.Properties.write(w)
	return w.buf, w.err
}

// DecodeHeader decodes a content header frame's payload. Only the basic
// class carries content in 0-9-1, so its property list is the only one
// understood.
func DecodeHeader(payload []byte) (Header, error) {
	r := NewReader(payload)
	h := Header{ClassID: r.Short(), Weight: r.Short(), BodySize: r.LongLong()}
	if r.err == nil && h.ClassID != ClassBasic {
		return Header{}, fmt.Errorf("%w: content header for class %d", ErrUnknownMethod, h.ClassID)
	}
	h.Properties.read(r)
	if err := r.finish(); err != nil {
		return Header{}, err
	}
	return h, nil
}

// DecodeProperties decodes a basic property list on its own (flags, then
// the properties present), as a content header carries it after the body
// size and as a broker stores it.
func DecodeProperties(b []byte) (Properties, error) {
	var p Properties
	r := NewReader(b)
	p.read(r)
	if err := r.finish(); err != nil {
		return Properties{}, err
	}
	return p, nil
}

// AppendProperties appends p's encoding, as DecodeProperties reads it.
func AppendProperties(buf []byte, p *Properties) ([]byte, error) {
	w := NewWriter(buf)
	p.write(w)
	return w.buf, w.err
}
