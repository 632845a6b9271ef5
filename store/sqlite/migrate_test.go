package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
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
	exec(t, path, `DROP TABLE inline_payloads`)          // version 3's
	exec(t, path, `DROP TABLE parties_indexed`)          // version 4's
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
	if n := count(t, path, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'inline_payloads'`); n != 1 {
		t.Fatalf("the adopted database was not migrated to version 3: %d inline_payloads tables", n)
	}
	if n := count(t, path, `SELECT upto FROM parties_indexed`); n != 1 {
		t.Fatalf("the adopted database was migrated to version 4 with parties indexed up to %d, want 1 (its one record)", n)
	}

	exec(t, path, `UPDATE schema_version SET version = ?`, sqlite.SchemaVersion+1)
	if _, err := sqlite.Open(path); !errors.Is(err, store.ErrNewerSchema) {
		t.Fatalf("opening a database of a newer schema: %v, want ErrNewerSchema", err)
	}
	if v := version(t, path); v != sqlite.SchemaVersion+1 {
		t.Fatalf("the refused database changed to version %d", v)
	}
}

// TestSchemaV3Payloads: the payloads of a version 2 database, each small
// one in chunks under a payload key (an empty one with a key and no
// chunk), read back the same once it is migrated; a small payload
// appended after goes to inline_payloads, and a staged one gets a key
// above every key in use, after a reopen too.
func TestSchemaV3Payloads(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pouch.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	old := storetest.Entry(0, record.KindTag, "ir/president")
	old.Payload = []byte("a pouch stored by version 2")
	empty := storetest.Entry(1, record.KindTag, "ir/president")
	empty.Payload = []byte{}
	if _, err := s.Append(ctx, []*store.Entry{old, empty}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// As version 2 stored them: keys 5 and 9, the empty one without chunks.
	exec(t, path, `INSERT INTO payload_chunks (payload, seq, data) SELECT 5, 0, data FROM inline_payloads WHERE idx = 0`)
	exec(t, path, `INSERT INTO record_payloads (idx, payload, size) VALUES (0, 5, ?), (1, 9, 0)`, len(old.Payload))
	exec(t, path, `DROP TABLE inline_payloads`)
	exec(t, path, `DROP TABLE parties_indexed`)
	exec(t, path, `UPDATE schema_version SET version = 2`)

	for reopen := range 2 {
		s, err = sqlite.Open(path)
		if err != nil {
			t.Fatalf("opening a version 2 database: %v", err)
		}
		if v := version(t, path); v != sqlite.SchemaVersion {
			t.Fatalf("the database is at version %d, want %d", v, sqlite.SchemaVersion)
		}
		for _, e := range []*store.Entry{old, empty} {
			if p, err := s.Payload(ctx, e.ID); err != nil || !bytes.Equal(p, e.Payload) {
				t.Fatalf("a payload stored by version 2 reads back as %q, %v; want %q", p, err, e.Payload)
			}
		}
		fresh := storetest.Entry(2+2*reopen, record.KindTag, "ir/president")
		fresh.Payload = []byte("a pouch stored by version 3")
		w, err := s.StagePayload(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("staged"))
		sp, err := w.Commit()
		if err != nil {
			t.Fatal(err)
		}
		staged := storetest.Entry(3+2*reopen, record.KindTag, "ir/president")
		staged.Staged = sp
		if _, err := s.Append(ctx, []*store.Entry{fresh, staged}); err != nil {
			t.Fatal(err)
		}
		for _, e := range []*store.Entry{fresh, staged} {
			want := e.Payload
			if e == staged {
				want = []byte("staged")
			}
			if p, err := s.Payload(ctx, e.ID); err != nil || !bytes.Equal(p, want) {
				t.Fatalf("a payload stored after the migration reads back as %q, %v", p, err)
			}
		}
		s.Close()
		if n := count(t, path, fmt.Sprintf(`SELECT count(*) FROM inline_payloads WHERE idx = %d`, 2+2*reopen)); n != 1 {
			t.Fatalf("the small payload after the migration is not in inline_payloads (%d rows)", n)
		}
		if n := count(t, path, `SELECT count(*) FROM record_payloads WHERE payload <= 9 AND idx > 1`); n != 0 {
			t.Fatalf("a staged payload after the migration got a key in use (%d rows)", n)
		}
	}
}
