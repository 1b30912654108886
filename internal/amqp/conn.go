package amqp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/vhost"
)

const (
	// closeWait bounds how long a connection waits for the peer's
	// connection.close-ok after sending connection.close.
	closeWait = time.Second
	// writeTimeout bounds one frame write, so a client that stops reading
	// cannot hold a goroutine forever.
	writeTimeout = 10 * time.Second
	readBufSize  = 64 << 10
)

// errStop ends the reader loop without a further log line.
var errStop = errors.New("amqp: connection finished")

// conn is one client connection. Its reader goroutine (serve) owns the
// handshake results and the channel table; send may be called from any
// goroutine.
type conn struct {
	s      *Server
	nc     net.Conn
	rd     *bufio.Reader
	log    *slog.Logger
	remote net.Addr

	// Set by the handshake, then read only by the reader goroutine (and
	// the heartbeat goroutine, which starts after).
	user       string
	vhost      string
	channelMax uint16
	frameMax   uint32
	heartbeat  time.Duration
	channels   map[uint16]*channel

	id         uint64
	vh         *vhost.Vhost // set by connection.open
	cancelNote bool         // the client takes server-sent basic.cancel
	client     any          // its client_properties' product, for inspection
	openedAt   time.Time
	blockNote  bool // the client takes connection.blocked

	hasPublished atomic.Bool
	unstored     atomic.Int64  // bytes published, not yet stored; see waitStored
	space        chan struct{} // signalled when unstored falls below the limit
	toldBlocked  bool          // guarded by s.block.mu

	// The writer's side; see out.go. omu guards out, werr, starved,
	// confirmDirty and every channel's delivery state.
	omu          sync.Mutex
	out          []byte
	werr         error
	starved      []*consumer
	confirmDirty []*channel
	timed        []*consumer // consumers with a timeout; see timeout.go
	watching     bool        // the timeout watcher runs
	wakeW        chan struct{}
	stopW        chan struct{}
	stopOnce     sync.Once
	writerDone   chan struct{}

	mu      sync.Mutex // guards the fields below and read deadlines
	opened  bool       // connection.open-ok sent
	closing bool       // connection.close sent; only close/close-ok count now
	armed   time.Time  // when the read deadline was last moved

	done     chan struct{} // closed when the connection ends
	killOnce sync.Once
}

func newConn(s *Server, nc net.Conn, id uint64) *conn {
	return &conn{
		s:          s,
		nc:         nc,
		rd:         bufio.NewReaderSize(nc, readBufSize),
		id:         id,
		wakeW:      make(chan struct{}, 1),
		space:      make(chan struct{}, 1),
		stopW:      make(chan struct{}),
		writerDone: make(chan struct{}),
		log:        s.logger.With("conn", id, "client", nc.RemoteAddr().String()),
		remote:     nc.RemoteAddr(),
		frameMax:   frame.FrameMinSize,
		channels:   make(map[uint16]*channel),
		done:       make(chan struct{}),
	}
}

// serve runs the connection to its end.
func (c *conn) serve() {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("panic serving a connection, closing it",
				"panic", v, "stack", string(debug.Stack()))
		}
		c.finish()
	}()
	go c.writeLoop()
	c.log.Debug("connection accepted")
	if !c.handshake() {
		return
	}
	c.openedAt = time.Now()
	c.s.register(c)
	defer c.s.unregister(c)
	c.log.Info("connection opened", "channel_max", c.channelMax, "frame_max", c.frameMax,
		"heartbeat", c.heartbeat)
	if c.heartbeat > 0 {
		go c.sendHeartbeats()
	}
	c.readLoop()
	c.log.Info("connection closed")
}

// finish lets go of the connection's channels and exclusive queues,
// writes what is queued and closes the socket. A panic here is contained
// too: one connection's failure must not end the broker.
func (c *conn) finish() {
	defer c.kill()
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("panic closing a connection",
				"panic", v, "stack", string(debug.Stack()))
		}
	}()
	c.closeChannels()
	c.flushAndStop()
}

// kill closes the socket at once.
func (c *conn) kill() {
	c.killOnce.Do(func() {
		close(c.done)
		c.nc.Close()
	})
}

// shutdown is Server.Close's request: connection.close 320 to an open
// connection, which the reader then sees through; a connection still in
// its handshake is cut.
func (c *conn) shutdown() {
	c.mu.Lock()
	opened := c.opened
	c.mu.Unlock()
	if !opened {
		c.kill()
		return
	}
	c.log.Info("closing connection: broker shutting down")
	c.startClose(&Error{Code: frame.ConnectionForced, Text: "broker shutting down", Conn: true})
}

// startClose sends connection.close for e, once, and gives the peer
// closeWait to answer.
func (c *conn) startClose(e *Error) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.nc.SetReadDeadline(time.Now().Add(closeWait))
	c.mu.Unlock()
	c.s.stats.reject(e.Code)
	c.send(0, &frame.ConnectionClose{
		ReplyCode: e.Code, ReplyText: e.ReplyText(),
		FailedClassID: e.ClassID, FailedMethodID: e.MethodID,
	})
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// armRead sets the read deadline for the next frame: the close wait while
// closing (already set), else two heartbeat intervals, else none. It runs
// under mu so that it cannot undo startClose's deadline.
//
// Setting a deadline costs more than reading a small frame, so it is moved
// only once a quarter interval has passed: a silent peer is still caught
// between 1.75 and 2 intervals after its last frame.
func (c *conn) armRead() {
	if c.rd.Buffered() >= 7 && !c.armed.IsZero() {
		return // the next frame header is read without touching the socket
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closing:
	case c.heartbeat > 0:
		now := time.Now()
		if now.Sub(c.armed) < c.heartbeat/4 {
			return
		}
		c.armed = now
		c.nc.SetReadDeadline(now.Add(2 * c.heartbeat))
	case !c.armed.IsZero():
		c.armed = time.Time{}
		c.nc.SetReadDeadline(time.Time{})
	}
}

