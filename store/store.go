// Package store defines where a pouch server keeps its records and its log:
// one interface, Store, implemented by store/sqlite (the embedded default)
// and store/postgres (PostgreSQL, which many server processes share).
//
// # Records and leaves
//
// Append commits a batch of records and their log leaves in one
// transaction: each record gets the next leaf index and the time of
// sequencing, which is the authoritative time of the record and is part of
// its leaf (record.Leaf). Times never decrease with the index. An entry's
// Check hook sees that place and time before the record is committed, so
// rules are judged at the time the log will vouch for. A record
// whose ID is already stored is refused with ErrDuplicate (a replay), and
// nothing of its Append call is written. When Append returns, the records
// are durable: a record acknowledged to a client is never lost.
//
// Records are read back by ID, by leaf index, or listed by party, kind and
// reference after a leaf index, or newest first below one (an inbox page
// is "the tags naming principal X below the last index I saw"), each from
// an index, whatever the log's size: a server derives a pouch's state from
// them on demand rather than holding every pouch in memory. WaitSize
// blocks until new records arrive, for inbox streaming and for servers
// following what others append.
//
// # Payloads
//
// A record may carry a payload, such as a pouch's sealed age file, of up to
// record.MaxPayloadSize bytes. Payloads are stored in chunks of at most
// ChunkSize bytes, so that no payload sits whole in a row, in a driver's
// buffer or in memory: a large one is written beforehand with a
// PayloadWriter (StagePayload), a chunk at a time, and the Append that
// commits its record takes it over (Entry.Staged); it is read back a chunk
// at a time with OpenPayload. A small one may come with its entry, in
// memory (Entry.Payload).
//
// # The tree
//
// Leaves are appended with the records, but hashed into the Merkle tree
// later, in batches, by the sequencer in package tlog. The store keeps the
// tree as C2SP tlog-tiles (the bottom row of hashes of each tile, full or
// partial) and the signed checkpoints. Integrate writes the tiles and the
// checkpoint of one sequencing round atomically, and only if the tree still
// has the size the sequencer started from, so two sequencers can never fork
// the log.
//
// # Full storage
//
// When the storage is full, or a write or sync fails, the call fails with
// an error wrapping ErrFull or ErrIO and nothing of it is written; the
// store goes on working once space returns.
//
// # Conformance
//
// Every implementation runs the conformance suite in store/storetest in one
// line:
//
//	func TestConformance(t *testing.T) { storetest.Run(t, newStore) }
//
// The rules are written down in spec/store.md.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"pouch.dev/record"
)

// An Entry is one record as the server commits it.
//
// SPEC: spec/store.md#entry
type Entry struct {
	ID      record.ID       // the record's ID, SHA-256 of its record bytes
	Kind    record.Kind     // the record's kind
	Signed  []byte          // the record exactly as signed: the encoded record.Signed
	Public  bool            // served to anyone if true, else only to Parties
	Parties []record.Handle // who may read a private record; indexed for "what awaits X"
	Refs    []record.ID     // records it refers to (custody -> tag); indexed for lookup by ref
	// Payload, if set, is a payload held in memory, such as a small
	// pouch's sealed age file: Append stores it in chunks with the entry.
	Payload []byte
	// Staged, if set, is a payload written beforehand with StagePayload:
	// Append attaches it to the entry in the same transaction, and it is
	// staged no more. An entry carries Payload or Staged, not both.
	Staged *Staged

	// Check, if set, is called by Append with the place and time the
	// entry is about to get, in log order, inside the transaction that
	// commits it. An error refuses the entry's Append call: nothing of
	// the call is written and Append returns that error. It is how a
	// server judges a record's rules at its sequencing time rather than
	// at the time it looked. Every record below the entry's index is then
	// readable through the store's read methods but those that precede it
	// in the same transaction (spec/store.md#append). Check must be quick
	// and may read the store, must not append, and may be called more
	// than once for one entry (a retried transaction). Where several
	// processes append to one store (PostgreSQL), Check runs holding the
	// log's append lock: every record another process appended below the
	// entry is committed and readable.
	Check func(Sequenced) error
}

