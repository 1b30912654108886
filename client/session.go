package client

import (
	"context"
	"errors"
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// The exchanges every Client declares.
const (
	eventsExchange   = "loft.events"   // topic: events by topic
	commandsExchange = "loft.commands" // direct: commands and requests by service and type
	retryExchange    = "loft.retry"    // Loft: x-delayed-message, delayed redelivery to a queue by name
	deadExchange     = "loft.dead"     // direct: dead letters to <queue>.dead
	dedupSuffix      = ".dedup"        // Loft: the deduplicating exchange in front of events and commands
)

// Deduplication window of Loft's deduplicating exchanges: a message id is
// remembered for this long, or until this many newer ones were seen.
const (
	dedupCacheSize = 100_000
	dedupCacheTTL  = 15 * 60 * 1000 // ms
)

var errConnectionLost = errors.New("client: connection lost")

// session is one AMQP connection with the channels the Client keeps on
// it: one publisher in confirm mode, and one for direct reply-to.
type session struct {
	conn    *amqp.Connection
	loft    bool
	pub     *publisher
	replies *replies

	done chan struct{} // closed when the connection is closed
	err  *amqp.Error   // why, valid once done is closed
	once sync.Once
}

// connect dials url and opens the publisher.
func connect(ctx context.Context, url string, cfg settings) (*session, error) {
	conn, err := amqp.DialConfig(url, dialConfig(ctx, cfg))
	if err != nil {
		return nil, fmt.Errorf("client: dial: %w", err)
	}
	s := &session{conn: conn, done: make(chan struct{})}
	s.loft = conn.Properties["product"] == "Loft"
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		s.err = <-closed
		close(s.done)
	}()
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		s.close()
		return nil, fmt.Errorf("client: publisher channel: %w", err)
	}
	s.pub = newPublisher(ch, s.close)
	return s, nil
}

// close closes the connection; the channels go with it.
func (s *session) close() {
	s.once.Do(func() { _ = s.conn.Close() })
}

// in names the exchange publishers send to for exchange x: on Loft, its
// deduplicating front, which drops a re-published message id.
func (s *session) in(x string) string {
	if s.loft {
		return x + dedupSuffix
	}
	return x
}

// declare runs fn on a channel of its own, since a refused declaration
// closes the channel it was made on.
func (s *session) declare(fn func(ch *amqp.Channel, loft bool) error) error {
	ch, err := s.conn.Channel()
	if err != nil {
		return fmt.Errorf("client: declare: %w", err)
	}
	defer ch.Close()
	if err := fn(ch, s.loft); err != nil {
		return fmt.Errorf("client: declare: %w", err)
	}
	return nil
}

// declareBase declares the exchanges every service uses.
func (s *session) declareBase() error {
	return s.declare(func(ch *amqp.Channel, loft bool) error {
		for _, x := range []struct{ name, kind string }{
			{eventsExchange, amqp.ExchangeTopic},
			{commandsExchange, amqp.ExchangeDirect},
			{deadExchange, amqp.ExchangeDirect},
		} {
			if err := ch.ExchangeDeclare(x.name, x.kind, true, false, false, false, nil); err != nil {
				return err
			}
		}
		if !loft {
			return nil
		}
		if err := ch.ExchangeDeclare(retryExchange, "x-delayed-message", true, false, false, false,
			amqp.Table{"x-delayed-type": amqp.ExchangeDirect}); err != nil {
			return err
		}
		for _, x := range []string{eventsExchange, commandsExchange} {
			if err := ch.ExchangeDeclare(x+dedupSuffix, "x-message-deduplication", true, false, false, false, amqp.Table{
				"x-cache-size":               int64(dedupCacheSize),
				"x-cache-ttl":                int64(dedupCacheTTL),
				"x-deduplication-message-id": true,
			}); err != nil {
				return err
			}
			if err := ch.ExchangeBind(x, "", x+dedupSuffix, false, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// declareQueue declares a service's durable queue q and what its failures
// need: q.dead, bound to the dead-letter exchange, and the way back to q
// after a retry's wait (a binding to the delayed exchange on Loft, a
// q.wait queue whose expired messages dead-letter into q elsewhere).
func declareQueue(ch *amqp.Channel, loft bool, q string) error {
	if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
		return err
	}
	if _, err := ch.QueueDeclare(q+".dead", true, false, false, false, nil); err != nil {
		return err
	}
	if err := ch.QueueBind(q+".dead", q, deadExchange, false, nil); err != nil {
		return err
	}
	if loft {
		return ch.QueueBind(q, q, retryExchange, false, nil)
	}
	_, err := ch.QueueDeclare(q+".wait", true, false, false, false, amqp.Table{
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": q,
	})
	return err
}