// sendHeartbeats sends a heartbeat every half interval until the
// connection ends. Sending them unconditionally is simpler than tracking
// other traffic and costs eight bytes.
func (c *conn) sendHeartbeats() {
	t := time.NewTicker(c.heartbeat / 2)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if err := c.write(frame.Heartbeat); err != nil {
				return
			}
		}
	}
}

// readLoop reads and dispatches frames until the connection ends.
func (c *conn) readLoop() {
	for {
		c.armRead()
		f, err := c.readFrame()
		if err != nil {
			c.readFailed(err)
			return
		}
		if c.isClosing() {
			if c.whileClosing(f) {
				return
			}
			continue
		}
		if err := c.dispatch(f); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				return // errStop: the connection ended normally
			}
			c.log.Warn("closing connection on error", "code", e.Code, "text", e.ReplyText())
			c.startClose(e)
		}
	}
}

// readFrame reads the next frame. Without heartbeats, it waits for the
// frame's first byte without a deadline and then gives the rest
// Config.FrameTimeout to arrive, unless it is buffered already. (With
// heartbeats, a peer silent for two intervals is cut whatever it was
// sending.) Silence between frames is the peer's right, but a frame left
// half-sent would hold a goroutine and up to frame-max bytes for ever.
func (c *conn) readFrame() (frame.Frame, error) {
	if c.heartbeat > 0 || c.isClosing() {
		return frame.Read(c.rd, c.frameMax)
	}
	if _, err := c.rd.Peek(1); err != nil {
		return frame.Frame{}, err
	}
	if frameBuffered(c.rd) || !c.armFrame(time.Now().Add(c.s.cfg.FrameTimeout)) {
		return frame.Read(c.rd, c.frameMax)
	}
	f, err := frame.Read(c.rd, c.frameMax)
	if err == nil {
		c.armFrame(time.Time{})
	}
	return f, err
}

// armFrame sets the read deadline for the rest of a frame, or clears it,
// unless the connection is closing: startClose's deadline stands. It
// reports whether it set it.
func (c *conn) armFrame(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.nc.SetReadDeadline(t)
	return true
}

// frameBuffered reports whether rd holds the next frame entire.
func frameBuffered(rd *bufio.Reader) bool {
	if rd.Buffered() < 7 {
		return false // and Peek would wait for more
	}
	hdr, err := rd.Peek(7)
	if err != nil {
		return false
	}
	return uint64(rd.Buffered()) >= 8+uint64(binary.BigEndian.Uint32(hdr[3:]))
}

// readFailed handles a failed frame read: a protocol violation is
// answered with connection.close; a timeout outside closing means missed
// heartbeats.
func (c *conn) readFailed(err error) {
	closing := c.isClosing()
	switch {
	case closing:
		// The peer did not answer our close in time, or went away: done.
	case errors.Is(err, frame.ErrFrameTooLarge), errors.Is(err, frame.ErrFrameEnd):
		e := &Error{Code: frame.FrameError, Text: err.Error(), Conn: true}
		c.log.Warn("closing connection on a bad frame", "err", err)
		c.startClose(e)
		c.drainClose()
	case errors.Is(err, os.ErrDeadlineExceeded) && c.heartbeat == 0:
		c.log.Warn("frame not received in time, closing connection", "timeout", c.s.cfg.FrameTimeout)
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.log.Warn("missed heartbeats from client, closing connection", "timeout", 2*c.heartbeat)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET):
		c.log.Info("client closed the socket without connection.close", "err", err)
	default:
		c.log.Debug("read failed, closing the connection", "err", err)
	}
}

// drainClose waits, bounded by the close deadline, for the close-ok after
// a framing error. The stream may be out of step, so it gives up at the
// first frame it cannot read.
func (c *conn) drainClose() {
	for {
		f, err := frame.Read(c.rd, c.frameMax)
		if err != nil || c.whileClosing(f) {
			return
		}
	}
}

// whileClosing handles a frame read after connection.close was sent: only
// close-ok and a crossing close mean anything. It reports whether the
// connection is finished.
func (c *conn) whileClosing(f frame.Frame) bool {
	if f.Type != frame.FrameMethod || f.Channel != 0 {
		return false
	}
	m, err := f.Method()
	if err != nil {
		return false
	}
	switch m.(type) {
	case *frame.ConnectionCloseOK:
		return true
	case *frame.ConnectionClose:
		c.send(0, &frame.ConnectionCloseOK{})
		return true
	}
	return false
}

// dispatch handles one frame of an open connection. It returns an *Error
// for a connection error, errStop when the connection is finished, or nil.
func (c *conn) dispatch(f frame.Frame) error {
	switch f.Type {
	case frame.FrameHeartbeat:
		if f.Channel != 0 {
			return connError(frame.FrameError, nil, "heartbeat frame on channel %d", f.Channel)
		}
		return nil
	case frame.FrameMethod:
		m, err := f.Method()
		if err != nil {
			return decodeError(err)
		}
		if f.Channel == 0 {
			return c.connectionMethod(m)
		}
		return c.channelMethod(f.Channel, m)
	case frame.FrameHeader, frame.FrameBody:
		return c.content(f)
	}
	return connError(frame.FrameError, nil, "unknown frame type %d", f.Type)
}

// decodeError maps a method decoding failure to its connection error.
func decodeError(err error) *Error {
	if errors.Is(err, frame.ErrUnknownMethod) {
		return connError(frame.CommandInvalid, nil, "%v", err)
	}
	return connError(frame.SyntaxError, nil, "%v", err)
}