// Leaf returns e's log leaf once it is sequenced at sq.
func (e *Entry) Leaf(sq Sequenced) record.Leaf {
	return record.Leaf{Kind: e.Kind, ID: e.ID, Time: sq.Time.UnixMilli(), Private: !e.Public}
}

// Sequenced tells where and when Append placed a record. Times of
// sequencing never decrease with the index: a record sequenced after
// another has the same time or a later one.
type Sequenced struct {
	Index uint64    // leaf index in the log
	Time  time.Time // time of sequencing (millisecond precision, UTC)
}

// A Stored is an entry as read back, with its place in the log. Its
// Payload and Staged fields are always empty: payloads are read with
// OpenPayload.
type Stored struct {
	Entry
	Sequenced
}

// A Query selects records for List. Zero fields select everything;
// results are in leaf index order, starting at From, or, with Desc, in
// reverse leaf index order, starting below Before.
type Query struct {
	Party  record.Handle // records naming this party (Entry.Parties)
	Kinds  []record.Kind // records of one of these kinds
	Ref    *record.ID    // records referring to this ID (Entry.Refs)
	Public bool          // only public records
	From   uint64        // first leaf index to consider
	// Before, if not 0, is an exclusive upper bound: only records at
	// leaf indexes below it are considered.
	Before uint64
	// Desc lists newest first (highest leaf index first): with Before and
	// Limit, a page of an inbox going back in time. It is served from the
	// same indexes as the ascending order, walked backwards.
	Desc  bool
	Limit int // at most this many results; 0 or more than MaxList means MaxList

	// IDPrefix, if not empty, selects the records whose ID, in lowercase
	// hexadecimal, starts with it (1 to 64 digits): how a short ID that a
	// person typed is resolved. It cannot be combined with Party or Ref.
	IDPrefix string
}

// ChunkSize is the most bytes one stored chunk of a payload holds. Every
// chunk of a payload but the last holds exactly ChunkSize bytes.
//
// SPEC: spec/store.md#payloads
const ChunkSize = 1 << 20

// A Staged payload is stored, in chunks, but belongs to no record yet:
// PayloadWriter.Commit returns it, and an Entry names it (Entry.Staged).
type Staged struct {
	Key  int64 // the store's name for it
	Size int64 // its length in bytes
}

// A PayloadWriter writes a payload into the store before the record that
// carries it is appended (Store.StagePayload). It holds at most one chunk
// in memory: each chunk is stored as it fills. It is not safe for
// concurrent use.
type PayloadWriter interface {
	// Write adds p to the payload.
	Write(p []byte) (int, error)
	// Commit stores what remains and returns the staged payload, for
	// Entry.Staged. Nothing more may be written.
	Commit() (*Staged, error)
	// Abort discards the payload: the chunks written so far, or, after
	// Commit, the staged payload if no Append took it. It is safe to call
	// more than once, and after an Append took the payload (it then does
	// nothing).
	Abort() error
}

// A PayloadReader reads a stored payload a chunk at a time.
type PayloadReader interface {
	io.ReadCloser
	// Size returns the payload's length in bytes.
	Size() int64
}

// MaxList is the most records one List call returns.
const MaxList = 1000

// MaxBatch is the most entries one Append call may carry.
const MaxBatch = 4096

// A TileID names one C2SP tlog-tiles hash tile: tile Index at Level.
// Level 0 holds leaf hashes; a tile at level L holds the roots of 256^L-leaf
// subtrees.
type TileID struct {
	Level int
	Index uint64
}

// TileHeight is the C2SP tlog-tiles tile height: a full tile holds 2^8 = 256
// hashes.
const TileHeight = 8

// TileWidth is the number of hashes in a full tile.
const TileWidth = 1 << TileHeight

