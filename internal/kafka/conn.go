package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxInFlight bounds the requests of one connection whose responses
	// are not written yet; the reader waits past it. Kafka producers keep
	// at most 5 (idempotent) or a few more requests in flight, so this
	// never slows one down, and it bounds what a client that stops reading
	// responses can pile up.
	maxInFlight = 32
	// readBufSize and writeBufSize size the buffered reader and writer of
	// a connection: small requests and responses then cost no system call
	// each, while large ones bypass the buffers.
	readBufSize  = 16 << 10
	writeBufSize = 64 << 10
	// keepBuf is the largest encode buffer a connection keeps between
	// responses; a larger one (a big Fetch) is dropped after use.
	keepBuf = 1 << 20
)

// conn is one client connection: a reader goroutine (serve) that decodes
// and dispatches, and a writer goroutine that writes responses in order.
type conn struct {
	s      *Server
	nc     net.Conn
	remote string
	host   string // remote IP, without the port
	log    *slog.Logger

	ctx    context.Context // cancelled when the connection stops
	cancel context.CancelFunc

	slots    chan *slot    // in request order; closed when the reader stops
	killed   chan struct{} // closed by kill
	killOnce sync.Once
	stopping atomic.Bool // set by stopReading

	inFlight atomic.Int32 // requests read whose responses are not written
	requests int          // requests read; the reader's own
}

func newConn(s *Server, nc net.Conn, id uint64) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	remote := nc.RemoteAddr().String()
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	return &conn{
		s:      s,
		nc:     nc,
		remote: remote,
		host:   host,
		log:    s.logger.With("conn", id, "client", remote),
		ctx:    ctx,
		cancel: cancel,
		slots:  make(chan *slot, maxInFlight),
		killed: make(chan struct{}),
	}
}

// serve runs the connection to its end: it reads and dispatches requests
// until the client goes away, sends something this server will not
// serve, or the server stops; then it lets the writer send the responses
// still owed and closes the socket.
func (c *conn) serve() {
	c.log.Debug("connection opened")
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	c.readLoop()
	close(c.slots)
	<-writerDone
	c.kill()
	c.log.Debug("connection closed")
}

// stopReading makes the reader stop at its next read, and cancels the
// connection's context, so that a blocked handler (a Fetch long poll, a
// JoinGroup) returns. Responses already owed are still written.
func (c *conn) stopReading() {
	c.stopping.Store(true)
	c.cancel()
	c.nc.SetReadDeadline(time.Now())
}

// kill closes the socket at once: pending responses are dropped.
func (c *conn) kill() {
	c.killOnce.Do(func() {
		c.stopping.Store(true)
		close(c.killed)
		c.cancel()
		c.nc.Close()
	})
}

func (c *conn) readLoop() {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("panic serving a request, closing the connection",
				"panic", v, "stack", string(debug.Stack()))
			// The request's slot may never be finished: the writer must
			// not wait for it.
			c.kill()
		}
	}()
	rd := bufio.NewReaderSize(c.nc, readBufSize)
	for {
		frame, err := c.readFrame(rd)
		if err != nil {
			c.readFailed(err)
			return
		}
		if c.stopping.Load() {
			return // read from the buffer after Close: not served
		}
		r, err := decode(frame)
		if err != nil {
			c.log.Warn("bad request, closing the connection", "err", err, "size", len(frame))
			return
		}
		r.ctx, r.clientHost = c.ctx, c.host
		r.sl = newSlot(r.corr)
		c.inFlight.Add(1)
		select {
		case c.slots <- r.sl:
		case <-c.killed:
			return
		}
		c.s.dispatch(r)
	}
}

// errLogged ends the reader after readFrame has logged why.
var errLogged = errors.New("kafka: connection closed")

// requestReadTimeout bounds the time from a request's first byte to its
// last (or the idle timeout, if shorter): a client that sends part of a
// request and stalls, or trickles it, holds a goroutine and the bytes it
// sent for no longer. Clients give up on a request after their own
// request timeout (30 s by default in Kafka's and franz-go's), so one that
// took longer to send is already abandoned.
const requestReadTimeout = 30 * time.Second

