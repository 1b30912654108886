package frame

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// ProtocolHeader is what an AMQP 0-9-1 client sends first, and what a
// server sends back before closing when it does not understand the client's.
const ProtocolHeader = "AMQP\x00\x00\x09\x01"

// CheckProtocolHeader checks the first eight bytes a client sent. On a
// mismatch it returns the header the server must write back before closing
// the socket, as the spec asks, so the client can report what the server
// speaks.
func CheckProtocolHeader(got []byte) (reply []byte, err error) {
	if string(got) == ProtocolHeader {
		return nil, nil
	}
	return []byte(ProtocolHeader), fmt.Errorf("%w: %q", ErrProtocolHeader, got)
}

// overhead is the frame header (type, channel, size) plus the frame-end.
const overhead = 1 + 2 + 4 + 1

// Frame is one AMQP frame. Payload holds the bytes between the header and
// the frame-end octet.
type Frame struct {
	Type    uint8
	Channel uint16
	Payload []byte
}

// Read reads one frame from r. maxSize is the negotiated frame-max, which
// counts the whole frame; values below [FrameMinSize], including 0 ("no
// limit" in connection.tune), are raised to it, because a reader must never
// accept a size the peer alone chooses.
func Read(r io.Reader, maxSize uint32) (Frame, error) {
	maxSize = max(maxSize, FrameMinSize)
	var hdr [7]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Frame{}, err
	}
	f := Frame{Type: hdr[0], Channel: binary.BigEndian.Uint16(hdr[1:3])}
	size := binary.BigEndian.Uint32(hdr[3:7])
	if uint64(size)+overhead > uint64(maxSize) {
		return Frame{}, fmt.Errorf("%w: %d-byte payload, frame-max %d", ErrFrameTooLarge, size, maxSize)
	}
	payload, err := readN(r, int(size)+1)
	if err != nil {
		return Frame{}, err
	}
	f.Payload = payload
	if f.Payload[size] != FrameEnd {
		return Frame{}, fmt.Errorf("%w: got %#02x", ErrFrameEnd, f.Payload[size])
	}
	f.Payload = f.Payload[:size]
	return f, nil
}

// Append appends f's wire form to buf.
func (f Frame) Append(buf []byte) []byte {
	buf = append(buf, f.Type)
	buf = binary.BigEndian.AppendUint16(buf, f.Channel)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(f.Payload)))
	buf = append(buf, f.Payload...)
	return append(buf, FrameEnd)
}

// Write writes f to w in one call.
func (f Frame) Write(w io.Writer) error {
	_, err := w.Write(f.Append(make([]byte, 0, len(f.Payload)+overhead)))
	return err
}

// MethodFrame returns the frame carrying m on channel.
func MethodFrame(channel uint16, m Method) (Frame, error) {
	p, err := AppendMethod(nil, m)
	if err != nil {
		return Frame{}, fmt.Errorf("%s: %w", m.Name(), err)
	}
	return Frame{Type: FrameMethod, Channel: channel, Payload: p}, nil
}

// HeaderFrame returns the content header frame for h on channel.
func HeaderFrame(channel uint16, h Header) (Frame, error) {
	p, err := h.Append(nil)
	if err != nil {
		return Frame{}, err
	}
	return Frame{Type: FrameHeader, Channel: channel, Payload: p}, nil
}

// BodyFrame returns a content body frame. The caller splits bodies so that
// each frame stays within frame-max; [MaxBodyPayload] gives the room.
func BodyFrame(channel uint16, body []byte) Frame {
	return Frame{Type: FrameBody, Channel: channel, Payload: body}
}

// MaxBodyPayload returns how many body bytes fit in one frame under
// frame-max.
func MaxBodyPayload(frameMax uint32) int { return int(frameMax) - overhead }

// Heartbeat is the heartbeat frame, always on channel 0 with no payload.
var Heartbeat = Frame{Type: FrameHeartbeat}

// Method decodes a method frame's payload.
func (f Frame) Method() (Method, error) {
	if f.Type != FrameMethod {
		return nil, fmt.Errorf("%w: type %d is not a method frame", ErrFrameType, f.Type)
	}
	return DecodeMethod(f.Payload)
}

// Header decodes a content header frame's payload.
func (f Frame) Header() (Header, error) {
	if f.Type != FrameHeader {
		return Header{}, fmt.Errorf("%w: type %d is not a header frame", ErrFrameType, f.Type)
	}
	return DecodeHeader(f.Payload)
}

// Equal reports whether two frames have the same type, channel and payload.
func (f Frame) Equal(g Frame) bool {
	return f.Type == g.Type && f.Channel == g.Channel && bytes.Equal(f.Payload, g.Payload)
}

// eagerAlloc is the payload size allocated up front. Larger frames grow as
// their bytes arrive, so a peer announcing a frame-max-sized frame and then
// going quiet holds no more memory than it sent.
const eagerAlloc = 64 << 10

// readN reads exactly n bytes.
func readN(r io.Reader, n int) ([]byte, error) {
	if n <= eagerAlloc {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return b, nil
	}
	var buf bytes.Buffer
	buf.Grow(eagerAlloc)
	if _, err := buf.ReadFrom(io.LimitReader(r, int64(n))); err != nil {
		return nil, err
	}
	if buf.Len() != n {
		return nil, io.ErrUnexpectedEOF
	}
	return buf.Bytes(), nil
}
