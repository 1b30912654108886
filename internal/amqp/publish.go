package amqp

// basic.publish and its content, publisher confirms (confirm.select) and
// basic.return.

import (
	"strconv"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/auth"
	"github.com/loftmq/loft/internal/vhost"
)

// MaxMessageSize bounds a message body, as RabbitMQ's max_message_size
// (128 MiB by default).
const MaxMessageSize = 128 << 20

// maxUnstored bounds the bytes a connection may have published and not
// yet stored: past it, its reader waits, so a publisher faster than the
// disk is slowed by TCP instead of filling memory (RabbitMQ's credit flow
// does the same).
const maxUnstored = 16 << 20

// waitStored blocks the reader while the connection has too much
// published and not yet stored, or all connections together have and
// this one has some of it: a connection with nothing unstored may always
// go on, so none waits on the others for good, while a thousand
// publishing connections hold no more than the server's bound (plus a
// message each).
func (c *conn) waitStored() error {
	for c.unstored.Load() >= maxUnstored ||
		(c.unstored.Load() > 0 && c.s.unstored.Load() >= c.s.cfg.MaxUnstored) {
		select {
		case <-c.space:
		case <-c.done:
			return errStop
		case <-time.After(100 * time.Millisecond):
			// A wake-up lost to a race costs at most this.
		}
	}
	return nil
}

// incoming is a publish whose content is arriving.
type incoming struct {
	m         *frame.BasicPublish
	gotHeader bool
	size      uint64
	props     []byte // the encoded properties, as sent
	header    frame.Properties
	body      []byte

	expiration int64 // ms, from the expiration property; -1 for none
}

func (ch *channel) publish(m *frame.BasicPublish) error {
	if m.Immediate {
		return connError(frame.NotImplemented, m, "immediate=true")
	}
	if ch.tx != nil {
		ch.pub = &incoming{m: m} // kept until commit
	} else {
		ch.inbuf = incoming{m: m} // done with once routed: reused
		ch.pub = &ch.inbuf
	}
	return nil
}

// contentFrame takes the header or a body frame of the publish under way.
func (ch *channel) contentFrame(f frame.Frame) error {
	p := ch.pub
	if !p.gotHeader {
		if f.Type != frame.FrameHeader {
			return connError(frame.UnexpectedFrame, p.m, "expected a content header on channel %d, got frame type %d", ch.id, f.Type)
		}
		h, err := frame.DecodeHeader(f.Payload)
		if err != nil {
			return connError(frame.FrameError, p.m, "content header: %v", err)
		}
		if h.BodySize > MaxMessageSize {
			ch.pub = nil
			return ch.c.closeChannel(ch, channelError(frame.PreconditionFailed, p.m,
				"message size %d is larger than configured max size %d", h.BodySize, MaxMessageSize))
		}
		p.gotHeader, p.size, p.header = true, h.BodySize, h.Properties
		p.props = f.Payload[12:]
		if p.size == 0 {
			p.body = []byte{}
			return ch.published()
		}
		return nil
	}
	if f.Type != frame.FrameBody {
		return connError(frame.UnexpectedFrame, p.m, "expected a content body on channel %d, got frame type %d", ch.id, f.Type)
	}
	if uint64(len(p.body)+len(f.Payload)) > p.size {
		return connError(frame.FrameError, p.m, "content body longer than the %d bytes the header announced", p.size)
	}
	if p.body == nil && uint64(len(f.Payload)) == p.size {
		p.body = f.Payload // the frame's buffer is ours: no copy
	} else {
		if p.body == nil {
			p.body = make([]byte, 0, min(p.size, 1<<20))
		}
		p.body = append(p.body, f.Payload...)
	}
	if uint64(len(p.body)) < p.size {
		return nil
	}
	return ch.published()
}

// published handles a publish whose content is complete.
func (ch *channel) published() error {
	p := ch.pub
	ch.pub = nil
	if err := ch.check(p.m, auth.Exchange(p.m.Exchange), auth.Write); err != nil {
		return err
	}
	if p.header.ReplyTo == replyQueue {
		if err := ch.rewriteReplyTo(p); err != nil {
			return err
		}
	}
	p.expiration = -1
	if p.header.Flags&frame.FlagExpiration != 0 {
		ms, err := strconv.ParseInt(p.header.Expiration, 10, 64)
		if err != nil || ms < 0 {
			// RabbitMQ refuses an expiration that is not a non-negative
			// integer of milliseconds.
			return channelError(frame.PreconditionFailed, p.m, "invalid expiration '%s'", p.header.Expiration)
		}
		p.expiration = ms
	}
	if ch.tx != nil {
		if _, ok := ch.c.vh.Exchange(p.m.Exchange); !ok {
			return channelError(frame.NotFound, p.m, "no exchange '%s' in vhost '%s'", p.m.Exchange, ch.c.vhost)
		}
		ch.tx.publishes = append(ch.tx.publishes, p)
		return nil
	}
	if err := ch.c.waitUnblocked(); err != nil {
		return err
	}
	if err := ch.route(p, nil); err != nil {
		return err
	}
	return ch.c.waitStored()
}

