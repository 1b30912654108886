package amqp

// Direct reply-to, RabbitMQ's amq.rabbitmq.reply-to: a requester consumes
// from the pseudo-queue amq.rabbitmq.reply-to without acks and publishes
// requests with reply_to set to that name; the broker rewrites reply_to
// to a name unique to the requester's channel, and a reply published to
// the default exchange with that name as routing key goes straight to the
// requester, without any queue.

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"sync"

	"github.com/loftmq/loft/internal/amqp/frame"
)

const (
	replyQueue  = "amq.rabbitmq.reply-to"
	replyPrefix = replyQueue + "."
)

// replyRegistry maps the name behind each direct reply-to consumer to it.
type replyRegistry struct {
	mu        sync.Mutex
	consumers map[string]*consumer
}

func (r *replyRegistry) add(name string, cs *consumer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.consumers == nil {
		r.consumers = make(map[string]*consumer)
	}
	r.consumers[name] = cs
}

func (r *replyRegistry) remove(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.consumers, name)
}

func (r *replyRegistry) get(name string) (*consumer, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs, ok := r.consumers[name]
	return cs, ok
}

// consumeReplies starts the channel's direct reply-to consumer.
func (ch *channel) consumeReplies(m *frame.BasicConsume) error {
	if !m.NoAck {
		return channelError(frame.PreconditionFailed, m, "reply consumer cannot acknowledge")
	}
	c := ch.c
	c.omu.Lock()
	if ch.replyConsumer != nil {
		c.omu.Unlock()
		return channelError(frame.PreconditionFailed, m, "reply consumer already set")
	}
	tag := m.ConsumerTag
	if tag == "" {
		tag = consumerTag()
	}
	if _, dup := ch.consumers[tag]; dup {
		c.omu.Unlock()
		return connError(frame.NotAllowed, m, "attempt to reuse consumer tag '%s'", tag)
	}
	var b [18]byte
	rand.Read(b[:])
	cs := &consumer{ch: ch, tag: tag, noAck: true, replyName: replyPrefix + base64.RawURLEncoding.EncodeToString(b[:])}
	ch.consumers[tag] = cs
	ch.replyConsumer = cs
	c.omu.Unlock()
	c.s.replies.add(cs.replyName, cs)
	return ch.reply(m.NoWait, &frame.BasicConsumeOK{ConsumerTag: tag})
}

// rewriteReplyTo gives a request's reply_to the channel's reply name.
func (ch *channel) rewriteReplyTo(p *incoming) error {
	c := ch.c
	c.omu.Lock()
	cs := ch.replyConsumer
	c.omu.Unlock()
	if cs == nil {
		return channelError(frame.PreconditionFailed, p.m, "fast reply consumer does not exist")
	}
	p.header.ReplyTo = cs.replyName
	b, err := frame.AppendProperties(nil, &p.header)
	if err != nil {
		return connError(frame.InternalError, p.m, "re-encoding properties: %v", err)
	}
	p.props = b
	return nil
}

// replyDirect delivers a reply straight to the requester's channel and
// reports whether it had one to go to.
func (c *conn) replyDirect(p *incoming) bool {
	cs, ok := c.s.replies.get(p.m.RoutingKey)
	if !ok {
		return false
	}
	rc := cs.ch.c
	rc.omu.Lock()
	defer rc.omu.Unlock()
	if cs.cancelled || cs.ch.closed || rc.werr != nil {
		return false
	}
	cs.ch.nextTag++
	out, err := appendMethod(rc.out, cs.ch.id, &frame.BasicDeliver{
		ConsumerTag: cs.tag, DeliveryTag: cs.ch.nextTag,
		Exchange: p.m.Exchange, RoutingKey: p.m.RoutingKey,
	})
	if err != nil {
		return false
	}
	rc.out = appendContent(out, cs.ch.id, p.props, p.body, rc.frameMax)
	rc.wake()
	return true
}

func isReplyName(exchange, key string) bool {
	return exchange == "" && strings.HasPrefix(key, replyPrefix)
}
