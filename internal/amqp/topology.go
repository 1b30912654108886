package amqp

// The exchange (40) and queue (50) classes: declaring, binding, purging
// and deleting, each checked against the user's permissions first.

import (
	"strings"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/auth"
	"github.com/loftmq/loft/internal/vhost"
)

// reply sends m unless the client asked for no-wait.
func (ch *channel) reply(noWait bool, m frame.Method) error {
	if noWait {
		return nil
	}
	return ch.c.sendOrStop(ch.id, m)
}

func (ch *channel) exchangeDeclare(m *frame.ExchangeDeclare) error {
	if !m.Passive {
		if err := ch.check(m, auth.Exchange(m.Exchange), auth.Configure); err != nil {
			return err
		}
	}
	if m.Exchange == "" && !m.Passive {
		return channelError(frame.AccessRefused, m, "operation not permitted on the default exchange")
	}
	err := ch.c.vh.DeclareExchange(vhost.ExchangeDecl{
		Name: m.Exchange, Type: m.Type, Passive: m.Passive, Durable: m.Durable,
		AutoDelete: m.AutoDelete, Internal: m.Internal, Args: m.Arguments,
	})
	if err != nil {
		return modelError(m, err)
	}
	return ch.reply(m.NoWait, &frame.ExchangeDeclareOK{})
}

func (ch *channel) exchangeDelete(m *frame.ExchangeDelete) error {
	if err := ch.check(m, auth.Exchange(m.Exchange), auth.Configure); err != nil {
		return err
	}
	if m.Exchange == "" {
		return channelError(frame.AccessRefused, m, "operation not permitted on the default exchange")
	}
	if err := ch.c.vh.DeleteExchange(m.Exchange, m.IfUnused); err != nil {
		return modelError(m, err)
	}
	return ch.reply(m.NoWait, &frame.ExchangeDeleteOK{})
}

func (ch *channel) exchangeBind(m *frame.ExchangeBind) error {
	if err := ch.checkBind(m, auth.Exchange(m.Destination), m.Source); err != nil {
		return err
	}
	if err := ch.c.vh.BindExchange(m.Destination, m.Source, m.RoutingKey, m.Arguments); err != nil {
		return modelError(m, err)
	}
	return ch.reply(m.NoWait, &frame.ExchangeBindOK{})
}

func (ch *channel) exchangeUnbind(m *frame.ExchangeUnbind) error {
	if err := ch.checkBind(m, auth.Exchange(m.Destination), m.Source); err != nil {
		return err
	}
	if err := ch.c.vh.UnbindExchange(m.Destination, m.Source, m.RoutingKey, m.Arguments); err != nil {
		return modelError(m, err)
	}
	return ch.reply(m.NoWait, &frame.ExchangeUnbindOK{})
}

// checkBind checks binding permissions as RabbitMQ does: write on the
// destination, read on the source exchange.
func (ch *channel) checkBind(m frame.Method, to auth.Resource, source string) error {
	if err := ch.check(m, to, auth.Write); err != nil {
		return err
	}
	return ch.check(m, auth.Exchange(source), auth.Read)
}

// queueName resolves an empty queue name to the channel's last declared
// queue, as the spec allows.
func (ch *channel) queueName(m frame.Method, name string) (string, error) {
	if name != "" {
		return name, nil
	}
	if ch.lastQueue == "" {
		return "", channelError(frame.NotFound, m, "no previously declared queue")
	}
	return ch.lastQueue, nil
}

func (ch *channel) queueDeclare(m *frame.QueueDeclare) error {
	name := m.Queue
	if name == replyQueue || (m.Passive && strings.HasPrefix(name, replyPrefix)) {
		// The direct reply-to pseudo-queue exists for every client, as
		// in RabbitMQ; a reply name exists while its consumer does.
		if name != replyQueue {
			if _, ok := ch.c.s.replies.get(name); !ok {
				return channelError(frame.NotFound, m, "no queue '%s' in vhost '%s'", name, ch.c.vhost)
			}
		}
		return ch.reply(m.NoWait, &frame.QueueDeclareOK{Queue: name})
	}
	if m.Passive {
		var err error
		if name, err = ch.queueName(m, name); err != nil {
			return err
		}
	} else if name != "" {
		if err := ch.check(m, auth.Queue(name), auth.Configure); err != nil {
			return err
		}
	}
	q, err := ch.c.vh.DeclareQueue(vhost.QueueDecl{
		Name: name, Passive: m.Passive, Durable: m.Durable, Exclusive: m.Exclusive,
		AutoDelete: m.AutoDelete, Args: m.Arguments, Owner: ch.c.id,
	})
	if err != nil {
		return modelError(m, err)
	}
	ch.lastQueue = q.Name
	ready, _, consumers := q.Sub().Counts()
	return ch.reply(m.NoWait, &frame.QueueDeclareOK{
		Queue: q.Name, MessageCount: uint32(ready), ConsumerCount: uint32(consumers),
	})
}

func (ch *channel) queueBind(m *frame.QueueBind) error {
	name, err := ch.queueName(m, m.Queue)
	if err != nil {
		return err
	}
	if err := ch.checkBind(m, auth.Queue(name), m.Exchange); err != nil {
		return err
	}
	if err := ch.c.vh.BindQueue(name, m.Exchange, m.RoutingKey, m.Arguments, ch.c.id); err != nil {
		return modelError(m, err)
	}
	return ch.reply(m.NoWait, &frame.QueueBindOK{})
}

func (ch *channel) queueUnbind(m *frame.QueueUnbind) error {
	name, err := ch.queueName(m, m.Queue)
	if err != nil {
		return err
	}
	if err := ch.checkBind(m, auth.Queue(name), m.Exchange); err != nil {
		return err
	}
	if err := ch.c.vh.UnbindQueue(name, m.Exchange, m.RoutingKey, m.Arguments, ch.c.id); err != nil {
		return modelError(m, err)
	}
	return ch.c.sendOrStop(ch.id, &frame.QueueUnbindOK{})
}

func (ch *channel) queuePurge(m *frame.QueuePurge) error {
	name, err := ch.queueName(m, m.Queue)
	if err != nil {
		return err
	}
	if err := ch.check(m, auth.Queue(name), auth.Read); err != nil {
		return err
	}
	n, err := ch.c.vh.PurgeQueue(name, ch.c.id)
	if err != nil {
		return modelError(m, err)
	}
	return ch.reply(m.NoWait, &frame.QueuePurgeOK{MessageCount: uint32(n)})
}

func (ch *channel) queueDelete(m *frame.QueueDelete) error {
	name, err := ch.queueName(m, m.Queue)
	if err != nil {
		return err
	}
	if err := ch.check(m, auth.Queue(name), auth.Configure); err != nil {
		return err
	}
	n, err := ch.c.vh.DeleteQueue(name, m.IfUnused, m.IfEmpty, ch.c.id)
	if err != nil {
		return modelError(m, err)
	}
	return ch.reply(m.NoWait, &frame.QueueDeleteOK{MessageCount: uint32(n)})
}
