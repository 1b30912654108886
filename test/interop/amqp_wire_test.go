package interop

// A raw AMQP 0-9-1 peer for the abuse tests: just enough framing to open a
// connection and read what the broker says back, written from the spec
// rather than with the broker's own codec, so that the two cannot share a
// mistake.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

const (
	amqpHeader = "AMQP\x00\x00\x09\x01"

	frameMethod    = 1
	frameHeartbeat = 8
	frameEnd       = 0xCE

	// rawMaxFrame bounds what the raw peer accepts from the broker; it
	// offers this as frame-max in connection.tune-ok.
	rawMaxFrame = 128 << 10

	frameError = 501 // connection.close reply code for a malformed frame
)

// rawConn is a client socket driven by hand. Every operation on it runs
// under the deadline set when it was dialled.
type rawConn struct {
	nc *net.TCPConn
	rd *bufio.Reader
}

func dialRaw(addr string, timeout time.Duration) (*rawConn, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(timeout))
	return &rawConn{nc: nc.(*net.TCPConn), rd: bufio.NewReader(nc)}, nil
}

func (c *rawConn) Close() error { return c.nc.Close() }

// write sends b. A write the broker refused by closing the socket is not
// an error here: the tests judge the broker by what it sends and when it
// closes, which read and expectClosed see.
func (c *rawConn) write(b []byte) error {
	if _, err := c.nc.Write(b); err != nil && !isPeerGone(err) {
		return err
	}
	return nil
}

func (c *rawConn) writeFrame(typ byte, ch uint16, payload []byte) error {
	b := []byte{typ}
	b = binary.BigEndian.AppendUint16(b, ch)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, payload...)
	return c.write(append(b, frameEnd))
}

func (c *rawConn) writeMethod(ch, class, method uint16, args ...[]byte) error {
	p := binary.BigEndian.AppendUint16(nil, class)
	p = binary.BigEndian.AppendUint16(p, method)
	for _, a := range args {
		p = append(p, a...)
	}
	return c.writeFrame(frameMethod, ch, p)
}

type rawFrame struct {
	typ     byte
	ch      uint16
	payload []byte
}

// method returns the class and method ids of a method frame.
func (f rawFrame) method() (class, method uint16, ok bool) {
	if f.typ != frameMethod || len(f.payload) < 4 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(f.payload), binary.BigEndian.Uint16(f.payload[2:]), true
}

func (c *rawConn) readFrame() (rawFrame, error) {
	var hdr [7]byte
	if _, err := io.ReadFull(c.rd, hdr[:]); err != nil {
		return rawFrame{}, err
	}
	f := rawFrame{typ: hdr[0], ch: binary.BigEndian.Uint16(hdr[1:3])}
	size := binary.BigEndian.Uint32(hdr[3:7])
	if size > rawMaxFrame {
		return rawFrame{}, fmt.Errorf("broker sent a %d-byte frame (header % x)", size, hdr)
	}
	buf := make([]byte, size+1)
	if _, err := io.ReadFull(c.rd, buf); err != nil {
		return rawFrame{}, err
	}
	if buf[size] != frameEnd {
		return rawFrame{}, fmt.Errorf("broker sent frame-end %#02x", buf[size])
	}
	f.payload = buf[:size]
	return f, nil
}

// readMethod reads frames, skipping heartbeats, until a method frame, and
// checks that it is class.method on channel 0.
func (c *rawConn) readMethod(class, method uint16) (args []byte, err error) {
	for {
		f, err := c.readFrame()
		if err != nil {
			return nil, fmt.Errorf("waiting for method %d.%d: %w", class, method, err)
		}
		if f.typ == frameHeartbeat {
			continue
		}
		gc, gm, ok := f.method()
		if !ok || f.ch != 0 || gc != class || gm != method {
			return nil, fmt.Errorf("want method %d.%d on channel 0, got frame type %d channel %d payload % x",
				class, method, f.typ, f.ch, f.payload)
		}
		return f.payload[4:], nil
	}
}

// sendHeader sends the protocol header and reads connection.start.
func (c *rawConn) sendHeader() error {
	if err := c.write([]byte(amqpHeader)); err != nil {
		return err
	}
	_, err := c.readMethod(10, 10)
	return err
}

// handshake runs the connection from the protocol header to
// connection.open-ok as guest on vhost "/", with heartbeats off.
func (c *rawConn) handshake() error {
	if err := c.sendHeader(); err != nil {
		return err
	}
	emptyTable := u32(0)
	if err := c.writeMethod(0, 10, 11, // connection.start-ok
		emptyTable, shortstr("PLAIN"), longstr("\x00guest\x00guest"), shortstr("en_US")); err != nil {
		return err
	}
	tune, err := c.readMethod(10, 30)
	if err != nil {
		return err
	}
	if len(tune) < 8 {
		return fmt.Errorf("connection.tune has %d bytes of arguments", len(tune))
	}
	channelMax := binary.BigEndian.Uint16(tune)
	frameMax := min(binary.BigEndian.Uint32(tune[2:]), rawMaxFrame)
	if frameMax == 0 {
		frameMax = rawMaxFrame
	}
	if err := c.writeMethod(0, 10, 31, u16(channelMax), u32(frameMax), u16(0)); err != nil { // tune-ok
		return err
	}
	if err := c.writeMethod(0, 10, 40, shortstr("/"), shortstr(""), []byte{0}); err != nil { // open
		return err
	}
	_, err = c.readMethod(10, 41) // open-ok
	return err
}

// closeReply reads until connection.close and answers it with close-ok.
// It returns the reply code, or 0 and the read error if the broker closed
// the socket without one.
func (c *rawConn) closeReply() (code uint16, text string, err error) {
	for {
		f, err := c.readFrame()
		if err != nil {
			return 0, "", err
		}
		class, method, ok := f.method()
		if !ok || f.ch != 0 || class != 10 || method != 50 {
			continue // whatever the broker said before closing
		}
		if len(f.payload) < 7 {
			return 0, "", fmt.Errorf("connection.close with %d bytes", len(f.payload))
		}
		code = binary.BigEndian.Uint16(f.payload[4:])
		if n := int(f.payload[6]); 7+n <= len(f.payload) {
			text = string(f.payload[7 : 7+n])
		}
		if err := c.writeMethod(0, 10, 51); err != nil { // close-ok
			return 0, "", err
		}
		return code, text, nil
	}
}

// expectClosed reads and discards until the broker closes the socket,
// returning what it read; it fails if the deadline passes first.
func (c *rawConn) expectClosed() ([]byte, error) {
	got, err := io.ReadAll(c.rd)
	if err == nil || isPeerGone(err) {
		return got, nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return got, errors.New("the broker did not close the connection in time")
	}
	return got, err
}

// isPeerGone reports an error that means the broker closed or reset the
// socket. A close with unread input in the kernel's buffer is a reset,
// which is how a broker that stops reading a garbled stream ends it.
func isPeerGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func shortstr(s string) []byte { return append([]byte{byte(len(s))}, s...) }

func longstr(s string) []byte { return append(u32(uint32(len(s))), s...) }
