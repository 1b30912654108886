package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/loftmq/loft/client"
)

// Relay publishes the outbox's unsent rows through a client.Client.
type Relay struct {
	db  Pool
	c   *client.Client
	opt options
}

// NewRelay returns a Relay publishing db's outbox through c.
func NewRelay(db Pool, c *client.Client, opts ...Option) (*Relay, error) {
	o, err := apply(opts)
	if err != nil {
		return nil, err
	}
	return &Relay{db: db, c: c, opt: o}, nil
}

// Run relays until ctx ends, and returns nil then. A failure to reach the
// database or the broker is retried after the poll interval; the rows wait.
func (r *Relay) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		n, err := r.Once(ctx)
		if err == nil && n == r.opt.batch {
			continue // more may be waiting
		}
		if err != nil && ctx.Err() == nil {
			r.opt.logger.Warn("outbox: relay failed; retrying", "published", n, "err", err)
		}
		// Empty, or the database or broker failed: the rows wait.
		select {
		case <-time.After(r.opt.poll):
		case <-ctx.Done():
		}
	}
	return nil
}

// Once relays one batch of unsent rows, oldest first, and returns how many
// it published and marked sent.
func (r *Relay) Once(ctx context.Context) (int, error) {
	tx, err := r.db.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("outbox: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, `SELECT seq, kind, destination, message_id, type, correlation_id,
			message_key, content_type, headers, body, created_at
		FROM `+r.opt.table+` WHERE sent_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`, r.opt.batch)
	if err != nil {
		return 0, fmt.Errorf("outbox: claim: %w", err)
	}
	type row struct {
		seq        int64
		kind, dest string
		m          client.Message
	}
	var batch []row
	for rows.Next() {
		var x row
		var headers []byte
		if err := rows.Scan(&x.seq, &x.kind, &x.dest, &x.m.ID, &x.m.Type, &x.m.CorrelationID,
			&x.m.Key, &x.m.ContentType, &headers, &x.m.Body, &x.m.Timestamp); err != nil {
			rows.Close()
			return 0, fmt.Errorf("outbox: read: %w", err)
		}
		if x.m.Headers, err = decodeHeaders(headers); err != nil {
			rows.Close()
			return 0, fmt.Errorf("outbox: headers of %s: %w", x.m.ID, err)
		}
		batch = append(batch, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("outbox: read: %w", err)
	}
	var sent []int64
	var failed error
	for _, x := range batch {
		var err error
		switch x.kind {
		case kindEvent:
			err = r.c.PublishMessage(ctx, x.dest, x.m)
		case kindCommand:
			err = r.c.SendMessage(ctx, x.dest, x.m)
		default:
			err = fmt.Errorf("unknown kind %q", x.kind)
		}
		if err != nil {
			failed = fmt.Errorf("outbox: publish %s: %w", x.m.ID, err)
			break
		}
		sent = append(sent, x.seq)
	}
	if len(sent) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE `+r.opt.table+` SET sent_at = now() WHERE seq = ANY($1)`, sent); err != nil {
			return 0, errors.Join(failed, fmt.Errorf("outbox: mark sent: %w", err))
		}
		if err := tx.Commit(ctx); err != nil {
			return 0, errors.Join(failed, fmt.Errorf("outbox: mark sent: %w", err))
		}
	}
	return len(sent), failed
}

// Prune deletes the rows sent longer ago than age.
func Prune(ctx context.Context, db DB, age time.Duration, opts ...Option) (int64, error) {
	o, err := apply(opts)
	if err != nil {
		return 0, err
	}
	tag, err := db.Exec(ctx, `DELETE FROM `+o.table+` WHERE sent_at < now() - $1::interval`,
		fmt.Sprintf("%d milliseconds", age.Milliseconds()))
	if err != nil {
		return 0, fmt.Errorf("outbox: prune: %w", err)
	}
	return tag.RowsAffected(), nil
}

// decodeHeaders reads headers back from JSON, integers as int64 (as the
// AMQP table had them) and other numbers as float64.
func decodeHeaders(b []byte) (map[string]any, error) {
	if len(b) == 0 || string(b) == "null" {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var h map[string]any
	if err := d.Decode(&h); err != nil {
		return nil, err
	}
	for k, v := range h {
		h[k] = numbers(v)
	}
	return h, nil
}

func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}
