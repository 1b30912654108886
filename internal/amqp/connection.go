package amqp

// The connection class (10): the handshake (start, tune, open) and close.
// secure, blocked, unblocked and update-secret are not served: Loft
// offers no challenge-response mechanism and blocks no publishers yet.

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/auth"
)

// version is what connection.start reports as the server's version.
const version = "0.1.0-dev"

// serverProperties is connection.start's table. The capabilities are what
// RabbitMQ announces; clients use them to decide which extensions to use,
// and the later increments serve them.
func serverProperties() frame.Table {
	caps := frame.Table{}
	for _, k := range []string{
		"publisher_confirms", "exchange_exchange_bindings", "basic.nack",
		"consumer_cancel_notify", "connection.blocked", "authentication_failure_close",
		"per_consumer_qos", "direct_reply_to",
	} {
		caps.Set(k, true)
	}
	return frame.Table{
		{Key: "product", Value: "Loft"},
		{Key: "version", Value: version},
		{Key: "platform", Value: "Go " + runtime.Version()},
		{Key: "copyright", Value: "Copyright (c) the Loft authors"},
		{Key: "information", Value: "Loft message broker, https://github.com/loftmq/loft"},
		{Key: "capabilities", Value: caps},
	}
}

// handshake runs the connection from the protocol header to open-ok. It
// reports whether the connection is open; when it is not, it has logged
// why and said so to the client where the protocol allows.
func (c *conn) handshake() bool {
	c.nc.SetDeadline(time.Now().Add(c.s.cfg.HandshakeTimeout))
	var hdr [8]byte
	if _, err := io.ReadFull(c.rd, hdr[:]); err != nil {
		c.log.Info("no protocol header received, closing", "err", err)
		return false
	}
	if reply, err := frame.CheckProtocolHeader(hdr[:]); err != nil {
		c.log.Info("unsupported protocol header, closing", "err", err)
		c.nc.Write(reply)
		return false
	}
	err := c.negotiate()
	if err == nil {
		c.mu.Lock()
		c.opened = true
		c.mu.Unlock()
		c.nc.SetDeadline(time.Time{})
		return true
	}
	var e *Error
	switch {
	case errors.Is(err, errStop):
	case errors.As(err, &e):
		c.log.Warn("handshake refused", "code", e.Code, "text", e.ReplyText())
		c.startClose(e)
		c.drainClose()
	default:
		c.log.Info("handshake failed", "err", err)
	}
	return false
}

// negotiate runs start, tune and open. A nil error means open-ok was sent.
func (c *conn) negotiate() error {
	if err := c.send(0, &frame.ConnectionStart{
		VersionMajor: 0, VersionMinor: 9,
		ServerProperties: serverProperties(),
		Mechanisms:       "PLAIN AMQPLAIN",
		Locales:          "en_US",
	}); err != nil {
		return err
	}
	startOK, err := expect[*frame.ConnectionStartOK](c)
	if err != nil {
		return err
	}
	if err := c.authenticate(startOK); err != nil {
		return err
	}

	cfg := c.s.cfg
	hb := uint16(max(cfg.Heartbeat, 0) / time.Second)
	if err := c.send(0, &frame.ConnectionTune{
		ChannelMax: cfg.ChannelMax, FrameMax: cfg.FrameMax, Heartbeat: hb,
	}); err != nil {
		return err
	}
	tuneOK, err := expect[*frame.ConnectionTuneOK](c)
	if err != nil {
		return err
	}
	if err := c.tune(tuneOK); err != nil {
		return err
	}

	open, err := expect[*frame.ConnectionOpen](c)
	if err != nil {
		return err
	}
	if err := c.openVhost(open); err != nil {
		return err
	}
	return c.send(0, &frame.ConnectionOpenOK{})
}

// authenticate checks start-ok's credentials. A refusal is a 403 close if
// the client announced authentication_failure_close, else errStop: older
// clients expect the socket to close.
func (c *conn) authenticate(m *frame.ConnectionStartOK) error {
	var user, pass string
	var err error
	switch m.Mechanism {
	case "PLAIN":
		user, pass, err = auth.ParsePlain([]byte(m.Response))
	case "AMQPLAIN":
		user, pass, err = auth.ParseAMQPLAIN([]byte(m.Response))
	default:
		return connError(frame.CommandInvalid, m, "unknown authentication mechanism '%s'", m.Mechanism)
	}
	if err != nil {
		return connError(frame.SyntaxError, m, "%v", err)
	}
	c.user = user
	c.log = c.log.With("user", user)
	c.client, _ = m.ClientProperties.Get("product")
	c.cancelNote = capability(m.ClientProperties, "consumer_cancel_notify")
	c.blockNote = capability(m.ClientProperties, "connection.blocked")
	_, err = c.s.users.Authenticate(user, pass, c.remote)
	if err == nil {
		return nil
	}
	text := fmt.Sprintf("Login was refused using authentication mechanism %s. For details see the broker logfile.", m.Mechanism)
	if errors.Is(err, auth.ErrLoopbackOnly) {
		text = fmt.Sprintf("user '%s' can only connect via localhost", user)
	}
	c.log.Warn("authentication failed", "mechanism", m.Mechanism, "err", err)
	if !capability(m.ClientProperties, "authentication_failure_close") {
		return errStop
	}
	return connError(frame.AccessRefused, m, "%s", text)
}

