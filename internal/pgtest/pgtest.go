// Package pgtest gives tests a real PostgreSQL database: a schema of their
// own in the database named by $LOFT_TEST_POSTGRES (default: the one
// .ci/run creates), dropped when the test ends. A test is skipped when no
// database is reachable, except in CI ($CI set), where it fails: CI
// installs and starts PostgreSQL.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultDSN is the database .ci/run creates.
const DefaultDSN = "postgres://loft:loft@127.0.0.1:5432/loft_test?sslmode=disable"

// Pool returns a pool on a fresh schema (the pool's search_path), closed
// and dropped when tb ends.
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	dsn := os.Getenv("LOFT_TEST_POSTGRES")
	if dsn == "" {
		dsn = DefaultDSN
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgxpool.New(ctx, dsn)
	if err == nil {
		err = admin.Ping(ctx)
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		if os.Getenv("CI") != "" {
			tb.Fatalf("no PostgreSQL at %s: %v (.ci/run must install and start it)", dsn, err)
		}
		tb.Skipf("no PostgreSQL at %s: %v", dsn, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		tb.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	return pool
}