// readFrame reads one size-prefixed frame. The buffer grows as bytes
// arrive rather than being allocated at the announced size up front, so a
// client announcing a large frame and sending nothing holds no memory.
// Waiting for a request is bounded by the idle timeout, unless a request
// is being served; reading one, once begun, by requestReadTimeout.
func (c *conn) readFrame(rd *bufio.Reader) ([]byte, error) {
	if rd.Buffered() == 0 {
		if err := c.awaitRequest(rd); err != nil {
			return nil, err
		}
	}
	if !wholeFrameBuffered(rd) {
		if err := c.setReadDeadline(min(requestReadTimeout, c.s.cfg.IdleTimeout)); err != nil {
			return nil, err
		}
	}
	var sz [4]byte
	if n, err := io.ReadFull(rd, sz[:]); err != nil {
		return nil, c.cutShort(err, n, -1)
	}
	size := int32(binary.BigEndian.Uint32(sz[:]))
	if size < 0 || size > c.s.cfg.MaxRequestBytes {
		c.log.Warn("request size out of bounds, closing the connection",
			"size", size, "max", c.s.cfg.MaxRequestBytes)
		return nil, errLogged
	}
	n := int(size)
	frame := make([]byte, 0, min(n, 64<<10))
	for len(frame) < n {
		if len(frame) == cap(frame) {
			frame = slices.Grow(frame, min(n-len(frame), len(frame)))
		}
		got, err := rd.Read(frame[len(frame):min(n, cap(frame))])
		frame = frame[:len(frame)+got]
		if err != nil {
			return nil, c.cutShort(err, 4+len(frame), n)
		}
	}
	c.requests++
	return frame, nil
}

// wholeFrameBuffered reports whether rd holds the next frame entire, so
// that reading it needs no deadline.
func wholeFrameBuffered(rd *bufio.Reader) bool {
	if rd.Buffered() < 4 {
		return false // and Peek would wait for more
	}
	b, err := rd.Peek(4)
	if err != nil {
		return false
	}
	size := int32(binary.BigEndian.Uint32(b))
	return size >= 0 && rd.Buffered() >= 4+int(size)
}

// awaitRequest waits for the first byte of the next request, for at most
// the idle timeout while none of the connection's requests is being
// served.
func (c *conn) awaitRequest(rd *bufio.Reader) error {
	idle := c.s.cfg.IdleTimeout
	for {
		if err := c.setReadDeadline(idle); err != nil {
			return err
		}
		_, err := rd.Peek(1)
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) || c.stopping.Load() {
			return err
		}
		if c.inFlight.Load() > 0 {
			continue // a long poll or a join: the client is waiting, not idle
		}
		if c.requests == 0 {
			c.log.Info("no request received, closing the idle connection", "idle", idle)
		} else {
			c.log.Debug("closing the idle connection", "idle", idle, "requests", c.requests)
		}
		return errLogged
	}
}

// setReadDeadline sets the read deadline d from now, unless the reader is
// to stop: stopReading's deadline must not be pushed back.
func (c *conn) setReadDeadline(d time.Duration) error {
	c.nc.SetReadDeadline(time.Now().Add(d))
	if c.stopping.Load() {
		return net.ErrClosed
	}
	return nil
}

// cutShort logs a request that ended before its last byte, got bytes in
// (size prefix included) of size (-1: the size itself was cut), and
// returns the error that ends the reader.
func (c *conn) cutShort(err error, got, size int) error {
	if c.stopping.Load() || errors.Is(err, net.ErrClosed) {
		return err
	}
	if got == 0 && !errors.Is(err, os.ErrDeadlineExceeded) {
		return err // the connection ended between requests
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.log.Warn("request not received in time, closing the connection",
			"received", got, "size", size, "timeout", min(requestReadTimeout, c.s.cfg.IdleTimeout))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		c.log.Info("client closed the connection in the middle of a request", "received", got, "size", size)
	default:
		c.log.Info("connection failed in the middle of a request", "received", got, "size", size, "err", err)
	}
	return errLogged
}