// capability reports whether a client's properties announce capability
// name as true.
func capability(props frame.Table, name string) bool {
	v, _ := props.Get("capabilities")
	caps, _ := v.(frame.Table)
	b, _ := caps.Get(name)
	on, _ := b.(bool)
	return on
}

// tune applies tune-ok. A client's 0 means "no limit", which is the
// server's offer; a client asking for more than offered gets the offer.
func (c *conn) tune(m *frame.ConnectionTuneOK) error {
	cfg := c.s.cfg
	c.channelMax = cfg.ChannelMax
	if m.ChannelMax != 0 {
		c.channelMax = min(m.ChannelMax, cfg.ChannelMax)
	}
	frameMax := cfg.FrameMax
	if m.FrameMax != 0 {
		if m.FrameMax < frame.FrameMinSize {
			return connError(frame.FrameError, m, "frame_max too small: %d, minimum %d", m.FrameMax, frame.FrameMinSize)
		}
		frameMax = min(m.FrameMax, cfg.FrameMax)
	}
	c.frameMax = frameMax
	c.heartbeat = time.Duration(m.Heartbeat) * time.Second
	return nil
}

// openVhost checks that the vhost exists and the user may use it.
func (c *conn) openVhost(m *frame.ConnectionOpen) error {
	c.log = c.log.With("vhost", m.VirtualHost)
	if _, ok := c.s.users.Vhost(m.VirtualHost); !ok {
		return connError(frame.NotAllowed, m, "vhost %s not found", m.VirtualHost)
	}
	if err := c.s.users.CheckVhost(c.user, m.VirtualHost); err != nil {
		return connError(frame.NotAllowed, m, "%v", err)
	}
	c.vhost = m.VirtualHost
	c.vh = c.s.hosts.Get(m.VirtualHost)
	return nil
}

// expect reads frames until a method on channel 0, skipping heartbeats,
// and returns it if it is an M. A connection.close from the client is
// answered and ends the connection.
func expect[M frame.Method](c *conn) (M, error) {
	var zero M
	for {
		f, err := frame.Read(c.rd, c.frameMax)
		if err != nil {
			if errors.Is(err, frame.ErrFrameTooLarge) || errors.Is(err, frame.ErrFrameEnd) {
				return zero, connError(frame.FrameError, nil, "%v", err)
			}
			return zero, err
		}
		if f.Type == frame.FrameHeartbeat {
			continue
		}
		if f.Type != frame.FrameMethod {
			return zero, connError(frame.UnexpectedFrame, nil, "expected a method frame, got type %d", f.Type)
		}
		if f.Channel != 0 {
			return zero, connError(frame.ChannelError, nil, "frame on channel %d during the handshake", f.Channel)
		}
		m, err := f.Method()
		if err != nil {
			return zero, decodeError(err)
		}
		if mm, ok := m.(M); ok {
			return mm, nil
		}
		if _, ok := m.(*frame.ConnectionClose); ok {
			c.send(0, &frame.ConnectionCloseOK{})
			return zero, errStop
		}
		return zero, connError(frame.CommandInvalid, m, "expected '%s', got '%s'", zero.Name(), m.Name())
	}
}

// connectionMethod handles a method on channel 0 of an open connection.
func (c *conn) connectionMethod(m frame.Method) error {
	switch m := m.(type) {
	case *frame.ConnectionClose:
		c.log.Info("client closed the connection", "code", m.ReplyCode, "text", m.ReplyText)
		c.mu.Lock()
		c.closing = true // Server.Close must not send a close of its own now
		c.mu.Unlock()
		for _, ch := range c.channels {
			ch.writeAcks()
		}
		c.send(0, &frame.ConnectionCloseOK{})
		return errStop
	case *frame.ConnectionCloseOK:
		return errStop
	}
	if m.ClassID() != frame.ClassConnection {
		return connError(frame.ChannelError, m, "'%s' on channel 0", m.Name())
	}
	return connError(frame.NotImplemented, m, "'%s' not implemented", m.Name())
}
