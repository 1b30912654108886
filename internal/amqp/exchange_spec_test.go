package amqp_test

// Exchanges as RabbitMQ has them: the four types, the default and amq.*
// exchanges, declare and delete rules, internal and auto-delete
// exchanges, exchange-to-exchange bindings and alternate exchanges.

import (
	"slices"
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

func TestSpecDirectExchange(t *testing.T) {
	_, _, ch := session(t)
	must(t, ch.ExchangeDeclare("d", "direct", false, false, false, false, nil))
	for _, q := range []string{"q1", "q2"} {
		declare(t, ch, q)
	}
	bind(t, ch, "q1", "d", "k1", nil)
	bind(t, ch, "q2", "d", "k2", nil)
	bind(t, ch, "q2", "d", "k1", nil)
	for _, k := range []string{"k1", "k2", "k3", "K1", ""} {
		send(t, ch, "d", k, k)
	}
	wantBodies(t, ch, "q1", "k1")
	wantBodies(t, ch, "q2", "k1", "k2")
}

func TestSpecFanoutExchange(t *testing.T) {
	_, _, ch := session(t)
	must(t, ch.ExchangeDeclare("f", "fanout", false, false, false, false, nil))
	for i, q := range []string{"q1", "q2", "q3"} {
		declare(t, ch, q)
		bind(t, ch, q, "f", []string{"", "x", "y.z"}[i], nil)
	}
	send(t, ch, "f", "any.key", "m1")
	send(t, ch, "f", "", "m2")
	for _, q := range []string{"q1", "q2", "q3"} {
		wantBodies(t, ch, q, "m1", "m2")
	}
}

func TestSpecTopicExchange(t *testing.T) {
	_, _, ch := session(t)
	must(t, ch.ExchangeDeclare("t", "topic", false, false, false, false, nil))
	// Each pattern gets a queue; want lists the keys it must match, in
	// the order they are published.
	keys := []string{"a.b.c", "a.x.c", "a.c", "a", "a.b", "x.b.y.z", "b", "a.b.c.d", "a.b.b.c", "x.y"}
	want := map[string][]string{
		"a.*.c": {"a.b.c", "a.x.c"},
		"a.#":   {"a.b.c", "a.x.c", "a.c", "a", "a.b", "a.b.c.d", "a.b.b.c"},
		"#":     keys,
		"*.b.#": {"a.b.c", "a.b", "x.b.y.z", "a.b.c.d", "a.b.b.c"},
		"a.#.c": {"a.b.c", "a.x.c", "a.c", "a.b.b.c"},
		"*":     {"a", "b"},
		"*.*":   {"a.c", "a.b", "x.y"},
		"a.b.c": {"a.b.c"},
	}
	for p := range want {
		declare(t, ch, "q:"+p)
		bind(t, ch, "q:"+p, "t", p, nil)
	}
	for _, k := range keys {
		send(t, ch, "t", k, k)
	}
	for p, w := range want {
		if got := drain(t, ch, "q:"+p); !slices.Equal(got, w) {
			t.Errorf("pattern %q matched %q, want %q", p, got, w)
		}
	}
}

func TestSpecHeadersExchange(t *testing.T) {
	_, _, ch := session(t)
	must(t, ch.ExchangeDeclare("h", "headers", false, false, false, false, nil))
	bindings := map[string]amqp091.Table{
		"all":       {"x-match": "all", "a": int32(1), "b": "x"},
		"default":   {"a": int32(1), "b": "x"}, // no x-match: all
		"any":       {"x-match": "any", "a": int32(1), "b": "x"},
		"all-x":     {"x-match": "all-with-x", "x-k": "v", "a": int32(1)},
		"any-x":     {"x-match": "any-with-x", "x-k": "v", "c": "z"},
		"all-ign-x": {"x-match": "all", "x-k": "v", "a": int32(1)}, // x-k ignored
		"any-ign-x": {"x-match": "any", "x-k": "v", "c": "z"},      // x-k ignored
	}
	for q, args := range bindings {
		declare(t, ch, q)
		bind(t, ch, q, "h", "ignored", args)
	}
	msgs := []struct {
		body    string
		headers amqp091.Table
	}{
		{"m1", amqp091.Table{"a": int32(1), "b": "x"}},
		{"m2", amqp091.Table{"a": int32(1)}},
		{"m3", amqp091.Table{"a": int32(1), "b": "x", "x-k": "v"}},
		{"m4", amqp091.Table{"x-k": "v"}},
		{"m5", amqp091.Table{"c": "z"}},
		{"m6", amqp091.Table{"a": int32(2), "b": "x"}},
		{"m7", nil},
		{"m8", amqp091.Table{"a": int32(1), "x-k": "w", "extra": "e"}},
	}
	want := map[string][]string{
		"all":       {"m1", "m3"},
		"default":   {"m1", "m3"},
		"any":       {"m1", "m2", "m3", "m6", "m8"},
		"all-x":     {"m3"},
		"any-x":     {"m3", "m4", "m5"},
		"all-ign-x": {"m1", "m2", "m3", "m8"},
		"any-ign-x": {"m5"},
	}
	for _, m := range msgs {
		publish(t, ch, "h", "rk", amqp091.Publishing{Headers: m.headers, Body: []byte(m.body)})
	}
	for q, w := range want {
		if got := drain(t, ch, q); !slices.Equal(got, w) {
			t.Errorf("binding %q (%v) matched %q, want %q", q, bindings[q], got, w)
		}
	}
}

func TestSpecDefaultExchange(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "dq")
	send(t, ch, "", "dq", "m1")
	send(t, ch, "", "no-such-queue", "lost")
	wantBodies(t, ch, "dq", "m1")

	channelError(t, conn, amqp091.AccessRefused, "bind to the default exchange", func(ch *amqp091.Channel) error {
		return ch.QueueBind("dq", "k", "", false, nil)
	})
	channelError(t, conn, amqp091.AccessRefused, "unbind from the default exchange", func(ch *amqp091.Channel) error {
		return ch.QueueUnbind("dq", "dq", "", nil)
	})
	channelError(t, conn, amqp091.AccessRefused, "delete the default exchange", func(ch *amqp091.Channel) error {
		return ch.ExchangeDelete("", false, false)
	})
	channelError(t, conn, amqp091.AccessRefused, "declare the default exchange", func(ch *amqp091.Channel) error {
		return ch.ExchangeDeclare("", "direct", true, false, false, false, nil)
	})
	// Still there, and still routing.
	ch2 := openChan(t, conn)
	send(t, ch2, "", "dq", "m2")
	wantBodies(t, ch2, "dq", "m2")
}