// readFailed logs why reading stopped, unless it is the ordinary end of a
// connection, or readFrame has logged it.
func (c *conn) readFailed(err error) {
	switch {
	case errors.Is(err, errLogged):
	case c.stopping.Load(), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	default:
		c.log.Debug("read failed, closing the connection", "err", err)
	}
}

// writeLoop writes the responses in slot order, waiting for each to be
// ready. It flushes its buffer only when the next response is not ready
// yet, so responses completed together (a group commit) go out in one
// write. It returns when the reader has closed slots and every response is
// written, or when the connection is killed or a write fails.
func (c *conn) writeLoop() {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("panic writing a response, closing the connection",
				"panic", v, "stack", string(debug.Stack()))
			c.kill()
		}
	}()
	w := bufio.NewWriterSize(stallWriter{c.nc, c.s.cfg.WriteTimeout}, writeBufSize)
	var buf []byte
	fail := func(err error) {
		switch {
		case c.stopping.Load():
		case errors.Is(err, os.ErrDeadlineExceeded):
			c.log.Warn("client not reading its responses, closing the connection",
				"timeout", c.s.cfg.WriteTimeout, "in_flight", c.inFlight.Load())
		default:
			c.log.Debug("write failed, closing the connection", "err", err)
		}
		c.kill()
	}
	for {
		var sl *slot
		var ok bool
		select {
		case sl, ok = <-c.slots:
		default:
			if err := w.Flush(); err != nil {
				fail(err)
				return
			}
			select {
			case sl, ok = <-c.slots:
			case <-c.killed:
				return
			}
		}
		if !ok {
			if err := w.Flush(); err != nil {
				fail(err)
			}
			return
		}
		select {
		case <-sl.ready:
		default:
			if err := w.Flush(); err != nil {
				fail(err)
				return
			}
			select {
			case <-sl.ready:
			case <-c.killed:
				return
			}
		}
		if sl.resp != nil {
			if buf == nil {
				buf = getBuf()
			}
			c.s.stats.response(sl.resp)
			buf = appendResponse(buf[:0], sl.corr, sl.resp)
			if sl.release != nil {
				sl.release()
			}
			if _, err := w.Write(buf); err != nil {
				fail(err)
				return
			}
			if cap(buf) > keepBuf {
				putBuf(buf) // large: shared with other connections, not kept here
				buf = nil
			}
		}
		c.inFlight.Add(-1)
		if sl.closeConn {
			w.Flush()
			c.log.Info("acks=0 produce failed, closing the connection so the client refreshes its metadata")
			c.kill()
			return
		}
	}
}

// writeChunk is the most a stallWriter writes under one deadline.
const writeChunk = 256 << 10

// stallWriter writes to the socket in pieces of at most writeChunk bytes,
// each under a deadline of timeout: a client that reads nothing for that
// long while responses wait for it is closed, with the responses it
// holds, while a slow one that keeps reading is not.
type stallWriter struct {
	nc      net.Conn
	timeout time.Duration
}

func (w stallWriter) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
		m, err := w.nc.Write(b[n:min(len(b), n+writeChunk)])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// bufPool holds byte buffers shared by all connections: response encoding
// and Fetch arenas. A sync.Pool gives idle buffers back to the collector,
// so a burst of large fetches does not pin its memory.
var bufPool sync.Pool

// maxPooledBuf bounds what goes back to the pool (a Fetch answer is capped
// at 55 MiB; keep buffers up to 64 MiB).
const maxPooledBuf = 64 << 20

func getBuf() []byte {
	if b, ok := bufPool.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
}

func putBuf(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledBuf {
		return
	}
	bufPool.Put(&b)
}
