package amqp

import (
	"encoding/binary"
	"runtime"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
)

// The outgoing side of a connection. Every frame is appended to one
// buffer under omu and written by the connection's writer goroutine, which
// takes whatever has gathered in one write: under load many deliveries and
// confirms share a syscall, and no sender ever waits on the socket.
//
// omu also guards the delivery state of every channel of the connection
// (delivery tags, unacked deliveries, consumer credit, confirms), so that a
// delivery tag is assigned in the order frames go out. Lock order: a
// vhost's and a queue's locks are taken before omu, never after.

// outLimit is how many bytes may wait for the writer before consumers
// stop being given messages; they are offered more once it drains.
const outLimit = 1 << 20

// appendFrameHeader appends a frame header with a placeholder size and
// returns where the payload starts.
func appendFrameHeader(buf []byte, typ uint8, ch uint16) ([]byte, int) {
	buf = append(buf, typ, byte(ch>>8), byte(ch), 0, 0, 0, 0)
	return buf, len(buf)
}

// finishFrame writes the payload size and the frame end.
func finishFrame(buf []byte, start int) []byte {
	binary.BigEndian.PutUint32(buf[start-4:], uint32(len(buf)-start))
	return append(buf, frame.FrameEnd)
}

// appendMethod appends m as a method frame on ch.
func appendMethod(buf []byte, ch uint16, m frame.Method) ([]byte, error) {
	buf, start := appendFrameHeader(buf, frame.FrameMethod, ch)
	out, err := frame.AppendMethod(buf, m)
	if err != nil {
		return buf[:start-7], err
	}
	return finishFrame(out, start), nil
}

// appendContent appends the header frame and body frames of a message
// whose properties are already encoded.
func appendContent(buf []byte, ch uint16, props, body []byte, frameMax uint32) []byte {
	buf, start := appendFrameHeader(buf, frame.FrameHeader, ch)
	buf = binary.BigEndian.AppendUint16(buf, frame.ClassBasic)
	buf = binary.BigEndian.AppendUint16(buf, 0)
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(body)))
	if len(props) < 2 {
		buf = append(buf, 0, 0) // no properties
	} else {
		buf = append(buf, props...)
	}
	buf = finishFrame(buf, start)
	room := frame.MaxBodyPayload(frameMax)
	for len(body) > 0 {
		n := min(len(body), room)
		buf, start = appendFrameHeader(buf, frame.FrameBody, ch)
		buf = append(buf, body[:n]...)
		buf = finishFrame(buf, start)
		body = body[n:]
	}
	return buf
}

// send queues one method frame on channel ch. It fails only when the
// connection's writer has stopped.
func (c *conn) send(ch uint16, m frame.Method) error {
	c.omu.Lock()
	defer c.omu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	out, err := appendMethod(c.out, ch, m)
	if err != nil {
		c.log.Error("encoding a method failed", "method", m.Name(), "err", err)
		return err
	}
	c.out = out
	c.wake()
	return nil
}

// write queues a frame built elsewhere.
func (c *conn) write(f frame.Frame) error {
	c.omu.Lock()
	defer c.omu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	c.out = f.Append(c.out)
	c.wake()
	return nil
}

// wake tells the writer there is something to write. omu is held.
func (c *conn) wake() {
	select {
	case c.wakeW <- struct{}{}:
	default:
	}
}

// writeLoop is the connection's writer goroutine. It ends when the socket
// fails or, once stopW is closed, when everything queued is written.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	var spare []byte
	for {
		select {
		case <-c.wakeW:
		case <-c.stopW:
		}
		// Let the goroutines that woke us add what they have ready:
		// fewer, larger writes cost the client fewer reads too.
		runtime.Gosched()
		c.omu.Lock()
		c.appendConfirms()
		buf := c.out
		c.out = spare[:0]
		c.omu.Unlock()
		if len(buf) > 0 {
			c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := c.nc.Write(buf); err != nil {
				c.omu.Lock()
				c.werr = err
				c.omu.Unlock()
				c.kill()
				return
			}
		}
		spare = buf
		if cap(spare) > 4*outLimit {
			spare = nil // do not keep a burst's buffer forever
		}
		c.refill()
		select {
		case <-c.stopW:
			c.omu.Lock()
			empty := len(c.out) == 0 && len(c.confirmDirty) == 0
			c.omu.Unlock()
			if empty {
				return
			}
		default:
		}
	}
}

// refill offers messages again to the consumers that were refused for a
// full buffer, now that it has drained.
func (c *conn) refill() {
	c.omu.Lock()
	if len(c.out) >= outLimit/2 || len(c.starved) == 0 {
		c.omu.Unlock()
		return
	}
	starved := c.starved
	c.starved = nil
	for _, cs := range starved {
		cs.starved = false
	}
	c.omu.Unlock()
	for _, cs := range starved {
		cs.q.Sub().Dispatch()
	}
}

// flushAndStop writes what is queued, within writeTimeout, and stops the
// writer.
func (c *conn) flushAndStop() {
	c.stopOnce.Do(func() { close(c.stopW) })
	select {
	case <-c.writerDone:
	case <-time.After(writeTimeout):
	}
}
