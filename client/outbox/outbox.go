// Package outbox is the transactional outbox for the client library: a
// service writes the messages it means to publish into a PostgreSQL table
// in the same database transaction as its own data (through
// github.com/jackc/pgx/v5), and a Relay publishes them afterwards with
// publisher confirms and marks them sent. The data and its messages are
// then never out of step: a rolled back transaction publishes nothing, a
// committed one publishes everything, even if the service crashes right
// after the commit.
//
// Delivery is at least once: a relay that crashes between the broker's
// confirm and marking the row re-publishes the message with the same id,
// which Loft's deduplicating exchanges drop and an idempotent consumer
// (client.Idempotent) skips anyway.
//
// One Relay publishes in the order the rows were written; several relays
// on one table share the work (rows are claimed with FOR UPDATE SKIP
// LOCKED) but then order holds only within each batch.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/loftmq/loft/client"
)

// DB is what writing to the outbox needs: the service's pgx.Tx (or a
// *pgxpool.Pool or *pgx.Conn, outside a transaction).
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Pool is what a Relay needs: a *pgxpool.Pool or a *pgx.Conn.
type Pool interface {
	DB
	Begin(ctx context.Context) (pgx.Tx, error)
}

// DefaultTable is the outbox table unless told otherwise.
const DefaultTable = "loft_outbox"

// Kinds of outbox rows.
const (
	kindEvent   = "event"
	kindCommand = "command"
)

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// An Option configures the table functions and Relay.
type Option func(*options)

type options struct {
	table  string
	batch  int
	poll   time.Duration
	logger *slog.Logger
}

// WithTable names the outbox table (default DefaultTable).
func WithTable(name string) Option { return func(o *options) { o.table = name } }

// WithBatch sets how many rows a Relay claims at once (default 100).
func WithBatch(n int) Option { return func(o *options) { o.batch = max(n, 1) } }

// WithPoll sets how long a Relay waits before looking again when the
// outbox is empty (default 100ms).
func WithPoll(d time.Duration) Option { return func(o *options) { o.poll = d } }

// WithLogger sets where a Relay logs the failures it retries (by default
// nowhere).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

func apply(opts []Option) (options, error) {
	o := options{table: DefaultTable, batch: 100, poll: 100 * time.Millisecond, logger: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	if !tableName.MatchString(o.table) {
		return o, fmt.Errorf("outbox: table name %q is not a plain (schema.)identifier", o.table)
	}
	return o, nil
}

// Init creates the outbox table if it does not exist.
func Init(ctx context.Context, db DB, opts ...Option) error {
	o, err := apply(opts)
	if err != nil {
		return err
	}
	if _, err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+o.table+` (
		seq            bigserial   PRIMARY KEY,
		kind           text        NOT NULL,
		destination    text        NOT NULL,
		message_id     text        NOT NULL UNIQUE,
		type           text        NOT NULL DEFAULT '',
		correlation_id text        NOT NULL DEFAULT '',
		message_key    text        NOT NULL DEFAULT '',
		content_type   text        NOT NULL DEFAULT '',
		headers        jsonb,
		body           bytea,
		created_at     timestamptz NOT NULL,
		sent_at        timestamptz)`); err != nil {
		return fmt.Errorf("outbox: create %s: %w", o.table, err)
	}
	return nil
}

// Publish writes m, to be published as an event on topic, within tx.
// Make m with client.(*Client).NewMessage, so it has its id from now on.
func Publish(ctx context.Context, tx DB, topic string, m client.Message, opts ...Option) error {
	return write(ctx, tx, kindEvent, topic, m, opts)
}

// Send writes m, to be sent as a command to service, within tx.
func Send(ctx context.Context, tx DB, service string, m client.Message, opts ...Option) error {
	return write(ctx, tx, kindCommand, service, m, opts)
}

func write(ctx context.Context, tx DB, kind, dest string, m client.Message, opts []Option) error {
	o, err := apply(opts)
	if err != nil {
		return err
	}
	if m.ID == "" {
		return errors.New("outbox: message without an id: make it with Client.NewMessage")
	}
	headers, err := json.Marshal(m.Headers)
	if err != nil {
		return fmt.Errorf("outbox: headers of %s: %w", m.ID, err)
	}
	ts := m.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	_, err = tx.Exec(ctx, `INSERT INTO `+o.table+`
		(kind, destination, message_id, type, correlation_id, message_key, content_type, headers, body, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		kind, dest, m.ID, m.Type, m.CorrelationID, m.Key, m.ContentType, headers, m.Body, ts)
	if err != nil {
		return fmt.Errorf("outbox: write %s: %w", m.ID, err)
	}
	return nil
}
