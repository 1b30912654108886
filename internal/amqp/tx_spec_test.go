package amqp_test

// Transactions as RabbitMQ has them: publishes and acks of a
// transactional channel take effect at tx.commit, and are discarded by
// tx.rollback; tx and confirm modes exclude each other.

import (
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

func TestSpecTxPublish(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	tx := openChan(t, conn)
	must(t, tx.Tx())
	wantReady := func(n int, when string) {
		t.Helper()
		if m, _ := counts(t, conn, "q"); m != n {
			t.Errorf("%s: %d messages ready, want %d", when, m, n)
		}
	}
	send(t, tx, "", "q", "m1")
	send(t, tx, "", "q", "m2")
	wantReady(0, "before commit")
	must(t, tx.TxCommit())
	wantReady(2, "after commit")

	send(t, tx, "", "q", "m3")
	wantReady(2, "before rollback")
	must(t, tx.TxRollback())
	wantReady(2, "after rollback")
	must(t, tx.TxCommit()) // nothing left to commit
	wantReady(2, "after an empty commit")

	// Still transactional after a commit.
	send(t, tx, "", "q", "m4")
	wantReady(2, "second transaction before commit")
	must(t, tx.TxCommit())
	wantBodies(t, ch, "q", "m1", "m2", "m4")

	// Closing the channel discards what was not committed.
	send(t, tx, "", "q", "m5")
	must(t, tx.Close())
	wantBodies(t, ch, "q")
}

func TestSpecTxAck(t *testing.T) {
	_, conn, ch := session(t)
	declare(t, ch, "q")
	send(t, ch, "", "q", "m1")

	// An ack not committed does not count: closing the channel requeues.
	tx := openChan(t, conn)
	must(t, tx.Tx())
	ds := consume(t, tx, "q", "c")
	d := next(t, ds)
	must(t, d.Ack(false))
	must(t, tx.Close())
	if m, _ := counts(t, conn, "q"); m != 1 {
		t.Fatalf("%d messages after closing with an uncommitted ack, want 1", m)
	}

	// A rolled back ack leaves the message unacked; a committed one
	// removes it.
	tx = openChan(t, conn)
	must(t, tx.Tx())
	g := getOne(t, tx, "q")
	wantDelivery(t, g, "m1", true)
	must(t, g.Ack(false))
	must(t, tx.TxRollback())
	must(t, g.Ack(false))
	must(t, tx.TxCommit())
	must(t, tx.Close())
	if m, _ := counts(t, conn, "q"); m != 0 {
		t.Errorf("%d messages after a committed ack, want 0", m)
	}

	// A reject with requeue waits for the commit too.
	send(t, ch, "", "q", "m2")
	tx = openChan(t, conn)
	must(t, tx.Tx())
	g = getOne(t, tx, "q")
	must(t, g.Reject(true))
	if m, _ := counts(t, conn, "q"); m != 0 {
		t.Errorf("%d messages ready after an uncommitted reject, want 0", m)
	}
	must(t, tx.TxCommit())
	if m, _ := counts(t, conn, "q"); m != 1 {
		t.Errorf("%d messages ready after a committed reject, want 1", m)
	}
}

// TestSpecTxUnknownDeliveryTag: RabbitMQ checks the tag when the ack
// arrives (rabbit_channel collect_acks), not at commit.
func TestSpecTxUnknownDeliveryTag(t *testing.T) {
	_, conn, _ := session(t)
	asyncChannelError(t, conn, amqp091.PreconditionFailed, "ack an unknown tag in a transaction", func(ch *amqp091.Channel) error {
		if err := ch.Tx(); err != nil {
			return err
		}
		return ch.Ack(7, false)
	})
}

func TestSpecTxModes(t *testing.T) {
	_, conn, _ := session(t)
	channelError(t, conn, amqp091.PreconditionFailed, "confirm.select after tx.select", func(ch *amqp091.Channel) error {
		if err := ch.Tx(); err != nil {
			return err
		}
		return ch.Confirm(false)
	})
	channelError(t, conn, amqp091.PreconditionFailed, "tx.select after confirm.select", func(ch *amqp091.Channel) error {
		if err := ch.Confirm(false); err != nil {
			return err
		}
		return ch.Tx()
	})
	channelError(t, conn, amqp091.PreconditionFailed, "tx.commit without tx.select", func(ch *amqp091.Channel) error {
		return ch.TxCommit()
	})
	channelError(t, conn, amqp091.PreconditionFailed, "tx.rollback without tx.select", func(ch *amqp091.Channel) error {
		return ch.TxRollback()
	})
	// tx.select twice is fine.
	ch := openChan(t, conn)
	must(t, ch.Tx())
	must(t, ch.Tx())
}
