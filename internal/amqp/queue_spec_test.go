package amqp_test

// Queues as RabbitMQ has them: naming, declare rules, exclusive and
// auto-delete queues, bindings, purge and delete.

import (
	"strings"
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

func TestSpecServerNamedQueue(t *testing.T) {
	_, conn, ch := session(t)
	q1, err := ch.QueueDeclare("", false, false, true, false, nil)
	must(t, err)
	q2, err := ch.QueueDeclare("", false, false, true, false, nil)
	must(t, err)
	for _, q := range []amqp091.Queue{q1, q2} {
		if !strings.HasPrefix(q.Name, "amq.gen-") || len(q.Name) <= len("amq.gen-") {
			t.Errorf("server-named queue %q, want amq.gen-…", q.Name)
		}
	}
	if q1.Name == q2.Name {
		t.Errorf("two server-named queues share the name %q", q1.Name)
	}
	if !exists(t, conn, q1.Name) {
		t.Fatalf("%s not found", q1.Name)
	}
	send(t, ch, "", q1.Name, "m1")
	wantBodies(t, ch, q1.Name, "m1")
}

func TestSpecQueueDeclarePassiveMissing(t *testing.T) {
	_, conn, _ := session(t)
	channelError(t, conn, amqp091.NotFound, "passive declare of a missing queue", func(ch *amqp091.Channel) error {
		_, err := ch.QueueDeclarePassive("nope", false, false, false, false, nil)
		return err
	})
}

func TestSpecQueueEquivalence(t *testing.T) {
	_, conn, ch := session(t)
	args := amqp091.Table{"x-message-ttl": int32(60000)}
	_, err := ch.QueueDeclare("q", false, false, false, false, args)
	must(t, err)
	_, err = ch.QueueDeclare("q", false, false, false, false, args)
	must(t, err)
	tests := []struct {
		name                           string
		durable, autoDelete, exclusive bool
		args                           amqp091.Table
		code                           int
	}{
		{"durable", true, false, false, args, amqp091.PreconditionFailed},
		{"auto-delete", false, true, false, args, amqp091.PreconditionFailed},
		{"other x-message-ttl", false, false, false, amqp091.Table{"x-message-ttl": int32(1000)}, amqp091.PreconditionFailed},
		{"no x-message-ttl", false, false, false, nil, amqp091.PreconditionFailed},
		{"extra x-max-length", false, false, false, amqp091.Table{"x-message-ttl": int32(60000), "x-max-length": int32(5)}, amqp091.PreconditionFailed},
		// RabbitMQ checks the exclusive flag as an ownership check:
		// rabbit_amqqueue:check_exclusive_access(Q, Owner, strict) fails
		// with RESOURCE_LOCKED, even on the declaring connection.
		{"exclusive", false, false, true, args, amqp091.ResourceLocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			channelError(t, conn, tt.code, "redeclare with another "+tt.name, func(ch *amqp091.Channel) error {
				_, err := ch.QueueDeclare("q", tt.durable, tt.autoDelete, tt.exclusive, false, tt.args)
				return err
			})
		})
	}
	t.Run("exclusive queue redeclared shared", func(t *testing.T) {
		ch := openChan(t, conn)
		_, err := ch.QueueDeclare("exq", false, false, true, false, nil)
		must(t, err)
		channelError(t, conn, amqp091.ResourceLocked, "redeclare an exclusive queue as not exclusive", func(ch *amqp091.Channel) error {
			_, err := ch.QueueDeclare("exq", false, false, false, false, nil)
			return err
		})
	})
	// RabbitMQ compares the arguments it knows only, and integers by
	// value whatever their width.
	t.Run("unchecked argument", func(t *testing.T) {
		ch := openChan(t, conn)
		_, err := ch.QueueDeclare("q", false, false, false, false, amqp091.Table{"x-message-ttl": int32(60000), "x-custom": "v"})
		if err != nil {
			t.Errorf("redeclare with an extra unchecked argument: %v, want ok as in RabbitMQ", err)
		}
	})
	t.Run("integer width", func(t *testing.T) {
		ch := openChan(t, conn)
		_, err := ch.QueueDeclare("q", false, false, false, false, amqp091.Table{"x-message-ttl": int64(60000)})
		if err != nil {
			t.Errorf("redeclare with x-message-ttl as a long long: %v, want ok as in RabbitMQ", err)
		}
	})
}

func TestSpecQueueReservedName(t *testing.T) {
	_, conn, _ := session(t)
	channelError(t, conn, amqp091.AccessRefused, "declare amq.q", func(ch *amqp091.Channel) error {
		_, err := ch.QueueDeclare("amq.q", false, false, false, false, nil)
		return err
	})
}

