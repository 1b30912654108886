package amqp

// The tx class (90): publishes and acks of a transactional channel are
// held until tx.commit, which applies them all and answers once every
// published message is stored; tx.rollback discards them.

import (
	"github.com/loftmq/loft/internal/amqp/frame"
)

type txState struct {
	publishes []*incoming
	acks      []txAck
}

type txAck struct {
	tag             uint64
	multiple        bool
	reject, requeue bool
}

func (ch *channel) txSelect(m *frame.TxSelect) error {
	c := ch.c
	c.omu.Lock()
	confirming := ch.confirms.on
	c.omu.Unlock()
	if confirming {
		return channelError(frame.PreconditionFailed, m, "cannot switch from confirm to tx mode")
	}
	if ch.tx == nil {
		ch.tx = &txState{}
	}
	return c.sendOrStop(ch.id, &frame.TxSelectOK{})
}

func (ch *channel) txCommit(m *frame.TxCommit) error {
	if ch.tx == nil {
		return channelError(frame.PreconditionFailed, m, "channel is not transactional")
	}
	tx := *ch.tx
	ch.tx.publishes, ch.tx.acks = nil, nil
	// Acks first: they were made before the commit, and a failing one
	// fails the commit before anything is published.
	c := ch.c
	for _, a := range tx.acks {
		c.omu.Lock()
		ds, ok := ch.take(a.tag, a.multiple, nil)
		c.omu.Unlock()
		if !ok {
			return channelError(frame.PreconditionFailed, m, "unknown delivery tag %d", a.tag)
		}
		how := outcomeOf(a.reject, a.requeue)
		apply(ds, how)
		ch.noteAcked(ds, how)
	}
	if len(tx.acks) > 0 {
		ch.redispatch()
		ch.writeAcks()
	}
	if err := c.waitUnblocked(); err != nil {
		return err
	}
	results := make(chan error, len(tx.publishes))
	for _, p := range tx.publishes {
		if err := ch.route(p, func(err error) { results <- err }); err != nil {
			return err
		}
	}
	for range tx.publishes {
		if err := <-results; err != nil {
			return connError(frame.InternalError, m, "commit failed: %v", err)
		}
	}
	return c.sendOrStop(ch.id, &frame.TxCommitOK{})
}

func (ch *channel) txRollback(m *frame.TxRollback) error {
	if ch.tx == nil {
		return channelError(frame.PreconditionFailed, m, "channel is not transactional")
	}
	ch.tx.publishes, ch.tx.acks = nil, nil
	return ch.c.sendOrStop(ch.id, &frame.TxRollbackOK{})
}
