// Package pgstore is a client.Store in PostgreSQL (through
// github.com/jackc/pgx/v5): the ids of processed messages, shared by every
// instance of a service, so an idempotent handler runs once per message
// id however many instances see it.
//
// Recording the id in the same transaction as the handler's own writes
// (MarkTx, with the consumer and id from client.DeliveryFrom) makes the
// effect and the record one: a crash between them cannot run the handler
// twice.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is what the store needs of PostgreSQL: a *pgxpool.Pool, a *pgx.Conn
// or a pgx.Tx.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DefaultTable is the table a Store uses unless told otherwise.
const DefaultTable = "loft_processed"

// Store is a client.Store in a PostgreSQL table of (consumer, id,
// processed_at).
type Store struct {
	db    DB
	table string
}

// An Option configures a Store.
type Option func(*Store)

// WithTable names the table (default DefaultTable), e.g. schema-qualified.
func WithTable(name string) Option { return func(s *Store) { s.table = name } }

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// New returns a Store on db; call Init once to create its table.
func New(db DB, opts ...Option) (*Store, error) {
	s := &Store{db: db, table: DefaultTable}
	for _, o := range opts {
		o(s)
	}
	if !tableName.MatchString(s.table) {
		return nil, fmt.Errorf("pgstore: table name %q is not a plain (schema.)identifier", s.table)
	}
	return s, nil
}

// Init creates the table if it does not exist.
func (s *Store) Init(ctx context.Context) error {
	_, err := s.db.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+s.table+` (
		consumer     text        NOT NULL,
		id           text        NOT NULL,
		processed_at timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (consumer, id))`)
	if err != nil {
		return fmt.Errorf("pgstore: create %s: %w", s.table, err)
	}
	_, err = s.db.Exec(ctx, `CREATE INDEX IF NOT EXISTS `+indexName(s.table)+` ON `+s.table+` (processed_at)`)
	if err != nil {
		return fmt.Errorf("pgstore: index %s: %w", s.table, err)
	}
	return nil
}

// indexName is the name of the table's index on processed_at: an index
// lives in its table's schema, so its name takes no schema.
func indexName(table string) string {
	return strings.ReplaceAll(table, ".", "_") + "_processed_at"
}

// Seen reports whether consumer has processed id.
func (s *Store) Seen(ctx context.Context, consumer, id string) (bool, error) {
	var seen bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+s.table+` WHERE consumer = $1 AND id = $2)`,
		consumer, id).Scan(&seen)
	if err != nil {
		return false, fmt.Errorf("pgstore: seen: %w", err)
	}
	return seen, nil
}

// Done records that consumer has processed id.
func (s *Store) Done(ctx context.Context, consumer, id string) error {
	_, err := MarkTx(ctx, s.db, consumer, id, WithTable(s.table))
	return err
}

// MarkTx records id as processed by consumer within tx, the handler's
// own transaction, and reports false if it was recorded already: then
// another delivery of the message got there first, and the handler
// should roll back and return nil (the message is acknowledged).
func MarkTx(ctx context.Context, tx DB, consumer, id string, opts ...Option) (bool, error) {
	s, err := New(tx, opts...)
	if err != nil {
		return false, err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO `+s.table+` (consumer, id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, consumer, id)
	if err != nil {
		return false, fmt.Errorf("pgstore: mark: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Prune forgets the ids processed longer ago than age, so the table
// stays bounded; run it now and then, with an age well beyond the longest
// time a message can be redelivered after.
func (s *Store) Prune(ctx context.Context, age time.Duration) (int64, error) {
	if age <= 0 {
		return 0, errors.New("pgstore: prune age must be positive")
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM `+s.table+` WHERE processed_at < now() - $1::interval`,
		fmt.Sprintf("%d milliseconds", age.Milliseconds()))
	if err != nil {
		return 0, fmt.Errorf("pgstore: prune: %w", err)
	}
	return tag.RowsAffected(), nil
}
