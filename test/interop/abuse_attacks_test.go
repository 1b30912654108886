package interop

// The misuses and stalled connections of TestProtocolAbuse, port by port.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// amqpFrame is one frame in wire form.
func amqpFrame(typ byte, ch uint16, payload []byte) []byte {
	b := append([]byte{typ}, u16(ch)...)
	b = append(b, u32(uint32(len(payload)))...)
	b = append(b, payload...)
	return append(b, frameEnd)
}

func amqpMethod(ch, class, method uint16, args ...[]byte) []byte {
	p := append(u16(class), u16(method)...)
	for _, a := range args {
		p = append(p, a...)
	}
	return amqpFrame(frameMethod, ch, p)
}

// amqpHandshake is a whole handshake as guest, sent without waiting for
// the broker's side: header, start-ok, tune-ok (heartbeats off), open.
func amqpHandshake() []byte {
	b := []byte(amqpHeader)
	b = append(b, amqpMethod(0, 10, 11, u32(0), shortstr("PLAIN"), longstr("\x00guest\x00guest"), shortstr("en_US"))...)
	b = append(b, amqpMethod(0, 10, 31, u16(2047), u32(rawMaxFrame), u16(0))...)
	return append(b, amqpMethod(0, 10, 40, shortstr("/"), shortstr(""), []byte{0})...)
}

// halfFrame is the first part of a channel.open frame.
func halfFrame() []byte {
	f := amqpMethod(1, 20, 10, shortstr(""))
	return f[:len(f)-3]
}

// openWithHeartbeat is rawConn.handshake asking for heartbeats every
// heartbeat seconds.
func openWithHeartbeat(c *rawConn, heartbeat uint16) error {
	if err := c.sendHeader(); err != nil {
		return err
	}
	if err := c.writeMethod(0, 10, 11, u32(0), shortstr("PLAIN"), longstr("\x00guest\x00guest"), shortstr("en_US")); err != nil {
		return err
	}
	if _, err := c.readMethod(10, 30); err != nil {
		return err
	}
	if err := c.writeMethod(0, 10, 31, u16(2047), u32(rawMaxFrame), u16(heartbeat)); err != nil {
		return err
	}
	if err := c.writeMethod(0, 10, 40, shortstr("/"), shortstr(""), []byte{0}); err != nil {
		return err
	}
	_, err := c.readMethod(10, 41)
	return err
}

func amqpAttacks() []attack {
	var as []attack
	for _, a := range abuses {
		as = append(as, attack{a.name, a.logs, func(c *rawConn, _ *rand.Rand) error { return a.run(c) }})
	}
	return append(as,
		attack{"random bytes", []string{"unsupported protocol header"}, func(c *rawConn, rng *rand.Rand) error {
			return headerAnswered(c, randomBytes(rng, 8, 4096))
		}},
		attack{"handshake cut short", handshakeLogs, func(c *rawConn, rng *rand.Rand) error {
			return cutAndEnd(c, rng, amqpHandshake())
		}},
		attack{"reset mid-frame after open", []string{"client closed the socket without connection.close"},
			func(c *rawConn, rng *rand.Rand) error {
				if err := c.handshake(); err != nil {
					return err
				}
				f := halfFrame()
				if err := c.write(f[:1+rng.IntN(len(f)-1)]); err != nil {
					return err
				}
				reset(c)
				return nil
			}},
	)
}

func amqpStalls() []stallKind {
	noHeader := []string{"no protocol header received"}
	return []stallKind{
		{name: "silent", bound: amqpHandshakeLimit, logs: noHeader,
			begin: func(*rawConn) error { return nil }},
		{name: "half a header", bound: amqpHandshakeLimit, logs: noHeader,
			begin: func(c *rawConn) error { return c.write([]byte("AMQP")) }},
		{name: "handshake a byte a second", bound: amqpHandshakeLimit, logs: append(noHeader, "handshake failed"),
			begin: func(c *rawConn) error { return trickle(c, amqpHandshake()) }},
		{name: "half a frame, heartbeat 1 s", bound: 2 * time.Second, logs: []string{"missed heartbeats"},
			begin: func(c *rawConn) error {
				if err := openWithHeartbeat(c, 1); err != nil {
					return err
				}
				return c.write(halfFrame())
			}},
		{name: "half a frame, heartbeats off", bound: amqpFrameLimit, logs: []string{"frame not received in time"},
			begin: func(c *rawConn) error {
				if err := c.handshake(); err != nil {
					return err
				}
				return c.write(halfFrame())
			}},
		{name: "half a frame header, heartbeats off", bound: amqpFrameLimit, logs: []string{"frame not received in time"},
			begin: func(c *rawConn) error {
				if err := c.handshake(); err != nil {
					return err
				}
				return c.write(halfFrame()[:3])
			}},
	}
}

