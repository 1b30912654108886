package client

import (
	"context"
	"fmt"
)

// Replay moves up to limit messages (all if limit <= 0) that were
// dead-lettered from queue back into it, once the bug that failed them is
// fixed. Each starts again with a full set of attempts; each is removed
// from the dead letters only once queue has it on disk. It returns how
// many moved.
func (c *Client) Replay(ctx context.Context, queue string, limit int) (int, error) {
	s, err := c.session(ctx)
	if err != nil {
		return 0, err
	}
	ch, err := s.conn.Channel()
	if err != nil {
		return 0, fmt.Errorf("client: replay: %w", err)
	}
	defer ch.Close()
	moved := 0
	for limit <= 0 || moved < limit {
		if err := ctx.Err(); err != nil {
			return moved, err
		}
		d, ok, err := ch.Get(queue+".dead", false)
		if err != nil {
			return moved, fmt.Errorf("client: replay: %w", err)
		}
		if !ok {
			return moved, nil
		}
		p := copyDelivery(&d)
		for _, h := range []string{HeaderAttempt, HeaderService, HeaderQueue} {
			delete(p.Headers, h)
		}
		if e, ok := p.Headers[HeaderError]; ok {
			delete(p.Headers, HeaderError)
			p.Headers["loft-replayed-error"] = e
		}
		if err := c.publish(ctx, "", false, queue, true, p); err != nil {
			_ = d.Nack(false, true)
			return moved, fmt.Errorf("client: replay %s: %w", d.MessageId, err)
		}
		if err := d.Ack(false); err != nil {
			return moved, fmt.Errorf("client: replay: %w", err)
		}
		moved++
	}
	return moved, nil
}
