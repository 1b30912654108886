package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Errors that close a connection. Each is logged with the client address.
var (
	// ErrMalformed reports a request header or body that does not decode.
	ErrMalformed = errors.New("kafka: malformed request")
	// ErrUnsupported reports an API key this server does not serve, or a
	// version outside the served range (ApiVersions excepted).
	ErrUnsupported = errors.New("kafka: unsupported request")
)

// header is a request header (v0, v1 or v2): the fields before the body.
type header struct {
	key      int16
	version  int16
	corr     int32
	clientID string // a null client id is "", as in Kafka
}

// request is one decoded request and the slot its response goes to.
type request struct {
	header
	ctx        context.Context
	clientHost string // the client's IP, for DescribeGroups
	kreq       kmsg.Request
	sl         *slot

	// badVersion marks an ApiVersions request of a version above the
	// served range: it is answered with v0 and UNSUPPORTED_VERSION.
	badVersion bool
	// deferred is set by a handler that completes sl itself, later.
	deferred bool
}

// later tells the dispatcher that the handler completes the response
// itself (through the returned slot), possibly from another goroutine.
func (r *request) later() *slot {
	r.deferred = true
	return r.sl
}

// slot is one request's place in its connection's response order.
type slot struct {
	corr  int32
	ready chan struct{} // closed once resp is set
	resp  kmsg.Response // nil: nothing is sent (acks=0 Produce)
	// closeConn closes the connection after this slot: an acks=0 Produce
	// that failed has no response to carry its error, so, as Kafka does,
	// the connection is closed to make the client refresh its metadata.
	closeConn bool
	// release, if set, is called once resp has been encoded: the response
	// may hold buffers (Fetch's record batches) to reuse.
	release func()
}

func newSlot(corr int32) *slot {
	return &slot{corr: corr, ready: make(chan struct{})}
}

// finish sets the response and releases the writer. Call it once.
func (sl *slot) finish(resp kmsg.Response) {
	sl.resp = resp
	close(sl.ready)
}

// reader reads the primitive types of a request header. It stops at the
// first short read and remembers the failure, as kmsg's readers do.
type reader struct {
	src []byte
	bad bool
}

func (b *reader) span(n int) []byte {
	if n < 0 || len(b.src) < n {
		b.bad, b.src = true, nil
		return nil
	}
	s := b.src[:n]
	b.src = b.src[n:]
	return s
}

func (b *reader) int16() int16 {
	s := b.span(2)
	if s == nil {
		return 0
	}
	return int16(binary.BigEndian.Uint16(s))
}

func (b *reader) int32() int32 {
	s := b.span(4)
	if s == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(s))
}

func (b *reader) uvarint() uint64 {
	v, n := binary.Uvarint(b.src)
	if n <= 0 || v > 1<<32-1 {
		b.bad, b.src = true, nil
		return 0
	}
	b.src = b.src[n:]
	return v
}

// skipTags skips the header's tagged fields. It stops at the first short
// read: kmsg.SkipTags would go on counting down a bogus count of up to
// 2^32 fields after the input ran out (see guard.go).
func (b *reader) skipTags() {
	for n := b.uvarint(); n > 0 && !b.bad; n-- {
		b.uvarint()
		b.span(int(b.uvarint()))
	}
}

// decode parses one frame (the bytes after the size): the header, then
// the body with kmsg. An unknown key or an unserved version is
// ErrUnsupported, except for ApiVersions above the served range, which
// decodes to a request marked badVersion without reading its body: a
// client may send a version newer than this server knows, and KIP-511 has
// the broker answer it rather than fail to parse it.
func decode(frame []byte) (*request, error) {
	b := reader{src: frame}
	var h header
	h.key = b.int16()
	h.version = b.int16()
	h.corr = b.int32()
	if n := b.int16(); n >= 0 {
		h.clientID = string(b.span(int(n)))
	} else if n != -1 {
		b.bad = true
	}
	if b.bad {
		return nil, fmt.Errorf("%w: short header (%d bytes)", ErrMalformed, len(frame))
	}
	r := &request{header: h}
	a, ok := lookupAPI(h.key)
	if !ok {
		return r, fmt.Errorf("%w: api key %d (%s)", ErrUnsupported, h.key, kmsg.NameForKey(h.key))
	}
	kreq := kmsg.RequestForKey(h.key)
	if h.version < a.min || h.version > a.max {
		if h.key != int16(kmsg.ApiVersions) || h.version < a.min {
			return r, fmt.Errorf("%w: %s v%d (served: v%d-v%d)", ErrUnsupported, a.name(), h.version, a.min, a.max)
		}
		kreq.SetVersion(0)
		r.kreq, r.badVersion = kreq, true
		return r, nil
	}
	kreq.SetVersion(h.version)
	if kreq.IsFlexible() {
		b.skipTags()
		if b.bad {
			return r, fmt.Errorf("%w: %s v%d: bad header tagged fields", ErrMalformed, a.name(), h.version)
		}
		if err := checkTags(kreq, b.src); err != nil {
			return r, fmt.Errorf("%w: %s v%d: %w", ErrMalformed, a.name(), h.version, err)
		}
	}
	if err := kreq.ReadFrom(b.src); err != nil {
		return r, fmt.Errorf("%w: %s v%d: %w", ErrMalformed, a.name(), h.version, err)
	}
	r.kreq = kreq
	return r, nil
}

// appendResponse appends the frame of resp, answering corr: size,
// correlation id, the response header's tagged fields when the version is
// flexible (header v1; ApiVersions always uses header v0, so that a client
// can read it whatever version it asked for), and the body.
func appendResponse(dst []byte, corr int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	if resp.IsFlexible() && resp.Key() != int16(kmsg.ApiVersions) {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