func TestSpecExclusiveQueueOtherConnection(t *testing.T) {
	l, _, owner := session(t)
	_, err := owner.QueueDeclare("ex", false, false, true, false, nil)
	must(t, err)
	must(t, owner.ExchangeDeclare("x", "fanout", false, false, false, false, nil))
	bind(t, owner, "ex", "x", "", nil)
	other := openConn(t, l)
	ops := map[string]func(ch *amqp091.Channel) error{
		"declare": func(ch *amqp091.Channel) error {
			_, err := ch.QueueDeclare("ex", false, false, true, false, nil)
			return err
		},
		"passive declare": func(ch *amqp091.Channel) error {
			_, err := ch.QueueDeclarePassive("ex", false, false, true, false, nil)
			return err
		},
		"consume": func(ch *amqp091.Channel) error {
			_, err := ch.Consume("ex", "", false, false, false, false, nil)
			return err
		},
		"bind": func(ch *amqp091.Channel) error {
			return ch.QueueBind("ex", "k", "amq.direct", false, nil)
		},
		"unbind": func(ch *amqp091.Channel) error {
			return ch.QueueUnbind("ex", "", "x", nil)
		},
		"purge": func(ch *amqp091.Channel) error {
			_, err := ch.QueuePurge("ex", false)
			return err
		},
		"delete": func(ch *amqp091.Channel) error {
			_, err := ch.QueueDelete("ex", false, false, false)
			return err
		},
		"get": func(ch *amqp091.Channel) error {
			_, _, err := ch.Get("ex", false)
			return err
		},
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			channelError(t, other, amqp091.ResourceLocked, name+" from another connection", op)
		})
	}
	// Publishing to it is anyone's right.
	pc := openChan(t, other)
	must(t, pc.Confirm(false))
	sendConfirmed(t, pc, "", "ex", amqp091.Publishing{Body: []byte("m1")})
	sendConfirmed(t, pc, "x", "", amqp091.Publishing{Body: []byte("m2")})
	wantBodies(t, owner, "ex", "m1", "m2")
}

func TestSpecExclusiveQueueGoesWithConnection(t *testing.T) {
	l, conn, ch := session(t)
	_, err := ch.QueueDeclare("ex", false, false, true, false, nil)
	must(t, err)
	_, err = ch.QueueDeclare("ex-durable", true, false, true, false, nil)
	must(t, err)
	other := openConn(t, l)
	// Another connection sees it, locked.
	channelError(t, other, amqp091.ResourceLocked, "passive declare", func(ch *amqp091.Channel) error {
		_, err := ch.QueueDeclarePassive("ex", false, false, true, false, nil)
		return err
	})
	must(t, conn.Close())
	// Until the broker has dropped the connection the queue is still
	// there, locked: 405, then 404.
	for _, q := range []string{"ex", "ex-durable"} {
		eventually(t, q+" deleted with its connection", func() bool {
			ch := openChan(t, other)
			defer ch.Close()
			_, err := ch.QueueDeclarePassive(q, false, false, true, false, nil)
			switch amqpCode(err) {
			case amqp091.NotFound:
				return true
			case amqp091.ResourceLocked:
				return false
			}
			t.Fatalf("passive declare of %s: %v, want 405 or 404", q, err)
			return false
		})
	}
	// The name is free again.
	ch2 := openChan(t, other)
	_, err = ch2.QueueDeclare("ex", false, false, false, false, nil)
	must(t, err)
}

func TestSpecAutoDeleteQueue(t *testing.T) {
	_, conn, ch := session(t)
	_, err := ch.QueueDeclare("ad", false, true, false, false, nil)
	must(t, err)
	// Never consumed: it stays, through publishes and gets.
	send(t, ch, "", "ad", "m1")
	wantBodies(t, ch, "ad", "m1")
	if !exists(t, conn, "ad") {
		t.Fatal("auto-delete queue gone before it had a consumer")
	}
	c1 := openChan(t, conn)
	c2 := openChan(t, conn)
	consume(t, c1, "ad", "c1")
	consume(t, c2, "ad", "c2")
	must(t, c1.Cancel("c1", false))
	if !exists(t, conn, "ad") {
		t.Fatal("auto-delete queue gone with a consumer left")
	}
	must(t, c2.Cancel("c2", false))
	if exists(t, conn, "ad") {
		t.Error("auto-delete queue still there after its last consumer was cancelled")
	}

	// Closing the consumer's channel counts as a cancel.
	_, err = ch.QueueDeclare("ad2", false, true, false, false, nil)
	must(t, err)
	c3 := openChan(t, conn)
	consume(t, c3, "ad2", "c3")
	must(t, c3.Close())
	if exists(t, conn, "ad2") {
		t.Error("auto-delete queue still there after its consumer's channel closed")
	}
}

