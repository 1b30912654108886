package amqp

// connection.blocked and connection.unblocked: while a resource alarm is
// raised, a connection that publishes stops being read at its next
// publish, as RabbitMQ does, so TCP pushes back on the publisher; clients
// that announced the connection.blocked capability are told why.

import (
	"sync"

	"github.com/loftmq/loft/internal/amqp/frame"
)

// blockState is the server's alarm state, shared by its connections.
type blockState struct {
	mu        sync.Mutex
	reason    string        // empty when publishing is allowed
	unblocked chan struct{} // closed when the alarm clears
	conns     map[*conn]struct{}
}

// Block stops publishers until Unblock, telling the connections that have
// published (and take the notification) why.
func (s *Server) Block(reason string) {
	b := &s.block
	b.mu.Lock()
	defer b.mu.Unlock()
	if reason == "" {
		reason = "resource alarm"
	}
	if b.reason != "" {
		b.reason = reason
		return
	}
	b.reason = reason
	b.unblocked = make(chan struct{})
	s.logger.Warn("publishers blocked", "reason", reason)
	for c := range b.conns {
		if c.hasPublished.Load() {
			c.notifyBlocked(reason)
		}
	}
}

// Unblock lets publishers go on and tells the connections told of the
// block.
func (s *Server) Unblock() {
	b := &s.block
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reason == "" {
		return
	}
	b.reason = ""
	close(b.unblocked)
	s.logger.Info("publishers unblocked")
	for c := range b.conns {
		c.notifyUnblocked()
	}
}

func (s *Server) register(c *conn) {
	b := &s.block
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conns == nil {
		b.conns = make(map[*conn]struct{})
	}
	b.conns[c] = struct{}{}
}

func (s *Server) unregister(c *conn) {
	b := &s.block
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.conns, c)
}

// notifyBlocked sends connection.blocked once. b.mu is held.
func (c *conn) notifyBlocked(reason string) {
	if c.blockNote && !c.toldBlocked {
		c.toldBlocked = true
		c.send(0, &frame.ConnectionBlocked{Reason: reason})
	}
}

// notifyUnblocked sends connection.unblocked if blocked was sent. b.mu is
// held.
func (c *conn) notifyUnblocked() {
	if c.toldBlocked {
		c.toldBlocked = false
		c.send(0, &frame.ConnectionUnblocked{})
	}
}

// waitUnblocked returns at once unless publishers are blocked; then it
// waits, reading nothing more from the client, until they are not or the
// connection ends.
func (c *conn) waitUnblocked() error {
	c.hasPublished.Store(true)
	b := &c.s.block
	b.mu.Lock()
	if b.reason == "" {
		b.mu.Unlock()
		return nil
	}
	c.notifyBlocked(b.reason)
	wait := b.unblocked
	b.mu.Unlock()
	c.log.Info("connection blocked: not reading from it until the alarm clears")
	select {
	case <-wait:
		return nil
	case <-c.done:
		return errStop
	}
}
