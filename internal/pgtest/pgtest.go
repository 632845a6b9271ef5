// Package pgtest gives tests a PostgreSQL database of their own: each call
// of DB creates an empty database on the server named by the environment
// variable POUCH_TEST_POSTGRES and drops it when the test ends, so test
// packages run in parallel. Without the variable, DB skips the test,
// saying how to run it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env names the environment variable that holds the connection string of
// a PostgreSQL server for tests, such as
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. The role must
// be allowed to create databases.
const Env = "POUCH_TEST_POSTGRES"

// Enabled reports whether POUCH_TEST_POSTGRES is set.
func Enabled() bool { return os.Getenv(Env) != "" }

// Require skips t unless POUCH_TEST_POSTGRES is set, saying how to set
// it.
func Require(t testing.TB) {
	t.Helper()
	if !Enabled() {
		t.Skipf("no PostgreSQL server for this test: set %s to a connection string, such as %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable", Env, Env)
	}
}

// DB creates a fresh, empty database for t and returns its connection
// string; the database is dropped when t ends (after the cleanups
// registered later, such as closing a store). Without POUCH_TEST_POSTGRES,
// it skips t.
func DB(t testing.TB) string {
	t.Helper()
	Require(t)
	dsn := os.Getenv(Env)
	name, err := Create(dsn)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := Drop(dsn, name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	out, err := WithDatabase(dsn, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return out
}

// Create creates a database of a random name, pouch_t_<hex>, on the server
// of dsn and returns its name.
func Create(dsn string) (string, error) {
	var b [8]byte
	rand.Read(b[:])
	name := "pouch_t_" + hex.EncodeToString(b[:])
	err := admin(dsn, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `CREATE DATABASE `+name)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("creating a test database with %s=%s: %w", Env, dsn, err)
	}
	return name, nil
}

// Drop drops database name on the server of dsn, closing its connections.
func Drop(dsn, name string) error {
	err := admin(dsn, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("dropping test database %s: %w", name, err)
	}
	return nil
}

func admin(dsn string, f func(context.Context, *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return f(ctx, c)
}

// WithDatabase returns dsn naming database name instead of its own; dsn
// is a postgres:// URL or a key=value connection string.
func WithDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("%s: %w", Env, err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	return dsn + " dbname=" + name, nil
}