// A Tile is a tile's bottom row of hashes: a multiple of 32 bytes, at most
// TileWidth hashes. A tile stored with fewer hashes is partial; it only
// grows.
//
// Inner holds the upper levels of the tree over the tile's hashes: for
// each level k from InnerFrom to TileHeight-1, the hashes of the first
// Width()>>k nodes of that level (the roots of its complete runs of 2^k
// hashes), level by level: InnerLen(Width()) bytes, InnerSize for a full
// tile. The log computes them as the tile grows, so that a proof through
// the tile hashes at most 15 nodes in it rather than up to 255. A store
// keeps them (a tile stored before its schema did comes back with nil
// Inner, and the log hashes the tile); they are never served, since a
// tile's bytes are its hashes alone.
type Tile struct {
	TileID
	Hashes []byte
	Inner  []byte
}

// InnerFrom is the lowest level, counted from a tile's row of hashes (level
// 0), of a tile's inner hashes (Tile.Inner); InnerSize is their size in a
// full tile.
const (
	InnerFrom = 4
	InnerSize = 32 * (2*(TileWidth>>InnerFrom) - 2) // 16+8+4+2 hashes
)

// InnerLen returns the size of the inner hashes of a tile of width hashes.
func InnerLen(width int) int {
	n := 0
	for k := InnerFrom; k < TileHeight; k++ {
		n += width >> k
	}
	return 32 * n
}

// Width returns the number of hashes in t.
func (t *Tile) Width() int { return len(t.Hashes) / 32 }

// A Round is the result of one sequencing round: the tree grown from
// OldSize to NewSize leaves, the tiles that changed, and the signed
// checkpoint of the new size.
type Round struct {
	OldSize, NewSize uint64
	Tiles            []Tile
	Checkpoint       []byte // the C2SP tlog-checkpoint signed note for NewSize
}

// A RoundFolder sequences leaves in the transaction that appends them:
// one commit, one flush, and no hand-off between the append and its
// round. The sequencer (package tlog) is the folder; a store that can
// fold (it implements Folding) asks it for each transaction of appends.
//
// SPEC: spec/log.md#sequencing
type RoundFolder interface {
	// FoldRound is called by the store's writer inside a transaction
	// that appends leaves at indexes old, old+1, ..., when the tree
	// covers every leaf before them (its size is old). It returns the
	// round that integrates them, which the store writes in the same
	// transaction, and done, which the store calls once the transaction
	// ends, with whether the round was committed; or a nil round (and
	// nil done) to leave them to the sequencer's next round. It must not
	// block on the store.
	FoldRound(old uint64, leaves []record.Leaf) (r *Round, done func(committed bool))
}

// Folding is implemented by a store whose appends can carry their round
// (the embedded SQLite store: one writer, one transaction at a time).
type Folding interface {
	// SetRoundFolder makes f the folder of the transactions to come; nil
	// stops folding. It returns once no transaction uses the folder it
	// replaces.
	SetRoundFolder(f RoundFolder)
}

// Timings receives how long a store's work on the disk took, as it
// happens: what the server's /metrics shows, so that an operator can tell
// a slow disk from a slow server. Each function, if not nil, must be
// quick and safe for concurrent use.
type Timings struct {
	// Commit is called after each transaction of the writer that
	// committed (appends, rounds, staged payloads): prepare is the time
	// from its start to the commit, commit the commit itself (in the
	// embedded store, writing the WAL and its fsync).
	Commit func(prepare, commit time.Duration)
	// Checkpoint is called after each checkpoint of the embedded store's
	// WAL into its database file, with its mode ("passive", "restart" or
	// "truncate"): the copy and the database file's fsync.
	Checkpoint func(mode string, d time.Duration)
	// Append is called after each call to Append that succeeded, with
	// the time from the call until its entries were durable: the wait
	// for the writer and for its commit, as a caller sees it.
	Append func(d time.Duration)
}

// Timed is implemented by a store that reports Timings (the embedded
// SQLite store).
type Timed interface {
	// SetTimings makes t receive the timings from now on; nil stops them.
	SetTimings(t *Timings)
}

// A StoredCheckpoint is a stored checkpoint and its tree size; Note is
// nil for none.
type StoredCheckpoint struct {
	Size uint64
	Note []byte
}

