package postgres

// migrations are the schema's versions: migrations[i] takes a database
// from version i to version i+1. A database records its version in the
// one-row table schema_version; Open applies the missing migrations, in
// one transaction, and refuses a database of a newer version than
// len(migrations).
//
// SPEC: spec/store.md#schema-versions
var migrations = []string{
	// Version 1.
	`
-- The log's head: the leaves appended and the latest time of sequencing.
-- Appends lock this row (SELECT ... FOR UPDATE): they serialise here,
-- across every process that appends to the database.
CREATE TABLE log_head (
	one     boolean PRIMARY KEY DEFAULT true CHECK (one),
	size    bigint NOT NULL, -- leaves appended
	last_ms bigint NOT NULL  -- the latest time of sequencing, Unix ms
);
INSERT INTO log_head (size, last_ms) VALUES (0, 0);
-- The tree's head: the size the tree is integrated to. Integrate locks
-- this row; its old-size check is the sequencers' fence.
CREATE TABLE tree_head (
	one  boolean PRIMARY KEY DEFAULT true CHECK (one),
	size bigint NOT NULL
);
INSERT INTO tree_head (size) VALUES (0);
CREATE TABLE records (
	idx     bigint PRIMARY KEY,          -- leaf index
	id      bytea NOT NULL,              -- SHA-256 of the record bytes
	kind    text COLLATE "C" NOT NULL,
	time    bigint NOT NULL,             -- time of sequencing, Unix ms
	public  boolean NOT NULL,
	parties text COLLATE "C" NOT NULL,   -- handles, newline-separated
	refs    bytea NOT NULL,              -- referenced IDs, concatenated
	signed  bytea NOT NULL
);
CREATE UNIQUE INDEX records_id ON records (id);
CREATE INDEX records_kind ON records (kind, idx);
CREATE TABLE parties (
	handle text COLLATE "C" NOT NULL,
	idx    bigint NOT NULL,
	kind   text COLLATE "C" NOT NULL,
	PRIMARY KEY (handle, idx)
);
CREATE TABLE refs (
	ref bytea NOT NULL,
	idx bigint NOT NULL,
	PRIMARY KEY (ref, idx)
);
CREATE SEQUENCE payload_keys;
CREATE TABLE payload_chunks (
	payload bigint NOT NULL,  -- the payload's key
	seq     integer NOT NULL, -- chunk number, from 0
	data    bytea NOT NULL,   -- store.ChunkSize bytes, fewer in the last chunk
	PRIMARY KEY (payload, seq)
);
-- Payloads are sealed (age): compressing them gains nothing.
ALTER TABLE payload_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE TABLE record_payloads (
	idx     bigint PRIMARY KEY, -- the record's leaf index
	payload bigint NOT NULL,    -- the key of its chunks
	size    bigint NOT NULL
);
-- Payloads written but taken by no record yet, by the store (owner) that
-- writes them; an owner holds an advisory lock while it lives.
CREATE SEQUENCE payload_owners;
CREATE TABLE payload_staged (
	payload   bigint PRIMARY KEY,
	owner     bigint NOT NULL,
	created   bigint NOT NULL,  -- Unix ms
	size      bigint NOT NULL,  -- bytes stored so far
	chunks    integer NOT NULL, -- chunks stored so far
	committed boolean NOT NULL
);
CREATE INDEX payload_staged_owner ON payload_staged (owner);
CREATE TABLE tiles (
	key    bigint PRIMARY KEY, -- level<<56 | index
	hashes bytea NOT NULL
);
CREATE TABLE checkpoints (
	size bigint PRIMARY KEY,
	note bytea NOT NULL
);
`,
	// Version 2: the replicas' nonces, registry and meeting places.
	migrationReplicas,
	// Version 3: each tile's inner hashes (store.Tile.Inner), so that a
	// proof does not hash the tile again; tiles stored before have none.
	`ALTER TABLE tiles ADD COLUMN inner_hashes bytea;`,
}

// SchemaVersion is the schema version this package writes and reads.
var SchemaVersion = len(migrations)
