package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"pouch.dev/store"
)

// migrations are the schema's versions: migrations[i] takes a database
// from version i to version i+1. A database records its version in the
// one-row table schema_version; a database written before that table
// existed holds (part of) version 1, and is adopted as such, version 1
// applied over it to complete it. Open applies the
// missing migrations in one transaction, and refuses a database of a
// newer version than len(migrations).
//
// SPEC: spec/store.md#schema-versions
var migrations = []string{
	schemaV1,
	schemaV2,
	schemaV3,
	schemaV4,
}

// schemaV2 keeps, with each full tile, the upper levels of the tree over
// it (store.Tile.Inner), so that a proof does not hash the tile again.
// Tiles stored before it have none, and are hashed as before.
const schemaV2 = `ALTER TABLE tiles ADD COLUMN inner BLOB;`

// schemaV3 keeps a payload of at most store.ChunkSize bytes that comes
// with its record (store.Entry.Payload, such as a pouch's sealed letter
// sent in one request) in one row keyed by the record's index, written by
// the record's transaction: one B-tree insert at the table's end, where
// payload_chunks took a chunk row, an entry of its key index, a row of
// record_payloads and an entry of record_payloads_payload, four B-trees
// whose pages each commit rewrote. Payloads stored before it stay in
// chunks, and are read there; larger ones and staged ones still go there.
const schemaV3 = `CREATE TABLE inline_payloads (
	idx  INTEGER PRIMARY KEY, -- the record's leaf index
	data BLOB NOT NULL        -- the whole payload, at most store.ChunkSize bytes
);`

// schemaV4 lets the parties index lag the records (partyFlushRows): upto is
// the index below which every record's parties rows are written. A
// database of an older version had them all written with their records.
const schemaV4 = `CREATE TABLE parties_indexed (
	one  INTEGER PRIMARY KEY CHECK (one = 1),
	upto INTEGER NOT NULL -- every record below this leaf index has its parties rows
);
INSERT INTO parties_indexed (one, upto) SELECT 1, COALESCE(MAX(idx) + 1, 0) FROM records;`

// SchemaVersion is the schema version this package writes and reads.
var SchemaVersion = len(migrations)

// migrate brings the database of db (at path) to SchemaVersion.
func migrate(db *sql.DB, path string) error {
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: one process migrates
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, classify(err))
	}
	defer tx.Rollback()
	var tables int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`).Scan(&tables); err != nil {
		return fmt.Errorf("reading %s: %w", path, classify(err))
	}
	have := 0
	if tables == 1 {
		if err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&have); err != nil {
			return fmt.Errorf("reading the schema version of %s: %w", path, classify(err))
		}
	} else {
		// A database written before schema_version, with none or part of
		// version 1 (which grew an index or two before versions were
		// kept), or a new one: version 1 is made of CREATE ... IF NOT
		// EXISTS, so applying it completes the one and makes the other.
		if _, err := tx.ExecContext(ctx, `CREATE TABLE schema_version (
			one     INTEGER PRIMARY KEY CHECK (one = 1),
			version INTEGER NOT NULL
		)`); err != nil {
			return fmt.Errorf("creating the schema in %s: %w", path, classify(err))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (one, version) VALUES (1, ?)`, have); err != nil {
			return fmt.Errorf("creating the schema in %s: %w", path, classify(err))
		}
	}
	if err := store.CheckSchemaVersion(path, have, SchemaVersion); err != nil {
		return err
	}
	for v := have; v < SchemaVersion; v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migrating %s to schema version %d: %w", path, v+1, classify(err))
		}
	}
	if have < SchemaVersion {
		if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, SchemaVersion); err != nil {
			return fmt.Errorf("migrating %s: %w", path, classify(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrating %s: %w", path, classify(err))
	}
	return nil
}