func TestSpecPredeclaredExchanges(t *testing.T) {
	_, conn, _ := session(t)
	for name, kind := range map[string]string{
		"amq.direct": "direct", "amq.fanout": "fanout", "amq.topic": "topic",
		"amq.headers": "headers", "amq.match": "headers",
	} {
		ch := openChan(t, conn)
		if err := ch.ExchangeDeclarePassive(name, kind, true, false, false, false, nil); err != nil {
			t.Errorf("passive declare %s: %v", name, err)
			continue
		}
		// An equivalent redeclaration is fine; RabbitMQ checks the
		// reserved prefix only when creating.
		if err := ch.ExchangeDeclare(name, kind, true, false, false, false, nil); err != nil {
			t.Errorf("equivalent declare %s: %v", name, err)
			continue
		}
		ch.Close()
		channelError(t, conn, amqp091.AccessRefused, "delete "+name, func(ch *amqp091.Channel) error {
			return ch.ExchangeDelete(name, false, false)
		})
	}
	// Each routes as its type does.
	ch := openChan(t, conn)
	declare(t, ch, "q")
	bind(t, ch, "q", "amq.direct", "k", nil)
	bind(t, ch, "q", "amq.fanout", "", nil)
	bind(t, ch, "q", "amq.topic", "t.*", nil)
	bind(t, ch, "q", "amq.headers", "", amqp091.Table{"h": "1"})
	bind(t, ch, "q", "amq.match", "", amqp091.Table{"x-match": "any", "m": "1"})
	send(t, ch, "amq.direct", "k", "direct")
	send(t, ch, "amq.fanout", "zz", "fanout")
	send(t, ch, "amq.topic", "t.x", "topic")
	publish(t, ch, "amq.headers", "", amqp091.Publishing{Headers: amqp091.Table{"h": "1"}, Body: []byte("headers")})
	publish(t, ch, "amq.match", "", amqp091.Publishing{Headers: amqp091.Table{"m": "1"}, Body: []byte("match")})
	wantBodies(t, ch, "q", "direct", "fanout", "topic", "headers", "match")
}