// route publishes p; done, if not nil, is called when it is stored (or
// at once when it reaches no queue). In confirm mode the publish takes the
// next sequence number and is confirmed when stored.
func (ch *channel) route(p *incoming, done func(error)) error {
	c := ch.c
	var seq uint64
	c.omu.Lock()
	confirming := ch.confirms.on
	if confirming {
		seq = ch.confirms.next()
	}
	c.omu.Unlock()
	size := int64(len(p.body) + len(p.props))
	c.unstored.Add(size)
	c.s.unstored.Add(size)
	stored := func(err error) {
		c.s.unstored.Add(-size)
		if c.unstored.Add(-size) < maxUnstored {
			select {
			case c.space <- struct{}{}:
			default:
			}
		}
		if confirming {
			c.confirmed(ch, seq, err == nil)
		}
		if done != nil {
			done(err)
		}
	}
	pub := vhost.Publishing{
		Exchange: p.m.Exchange, RoutingKey: p.m.RoutingKey,
		Properties: p.props, Headers: p.header.Headers,
		Persistent: p.header.DeliveryMode == 2, Body: p.body,
		Expiration: p.expiration, MessageID: p.header.MessageID, Priority: p.header.Priority,
	}
	var n int
	var err error
	if isReplyName(p.m.Exchange, p.m.RoutingKey) {
		if c.replyDirect(p) {
			stored(nil)
			return nil
		}
	} else if n, err = c.vh.Publish(&pub, stored); err != nil {
		return modelError(p.m, err)
	}
	if n == 0 {
		if p.m.Mandatory {
			c.omu.Lock()
			out, err := appendMethod(c.out, ch.id, &frame.BasicReturn{
				ReplyCode: frame.NoRoute, ReplyText: "NO_ROUTE", Exchange: p.m.Exchange, RoutingKey: p.m.RoutingKey,
			})
			if err == nil {
				c.out = appendContent(out, ch.id, p.props, p.body, c.frameMax)
				c.wake()
			}
			c.omu.Unlock()
		}
		stored(nil)
	}
	return nil
}

func (ch *channel) confirmSelect(m *frame.ConfirmSelect) error {
	if ch.tx != nil {
		return channelError(frame.PreconditionFailed, m, "cannot switch from tx to confirm mode")
	}
	c := ch.c
	c.omu.Lock()
	ch.confirms.on = true
	c.omu.Unlock()
	return ch.reply(m.NoWait, &frame.ConfirmSelectOK{})
}

// confirmState is a channel's publisher confirms: the state of every
// publish not yet confirmed to the client, oldest first.
type confirmState struct {
	on     bool
	seq    uint64  // the last sequence number given
	base   uint64  // the sequence number of states[0]
	states []uint8 // 0 pending, 1 stored, 2 failed
	dirty  bool    // on the connection's confirmDirty list
}

const (
	confirmPending = iota
	confirmOK
	confirmFailed
)

func (s *confirmState) next() uint64 {
	s.seq++
	if len(s.states) == 0 {
		s.base = s.seq
	}
	s.states = append(s.states, confirmPending)
	return s.seq
}

// confirmed records the outcome of publish seq on ch; the writer sends
// the confirms.
func (c *conn) confirmed(ch *channel, seq uint64, ok bool) {
	c.omu.Lock()
	defer c.omu.Unlock()
	s := &ch.confirms
	if ch.closed || seq < s.base || seq >= s.base+uint64(len(s.states)) {
		return
	}
	st := uint8(confirmOK)
	if !ok {
		st = confirmFailed
	}
	s.states[seq-s.base] = st
	if !s.dirty {
		s.dirty = true
		c.confirmDirty = append(c.confirmDirty, ch)
		c.wake()
	}
}

// appendConfirms appends basic.ack and basic.nack frames for the settled
// publishes at the front of each dirty channel: a run of stored ones is
// one ack with multiple set. omu is held.
func (c *conn) appendConfirms() {
	for _, ch := range c.confirmDirty {
		s := &ch.confirms
		s.dirty = false
		if ch.closed {
			continue
		}
		i := 0
		for i < len(s.states) && s.states[i] != confirmPending {
			j := i
			for j < len(s.states) && s.states[j] == confirmOK {
				j++
			}
			var m frame.Method
			switch {
			case j-i > 1:
				m = &frame.BasicAck{DeliveryTag: s.base + uint64(j-1), Multiple: true}
			case j-i == 1:
				m = &frame.BasicAck{DeliveryTag: s.base + uint64(i)}
			default:
				m = &frame.BasicNack{DeliveryTag: s.base + uint64(i)}
				j = i + 1
			}
			c.out, _ = appendMethod(c.out, ch.id, m)
			i = j
		}
		s.base += uint64(i)
		s.states = append(s.states[:0], s.states[i:]...)
	}
	clear(c.confirmDirty)
	c.confirmDirty = c.confirmDirty[:0]
}
