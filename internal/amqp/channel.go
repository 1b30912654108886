package amqp

// The channel class (20) and the per-channel dispatch of every other
// class's methods.

import (
	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/auth"
	"github.com/loftmq/loft/internal/queue"
)

// channel is one open channel. The fields above the line are owned by the
// connection's reader goroutine; those below by whoever holds c.omu.
type channel struct {
	id uint16
	c  *conn
	// closing means channel.close was sent: everything but close and
	// close-ok is discarded until the client answers.
	closing bool

	pub       *incoming // a publish waiting for its content
	inbuf     incoming  // what pub points to outside transactions
	lastQueue string    // the last queue declared, for empty queue names
	tx        *txState  // non-nil in transactional mode
	perms     map[permKey]error
	flowOff   bool
	// ackedIn holds the queues acked (or rejected) in since the last
	// synchronous method: their acks are written before it is answered.
	ackedIn []*queue.Queue

	// ---- guarded by c.omu ----
	closed         bool // no more deliveries
	nextTag        uint64
	unacked        map[uint64]delivery
	order          []uint64 // delivery tags, oldest first; may hold acked ones
	consumers      map[string]*consumer
	prefetch       uint16 // basic.qos global=false: for consumers made from now
	prefetchGlobal uint16 // basic.qos global=true: shared by the channel
	globalUnacked  int    // consumers' unacked deliveries, against prefetchGlobal
	confirms       confirmState
	replyConsumer  *consumer           // the direct reply-to consumer, if any
	timedOut       map[uint64]struct{} // tags requeued by a consumer timeout; acks of them are ignored
}

type permKey struct {
	res  auth.Resource
	perm auth.Perm
}

func newChannel(c *conn, id uint16) *channel {
	return &channel{
		id: id, c: c,
		unacked:   make(map[uint64]delivery),
		consumers: make(map[string]*consumer),
	}
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
		c.omu.Lock() // inspection reads the map under omu
		c.channels[id] = newChannel(c, id)
		c.omu.Unlock()
		c.s.stats.channels.Add(1)
		c.log.Debug("channel opened", "channel", id)
		return c.sendOrStop(id, &frame.ChannelOpenOK{})
	}
	if ch.closing {
		switch m.(type) {
		case *frame.ChannelClose:
			// Both sides closed at once: answer, and the channel is gone.
			c.dropChannel(ch)
			return c.sendOrStop(id, &frame.ChannelCloseOK{})
		case *frame.ChannelCloseOK:
			c.dropChannel(ch)
			c.log.Debug("channel closed", "channel", id)
		}
		return nil
	}
	if ch.pub != nil {
		return connError(frame.UnexpectedFrame, m, "expected content for 'basic.publish' on channel %d, got '%s'", id, m.Name())
	}
	err := ch.method(m)
	if err == nil {
		return nil
	}
	e, ok := err.(*Error)
	if !ok || e.Conn {
		return err
	}
	return c.closeChannel(ch, e)
}

// method handles one method on an open channel. A returned *Error that is
// not a connection error closes the channel.
func (ch *channel) method(m frame.Method) error {
	c := ch.c
	if len(ch.ackedIn) > 0 && m.Synchronous() {
		ch.writeAcks()
	}
	switch m := m.(type) {
	case *frame.ChannelOpen:
		return connError(frame.ChannelError, m, "second 'channel.open' seen on channel %d", ch.id)
	case *frame.ChannelClose:
		c.dropChannel(ch)
		c.log.Debug("channel closed by client", "channel", ch.id, "code", m.ReplyCode, "text", m.ReplyText)
		return c.sendOrStop(ch.id, &frame.ChannelCloseOK{})
	case *frame.ChannelCloseOK:
		return connError(frame.CommandInvalid, m, "'channel.close-ok' on channel %d, which is not closing", ch.id)
	case *frame.ChannelFlow:
		return ch.flow(m)
	case *frame.ChannelFlowOK:
		return nil

	case *frame.ExchangeDeclare:
		return ch.exchangeDeclare(m)
	case *frame.ExchangeDelete:
		return ch.exchangeDelete(m)
	case *frame.ExchangeBind:
		return ch.exchangeBind(m)
	case *frame.ExchangeUnbind:
		return ch.exchangeUnbind(m)

	case *frame.QueueDeclare:
		return ch.queueDeclare(m)
	case *frame.QueueBind:
		return ch.queueBind(m)
	case *frame.QueueUnbind:
		return ch.queueUnbind(m)
	case *frame.QueuePurge:
		return ch.queuePurge(m)
	case *frame.QueueDelete:
		return ch.queueDelete(m)

	case *frame.BasicQos:
		return ch.qos(m)
	case *frame.BasicConsume:
		return ch.consume(m)
	case *frame.BasicCancel:
		return ch.cancel(m)
	case *frame.BasicPublish:
		return ch.publish(m)
	case *frame.BasicGet:
		return ch.get(m)
	case *frame.BasicAck:
		return ch.ack(m, m.DeliveryTag, m.Multiple)
	case *frame.BasicReject:
		return ch.reject(m, m.DeliveryTag, false, m.Requeue)
	case *frame.BasicNack:
		return ch.reject(m, m.DeliveryTag, m.Multiple, m.Requeue)
	case *frame.BasicRecover:
		return ch.recover(m, m.Requeue, true)
	case *frame.BasicRecoverAsync:
		return ch.recover(m, m.Requeue, false)

	case *frame.ConfirmSelect:
		return ch.confirmSelect(m)

	case *frame.TxSelect:
		return ch.txSelect(m)
	case *frame.TxCommit:
		return ch.txCommit(m)
	case *frame.TxRollback:
		return ch.txRollback(m)
	}
	if m.ClassID() == frame.ClassConnection {
		return connError(frame.CommandInvalid, m, "'%s' on channel %d", m.Name(), ch.id)
	}
	return connError(frame.CommandInvalid, m, "'%s' is not a method a client sends", m.Name())
}