func TestSpecExchangeDeclarePassiveMissing(t *testing.T) {
	_, conn, _ := session(t)
	channelError(t, conn, amqp091.NotFound, "passive declare of a missing exchange", func(ch *amqp091.Channel) error {
		return ch.ExchangeDeclarePassive("nope", "direct", false, false, false, false, nil)
	})
}

func TestSpecExchangeEquivalence(t *testing.T) {
	_, conn, ch := session(t)
	must(t, ch.ExchangeDeclare("e", "direct", false, false, false, false, amqp091.Table{"alternate-exchange": "ae"}))
	// The same declaration again is fine.
	must(t, ch.ExchangeDeclare("e", "direct", false, false, false, false, amqp091.Table{"alternate-exchange": "ae"}))
	tests := []struct {
		name                          string
		kind                          string
		durable, autoDelete, internal bool
		args                          amqp091.Table
	}{
		{"type", "fanout", false, false, false, amqp091.Table{"alternate-exchange": "ae"}},
		{"durable", "direct", true, false, false, amqp091.Table{"alternate-exchange": "ae"}},
		{"auto-delete", "direct", false, true, false, amqp091.Table{"alternate-exchange": "ae"}},
		{"internal", "direct", false, false, true, amqp091.Table{"alternate-exchange": "ae"}},
		{"other alternate-exchange", "direct", false, false, false, amqp091.Table{"alternate-exchange": "other"}},
		{"no alternate-exchange", "direct", false, false, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			channelError(t, conn, amqp091.PreconditionFailed, "redeclare with another "+tt.name, func(ch *amqp091.Channel) error {
				return ch.ExchangeDeclare("e", tt.kind, tt.durable, tt.autoDelete, tt.internal, false, tt.args)
			})
		})
	}
	// RabbitMQ compares only the arguments it knows (alternate-exchange
	// for exchanges); others may differ.
	t.Run("unchecked argument", func(t *testing.T) {
		ch := openChan(t, conn)
		err := ch.ExchangeDeclare("e", "direct", false, false, false, false, amqp091.Table{"alternate-exchange": "ae", "x-custom": "v"})
		if err != nil {
			t.Errorf("redeclare with an extra unchecked argument: %v, want ok as in RabbitMQ", err)
		}
	})
}

func TestSpecExchangeReservedName(t *testing.T) {
	_, conn, _ := session(t)
	channelError(t, conn, amqp091.AccessRefused, "declare amq.foo", func(ch *amqp091.Channel) error {
		return ch.ExchangeDeclare("amq.foo", "direct", false, false, false, false, nil)
	})
}

func TestSpecExchangeUnknownType(t *testing.T) {
	_, conn, _ := session(t)
	connectionError(t, conn, amqp091.CommandInvalid, "declare an exchange of an unknown type", func(ch *amqp091.Channel) error {
		return ch.ExchangeDeclare("weird", "no-such-type", false, false, false, false, nil)
	})
}

