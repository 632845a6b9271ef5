package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/store/storetest"
)

func version(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func count(t *testing.T, path, q string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func exec(t *testing.T, path, q string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

// TestSchemaVersion: a new database is at the current version; one
// written before versions were recorded is adopted as version 1, its
// records intact; a database of a newer version is refused, unchanged.
func TestSchemaVersion(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pouch.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	e := storetest.Entry(0, record.KindHouse)
	if _, err := s.Append(ctx, []*store.Entry{e}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if v := version(t, path); v != sqlite.SchemaVersion {
		t.Fatalf("a new database is at version %d, want %d", v, sqlite.SchemaVersion)
	}

	// As written before schema_version, and before version 1 had all its
	// indexes: adopted as version 1, and completed.
	exec(t, path, `DROP TABLE schema_version`)
	exec(t, path, `DROP INDEX record_payloads_payload`)
	exec(t, path, `ALTER TABLE tiles DROP COLUMN inner`) // version 2's
	s, err = sqlite.Open(path)
	if err != nil {
		t.Fatalf("opening a database without schema_version: %v", err)
	}
	if _, err := s.Get(ctx, e.ID); err != nil {
		t.Fatalf("the adopted database lost its record: %v", err)
	}
	s.Close()
	if v := version(t, path); v != sqlite.SchemaVersion {
		t.Fatalf("the adopted database is at version %d, want %d", v, sqlite.SchemaVersion)
	}
	if n := count(t, path, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'record_payloads_payload'`); n != 1 {
		t.Fatalf("the adopted database was not completed: %d record_payloads_payload indexes", n)
	}
	if n := count(t, path, `SELECT count(*) FROM pragma_table_info('tiles') WHERE name = 'inner'`); n != 1 {
		t.Fatalf("the adopted database was not migrated to version 2: %d inner columns in tiles", n)
	}

	exec(t, path, `UPDATE schema_version SET version = ?`, sqlite.SchemaVersion+1)
	if _, err := sqlite.Open(path); !errors.Is(err, store.ErrNewerSchema) {
		t.Fatalf("opening a database of a newer schema: %v, want ErrNewerSchema", err)
	}
	if v := version(t, path); v != sqlite.SchemaVersion+1 {
		t.Fatalf("the refused database changed to version %d", v)
	}
}