// flow answers channel.flow. Loft does not pause deliveries for it
// (RabbitMQ no longer does either); active=false is acknowledged and
// remembered for channel state only.
func (ch *channel) flow(m *frame.ChannelFlow) error {
	ch.flowOff = !m.Active
	return ch.c.sendOrStop(ch.id, &frame.ChannelFlowOK{Active: m.Active})
}

// content handles a content header or body frame.
func (c *conn) content(f frame.Frame) error {
	ch, ok := c.channels[f.Channel]
	if f.Channel == 0 || !ok {
		return connError(frame.ChannelError, nil, "content frame on channel %d, which is not open", f.Channel)
	}
	if ch.closing {
		return nil
	}
	if ch.pub == nil {
		return connError(frame.UnexpectedFrame, nil, "content frame on channel %d without a content method", f.Channel)
	}
	err := ch.contentFrame(f)
	if e, ok := err.(*Error); ok && !e.Conn {
		return c.closeChannel(ch, e)
	}
	return err
}

// closeChannel sends channel.close for e and waits for close-ok. The
// channel's consumers and unacked messages are let go at once.
func (c *conn) closeChannel(ch *channel, e *Error) error {
	c.log.Info("closing channel on error", "channel", ch.id, "code", e.Code, "text", e.ReplyText())
	c.s.stats.reject(e.Code)
	ch.closing = true
	ch.pub = nil
	ch.release()
	return c.sendOrStop(ch.id, &frame.ChannelClose{
		ReplyCode: e.Code, ReplyText: e.ReplyText(),
		FailedClassID: e.ClassID, FailedMethodID: e.MethodID,
	})
}

// dropChannel forgets a closed channel.
func (c *conn) dropChannel(ch *channel) {
	ch.release()
	c.omu.Lock()
	delete(c.channels, ch.id)
	c.omu.Unlock()
	c.s.stats.channels.Add(-1)
}

// closeChannels releases every channel when the connection ends, then
// the connection's exclusive queues.
func (c *conn) closeChannels() {
	for _, ch := range c.channels {
		ch.release()
	}
	c.omu.Lock()
	c.s.stats.channels.Add(-int64(len(c.channels)))
	clear(c.channels)
	c.omu.Unlock()
	if c.vh != nil {
		c.vh.DropOwner(c.id)
	}
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

// check returns nil if the connection's user may access res as perm on
// its vhost, and the 403 channel error otherwise. Answers are cached per
// channel, as RabbitMQ caches them.
func (ch *channel) check(m frame.Method, res auth.Resource, perm auth.Perm) error {
	k := permKey{res, perm}
	err, ok := ch.perms[k]
	if !ok {
		err = ch.c.s.users.Check(ch.c.user, ch.c.vhost, res, perm)
		if ch.perms == nil {
			ch.perms = make(map[permKey]error)
		}
		if len(ch.perms) > 1024 {
			clear(ch.perms)
		}
		ch.perms[k] = err
	}
	if err != nil {
		return channelError(frame.AccessRefused, m, "%v", err)
	}
	return nil
}
