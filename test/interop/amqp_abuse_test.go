package interop

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// rawTimeout bounds each abuse connection, from dial to the broker's
// close: the broker must answer a bad stream at once, not after its
// handshake timeout (10 s) or a heartbeat interval.
const rawTimeout = 5 * time.Second

// syntaxError is connection.close's reply code for a malformed method.
const syntaxError = 502

// hugeFrameSize is a frame size no broker may take at its word.
const hugeFrameSize = 0xFFFFFFF0

// abuse is one way of misusing the AMQP port. run, given a fresh
// connection, returns an error when the broker's answer breaks the
// protocol or does not come in time; the broker's log must then hold a
// line naming the connection with one of logs.
type abuse struct {
	name string
	logs []string
	run  func(c *rawConn) error
}

// What the broker logs about a connection misused before, or after,
// connection.open.
var (
	handshakeLogs = []string{"unsupported protocol header", "no protocol header received",
		"handshake refused", "handshake failed"}
	openLogs = []string{"closing connection on a bad frame", "closing connection on error",
		"client closed the socket without connection.close"}
)

var abuses = []abuse{
	{"garbage instead of the header", []string{"unsupported protocol header"}, func(c *rawConn) error {
		return headerAnswered(c, garbage(1, 4096))
	}},
	wrongHeader("AMQP 1.0 header", "AMQP\x00\x01\x00\x00"),
	wrongHeader("AMQP 0-10 header", "AMQP\x01\x01\x00\x0a"),
	wrongHeader("HTTP request line", "GET / HT"),
	wrongHeader("zeros", "\x00\x00\x00\x00\x00\x00\x00\x00"),
	{"garbage after the header", handshakeLogs, func(c *rawConn) error {
		if err := c.sendHeader(); err != nil {
			return err
		}
		return garbleAndExpectClose(c, 2, false)
	}},
	{"garbage after open", openLogs, func(c *rawConn) error {
		if err := c.handshake(); err != nil {
			return err
		}
		return garbleAndExpectClose(c, 3, false)
	}},
	{"unknown frame type after open", []string{"closing connection on error", "closing connection on a bad frame"}, func(c *rawConn) error {
		if err := c.handshake(); err != nil {
			return err
		}
		if err := c.writeFrame(0x42, 0, nil); err != nil {
			return err
		}
		return expectHardClose(c, 0, true)
	}},
	{"method frame cut inside its ids after open", []string{"closing connection on error"}, func(c *rawConn) error {
		if err := c.handshake(); err != nil {
			return err
		}
		// Two bytes: a class id and no method id.
		if err := c.writeFrame(frameMethod, 0, []byte{0, 10}); err != nil {
			return err
		}
		return expectHardClose(c, syntaxError, true)
	}},
	{"bad frame-end after open", []string{"closing connection on a bad frame"}, func(c *rawConn) error {
		if err := c.handshake(); err != nil {
			return err
		}
		// A heartbeat whose frame-end is 0x00. The spec lets the broker
		// close at once without connection.close; 501 is also right.
		if err := c.write([]byte{frameHeartbeat, 0, 0, 0, 0, 0, 0, 0x00}); err != nil {
			return err
		}
		return expectHardClose(c, frameError, false)
	}},
	{"huge frame before open", handshakeLogs, func(c *rawConn) error {
		if err := c.sendHeader(); err != nil {
			return err
		}
		if err := c.write(hugeFrameHeader(frameMethod, 0)); err != nil {
			return err
		}
		// Mid-handshake the broker may close with 501 or just close.
		return expectHardClose(c, frameError, false)
	}},
	{"huge method frame after open", []string{"closing connection on a bad frame"}, func(c *rawConn) error {
		if err := c.handshake(); err != nil {
			return err
		}
		if err := c.write(hugeFrameHeader(frameMethod, 0)); err != nil {
			return err
		}
		return expectHardClose(c, frameError, true)
	}},
	{"huge body frame after open", []string{"closing connection on a bad frame"}, func(c *rawConn) error {
		if err := c.handshake(); err != nil {
			return err
		}
		if err := c.write(hugeFrameHeader(3, 1)); err != nil {
			return err
		}
		return expectHardClose(c, frameError, true)
	}},
	truncated("truncated header", false, []byte("AMQP\x00")),
	truncated("truncated frame before open", false,
		[]byte(amqpHeader), []byte{frameMethod, 0, 0, 0, 0, 0, 40, 0, 10, 0, 11, 0, 0}),
	truncated("truncated frame header after open", true, []byte{frameMethod, 0}),
	truncated("truncated frame after open", true,
		[]byte{frameMethod, 0, 1, 0, 0, 0, 100, 0, 20, 0, 10, 0}),
}

func withRaw(addr string, f func(*rawConn) error) error {
	_, err := runRaw(addr, f)
	return err
}