func TestSpecQueueBindUnbind(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	bind(t, ch, "q", "amq.direct", "k", nil)
	bind(t, ch, "q", "amq.direct", "k", nil) // twice is one binding
	send(t, ch, "amq.direct", "k", "m1")
	wantBodies(t, ch, "q", "m1")
	must(t, ch.QueueUnbind("q", "k", "amq.direct", nil))
	send(t, ch, "amq.direct", "k", "m2")
	wantBodies(t, ch, "q")
	// Unbinding a binding that is not there is fine.
	must(t, ch.QueueUnbind("q", "k", "amq.direct", nil))

	channelError(t, conn, amqp091.NotFound, "bind a missing queue", func(ch *amqp091.Channel) error {
		return ch.QueueBind("nope", "k", "amq.direct", false, nil)
	})
	channelError(t, conn, amqp091.NotFound, "bind to a missing exchange", func(ch *amqp091.Channel) error {
		return ch.QueueBind("q", "k", "nope", false, nil)
	})
}

func TestSpecQueuePurge(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	for _, b := range []string{"m1", "m2", "m3", "m4", "m5"} {
		send(t, ch, "", "q", b)
	}
	getOne(t, ch, "q")
	getOne(t, ch, "q")
	n, err := ch.QueuePurge("q", false)
	must(t, err)
	if n != 3 {
		t.Errorf("purge-ok message count %d, want 3", n)
	}
	if m, _ := counts(t, conn, "q"); m != 0 {
		t.Errorf("%d messages after purge, want 0", m)
	}
	// The unacked two were not purged: closing the channel requeues them.
	must(t, ch.Close())
	ch2 := openChan(t, conn)
	wantBodies(t, ch2, "q", "m1", "m2")
	n, err = ch2.QueuePurge("q", false)
	must(t, err)
	if n != 0 {
		t.Errorf("purge of an empty queue: %d", n)
	}
}

func TestSpecQueueDelete(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "used")
	cc := openChan(t, conn)
	consume(t, cc, "used", "c")
	channelError(t, conn, amqp091.PreconditionFailed, "delete if-unused a queue with a consumer", func(ch *amqp091.Channel) error {
		_, err := ch.QueueDelete("used", true, false, false)
		return err
	})
	must(t, cc.Cancel("c", false))
	n, err := ch.QueueDelete("used", true, false, false)
	must(t, err)
	if n != 0 {
		t.Errorf("delete-ok count %d, want 0", n)
	}

	declare(t, ch, "full")
	for _, b := range []string{"m1", "m2", "m3"} {
		send(t, ch, "", "full", b)
	}
	channelError(t, conn, amqp091.PreconditionFailed, "delete if-empty a queue with messages", func(ch *amqp091.Channel) error {
		_, err := ch.QueueDelete("full", false, true, false)
		return err
	})
	n, err = ch.QueueDelete("full", false, false, false)
	must(t, err)
	if n != 3 {
		t.Errorf("delete-ok message count %d, want 3", n)
	}
	if exists(t, conn, "full") {
		t.Error("queue still there after delete")
	}
	// Deleting a missing queue is no error.
	n, err = ch.QueueDelete("full", false, false, false)
	if err != nil || n != 0 {
		t.Errorf("delete of a missing queue: %d, %v", n, err)
	}
	// Its bindings went with it.
	declare(t, ch, "b")
	bind(t, ch, "b", "amq.fanout", "", nil)
	_, err = ch.QueueDelete("b", false, false, false)
	must(t, err)
	declare(t, ch, "b")
	send(t, ch, "amq.fanout", "", "m")
	wantBodies(t, ch, "b")
}

func TestSpecQueueDeclareCounts(t *testing.T) {
	_, conn, ch := session(t)
	q, err := ch.QueueDeclare("q", false, false, false, false, nil)
	must(t, err)
	if q.Messages != 0 || q.Consumers != 0 {
		t.Errorf("new queue: %d messages %d consumers", q.Messages, q.Consumers)
	}
	for _, b := range []string{"m1", "m2", "m3"} {
		send(t, ch, "", "q", b)
	}
	q, err = ch.QueueDeclare("q", false, false, false, false, nil)
	must(t, err)
	if q.Messages != 3 || q.Consumers != 0 {
		t.Errorf("3 ready: declare-ok %d messages %d consumers", q.Messages, q.Consumers)
	}
	cc := openChan(t, conn)
	must(t, cc.Qos(1, 0, false))
	ds := consume(t, cc, "q", "c1")
	next(t, ds)
	// message_count is the ready messages: the unacked one is not counted.
	m, c := counts(t, conn, "q")
	if m != 2 || c != 1 {
		t.Errorf("1 consumer, 1 unacked: %d messages %d consumers, want 2 and 1", m, c)
	}
	cc2 := openChan(t, conn)
	consume(t, cc2, "q", "c2")
	eventually(t, "second consumer takes the rest", func() bool { m, _ := counts(t, conn, "q"); return m == 0 })
	if _, c := counts(t, conn, "q"); c != 2 {
		t.Errorf("%d consumers, want 2", c)
	}
}