func TestSpecExchangeDelete(t *testing.T) {
	_, conn, ch := session(t)
	must(t, ch.ExchangeDeclare("used", "direct", false, false, false, false, nil))
	declare(t, ch, "q")
	bind(t, ch, "q", "used", "k", nil)
	channelError(t, conn, amqp091.PreconditionFailed, "delete if-unused an exchange with a binding", func(ch *amqp091.Channel) error {
		return ch.ExchangeDelete("used", true, false)
	})
	if !exchangeExists(t, conn, "used") {
		t.Fatal("exchange deleted by a refused delete")
	}
	must(t, ch.QueueUnbind("q", "k", "used", nil))
	must(t, ch.ExchangeDelete("used", true, false))
	if exchangeExists(t, conn, "used") {
		t.Error("exchange still there after delete")
	}

	// if-unused looks at bindings from the exchange only: being the
	// destination of one does not make it used.
	must(t, ch.ExchangeDeclare("src", "fanout", false, false, false, false, nil))
	must(t, ch.ExchangeDeclare("dst", "fanout", false, false, false, false, nil))
	must(t, ch.ExchangeBind("dst", "", "src", false, nil))
	must(t, ch.ExchangeDelete("dst", true, false))
	if exchangeExists(t, conn, "dst") {
		t.Error("destination exchange still there after delete")
	}

	// Deleting an exchange removes its bindings; deleting a missing one
	// is no error.
	must(t, ch.ExchangeDeclare("gone", "fanout", false, false, false, false, nil))
	bind(t, ch, "q", "gone", "", nil)
	must(t, ch.ExchangeDelete("gone", false, false))
	must(t, ch.ExchangeDelete("gone", false, false))
	must(t, ch.ExchangeDelete("never-was", false, false))
	must(t, ch.ExchangeDeclare("gone", "fanout", false, false, false, false, nil))
	send(t, ch, "gone", "", "after")
	wantBodies(t, ch, "q")
}

func TestSpecInternalExchange(t *testing.T) {
	_, conn, ch := session(t)
	must(t, ch.ExchangeDeclare("internal", "fanout", false, false, true, false, nil))
	must(t, ch.ExchangeDeclare("front", "direct", false, false, false, false, nil))
	must(t, ch.ExchangeBind("internal", "k", "front", false, nil))
	declare(t, ch, "iq")
	bind(t, ch, "iq", "internal", "", nil)
	asyncChannelError(t, conn, amqp091.AccessRefused, "publish to an internal exchange", func(ch *amqp091.Channel) error {
		return ch.PublishWithContext(t.Context(), "internal", "", false, false, amqp091.Publishing{Body: []byte("direct")})
	})
	send(t, ch, "front", "k", "via front")
	send(t, ch, "front", "other", "not routed")
	wantBodies(t, ch, "iq", "via front")
}

func TestSpecExchangeToExchange(t *testing.T) {
	_, _, ch := session(t)
	must(t, ch.ExchangeDeclare("s", "direct", false, false, false, false, nil))
	must(t, ch.ExchangeDeclare("d", "topic", false, false, false, false, nil))
	declare(t, ch, "q")
	bind(t, ch, "q", "d", "k.#", nil)
	must(t, ch.ExchangeBind("d", "k.1", "s", false, nil))
	send(t, ch, "s", "k.1", "m1")
	send(t, ch, "s", "k.2", "m2") // s does not route k.2
	send(t, ch, "d", "k.2", "m3") // d does
	wantBodies(t, ch, "q", "m1", "m3")

	must(t, ch.ExchangeUnbind("d", "k.1", "s", false, nil))
	send(t, ch, "s", "k.1", "m4")
	wantBodies(t, ch, "q")
	// Unbinding what is not bound is no error.
	must(t, ch.ExchangeUnbind("d", "k.1", "s", false, nil))
}

func TestSpecExchangeCycle(t *testing.T) {
	_, _, ch := session(t)
	must(t, ch.ExchangeDeclare("a", "fanout", false, false, false, false, nil))
	must(t, ch.ExchangeDeclare("b", "fanout", false, false, false, false, nil))
	must(t, ch.ExchangeBind("b", "", "a", false, nil))
	must(t, ch.ExchangeBind("a", "", "b", false, nil))
	declare(t, ch, "qb")
	bind(t, ch, "qb", "b", "", nil)
	send(t, ch, "a", "", "from a")
	send(t, ch, "b", "", "from b")
	wantBodies(t, ch, "qb", "from a", "from b")

	// A queue reachable from both exchanges of the cycle still gets one
	// copy.
	declare(t, ch, "qab")
	bind(t, ch, "qab", "a", "", nil)
	bind(t, ch, "qab", "b", "", nil)
	send(t, ch, "a", "", "once")
	wantBodies(t, ch, "qab", "once")
}