// LogState tells how far the log has come.
type LogState struct {
	Size       uint64 // leaves appended (sequenced, durable)
	TreeSize   uint64 // leaves integrated into the tree and covered by Checkpoint
	Checkpoint []byte // the latest signed checkpoint, with any cosignatures; nil before the first
}

// Errors callers branch on.
var (
	// ErrDuplicate: a record with this ID is already stored (a replay).
	ErrDuplicate = errors.New("record already in the log")
	// ErrNotFound: no such record, payload, tile or checkpoint.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the tree no longer has the size a Round started from;
	// another sequencer moved it. Re-read the state and start again.
	ErrConflict = errors.New("tree size changed under the sequencer")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store closed")
	// ErrTooLarge: an Append batch over MaxBatch entries.
	ErrTooLarge = errors.New("too many entries in one append")
	// ErrBadQuery: a Query whose fields do not go together, or an
	// IDPrefix that is not 1 to 64 lowercase hexadecimal digits.
	ErrBadQuery = errors.New("invalid query")
	// ErrFull: the storage is full. Nothing of the call was written;
	// retry once space is freed.
	ErrFull = errors.New("storage full")
	// ErrIO: the storage failed to write or sync (an I/O error). Nothing
	// of the call was written; retry later.
	ErrIO = errors.New("storage I/O error")
	// ErrNotStaged: an entry names a staged payload that is not staged
	// (aborted, or taken by another record).
	ErrNotStaged = errors.New("payload not staged")
	// ErrNewerSchema: the database's schema has a newer version than
	// this program knows (a newer pouch wrote it). Nothing was changed;
	// run a pouch at least as new.
	ErrNewerSchema = errors.New("database schema newer than this pouch")
)

// CheckSchemaVersion returns nil if a database at schema version have can
// be opened by a store that knows versions up to know (older ones it
// migrates), and otherwise an error wrapping ErrNewerSchema that names db.
//
// SPEC: spec/store.md#schema-versions
func CheckSchemaVersion(db string, have, know int) error {
	if have > know {
		return fmt.Errorf("%s has schema version %d, but this pouch knows versions up to %d: %w; run the newer pouch that wrote it (or restore a copy made before)",
			db, have, know, ErrNewerSchema)
	}
	return nil
}

// PrefixRange returns the lowest and the highest record ID whose
// lowercase hexadecimal form starts with prefix.
func PrefixRange(prefix string) (lo, hi record.ID, err error) {
	if len(prefix) == 0 || len(prefix) > 2*len(lo) {
		return lo, hi, fmt.Errorf("%w: an ID prefix of %d hex digits", ErrBadQuery, len(prefix))
	}
	for i := 0; i < 2*len(lo); i++ {
		l, h := byte(0), byte(15)
		if i < len(prefix) {
			c := prefix[i]
			switch {
			case '0' <= c && c <= '9':
				l = c - '0'
			case 'a' <= c && c <= 'f':
				l = c - 'a' + 10
			default:
				return lo, hi, fmt.Errorf("%w: %q is not lowercase hexadecimal", ErrBadQuery, prefix)
			}
			h = l
		}
		if i%2 == 0 {
			lo[i/2], hi[i/2] = l<<4, h<<4
		} else {
			lo[i/2] |= l
			hi[i/2] |= h
		}
	}
	return lo, hi, nil
}

// An Importer is a store that takes a copy of another store's log, as
// pouch migrate makes it: records at the places and times they have there.
type Importer interface {
	// Import appends entries at exactly the places and times at gives,
	// in one transaction: at[0].Index must be the number of leaves
	// appended, the indexes consecutive, and the times not before the
	// latest time of sequencing nor decreasing. Checks are not called;
	// duplicates and payloads not staged are refused as by Append.
	Import(ctx context.Context, entries []*Entry, at []Sequenced) error
	// ImportCheckpoints stores checkpoints as they are, with their
	// cosignatures, in one transaction, without changing the tree's size:
	// the earlier checkpoints of a log whose tree (with its latest
	// checkpoint) an Integrate then stores. It refuses a size beyond the
	// leaves appended, and a size already stored.
	ImportCheckpoints(ctx context.Context, cps []StoredCheckpoint) error
}

