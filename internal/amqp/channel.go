package amqp

// The channel class (20): open, close, close-ok and flow. Every other
// class's methods on an open channel close the channel with 540
// NOT_IMPLEMENTED until the broker serves them.

import (
	"github.com/loftmq/loft/internal/amqp/frame"
)

// channel is one open channel, owned by its connection's reader.
type channel struct {
	id uint16
	// closing means channel.close was sent: everything but close and
	// close-ok is discarded until the client answers.
	closing bool
}

// channelMethod handles a method frame on channel id > 0.
func (c *conn) channelMethod(id uint16, m frame.Method) error {
	if id > c.channelMax {
		return connError(frame.ChannelError, m, "channel %d above channel_max %d", id, c.channelMax)
	}
	ch, ok := c.channels[id]
	if !ok {
		if _, isOpen := m.(*frame.ChannelOpen); !isOpen {
			return connError(frame.ChannelError, m, "expected 'channel.open' on channel %d, got '%s'", id, m.Name())
		}
		c.channels[id] = &channel{id: id}
		c.log.Debug("channel opened", "channel", id)
		return c.sendOrStop(id, &frame.ChannelOpenOK{})
	}
	if ch.closing {
		switch m.(type) {
		case *frame.ChannelClose:
			// Both sides closed at once: answer, and the channel is gone.
			delete(c.channels, id)
			return c.sendOrStop(id, &frame.ChannelCloseOK{})
		case *frame.ChannelCloseOK:
			delete(c.channels, id)
			c.log.Debug("channel closed", "channel", id)
		}
		return nil
	}
	switch m := m.(type) {
	case *frame.ChannelOpen:
		return connError(frame.ChannelError, m, "second 'channel.open' seen on channel %d", id)
	case *frame.ChannelClose:
		delete(c.channels, id)
		c.log.Debug("channel closed by client", "channel", id, "code", m.ReplyCode, "text", m.ReplyText)
		return c.sendOrStop(id, &frame.ChannelCloseOK{})
	case *frame.ChannelCloseOK:
		return connError(frame.CommandInvalid, m, "'channel.close-ok' on channel %d, which is not closing", id)
	case *frame.ChannelFlow:
		return c.sendOrStop(id, &frame.ChannelFlowOK{Active: m.Active})
	}
	if m.ClassID() == frame.ClassConnection {
		return connError(frame.CommandInvalid, m, "'%s' on channel %d", m.Name(), id)
	}
	return c.closeChannel(ch, channelError(frame.NotImplemented, m, "%s not implemented yet", m.Name()))
}

// content handles a content header or body frame. No method served yet
// takes content, so on an open channel it can only follow a method that
// closed the channel, and is discarded.
func (c *conn) content(f frame.Frame) error {
	ch, ok := c.channels[f.Channel]
	if f.Channel == 0 || !ok {
		return connError(frame.ChannelError, nil, "content frame on channel %d, which is not open", f.Channel)
	}
	if ch.closing {
		return nil
	}
	return connError(frame.UnexpectedFrame, nil, "content frame on channel %d without a content method", f.Channel)
}

// closeChannel sends channel.close for e and waits for close-ok.
func (c *conn) closeChannel(ch *channel, e *Error) error {
	c.log.Info("closing channel on error", "channel", ch.id, "code", e.Code, "text", e.ReplyText())
	ch.closing = true
	return c.sendOrStop(ch.id, &frame.ChannelClose{
		ReplyCode: e.Code, ReplyText: e.ReplyText(),
		FailedClassID: e.ClassID, FailedMethodID: e.MethodID,
	})
}

// sendOrStop sends m and ends the connection if that fails: a socket
// that cannot be written to is finished.
func (c *conn) sendOrStop(ch uint16, m frame.Method) error {
	if err := c.send(ch, m); err != nil {
		c.log.Info("write failed, closing the connection", "err", err)
		return errStop
	}
	return nil
}