// kafkaRequest is a request frame: size, header v1 (client id "abuse"),
// body.
func kafkaRequest(key, version int16, corr int32, body []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = append(b, 0, 5)
	b = append(b, "abuse"...)
	b = append(b, body...)
	return append(u32(uint32(len(b))), b...)
}

// apiVersions is ApiVersions v0, correlation id 7.
func apiVersions() []byte { return kafkaRequest(18, 0, 7, nil) }

// readKafkaResponse reads one response frame and checks its correlation
// id.
func readKafkaResponse(c *rawConn, corr int32) error {
	var size [4]byte
	if _, err := io.ReadFull(c.rd, size[:]); err != nil {
		return fmt.Errorf("waiting for a response: %w", err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 1<<20 {
		return fmt.Errorf("response of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.rd, b); err != nil {
		return fmt.Errorf("reading a response: %w", err)
	}
	if got := int32(binary.BigEndian.Uint32(b)); got != corr {
		return fmt.Errorf("response to correlation id %d, want %d", got, corr)
	}
	return nil
}

// sizeAndClose sends a size prefix and a few bytes: the broker must close
// the connection without waiting for the rest.
func sizeAndClose(size uint32) func(*rawConn, *rand.Rand) error {
	return func(c *rawConn, rng *rand.Rand) error {
		if err := c.write(append(u32(size), randomBytes(rng, 1, 64)...)); err != nil {
			return err
		}
		_, err := c.expectClosed()
		return err
	}
}

func kafkaAttacks() []attack {
	outOfBounds := []string{"request size out of bounds"}
	cut := []string{"client closed the connection in the middle of a request", "connection failed in the middle of a request"}
	badRequest := []string{"bad request, closing the connection"}
	return []attack{
		{"random bytes", append(append(outOfBounds, cut...), badRequest...), func(c *rawConn, rng *rand.Rand) error {
			if err := c.write(randomBytes(rng, 1, 4096)); err != nil {
				return err
			}
			c.nc.CloseWrite()
			_, err := c.expectClosed()
			return err
		}},
		{"size 2^31-1", outOfBounds, sizeAndClose(1<<31 - 1)},
		{"negative size", outOfBounds, sizeAndClose(1<<32 - 1)},
		{"size over --kafka-max-request-bytes", outOfBounds, sizeAndClose(100<<20 + 1)},
		{"request cut short", cut, func(c *rawConn, rng *rand.Rand) error { return cutAndEnd(c, rng, apiVersions()) }},
		{"50 MiB request cut short", cut, func(c *rawConn, rng *rand.Rand) error {
			return cutAndEnd(c, rng, append(u32(50<<20), randomBytes(rng, 2, 64<<10)...))
		}},
		{"unknown API key", badRequest, func(c *rawConn, _ *rand.Rand) error {
			if err := c.write(kafkaRequest(0x7abc, 0, 1, nil)); err != nil {
				return err
			}
			_, err := c.expectClosed()
			return err
		}},
		{"header cut inside the frame", badRequest, func(c *rawConn, _ *rand.Rand) error {
			if err := c.write([]byte{0, 0, 0, 3, 0, 18, 0}); err != nil {
				return err
			}
			_, err := c.expectClosed()
			return err
		}},
		{"valid ApiVersions", nil, func(c *rawConn, _ *rand.Rand) error {
			if err := c.write(apiVersions()); err != nil {
				return err
			}
			return readKafkaResponse(c, 7)
		}},
	}
}

func kafkaStalls() []stallKind {
	notInTime := []string{"request not received in time"}
	req := apiVersions()
	return []stallKind{
		{name: "silent", bound: abuseKafkaIdle, logs: []string{"no request received, closing the idle connection"},
			begin: func(*rawConn) error { return nil }},
		{name: "half a size", bound: abuseKafkaIdle, logs: notInTime,
			begin: func(c *rawConn) error { return c.write(req[:2]) }},
		{name: "half a request", bound: abuseKafkaIdle, logs: notInTime,
			begin: func(c *rawConn) error { return c.write(req[:len(req)-3]) }},
		{name: "a request a byte a second", bound: abuseKafkaIdle, logs: notInTime,
			begin: func(c *rawConn) error { return trickle(c, req) }},
		{name: "never reads its answers", bound: kafkaWriteLimit, logs: []string{"client not reading its responses"},
			begin: func(c *rawConn) error {
				c.nc.SetReadBuffer(4 << 10)
				return nil
			},
			closed: func(c *rawConn) (time.Time, error) { return writeUntilRefused(c, bytes.Repeat(req, 1000)) }},
		// Logged at debug level only: closing an idle client is routine.
		{name: "idle after a request", bound: abuseKafkaIdle, begin: func(c *rawConn) error {
			if err := c.write(req); err != nil {
				return err
			}
			return readKafkaResponse(c, 7)
		}},
	}
}

// writeUntilRefused sends b again and again, reading nothing, until the
// broker closes the connection, and returns when the last write went
// through. The broker stops reading only once its writer is blocked, and
// writes still go through until the buffers between fill up, so the time
// from there to the close is less than the broker's wait: a close
// missing, or much later than the bound, still shows.
func writeUntilRefused(c *rawConn, b []byte) (stalledAt time.Time, err error) {
	for {
		if _, err := c.nc.Write(b); err != nil {
			if isPeerGone(err) {
				return stalledAt, nil
			}
			return stalledAt, err
		}
		stalledAt = time.Now()
	}
}

const basicGuest = "Authorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n" // guest:guest

// validGet is a whole GET of the management API's overview.
const validGet = "GET /api/overview HTTP/1.1\r\nHost: loft\r\n" + basicGuest + "Connection: close\r\n\r\n"

// expectStatus reads a response and checks its status. A broker that
// refuses a request it has not read to the end may reset the connection
// before the response can be read; okReset accepts that.
func expectStatus(c *rawConn, want int, okReset bool) error {
	resp, err := http.ReadResponse(c.rd, nil)
	if err != nil {
		if okReset && isPeerGone(err) {
			return nil
		}
		return fmt.Errorf("want %d: %w", want, err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("got %s, want %d", resp.Status, want)
	}
	return nil
}

// sendAndExpect sends req and checks the status of the answer.
func sendAndExpect(req string, want int, okReset bool) func(*rawConn, *rand.Rand) error {
	return func(c *rawConn, _ *rand.Rand) error {
		if err := c.write([]byte(req)); err != nil {
			return err
		}
		return expectStatus(c, want, okReset)
	}
}

func httpAttacks() []attack {
	refused := "bad request refused"
	cut := []string{"client closed the connection in the middle of a request", refused}
	return []attack{
		{"random bytes", cut, func(c *rawConn, rng *rand.Rand) error {
			if err := c.write(randomBytes(rng, 1, 4096)); err != nil {
				return err
			}
			c.nc.CloseWrite()
			// net/http answers 400 to what it can tell is not HTTP, and
			// closes without a word on a request cut short.
			got, err := c.expectClosed()
			if err == nil && len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 4") {
				return fmt.Errorf("broker answered %.40q", got)
			}
			return err
		}},
		{"huge Content-Length", []string{"request body too large, refused"}, sendAndExpect(
			"PUT /api/queues/%2F/abuse-huge HTTP/1.1\r\nHost: loft\r\n"+basicGuest+
				"Content-Type: application/json\r\nContent-Length: 1099511627776\r\n\r\n{\"durable\":",
			http.StatusRequestEntityTooLarge, false)},
		{"huge header", []string{"431 Request Header Fields Too Large"}, sendAndExpect(
			"GET /api/overview HTTP/1.1\r\nHost: loft\r\nX-Padding: "+strings.Repeat("a", 80<<10)+"\r\n\r\n",
			http.StatusRequestHeaderFieldsTooLarge, true)},
		{"malformed request line", []string{"400 Bad Request"}, sendAndExpect("GET\r\n\r\n", http.StatusBadRequest, false)},
		{"negative Content-Length", []string{"400 Bad Request"}, sendAndExpect(
			"POST /api/overview HTTP/1.1\r\nHost: loft\r\nContent-Length: -1\r\n\r\n", http.StatusBadRequest, false)},
		{"request cut short", cut, func(c *rawConn, rng *rand.Rand) error {
			return cutAndEnd(c, rng, []byte(validGet))
		}},
		{"valid GET", nil, sendAndExpect(validGet, http.StatusOK, false)},
	}
}

func httpStalls() []stallKind {
	headersLate := []string{"request headers not received in time"}
	return []stallKind{
		{name: "silent", bound: httpHeaderLimit, logs: []string{"no request received in time"},
			begin: func(*rawConn) error { return nil }},
		{name: "half a request line", bound: httpHeaderLimit, logs: headersLate,
			begin: func(c *rawConn) error { return c.write([]byte("GET /api/ov")) }},
		{name: "headers a byte a second", bound: httpHeaderLimit, logs: headersLate,
			begin: func(c *rawConn) error { return trickle(c, []byte(validGet)) }},
		{name: "body stalled", bound: httpBodyLimit, logs: []string{"request body not received in time"},
			begin: func(c *rawConn) error {
				return c.write([]byte("PUT /api/queues/%2F/abuse-stalled HTTP/1.1\r\nHost: loft\r\n" + basicGuest +
					"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"))
			}},
	}
}