// CheckImport checks places and times for Importer.Import into a log of
// next leaves whose latest time of sequencing is lastMS (Unix ms).
func CheckImport(at []Sequenced, next uint64, lastMS int64) error {
	for i, sq := range at {
		if sq.Index != next+uint64(i) {
			return fmt.Errorf("store: importing a record at index %d, where the log's next index is %d", sq.Index, next+uint64(i))
		}
		ms := sq.Time.UnixMilli()
		if ms < lastMS {
			return fmt.Errorf("store: importing a record at index %d sequenced at %d ms, before the one below it (%d ms)", sq.Index, ms, lastMS)
		}
		lastMS = ms
	}
	return nil
}

// Store keeps a server's records and log. Its methods are safe for
// concurrent use.
type Store interface {
	// Append commits entries and their log leaves in one durable
	// transaction and returns each entry's place in the log, in order.
	// Concurrent calls may share one transaction (group commit) but each
	// call is all or nothing: if any entry's ID is already stored or repeats
	// within the call, nothing of the call is written and the error wraps
	// ErrDuplicate; if an entry's Check refuses its place, nothing of the
	// call is written and the error is Check's; if an entry names a
	// payload that is not staged, the error wraps ErrNotStaged.
	Append(ctx context.Context, entries []*Entry) ([]Sequenced, error)

	// Get returns the record with ID id, without its payload.
	Get(ctx context.Context, id record.ID) (*Stored, error)
	// GetByIndex returns the record at leaf index idx, without its payload.
	GetByIndex(ctx context.Context, idx uint64) (*Stored, error)
	// List returns the records q selects, in leaf index order (reversed
	// if q.Desc).
	List(ctx context.Context, q Query) ([]*Stored, error)
	// StagePayload returns a writer that stores a payload in chunks, for
	// an entry to name once it is committed (Entry.Staged). A staged
	// payload that no Append takes is discarded by Abort, and by the
	// store when it opens.
	StagePayload(ctx context.Context) (PayloadWriter, error)
	// OpenPayload returns a reader of the payload stored with record id,
	// which reads it a chunk at a time, or ErrNotFound. The reader reads
	// with ctx.
	OpenPayload(ctx context.Context, id record.ID) (PayloadReader, error)
	// WaitSize blocks until more than size leaves are appended or ctx is
	// done, and returns the current number of leaves.
	WaitSize(ctx context.Context, size uint64) (uint64, error)

	// Leaves returns the leaves at indexes [start, start+n) as
	// record.Leaf values (kind, ID, sequencing time, private), fewer if
	// the log is shorter.
	Leaves(ctx context.Context, start uint64, n int) ([]record.Leaf, error)
	// State returns the log's sizes and latest checkpoint.
	State(ctx context.Context) (LogState, error)
	// Tiles returns the stored hashes of each tile in ids, in order; a
	// tile not yet stored has nil Hashes.
	Tiles(ctx context.Context, ids []TileID) ([]Tile, error)
	// Integrate stores a sequencing round atomically: its tiles and its
	// checkpoint. It fails with ErrConflict unless the tree size is
	// r.OldSize, and it refuses a NewSize beyond the leaves appended.
	Integrate(ctx context.Context, r *Round) error
	// Checkpoint returns the stored checkpoint of tree size size, with
	// any cosignatures, or ErrNotFound.
	Checkpoint(ctx context.Context, size uint64) ([]byte, error)
	// Cosigned replaces the stored checkpoint of size size by note, the
	// same checkpoint with witness cosignatures added.
	Cosigned(ctx context.Context, size uint64, note []byte) error
	// CheckpointsAround returns the stored checkpoints nearest leaf
	// index: the largest of a size ≤ index (the tree before the leaf) and
	// the smallest of a size > index (the first that holds it), each with
	// its cosignatures; a zero StoredCheckpoint for one it does not hold.
	CheckpointsAround(ctx context.Context, index uint64) (before, after StoredCheckpoint, err error)

	// Close releases the store. Pending Append calls fail with ErrClosed.
	Close() error
}