func TestSpecAlternateExchange(t *testing.T) {
	_, _, ch := session(t)
	must(t, ch.ExchangeDeclare("ae", "fanout", false, false, false, false, nil))
	must(t, ch.ExchangeDeclare("main", "direct", false, false, false, false, amqp091.Table{"alternate-exchange": "ae"}))
	declare(t, ch, "routed")
	declare(t, ch, "unrouted")
	bind(t, ch, "routed", "main", "k", nil)
	bind(t, ch, "unrouted", "ae", "", nil)

	must(t, ch.Confirm(false))
	returns := ch.NotifyReturn(make(chan amqp091.Return, 4))
	sendConfirmed(t, ch, "main", "k", amqp091.Publishing{Body: []byte("m1")})
	ctx := t.Context()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "main", "zzz", true, false, amqp091.Publishing{Body: []byte("m2")})
	must(t, err)
	if ok, err := dc.WaitContext(ctx); !ok || err != nil {
		t.Fatalf("confirm: %v %v", ok, err)
	}
	// A return would have come before the ack.
	select {
	case r := <-returns:
		t.Errorf("mandatory message caught by the alternate exchange was returned: %d %s", r.ReplyCode, r.ReplyText)
	default:
	}
	wantBodies(t, ch, "routed", "m1")
	wantBodies(t, ch, "unrouted", "m2")
}

func TestSpecAutoDeleteExchange(t *testing.T) {
	_, conn, ch := session(t)
	must(t, ch.ExchangeDeclare("ad", "fanout", false, true, false, false, nil))
	// Not deleted for having had no binding yet.
	if !exchangeExists(t, conn, "ad") {
		t.Fatal("auto-delete exchange gone before it had a binding")
	}
	declare(t, ch, "q1")
	declare(t, ch, "q2")
	bind(t, ch, "q1", "ad", "", nil)
	bind(t, ch, "q2", "ad", "", nil)
	must(t, ch.QueueUnbind("q1", "", "ad", nil))
	if !exchangeExists(t, conn, "ad") {
		t.Fatal("auto-delete exchange gone with a binding left")
	}
	must(t, ch.QueueUnbind("q2", "", "ad", nil))
	if exchangeExists(t, conn, "ad") {
		t.Error("auto-delete exchange still there after its last binding was removed")
	}

	// Deleting the bound queue removes the last binding too.
	must(t, ch.ExchangeDeclare("ad2", "fanout", false, true, false, false, nil))
	bind(t, ch, "q1", "ad2", "", nil)
	_, err := ch.QueueDelete("q1", false, false, false)
	must(t, err)
	if exchangeExists(t, conn, "ad2") {
		t.Error("auto-delete exchange still there after its bound queue was deleted")
	}

	// So does removing an exchange-to-exchange binding from it.
	must(t, ch.ExchangeDeclare("ad3", "fanout", false, true, false, false, nil))
	must(t, ch.ExchangeDeclare("sink", "fanout", false, false, false, false, nil))
	must(t, ch.ExchangeBind("sink", "", "ad3", false, nil))
	must(t, ch.ExchangeUnbind("sink", "", "ad3", false, nil))
	if exchangeExists(t, conn, "ad3") {
		t.Error("auto-delete exchange still there after its exchange binding was removed")
	}
}

func TestSpecOneCopyPerQueue(t *testing.T) {
	_, _, ch := session(t)
	must(t, ch.ExchangeDeclare("t", "topic", false, false, false, false, nil))
	declare(t, ch, "q")
	bind(t, ch, "q", "t", "a.*", nil)
	bind(t, ch, "q", "t", "#", nil)
	bind(t, ch, "q", "t", "a.b", nil)
	send(t, ch, "t", "a.b", "m1")
	wantBodies(t, ch, "q", "m1")

	// Reached directly and through an exchange-to-exchange binding.
	must(t, ch.ExchangeDeclare("f1", "fanout", false, false, false, false, nil))
	must(t, ch.ExchangeDeclare("f2", "fanout", false, false, false, false, nil))
	must(t, ch.ExchangeBind("f2", "", "f1", false, nil))
	bind(t, ch, "q", "f1", "", nil)
	bind(t, ch, "q", "f2", "", nil)
	send(t, ch, "f1", "", "m2")
	wantBodies(t, ch, "q", "m2")
}