// runRaw runs f on a fresh raw connection and returns the connection's
// local address, which the broker's log lines about it name.
func runRaw(addr string, f func(*rawConn) error) (local string, err error) {
	c, err := dialRaw(addr, rawTimeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.nc.LocalAddr().String(), f(c)
}

// wrongHeader sends a header for another protocol: the broker must answer
// with the header it speaks and close (AMQP 0-9-1, section 4.2.2).
// headerAnswered sends bytes that are not a protocol header and expects
// the broker's own header back, then the close. A reset for the unread
// rest of a long garbage may cut the answer short, so a prefix will do.
func headerAnswered(c *rawConn, garbage []byte) error {
	if err := c.write(garbage); err != nil {
		return err
	}
	got, err := c.expectClosed()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(amqpHeader, string(got)) {
		return fmt.Errorf("broker sent %q, want (a prefix of) the protocol header %q", got, amqpHeader)
	}
	return nil
}

func wrongHeader(name, header string) abuse {
	return abuse{"wrong header: " + name, []string{"unsupported protocol header"}, func(c *rawConn) error {
		if err := c.write([]byte(header)); err != nil {
			return err
		}
		got, err := c.expectClosed()
		if err != nil {
			return err
		}
		if string(got) != amqpHeader {
			return fmt.Errorf("broker answered %q with %q, want %q", header, got, amqpHeader)
		}
		return nil
	}}
}

// truncated sends parts, after the handshake when open, then shuts the
// write side: the broker must see the end of the stream and close.
func truncated(name string, open bool, parts ...[]byte) abuse {
	logs := handshakeLogs
	if open {
		logs = []string{"client closed the socket without connection.close"}
	}
	return abuse{name, logs, func(c *rawConn) error {
		if open {
			if err := c.handshake(); err != nil {
				return err
			}
		}
		for _, p := range parts {
			if err := c.write(p); err != nil {
				return err
			}
		}
		c.nc.CloseWrite()
		_, err := c.expectClosed()
		return err
	}}
}

// garbleAndExpectClose sends 4 KiB of noise and shuts the write side, so
// that a broker waiting for the rest of a frame sees the stream end.
func garbleAndExpectClose(c *rawConn, seed byte, wantClose bool) error {
	if err := c.write(garbage(seed, 4096)); err != nil {
		return err
	}
	c.nc.CloseWrite()
	return expectHardClose(c, 0, wantClose)
}

// expectHardClose waits for the broker to end the connection. A
// connection.close must carry a hard error (5xx), code if code is not 0;
// wantClose requires one, else closing the socket without it will do.
func expectHardClose(c *rawConn, code uint16, wantClose bool) error {
	got, text, err := c.closeReply()
	switch {
	case err != nil && isPeerGone(err):
		if wantClose {
			return fmt.Errorf("broker closed the socket without connection.close (want %d)", code)
		}
		return nil
	case err != nil:
		return fmt.Errorf("waiting for the broker to close the connection: %w", err)
	case code != 0 && got != code:
		return fmt.Errorf("connection.close %d %q, want %d", got, text, code)
	case got < 500 || got > 599:
		return fmt.Errorf("connection.close %d %q, want a hard error (5xx)", got, text)
	case text == "":
		return fmt.Errorf("connection.close %d without a reply text", got)
	}
	_, err = c.expectClosed()
	return err
}

// hugeFrameHeader is a frame header declaring hugeFrameSize bytes, and the
// first few of them.
func hugeFrameHeader(typ byte, ch uint16) []byte {
	b := append([]byte{typ}, u16(ch)...)
	b = append(b, u32(hugeFrameSize)...)
	return append(b, "0123456789abcdef"...)
}

// garbage returns n bytes of noise, the same for the same seed.
func garbage(seed byte, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// TestAMQPAbuse misuses the AMQP port in many ways, one at a time, while
// a well-behaved amqp091-go client holds a connection and a channel.
// After each, the broker must have answered as the protocol says, and the
// well-behaved client must still work. TestProtocolAbuse runs the same
// misuses at random and at once, on every port.
func TestAMQPAbuse(t *testing.T) {
	l := startLoft(t)
	w := newWellBehaved(t, l)
	mem := watchMemory(t, l)

	for _, a := range abuses {
		t.Run(a.name, func(t *testing.T) {
			if err := withRaw(l.AMQP, a.run); err != nil {
				t.Error(err)
			}
			w.check(t)
		})
	}

	mem.check(t)
}

// TestAMQPWireHandshake checks the raw peer itself against the broker: a
// clean handshake and connection.close, answered with close-ok. Without
// it, an abuse test could pass because the raw peer never got as far as
// the abuse.
func TestAMQPWireHandshake(t *testing.T) {
	l := startLoft(t)
	err := withRaw(l.AMQP, func(c *rawConn) error {
		if err := c.handshake(); err != nil {
			return err
		}
		if err := c.writeMethod(0, 10, 50, u16(200), shortstr("bye"), u16(0), u16(0)); err != nil {
			return err
		}
		// close-ok tells the client that it may close the socket; the
		// broker need not close it first.
		_, err := c.readMethod(10, 51)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
