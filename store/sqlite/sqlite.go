// Package sqlite is the embedded store: one SQLite file (pure-Go driver,
// WAL, synchronous=FULL) holding records, payloads, the tree's tiles and the
// signed checkpoints.
//
// Concurrent Append calls are batched into one transaction by a single
// writer goroutine (group commit), so one fsync serves every record in the
// batch. Append returns only after the transaction is durable; a large
// group's calls return a slice at a time (release). While a
// sequencer leads (store.Folding), the transaction also carries the
// round that integrates the batch's leaves into the tree. The parties
// index lags the records by up to 50 ms, its rows written in batches
// (partyFlushRows); List by party reads the records not yet in it from their
// own rows.
//
// SPEC: spec/store.md#sqlite
package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"pouch.dev/internal/failpoint"
	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/internal/columns"
)

// schemaV1 is the first version of the schema (migrations[0]).
const schemaV1 = `
CREATE TABLE IF NOT EXISTS records (
	idx     INTEGER PRIMARY KEY, -- leaf index
	id      BLOB NOT NULL,       -- SHA-256 of the record bytes
	kind    TEXT NOT NULL,
	time    INTEGER NOT NULL,    -- time of sequencing, Unix ms
	public  INTEGER NOT NULL,
	parties TEXT NOT NULL,       -- handles, newline-separated
	refs    BLOB NOT NULL,       -- referenced IDs, concatenated
	signed  BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS records_id ON records(id);
-- Listings by kind (a client catching up on the directory's records).
CREATE INDEX IF NOT EXISTS records_kind ON records(kind, idx);
CREATE TABLE IF NOT EXISTS parties (
	handle TEXT NOT NULL,
	idx    INTEGER NOT NULL,
	kind   TEXT NOT NULL,
	PRIMARY KEY (handle, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refs (
	ref BLOB NOT NULL,
	idx INTEGER NOT NULL,
	PRIMARY KEY (ref, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS payload_chunks (
	payload INTEGER NOT NULL, -- the payload's key
	seq     INTEGER NOT NULL, -- chunk number, from 0
	data    BLOB NOT NULL,    -- store.ChunkSize bytes, fewer in the last chunk
	PRIMARY KEY (payload, seq)
);
CREATE TABLE IF NOT EXISTS record_payloads (
	idx     INTEGER PRIMARY KEY, -- the record's leaf index
	payload INTEGER NOT NULL,    -- the key of its chunks
	size    INTEGER NOT NULL
);
-- The largest payload key, read when the store opens (Open).
CREATE INDEX IF NOT EXISTS record_payloads_payload ON record_payloads(payload);
CREATE TABLE IF NOT EXISTS payload_staged (
	payload INTEGER PRIMARY KEY, -- a payload written but taken by no record yet
	created INTEGER NOT NULL     -- Unix ms
);
CREATE TABLE IF NOT EXISTS tiles (
	key    INTEGER PRIMARY KEY, -- level<<56 | index
	hashes BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
	size INTEGER PRIMARY KEY,
	note BLOB NOT NULL
);
`

// Store is the SQLite implementation of store.Store.
type Store struct {
	w, r *sql.DB

	reqs    chan *writeReq // appends, rounds, discards
	chunks  chan *writeReq // chunks of staged payloads
	truncs  chan truncReq  // TRUNCATE checkpoints for the writer to run
	commits atomic.Uint64  // the writer's transactions so far
	timings atomic.Pointer[store.Timings]
	// caughtUp is when the writer last found no append waiting (Unix ns).
	caughtUp atomic.Int64
	closing  chan struct{}
	done     chan struct{}
	ckDone   chan struct{}
	ready    chan struct{} // closed when Open has read the store and prepared the writer's statements
	once     sync.Once
	// releasing counts the goroutines still answering a committed group
	// (release).
	releasing sync.WaitGroup

	mu      sync.Mutex
	size    uint64        // leaves appended
	changed chan struct{} // closed and replaced when size grows
	state   store.LogState
	next    uint64                // writer goroutine only: next leaf index
	last    int64                 // writer goroutine only: the latest committed time of sequencing, Unix ms
	now     func() time.Time      // the clock of sequencing
	pending []record.Leaf         // writer goroutine only: leaves of the transaction in progress
	stmts   map[stmtKey]*sql.Stmt // writer goroutine only: prepared inserts

	// rstmts are the read queries prepared on the readers' pool, by text
	// (readStmt).
	rmu    sync.Mutex
	rstmts map[string]*sql.Stmt

	// staged holds the payloads written with a PayloadWriter that no
	// record took yet, by key: their size so far, and whether they are
	// committed. Writer goroutine only.
	staged  map[int64]*stagedPayload
	nextKey atomic.Int64 // the last payload key given

	// recent holds the leaves from index recentBase on, so that the
	// sequencer reads what it integrates from memory. Guarded by mu.
	recent     []record.Leaf
	recentBase uint64

	// The parties rows not written yet (partyFlushRows): those of the
	// records from parties_indexed.upto on, and since when the oldest
	// has waited. Writer goroutine only.
	partyBuf    []partyRow
	partyOldest time.Time
	// flushRows and flushAge are partyFlushRows and partyFlushAge as the
	// store opened.
	flushRows int
	flushAge  time.Duration

	// folder, if not nil, folds the round of a transaction's appends
	// into it (store.Folding). The writer holds foldMu from the start
	// of a transaction until its round's done has been called.
	foldMu   sync.Mutex
	folder   store.RoundFolder
	folded   *store.Round // writer goroutine only: the round folded into the transaction in progress
	foldDone func(bool)   // and the folder's callback for it
}

// SetRoundFolder implements store.Folding.
func (s *Store) SetRoundFolder(f store.RoundFolder) {
	s.foldMu.Lock()
	s.folder = f
	s.foldMu.Unlock()
}

// SetTimings makes t receive the appends, the writer's commits and the
// WAL's checkpoints from now on (store.Timed).
func (s *Store) SetTimings(t *store.Timings) { s.timings.Store(t) }

// timedCommit commits tx, begun at start, and reports the two parts of
// its time to the store's Timings, if any.
func (s *Store) timedCommit(tx *sql.Tx, start time.Time) error {
	c := time.Now()
	if err := tx.Commit(); err != nil {
		return err
	}
	if t := s.timings.Load(); t != nil && t.Commit != nil {
		t.Commit(c.Sub(start), time.Since(c))
	}
	return nil
}

// timedCheckpoint reports a checkpoint of the WAL, begun at start, to the
// store's Timings, if any.
func (s *Store) timedCheckpoint(mode string, start time.Time) {
	if t := s.timings.Load(); t != nil && t.Checkpoint != nil {
		t.Checkpoint(mode, time.Since(start))
	}
}

// endFold tells the folder whether the round it folded into the
// transaction just ended was committed.
func (s *Store) endFold(committed bool) {
	if s.foldDone != nil {
		s.foldDone(committed)
	}
	s.folded, s.foldDone = nil, nil
}

// maxRecent bounds the leaves kept in memory for the sequencer.
const maxRecent = 1 << 17

var (
	_ store.Store    = (*Store)(nil)
	_ store.Importer = (*Store)(nil)
)

// A writeReq is an Append call, a sequencing round, a chunk of a staged
// payload or the discarding of one, committed by the writer goroutine
// together with the others pending (group commit).
type writeReq struct {
	entries []*store.Entry
	at      []store.Sequenced // Import: the places and times the entries get
	round   *store.Round
	chunk   *chunkReq
	discard int64 // the key of a staged payload to discard
	res     []store.Sequenced
	err     error
	done    chan struct{}
}

// A chunkReq stores one chunk of a staged payload (data, possibly empty
// for the last), and with last set, commits the payload.
type chunkReq struct {
	key  int64
	seq  int64
	data []byte
	last bool
}

// A stagedPayload is what the writer knows of a payload being staged.
type stagedPayload struct {
	size      int64 // bytes stored
	chunks    int64 // chunks stored
	committed bool
}

// maxGroup bounds the entries one group-commit transaction carries, and
// maxGroupChunks the chunks of staged payloads. The writer's queue holds
// maxGroup requests, so that appenders enough to fill a group queue
// without waiting (a wait is a three-way select and one more wake-up
// each: with 1,024, pbench log with 4,000 clients made 0.98 times the
// records/s, BENCHMARKS.md).
const (
	maxGroup       = 8192
	maxGroupChunks = 4
)

// mmapSize is the most of the database file each connection maps
// (SQLITE_MAX_MMAP_SIZE of the driver's build).
const mmapSize = 0x7fff0000

// An Option configures Open.
type Option func(*Store)

// WithClock sets the clock that gives records their time of sequencing
// (default time.Now). Times still never decrease with the log index: a
// clock that goes back is held at the last time given. Tests move it.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// Open opens or creates the store in the SQLite file at path.
func Open(path string, opts ...Option) (*Store, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "temp_store(MEMORY)")
	// The writer's page cache is small and it maps the file as the readers
	// do: a page it misses is copied from the mapping (or read from the
	// WAL) rather than read with a read(2), and the end of a transaction
	// that swapped pages through the lock-byte page (a B-tree split whose
	// pages were out of order) walks 2,048 cached pages, not the 16,384 of
	// a 64 MiB cache. Writes still go to the WAL only, fsync'd at commit.
	q.Add("_pragma", "cache_size(-8192)")
	q.Add("_pragma", fmt.Sprintf("mmap_size(%d)", mmapSize))
	// Checkpoints run in the background (checkpointer), not in commits.
	q.Add("_pragma", "wal_autocheckpoint(0)")
	q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", truncateSize))
	q.Add("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	if err := migrate(w, path); err != nil {
		w.Close()
		return nil, err
	}
	// Payloads staged before the last stop belong to no record and never
	// will: no writer outlives its process.
	// SPEC: spec/store.md#payloads
	if _, err := w.Exec(`DELETE FROM payload_chunks WHERE payload IN (SELECT payload FROM payload_staged); DELETE FROM payload_staged`); err != nil {
		w.Close()
		return nil, fmt.Errorf("discarding staged payloads in %s: %w", path, classify(err))
	}
	var lastKey sql.NullInt64
	if err := w.QueryRow(`SELECT MAX(payload) FROM payload_chunks`).Scan(&lastKey); err != nil {
		w.Close()
		return nil, fmt.Errorf("reading %s: %w", path, classify(err))
	}
	var lastRef sql.NullInt64
	if err := w.QueryRow(`SELECT MAX(payload) FROM record_payloads`).Scan(&lastRef); err != nil {
		w.Close()
		return nil, fmt.Errorf("reading %s: %w", path, classify(err))
	}
	lagging, err := readPartyLag(w)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("reading %s: %w", path, classify(err))
	}
	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout(10000)")
	rq.Add("_pragma", "query_only(1)")
	rq.Add("_pragma", "cache_size(-16384)")
	// Readers map the file (up to SQLite's limit here, 2 GiB) rather than
	// copy each page they miss with a read(2): a proof in a large tree
	// reads a few tiles from pages no connection's cache holds.
	rq.Add("_pragma", fmt.Sprintf("mmap_size(%d)", mmapSize))
	r, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	s := &Store{
		w: w, r: r,
		reqs:    make(chan *writeReq, maxGroup),
		chunks:  make(chan *writeReq, 64),
		truncs:  make(chan truncReq),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		ckDone:  make(chan struct{}),
		ready:   make(chan struct{}),
		changed: make(chan struct{}),
		stmts:   make(map[stmtKey]*sql.Stmt),
		rstmts:  make(map[string]*sql.Stmt),
		staged:  make(map[int64]*stagedPayload),
		now:     time.Now,

		partyBuf:  lagging,
		flushRows: partyFlushRows,
		flushAge:  partyFlushAge,
	}
	if len(lagging) > 0 {
		s.partyOldest = time.Now()
	}
	for _, o := range opts {
		o(s)
	}
	s.nextKey.Store(max(lastKey.Int64, lastRef.Int64))
	// The writer takes the connection only for appends, none of which can
	// come before Open returns.
	go s.writer()
	go s.checkpointer(path)
	var n sql.NullInt64
	if err := w.QueryRow(`SELECT MAX(idx) FROM records`).Scan(&n); err != nil {
		s.Close()
		return nil, fmt.Errorf("reading %s: %w", path, classify(err))
	}
	if n.Valid {
		s.size = uint64(n.Int64) + 1
		if err := w.QueryRow(`SELECT time FROM records WHERE idx = ?`, n.Int64).Scan(&s.last); err != nil {
			s.Close()
			return nil, fmt.Errorf("reading %s: %w", path, classify(err))
		}
	}
	s.next = s.size
	s.recentBase = s.size
	s.state.Size = s.size
	var cs sql.NullInt64
	var note []byte
	err = w.QueryRow(`SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1`).Scan(&cs, &note)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		s.Close()
		return nil, fmt.Errorf("reading %s: %w", path, classify(err))
	}
	if cs.Valid {
		s.state.TreeSize, s.state.Checkpoint = uint64(cs.Int64), note
	}
	if err := s.prepare(); err != nil {
		s.Close()
		return nil, fmt.Errorf("preparing statements in %s: %w", path, err)
	}
	close(s.ready)
	return s, nil
}

// Close stops the writer and closes the database. Pending appends fail with
// store.ErrClosed.
func (s *Store) Close() error {
	s.once.Do(func() {
		close(s.closing)
	})
	stopped := false
	select {
	case <-s.done:
		stopped = true
	case <-time.After(30 * time.Second):
	}
	<-s.ckDone
	if stopped {
		// No group comes after the writer's last: wait until all its
		// calls are answered.
		s.releasing.Wait()
	}
	err := s.w.Close()
	if e := s.r.Close(); err == nil {
		err = e
	}
	return err
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, entries []*store.Entry) ([]store.Sequenced, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	if len(entries) > store.MaxBatch {
		return nil, fmt.Errorf("%d entries: %w (limit %d)", len(entries), store.ErrTooLarge, store.MaxBatch)
	}
	start := time.Now()
	req := &writeReq{entries: entries, done: make(chan struct{})}
	if err := s.send(ctx, s.reqs, req); err != nil {
		return nil, err
	}
	select {
	case <-req.done:
		if t := s.timings.Load(); t != nil && t.Append != nil && req.err == nil {
			t.Append(time.Since(start))
		}
		return req.res, req.err
	case <-ctx.Done():
		// The batch may still commit; a retry then meets ErrDuplicate.
		return nil, ctx.Err()
	}
}

// Import implements store.Importer: it appends entries at the places and
// times at gives, as another store placed them (pouch migrate).
func (s *Store) Import(ctx context.Context, entries []*store.Entry, at []store.Sequenced) error {
	if len(entries) != len(at) {
		return fmt.Errorf("store: importing %d entries at %d places", len(entries), len(at))
	}
	if len(entries) == 0 {
		return nil
	}
	if len(entries) > store.MaxBatch {
		return fmt.Errorf("%d entries: %w (limit %d)", len(entries), store.ErrTooLarge, store.MaxBatch)
	}
	req := &writeReq{entries: entries, at: at, done: make(chan struct{})}
	if err := s.send(ctx, s.reqs, req); err != nil {
		return err
	}
	<-req.done
	return req.err
}

// ImportCheckpoints implements store.Importer.
func (s *Store) ImportCheckpoints(ctx context.Context, cps []store.StoredCheckpoint) error {
	s.mu.Lock()
	size := s.size
	s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: importing checkpoints: %w", classify(err))
	}
	defer tx.Rollback()
	for _, cp := range cps {
		if cp.Size > size || cp.Note == nil {
			return fmt.Errorf("store: importing a checkpoint of size %d into a log of %d leaves", cp.Size, size)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (size, note) VALUES (?, ?)`, int64(cp.Size), cp.Note); err != nil {
			return fmt.Errorf("store: importing the checkpoint of size %d: %w", cp.Size, classify(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: importing checkpoints: %w", classify(err))
	}
	return nil
}

func (s *Store) writer() {
	defer close(s.done)
	// No append can come before Open returns, but the parties rows read
	// when it opened may be due (flushParties): nothing is written before
	// Open has read the store and prepared the statements. A store that
	// opened gets its clean stop below even if Close came first: both
	// channels are closed then, and select would pick either.
	select {
	case <-s.ready:
	case <-s.closing:
		select {
		case <-s.ready:
		default:
			return // Open failed
		}
	}
	var lastReq time.Time // when the latest request came
	// flush fires when the oldest parties row waiting has waited
	// partyFlushAge and no commit came meanwhile to write it.
	flush := time.NewTimer(time.Hour)
	flush.Stop()
	defer flush.Stop()
	for {
		if len(s.reqs) == 0 {
			s.caughtUp.Store(time.Now().UnixNano())
		}
		var due <-chan time.Time
		if len(s.partyBuf) > 0 {
			flush.Reset(max(0, s.flushAge-time.Since(s.partyOldest)))
			due = flush.C
		}
		var first *writeReq
		select {
		case <-due:
			s.flushParties()
			s.commits.Add(1)
			continue
		case first = <-s.reqs:
			lastReq = time.Now()
		case first = <-s.chunks:
			lastReq = time.Now()
		case req := <-s.truncs:
			if !req.force && s.commits.Load() > req.from+truncateBehind {
				req.res <- truncDeclined
				continue
			}
			// TRUNCATE only if idle: emptying a large file takes tens of
			// milliseconds, which appends coming meanwhile would wait.
			res := truncFailed
			if s.truncateWAL(s.w, len(s.reqs) > 0 || time.Since(lastReq) < truncateIdle) {
				res = truncDone
			}
			req.res <- res
			continue
		case <-s.closing:
			s.failPending()
			// A clean stop leaves every record's parties rows written.
			if len(s.partyBuf) > 0 {
				s.flushParties()
			}
			return
		}
		// Every pending append joins the group, but only a few chunks of
		// staged payloads, and only one if appends are waiting: an append
		// waits for a MiB of payload to be written, not for every upload
		// in progress, and uploads still move while appends stream in.
		batch := []*writeReq{first}
		n, chunks := len(first.entries), 0
		if first.chunk != nil {
			chunks++
		}
	drain:
		for n < maxGroup {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
				n += len(r.entries)
			default:
				break drain
			}
		}
		limit := maxGroupChunks
		if n > 0 {
			limit = 1
		}
	drainChunks:
		for chunks < limit {
			select {
			case r := <-s.chunks:
				batch = append(batch, r)
				chunks++
			default:
				break drainChunks
			}
		}
		s.commit(batch)
		s.commits.Add(1)
		if n > 0 {
			// The commit made the appenders' goroutines runnable on this
			// goroutine's P, where they would wait while it goes on with
			// the next group (until another P is free to steal them, or
			// this one blocks in the next fsync): let them answer first.
			// The next group only grows meanwhile.
			runtime.Gosched()
		}
	}
}

// checkpointInterval is how often the WAL is copied back into the
// database file: often, so that each PASSIVE checkpoint copies and
// fsyncs little, because the fsync of a large copy holds up the commits'
// fsyncs of the WAL (at 4,000 pouches/s, 250 ms of WAL was about 13 MiB:
// the HTTP p99 at half load fell from about 16 to 9 ms at 20 ms, and at
// 5 ms the requests over 8 ms fell to a fifth; BENCHMARKS.md). But each
// checkpoint copies again the pages every commit rewrites (the tails of
// the tables, page 1), so while appends have waited for the writer
// without a break for checkpointBacklog (it is the bottleneck, and their
// wait is the queue's), checkpoints are checkpointBacklogInterval apart:
// at 5 ms, appends from 4,000 clients lost 4 % of their throughput. A
// tick with no commit since a checkpoint that copied everything
// checkpoints nothing.
//
// A WAL file larger than truncateSize is truncated: by the writer when the
// WAL starts over after a complete checkpoint (SQLite's
// journal_size_limit), and by a TRUNCATE checkpoint (RESTART if appends
// are waiting: the next commit then starts the WAL over and trims it), at
// the first checkpoint that finds it larger (truncateRetry after one that
// readers kept from restarting the WAL), once a checkpoint has copied it
// all or truncateForce has passed without one that did (readers kept old
// snapshots). Restarting every time the WAL passes truncateSize, not every
// truncateRetry, keeps the file from growing by truncateRetry of appends
// (100 MiB at 10,000 records/s, 4 KiB pages rewritten by every small
// commit), which the next commit would then trim while appends wait. The
// writer runs it, waiting at most truncateWait for the readers, once the
// checkpointer has left it the frames of at most truncateBehind commits to
// copy first (at most truncatePasses more PASSIVE checkpoints, the writer
// declining while more commits came since), or once it has been asked for
// truncateAsk. It is a TRUNCATE only if no request came for truncateIdle:
// appends coming while a large file is emptied would wait.
//
// SPEC: spec/store.md#sqlite
const (
	checkpointInterval        = 5 * time.Millisecond
	checkpointBacklogInterval = 20 * time.Millisecond
	checkpointBacklog         = 100 * time.Millisecond
	truncateSize              = 16 << 20
	truncateWait              = 200 * time.Millisecond
	truncateRetry             = 2 * time.Second
	truncateForce             = 30 * time.Second
	truncateIdle              = time.Second
	truncatePasses            = 8
	truncateBehind            = 2
	truncateAsk               = time.Second
)

// checkpointer copies the WAL into the database file from its own
// connection, in the background, so that no commit waits for it. A
// PASSIVE checkpoint never blocks the writer, but it leaves the WAL file
// at the largest size it reached; so now and then, if the WAL file has
// grown beyond truncateSize, a TRUNCATE checkpoint empties it. That one
// blocks the writer, so the writer runs it, between two commits, on its
// own connection: run from another, it would make the writer's next
// transaction drop its whole page cache (SQLite's pager sees the WAL
// changed under it), which costs tens of milliseconds of freeing and
// reading pages back.
func (s *Store) checkpointer(path string) {
	defer close(s.ckDone)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	var tried, over time.Time
	complete := time.Now()
	// passive runs a PASSIVE checkpoint and reports whether it copied the
	// whole WAL; copiedAt is the writer's count of commits when one last
	// did, read before it started.
	var copiedAt uint64
	passive := func(from uint64) bool {
		var busy, frames, copied int
		start := time.Now()
		all := db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied) == nil && frames == copied
		s.timedCheckpoint("passive", start)
		if all {
			copiedAt = from
		}
		return all
	}
	all := false
	var last time.Time // when the last PASSIVE checkpoint started
	for {
		select {
		case <-s.closing:
			return
		case <-t.C:
		}
		if s.backlogged() && time.Since(last) < checkpointBacklogInterval {
			continue
		}
		from := s.commits.Load()
		if !all || from != copiedAt {
			last = time.Now()
			all = passive(from)
		}
		if all {
			complete = time.Now()
		}
		if time.Since(tried) < truncateRetry || !all && time.Since(complete) < truncateForce {
			continue
		}
		if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() <= truncateSize {
			over = time.Time{}
			continue
		}
		if over.IsZero() {
			over = time.Now()
		}
		// The writer's checkpoint first copies what this one has not,
		// while appends wait: it runs only once this one left it at most
		// truncateBehind commits to copy (a few more passes, each shorter
		// than the last), or after truncateAsk of asking, or if this one
		// could not copy it all (readers).
		for pass := 0; ; pass++ {
			req := truncReq{from: from, force: !all || time.Since(over) >= truncateAsk, res: make(chan truncResult, 1)}
			select {
			case s.truncs <- req:
			case <-s.closing:
				return
			}
			res := <-req.res
			if res == truncFailed {
				tried = time.Now()
			}
			if res != truncDeclined {
				over = time.Time{}
				break
			}
			if pass == truncatePasses {
				break
			}
			from = s.commits.Load()
			if all = passive(from); !all {
				break
			}
		}
	}
}

// backlogged reports whether appends are waiting for the writer, and
// have been without a break for checkpointBacklog.
func (s *Store) backlogged() bool {
	return len(s.reqs) > 0 && time.Since(time.Unix(0, s.caughtUp.Load())) > checkpointBacklog
}

// A truncReq asks the writer for a RESTART or TRUNCATE checkpoint
// (truncateWAL), unless more than truncateBehind commits came after the
// checkpointer started its last checkpoint, the writer's count of
// commits then being from, and unless force.
type truncReq struct {
	from  uint64
	force bool
	res   chan truncResult
}

type truncResult int

const (
	truncDeclined truncResult = iota // more than truncateBehind commits to copy
	truncFailed                      // readers kept the WAL from restarting
	truncDone                        // the WAL restarted
)

// truncateWAL runs a TRUNCATE checkpoint on db, or a RESTART one if busy
// (appends are waiting), waiting at most truncateWait for the others
// (readers), and reports whether it restarted the WAL. The writer
// goroutine runs it, between commits (checkpointer). Emptying a WAL file
// of 16 MiB and more takes tens of milliseconds, which the waiting
// appends are spared: after a RESTART checkpoint the next commit writes
// the WAL from its start and trims the file to truncateSize
// (journal_size_limit), which frees only what lies beyond.
func (s *Store) truncateWAL(db *sql.DB, busy bool) bool {
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, truncateWait.Milliseconds()))
	defer conn.ExecContext(ctx, `PRAGMA busy_timeout = 10000`)
	mode := "TRUNCATE"
	if busy {
		// Appends are waiting: a RESTART checkpoint, which leaves the
		// file's length alone; the next commit starts the WAL over and
		// trims the file to journal_size_limit (truncateSize), sparing
		// the appends the longer wait while a large file is emptied.
		mode = "RESTART"
	}
	var blocked, logFrames, done int
	start := time.Now()
	err = conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(`+mode+`)`).Scan(&blocked, &logFrames, &done)
	s.timedCheckpoint(strings.ToLower(mode), start)
	return err == nil && blocked == 0
}

func (s *Store) failPending() {
	for {
		select {
		case r := <-s.reqs:
			r.err = store.ErrClosed
			close(r.done)
		case r := <-s.chunks:
			r.err = store.ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

// commit writes one group of requests in one transaction.
//
// SPEC: spec/store.md#append
func (s *Store) commit(batch []*writeReq) {
	s.foldMu.Lock()
	defer s.foldMu.Unlock()
	// Replays are rare: first try without looking the IDs up. A unique
	// constraint failure rolls the whole transaction back; then try again,
	// looking up which IDs are stored.
	after, err := s.commitTx(batch, false)
	if isConstraint(err) {
		s.endFold(false)
		s.next = s.size
		for _, r := range batch {
			r.err, r.res = nil, nil
		}
		after, err = s.commitTx(batch, true)
	}
	if err != nil {
		s.endFold(false)
		// Nothing was written: restore the counter and fail every request
		// that had not already failed on its own.
		s.next = s.size
		err = classify(err)
		for _, r := range batch {
			if r.err == nil {
				r.err = err
				r.res = nil
			}
		}
	} else {
		for _, f := range after {
			f()
		}
		s.mu.Lock()
		if s.recentBase+uint64(len(s.recent)) == s.size {
			s.recent = append(s.recent, s.pending...)
			if len(s.recent) > maxRecent {
				drop := len(s.recent) - maxRecent/2
				s.recentBase += uint64(drop)
				s.recent = append([]record.Leaf(nil), s.recent[drop:]...)
			}
		}
		appended := s.next > s.size
		if appended {
			s.size = s.next
			s.state.Size = s.next
			close(s.changed)
			s.changed = make(chan struct{})
		}
		rounds := false
		for _, r := range batch {
			if r.round != nil && r.err == nil {
				s.state.TreeSize, s.state.Checkpoint = r.round.NewSize, r.round.Checkpoint
				rounds = true
			}
		}
		if s.folded != nil {
			s.state.TreeSize, s.state.Checkpoint = s.folded.NewSize, s.folded.Checkpoint
			rounds = true
		}
		s.mu.Unlock()
		// The folder publishes the round's checkpoint before the appends
		// are answered: an append's answer then finds it published.
		s.endFold(true)
		// SPEC: spec/store.md#failpoints
		if appended {
			failpoint.Hit("store/append-committed")
		}
		if rounds {
			failpoint.Hit("store/round-committed")
		}
	}
	s.release(batch)
}

// releaseSlice is how many requests of a group the writer answers at
// once. Answering a group of thousands at once makes all their
// goroutines runnable together, ahead of the writer in the scheduler's
// queue: the writer then waits until every one has had its turn (with
// 4,000 appenders each verifying its next record, 60 to 84 ms on two
// cores), finds them all waiting again, and commits them as one group
// while the other core has nothing to do. release answers the first
// slice at once and the rest a slice at a time from a goroutine that
// yields between slices, so that the writer gets its turn meanwhile and
// its commits overlap the appenders' work (BENCHMARKS.md, "Answering a
// large group a slice at a time": 1.06 times the records/s with 4,000
// appenders).
const releaseSlice = 512

// release answers the requests of a committed group (closes their done
// channels), releaseSlice at a time.
func (s *Store) release(batch []*writeReq) {
	first := min(len(batch), releaseSlice)
	for _, r := range batch[:first] {
		close(r.done)
	}
	rest := batch[first:]
	if len(rest) == 0 {
		return
	}
	s.releasing.Add(1)
	go func() {
		defer s.releasing.Done()
		for len(rest) > 0 {
			runtime.Gosched()
			n := min(len(rest), releaseSlice)
			for _, r := range rest[:n] {
				close(r.done)
			}
			rest = rest[n:]
		}
	}()
}

// commitTx writes batch in one transaction. It returns what to do to the
// writer's state once the transaction is committed.
func (s *Store) commitTx(batch []*writeReq, lookup bool) (after []func(), err error) {
	ctx := context.Background()
	start := time.Now()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: beginning the append transaction: %w", err)
	}
	defer tx.Rollback()
	s.pending = s.pending[:0]

	// Which of the IDs are stored already: one query per chunk of IDs.
	var ids []any
	var stored map[record.ID]bool
	if lookup {
		for _, r := range batch {
			for _, e := range r.entries {
				ids = append(ids, e.ID[:])
			}
		}
		if stored, err = existing(ctx, tx, ids); err != nil {
			return nil, err
		}
	}

	// The time of sequencing never decreases with the index, whatever
	// the clock does.
	ms := max(s.now().UnixMilli(), s.last)
	now := time.UnixMilli(ms).UTC()
	floor := s.last // the time of the latest leaf, as this transaction goes
	// Sized up front: the argument lists of a large group commit would
	// otherwise be copied several times as they grow.
	var n, nParties, nRefs, nPay, nInline, nChunks int
	for _, r := range batch {
		for _, e := range r.entries {
			n++
			nParties += len(e.Parties)
			nRefs += len(e.Refs)
			switch {
			case inline(e):
				nInline++
			case e.Payload != nil || e.Staged != nil:
				nPay++
				nChunks += (len(e.Payload) + store.ChunkSize - 1) / store.ChunkSize
			}
		}
		if r.chunk != nil {
			nChunks++
		}
	}
	seen := make(map[record.ID]bool, n)
	s.mu.Lock()
	tree := s.state.TreeSize
	hasCheckpoint := s.state.Checkpoint != nil
	s.mu.Unlock()
	recArgs := make([]any, 0, 7*n)
	var first []any // the log's first record, if this transaction writes it
	partyRows := make([]partyRow, 0, nParties)
	refArgs := make([]any, 0, 2*nRefs)
	payArgs := make([]any, 0, 3*nPay)
	inlineArgs := make([]any, 0, 2*nInline)
	chunkArgs := make([]any, 0, 3*nChunks)
	var stagedArgs, unstageArgs []any
	var discards []int64
	// gone holds the staged payloads taken or discarded in this
	// transaction; staging those written in it.
	gone := map[int64]bool{}
	staging := map[int64]*stagedPayload{}
	for _, r := range batch {
		switch {
		case r.round != nil:
			if err := s.integrateTx(ctx, tx, r, &tree, &hasCheckpoint); err != nil {
				return nil, err
			}
			continue
		case r.chunk != nil:
			c := r.chunk
			sp := staging[c.key]
			if sp == nil {
				if old := s.staged[c.key]; old != nil {
					cp := *old
					sp = &cp
				} else {
					sp = &stagedPayload{}
					stagedArgs = append(stagedArgs, c.key, ms)
				}
				staging[c.key] = sp
			}
			if gone[c.key] || sp.committed || c.seq != sp.chunks {
				r.err = fmt.Errorf("store: chunk %d of payload %d: %w", c.seq, c.key, store.ErrNotStaged)
				continue
			}
			if len(c.data) > 0 {
				chunkArgs = append(chunkArgs, c.key, c.seq, c.data)
				sp.chunks++
				sp.size += int64(len(c.data))
			}
			sp.committed = c.last
			continue
		case r.discard != 0:
			if _, ok := s.staged[r.discard]; (ok || staging[r.discard] != nil) && !gone[r.discard] {
				discards = append(discards, r.discard)
				unstageArgs = append(unstageArgs, r.discard)
				gone[r.discard] = true
			}
			continue
		}
		dup := false
		for k, e := range r.entries {
			if seen[e.ID] || stored[e.ID] {
				dup = true
				break
			}
			for _, o := range r.entries[:k] {
				if o.ID == e.ID {
					dup = true
				}
			}
		}
		if dup {
			r.err = fmt.Errorf("store: %w", store.ErrDuplicate)
			continue
		}
		if err := s.checkStaged(r.entries, gone, staging); err != nil {
			r.err = err
			continue
		}
		if r.at != nil {
			if err := store.CheckImport(r.at, s.next, floor); err != nil {
				r.err = err
				continue
			}
		} else if err := checkEntries(r.entries, s.next, now); err != nil {
			r.err = err
			continue
		}
		r.res = make([]store.Sequenced, len(r.entries))
		for i, e := range r.entries {
			idx := int64(s.next)
			s.next++
			seen[e.ID] = true
			pub := 0
			if e.Public {
				pub = 1
			}
			t := ms
			if r.at != nil {
				// Imported at its own time, which later calls in the
				// group do not precede.
				t = r.at[i].Time.UnixMilli()
				ms = max(ms, t)
				now = time.UnixMilli(ms).UTC()
			}
			floor = t
			if idx == 0 {
				// The log's first record, inserted alone (insertRecords).
				first = []any{idx, e.ID[:], string(e.Kind), t, pub, columns.JoinHandles(e.Parties), columns.JoinIDs(e.Refs), e.Signed}
			} else {
				recArgs = append(recArgs, e.ID[:], string(e.Kind), t, pub, columns.JoinHandles(e.Parties), columns.JoinIDs(e.Refs), e.Signed)
			}
			partyRows = appendPartyRows(partyRows, e.Parties, idx, string(e.Kind))
			for k, ref := range e.Refs {
				if !slices.Contains(e.Refs[:k], ref) {
					refArgs = append(refArgs, ref[:], idx)
				}
			}
			switch {
			case e.Staged != nil:
				payArgs = append(payArgs, idx, e.Staged.Key, e.Staged.Size)
				unstageArgs = append(unstageArgs, e.Staged.Key)
				gone[e.Staged.Key] = true
			case inline(e):
				inlineArgs = append(inlineArgs, idx, e.Payload)
			case e.Payload != nil:
				key := s.nextKey.Add(1)
				for seq, off := 0, 0; off < len(e.Payload); seq, off = seq+1, off+store.ChunkSize {
					chunkArgs = append(chunkArgs, key, seq, e.Payload[off:min(off+store.ChunkSize, len(e.Payload))])
				}
				payArgs = append(payArgs, idx, key, len(e.Payload))
			}
			r.res[i] = store.Sequenced{Index: uint64(idx), Time: time.UnixMilli(t).UTC()}
			s.pending = append(s.pending, e.Leaf(r.res[i]))
		}
	}
	// Conflicts were ruled out above, so the inserts use OR ROLLBACK: SQLite
	// then needs no statement journal, and a conflict fails the batch.
	if first != nil {
		if _, err := tx.ExecContext(ctx, insertFirst, first...); err != nil {
			return nil, fmt.Errorf("store: inserting records: %w", err)
		}
	}
	if last, err := s.insertRows(ctx, tx, insertRecords, 7, recArgs); err != nil {
		return nil, fmt.Errorf("store: inserting records: %w", err)
	} else if len(recArgs) > 0 && last != int64(s.next)-1 {
		return nil, fmt.Errorf("store: the records inserted end at index %d, not %d", last, s.next-1)
	}
	// The parties rows wait, unless enough have or for long enough
	// (partyFlushRows); then they are written with this transaction's.
	flushed := len(s.partyBuf) > 0 && time.Since(s.partyOldest) >= s.flushAge ||
		len(s.partyBuf)+len(partyRows) >= s.flushRows
	if flushed {
		if err := s.writeParties(ctx, tx, append(slices.Clip(s.partyBuf), partyRows...), int64(s.next)); err != nil {
			return nil, err
		}
	}
	if _, err := s.insertRows(ctx, tx, insertRefs, 2, refArgs); err != nil {
		return nil, fmt.Errorf("store: indexing references: %w", err)
	}
	if _, err := s.insertRows(ctx, tx, insertStaged, 2, stagedArgs); err != nil {
		return nil, fmt.Errorf("store: staging payloads: %w", err)
	}
	if err := s.insertChunks(ctx, tx, chunkArgs); err != nil {
		return nil, fmt.Errorf("store: storing payloads: %w", err)
	}
	if _, err := s.insertRows(ctx, tx, insertPayloads, 3, payArgs); err != nil {
		return nil, fmt.Errorf("store: storing payloads: %w", err)
	}
	if err := s.insertInline(ctx, tx, inlineArgs); err != nil {
		return nil, fmt.Errorf("store: storing payloads: %w", err)
	}
	for _, k := range discards {
		if _, err := tx.ExecContext(ctx, `DELETE FROM payload_chunks WHERE payload = ?`, k); err != nil {
			return nil, fmt.Errorf("store: discarding a staged payload: %w", err)
		}
	}
	for len(unstageArgs) > 0 {
		k := min(len(unstageArgs), maxParams)
		if _, err := tx.ExecContext(ctx, `DELETE FROM payload_staged WHERE payload IN (`+placeholders(k)+`)`, unstageArgs[:k]...); err != nil {
			return nil, fmt.Errorf("store: storing payloads: %w", err)
		}
		unstageArgs = unstageArgs[k:]
	}
	if err := s.fold(ctx, tx, tree, &hasCheckpoint); err != nil {
		return nil, err
	}
	// SPEC: spec/store.md#failpoints
	if len(recArgs) > 0 {
		failpoint.Hit("store/append-before-commit")
	}
	roundHit := s.folded != nil
	for _, r := range batch {
		if r.round != nil && r.err == nil {
			roundHit = true
		}
	}
	if roundHit {
		failpoint.Hit("store/round-before-commit")
	}
	if err := s.timedCommit(tx, start); err != nil {
		return nil, fmt.Errorf("store: committing appends: %w", err)
	}
	s.last = floor
	return []func(){func() {
		switch {
		case flushed:
			s.partyBuf = nil
		case len(partyRows) > 0:
			if len(s.partyBuf) == 0 {
				s.partyOldest = time.Now()
			}
			s.partyBuf = append(s.partyBuf, partyRows...)
		}
		for k, sp := range staging {
			s.staged[k] = sp
		}
		for k := range gone {
			delete(s.staged, k)
		}
	}}, nil
}

// fold asks the folder, if any, for the round of the leaves appended in
// tx, and writes it in tx. tree is the tree's size as tx goes: the folder
// is asked only if it covers every leaf before them.
//
// SPEC: spec/log.md#sequencing
func (s *Store) fold(ctx context.Context, tx *sql.Tx, tree uint64, hasCheckpoint *bool) error {
	if s.folder == nil || len(s.pending) == 0 {
		return nil
	}
	old := s.next - uint64(len(s.pending))
	if tree != old {
		return nil
	}
	rd, done := s.folder.FoldRound(old, s.pending)
	if rd == nil {
		return nil
	}
	s.folded, s.foldDone = rd, done
	req := &writeReq{round: rd}
	if err := s.integrateTx(ctx, tx, req, &tree, hasCheckpoint); err != nil {
		return err
	}
	if req.err != nil {
		// A round that does not apply (integrateTx refused it before
		// writing anything): the appends go on without it, their leaves
		// left to the sequencer's next round.
		s.endFold(false)
	}
	return nil
}

// checkStaged checks that the staged payloads entries name are staged,
// committed, of the size they say, and not taken twice.
func (s *Store) checkStaged(entries []*store.Entry, gone map[int64]bool, staging map[int64]*stagedPayload) error {
	var mine []int64
	for _, e := range entries {
		if e.Staged == nil {
			continue
		}
		if e.Payload != nil {
			return fmt.Errorf("store: record %s carries a payload and names a staged one", e.ID.Short())
		}
		k := e.Staged.Key
		sp := staging[k]
		if sp == nil {
			sp = s.staged[k]
		}
		if sp == nil || gone[k] || slices.Contains(mine, k) {
			return fmt.Errorf("store: record %s names payload %d: %w", e.ID.Short(), k, store.ErrNotStaged)
		}
		if !sp.committed || sp.size != e.Staged.Size {
			return fmt.Errorf("store: record %s names payload %d of %d bytes, but %d are staged (committed: %v): %w",
				e.ID.Short(), k, e.Staged.Size, sp.size, sp.committed, store.ErrNotStaged)
		}
		mine = append(mine, k)
	}
	return nil
}

// insertChunks inserts payload chunks, (key, seq, data) triples, a few at
// a time, so that one statement never binds more than a few chunks.
func (s *Store) insertChunks(ctx context.Context, tx *sql.Tx, args []any) error {
	for len(args) > 0 {
		rows := 1 << (bits.Len(uint(min(len(args)/3, chunkRowsPerInsert))) - 1)
		st, err := s.stmt(insertChunks, rows)
		if err == nil {
			_, err = tx.StmtContext(ctx, st).ExecContext(ctx, args[:3*rows]...)
		}
		if err != nil {
			return err
		}
		args = args[3*rows:]
	}
	return nil
}

// The parties index lags the records: a commit leaves its records'
// parties rows waiting in memory, and the writer writes them all at
// once, sorted by handle, with the commit after they reach
// partyFlushRows rows or the oldest has waited partyFlushAge (or on its
// own, if no commit comes by then, and when the store closes), recording
// in parties_indexed the index below which every record has its rows.
// Each commit used to rewrite the last leaf of every party's range it
// touched (a third of the pages of a commit at half load); written in a
// batch, the rows of one party share a leaf. The rows waiting are never
// the only copy: a record's parties are in its own row (records.parties),
// from which Open reads them again after a restart (readPartyLag), and
// listParty reads the records from parties_indexed.upto on there.
//
// SPEC: spec/store.md#sqlite
var (
	partyFlushRows = 4096
	partyFlushAge  = 50 * time.Millisecond
)

// A partyRow is a row of the parties index: a record's party, the
// record's index and its kind.
type partyRow struct {
	handle string
	idx    int64
	kind   string
}

// appendPartyRows appends the rows of a record of index idx and kind
// naming handles, one per distinct handle.
func appendPartyRows(rows []partyRow, handles []record.Handle, idx int64, kind string) []partyRow {
	for k, h := range handles {
		if !slices.Contains(handles[:k], h) {
			rows = append(rows, partyRow{string(h), idx, kind})
		}
	}
	return rows
}

// writeParties writes rows (which it sorts by handle and index) and
// records that every record below upto has its rows.
func (s *Store) writeParties(ctx context.Context, tx *sql.Tx, rows []partyRow, upto int64) error {
	slices.SortFunc(rows, func(a, b partyRow) int {
		if c := strings.Compare(a.handle, b.handle); c != 0 {
			return c
		}
		return cmp.Compare(a.idx, b.idx)
	})
	args := make([]any, 0, 3*len(rows))
	for _, r := range rows {
		args = append(args, r.handle, r.idx, r.kind)
	}
	if _, err := s.insertRows(ctx, tx, insertParties, 3, args); err != nil {
		return fmt.Errorf("store: indexing parties: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE parties_indexed SET upto = max(upto, ?)`, upto); err != nil {
		return fmt.Errorf("store: indexing parties: %w", err)
	}
	return nil
}

// flushParties writes the parties rows waiting in a transaction of
// their own, when no commit came to take them. On failure they wait for
// the next commit.
func (s *Store) flushParties() {
	ctx := context.Background()
	start := time.Now()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return
	}
	defer tx.Rollback()
	if s.writeParties(ctx, tx, s.partyBuf, int64(s.next)) != nil || s.timedCommit(tx, start) != nil {
		s.partyOldest = time.Now() // try again in flushAge
		return
	}
	s.partyBuf = nil
}

// readPartyLag reads, when the store opens, the parties rows of the
// records from parties_indexed.upto on (the index below which every
// record has its rows), from the records' own rows, to be written later.
func readPartyLag(db *sql.DB) ([]partyRow, error) {
	var upto int64
	if err := db.QueryRow(`SELECT upto FROM parties_indexed`).Scan(&upto); err != nil {
		return nil, err
	}
	rows, err := db.Query(`SELECT idx, kind, parties FROM records WHERE idx >= ? ORDER BY idx`, upto)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []partyRow
	for rows.Next() {
		var idx int64
		var kind, parties string
		if err := rows.Scan(&idx, &kind, &parties); err != nil {
			return nil, err
		}
		out = appendPartyRows(out, columns.SplitHandles(parties), idx, kind)
	}
	return out, rows.Err()
}

// inline reports whether e's payload is kept whole in inline_payloads (a
// payload in memory of at most one chunk) rather than in payload_chunks.
// An empty one is too: it is a row of no bytes.
//
// SPEC: spec/store.md#sqlite
func inline(e *store.Entry) bool {
	return e.Payload != nil && len(e.Payload) <= store.ChunkSize
}

// insertInline inserts the (index, payload) pairs of args into
// inline_payloads, in statements that bind at most chunkRowsPerInsert
// chunks' worth of bytes (a statement's parameters are copied into
// SQLite): a pouch's payload is a few KiB, but one may be up to a chunk.
func (s *Store) insertInline(ctx context.Context, tx *sql.Tx, args []any) error {
	for len(args) > 0 {
		rows, bound := 0, 0 // pairs, and their payloads' bytes
		for 2*rows < len(args) {
			n := len(args[2*rows+1].([]byte))
			if rows > 0 && bound+n > chunkRowsPerInsert*store.ChunkSize {
				break
			}
			rows, bound = rows+1, bound+n
		}
		if _, err := s.insertRows(ctx, tx, insertInline, 2, args[:2*rows]); err != nil {
			return err
		}
		args = args[2*rows:]
	}
	return nil
}

// chunkRowsPerInsert bounds the chunks one insert statement binds.
const chunkRowsPerInsert = 8

// checkEntries runs the Check hooks of one Append call's entries, which
// would be placed from index next on at time now.
func checkEntries(entries []*store.Entry, next uint64, now time.Time) error {
	for i, e := range entries {
		if e.Check == nil {
			continue
		}
		if err := e.Check(store.Sequenced{Index: next + uint64(i), Time: now}); err != nil {
			return err
		}
	}
	return nil
}

// maxParams bounds the parameters of one statement, well below SQLite's
// limit of 32766.
const maxParams = 900

// existing returns which of ids (32-byte record IDs) are stored.
func existing(ctx context.Context, tx *sql.Tx, ids []any) (map[record.ID]bool, error) {
	out := make(map[record.ID]bool)
	for len(ids) > 0 {
		n := min(len(ids), maxParams)
		rows, err := tx.QueryContext(ctx, `SELECT id FROM records WHERE id IN (`+placeholders(n)+`)`, ids[:n]...)
		if err != nil {
			return nil, fmt.Errorf("store: looking up records: %w", err)
		}
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				rows.Close()
				return nil, err
			}
			var id record.ID
			copy(id[:], b)
			out[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		ids = ids[n:]
	}
	return out, nil
}

// insertRows runs head with as many "(?, ...)" tuples of width parameters
// as args holds, in statements of at most maxParams parameters. Every
// statement it runs is prepared once, when the store opens: full chunks,
// then what remains in chunks of a power of two rows (64, 32, ... 1), so
// that no commit pays for parsing SQL, whatever its size.
func (s *Store) insertRows(ctx context.Context, tx *sql.Tx, head string, width int, args []any) (last int64, err error) {
	full := maxParams / width
	for len(args) > 0 {
		rows := min(len(args)/width, full)
		if rows < full {
			rows = 1 << (bits.Len(uint(rows)) - 1)
		}
		st, err := s.stmt(head, rows)
		var res sql.Result
		if err == nil {
			res, err = tx.StmtContext(ctx, st).ExecContext(ctx, args[:rows*width]...)
		}
		if err == nil {
			last, err = res.LastInsertId()
		}
		if err != nil {
			return 0, err
		}
		args = args[rows*width:]
	}
	return last, nil
}

// The multi-row inserts of the append transaction. Conflicts are ruled
// out before they run, so they use OR ROLLBACK: SQLite then needs no
// statement journal, and a conflict fails the batch. The parties rows
// use OR IGNORE (insertParties), which needs none either.
var inserts = map[string]int{
	insertRecords:  7,
	insertParties:  3,
	insertRefs:     2,
	insertPayloads: 3,
	insertInline:   2,
	insertStaged:   2,
}

const (
	// insertRecords leaves idx out: each record takes the next rowid,
	// which is its leaf index (commitTx checks the last). An explicit
	// INTEGER PRIMARY KEY in a multi-row insert makes SQLite open a
	// statement journal (the value might not be an integer, which aborts
	// the statement), and that journal copies each page the statement
	// changes, about one page of the ID index per record. The log's
	// first record, whose index 0 is no next rowid, is inserted alone,
	// which needs no statement journal either.
	insertRecords = `INSERT OR ROLLBACK INTO records (id, kind, time, public, parties, refs, signed) VALUES `
	insertFirst   = `INSERT OR ROLLBACK INTO records (idx, id, kind, time, public, parties, refs, signed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	// A record's parties rows may be written by another store open on
	// the same file (its Open reads the rows the records not yet indexed
	// make, and its Close writes them): they are the same rows, and the
	// one writing second skips them.
	insertParties  = `INSERT OR IGNORE INTO parties (handle, idx, kind) VALUES `
	insertRefs     = `INSERT OR ROLLBACK INTO refs (ref, idx) VALUES `
	insertPayloads = `INSERT OR ROLLBACK INTO record_payloads (idx, payload, size) VALUES `
	insertInline   = `INSERT OR ROLLBACK INTO inline_payloads (idx, data) VALUES `
	insertStaged   = `INSERT OR ROLLBACK INTO payload_staged (payload, created) VALUES `
	insertChunks   = `INSERT OR ROLLBACK INTO payload_chunks (payload, seq, data) VALUES `

	// A round's tiles and checkpoint (integrateTx).
	upsertTile       = `INSERT INTO tiles (key, hashes, inner) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET hashes = excluded.hashes, inner = excluded.inner`
	upsertCheckpoint = `INSERT INTO checkpoints (size, note) VALUES (?, ?) ON CONFLICT (size) DO UPDATE SET note = excluded.note`
)

// chunk returns the insert head of rows tuples of width parameters.
func chunk(head string, width, rows int) string {
	tuple := "(" + placeholders(width) + ")"
	return head + strings.Repeat(tuple+",", rows-1) + tuple
}

// prepare prepares every chunk insertRows runs; it runs before the writer
// starts, as the writer holds the one connection during transactions.
func (s *Store) prepare() error {
	for head, width := range inserts {
		full := maxParams / width
		for rows := 1; ; rows *= 2 {
			if rows >= full {
				rows = full
			}
			st, err := s.w.Prepare(chunk(head, width, rows))
			if err != nil {
				return err
			}
			s.stmts[stmtKey{head, rows}] = st
			if rows == full {
				break
			}
		}
	}
	for rows := 1; rows <= chunkRowsPerInsert; rows *= 2 {
		st, err := s.w.Prepare(chunk(insertChunks, 3, rows))
		if err != nil {
			return err
		}
		s.stmts[stmtKey{insertChunks, rows}] = st
	}
	// A round's writes, in most commits under load: parsing them took
	// longer than running them.
	for _, q := range []string{upsertTile, upsertCheckpoint} {
		st, err := s.w.Prepare(q)
		if err != nil {
			return err
		}
		s.stmts[stmtKey{q, 1}] = st
	}
	return nil
}

// A stmtKey names a prepared statement of the writer's: an insert head
// and its rows (1 for the round's upserts), looked up without building
// the statement's text.
type stmtKey struct {
	head string
	rows int
}

// stmt returns the prepared statement q, if it is one of the prepared.
// maxReadStmts bounds the read queries kept prepared: List's shapes (which
// filters, how many kinds) are few, so the bound is rarely reached.
const maxReadStmts = 256

// query runs read query q on the readers' pool, prepared once: parsing a
// query costs more than running it on an index, and a pouch or an inbox
// page is read with many small queries.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	s.rmu.Lock()
	st := s.rstmts[q]
	if st == nil && len(s.rstmts) < maxReadStmts {
		var err error
		if st, err = s.r.PrepareContext(ctx, q); err != nil {
			s.rmu.Unlock()
			return nil, err
		}
		s.rstmts[q] = st
	}
	s.rmu.Unlock()
	if st == nil {
		return s.r.QueryContext(ctx, q, args...)
	}
	return st.QueryContext(ctx, args...)
}

// queryRow is query for one row.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	s.rmu.Lock()
	st := s.rstmts[q]
	if st == nil && len(s.rstmts) < maxReadStmts {
		var err error
		if st, err = s.r.PrepareContext(ctx, q); err != nil {
			st = nil
		} else {
			s.rstmts[q] = st
		}
	}
	s.rmu.Unlock()
	if st == nil {
		return s.r.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (s *Store) stmt(head string, rows int) (*sql.Stmt, error) {
	if st, ok := s.stmts[stmtKey{head, rows}]; ok {
		return st, nil
	}
	return nil, errors.New("store: statement not prepared")
}

// isConstraint reports whether err is an SQLite constraint failure.
func isConstraint(err error) bool {
	var e *msqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// classify adds store.ErrFull to an error of a full disk, and store.ErrIO
// to an I/O error, so that callers tell them from the rest.
//
// SPEC: spec/store.md#full-storage
func classify(err error) error {
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_FULL:
		return fmt.Errorf("%w: %w", store.ErrFull, err)
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("%w: %w", store.ErrIO, err)
	}
	return err
}

const recCols = `r.idx, r.id, r.kind, r.time, r.public, r.parties, r.refs, r.signed`

type scanner interface{ Scan(...any) error }

func scanStored(sc scanner) (*store.Stored, error) {
	var (
		idx, ms   int64
		id, refs  []byte
		kind, par string
		pub       int
		signed    []byte
		st        store.Stored
	)
	if err := sc.Scan(&idx, &id, &kind, &ms, &pub, &par, &refs, &signed); err != nil {
		return nil, err
	}
	if len(id) != 32 {
		return nil, fmt.Errorf("store: record at index %d has a %d-byte ID", idx, len(id))
	}
	copy(st.ID[:], id)
	st.Kind = record.Kind(kind)
	st.Signed = signed
	st.Public = pub != 0
	st.Parties = columns.SplitHandles(par)
	st.Refs = columns.SplitIDs(refs)
	st.Index = uint64(idx)
	st.Time = time.UnixMilli(ms).UTC()
	return &st, nil
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: %s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("store: reading %s: %w", what, err)
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, id record.ID) (*store.Stored, error) {
	st, err := scanStored(s.queryRow(ctx, `SELECT `+recCols+` FROM records r WHERE r.id = ?`, id[:]))
	if err != nil {
		return nil, notFound(err, "record "+id.String())
	}
	return st, nil
}

// GetByIndex implements store.Store.
func (s *Store) GetByIndex(ctx context.Context, idx uint64) (*store.Stored, error) {
	st, err := scanStored(s.queryRow(ctx, `SELECT `+recCols+` FROM records r WHERE r.idx = ?`, int64(idx)))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("record at index %d", idx))
	}
	return st, nil
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, q store.Query) ([]*store.Stored, error) {
	limit := q.Limit
	if limit <= 0 || limit > store.MaxList {
		limit = store.MaxList
	}
	if q.Party != "" && q.IDPrefix == "" {
		return s.listParty(ctx, q, limit)
	}
	var (
		from  string
		where []string
		args  []any
		order string
	)
	switch {
	case q.IDPrefix != "":
		lo, hi, err := store.PrefixRange(q.IDPrefix)
		if err != nil || q.Party != "" || q.Ref != nil {
			return nil, fmt.Errorf("store: listing records: IDPrefix %q with party %q, ref %v: %w", q.IDPrefix, q.Party, q.Ref, store.ErrBadQuery)
		}
		// The ID index bounds the scan to the prefix's range.
		from = `records r INDEXED BY records_id`
		where = append(where, `r.id BETWEEN ? AND ?`, `r.idx >= ?`)
		args = append(args, lo[:], hi[:], int64(q.From))
		order = `r.idx`
	case q.Ref != nil:
		from = `refs f JOIN records r ON r.idx = f.idx`
		where = append(where, `f.ref = ?`, `f.idx >= ?`)
		args = append(args, q.Ref[:], int64(q.From))
		order = `f.idx`
	default:
		from = `records r`
		where = append(where, `r.idx >= ?`)
		args = append(args, int64(q.From))
		order = `r.idx`
	}
	where, args = kindsPublic(q, `r.kind`, where, args)
	return s.listQuery(ctx, q, from, where, args, order, limit)
}

// listParty lists a party's records: from the parties index below
// parties_indexed.upto, and from the records' own parties column from
// there on (partyFlushRows), the two ranges in the order asked.
func (s *Store) listParty(ctx context.Context, q store.Query, limit int) ([]*store.Stored, error) {
	// upto is read first: it only grows, and every record below it has
	// its rows, so the two ranges neither miss nor repeat a record
	// whatever is written meanwhile.
	var upto int64
	if err := s.queryRow(ctx, `SELECT upto FROM parties_indexed`).Scan(&upto); err != nil {
		return nil, fmt.Errorf("store: listing records: %w", err)
	}
	// Each range is bounded once on each side, so that SQLite walks the
	// range itself rather than one bound's range, filtering on the other.
	indexed := func(limit int) ([]*store.Stored, error) {
		hi := upto
		if q.Before > 0 && q.Before < uint64(hi) {
			hi = int64(q.Before)
		}
		if int64(q.From) >= hi {
			return nil, nil
		}
		where := []string{`p.handle = ?`, `p.idx >= ?`, `p.idx < ?`}
		args := []any{string(q.Party), int64(q.From), hi}
		if q.Ref != nil {
			where = append(where, `EXISTS (SELECT 1 FROM refs f WHERE f.ref = ? AND f.idx = p.idx)`)
			args = append(args, q.Ref[:])
		}
		where, args = kindsPublic(q, `p.kind`, where, args)
		below := q
		below.Before = 0 // hi is the bound
		return s.listQuery(ctx, below, `parties p JOIN records r ON r.idx = p.idx`, where, args, `p.idx`, limit)
	}
	lagging := func(limit int) ([]*store.Stored, error) {
		lo := max(int64(q.From), upto)
		if q.Before > 0 && q.Before <= uint64(lo) {
			return nil, nil
		}
		// A few thousand records at most (partyFlushRows), a range of
		// the table's own key, each matched on its newline-separated
		// parties column.
		where := []string{`r.idx >= ?`, `instr(char(10) || r.parties || char(10), char(10) || ? || char(10)) > 0`}
		args := []any{lo, string(q.Party)}
		if q.Ref != nil {
			where = append(where, `EXISTS (SELECT 1 FROM refs f WHERE f.ref = ? AND f.idx = r.idx)`)
			args = append(args, q.Ref[:])
		}
		where, args = kindsPublic(q, `r.kind`, where, args)
		return s.listQuery(ctx, q, `records r`, where, args, `r.idx`, limit)
	}
	first, second := indexed, lagging
	if q.Desc {
		first, second = lagging, indexed
	}
	out, err := first(limit)
	if err != nil || len(out) == limit {
		return out, err
	}
	more, err := second(limit - len(out))
	return append(out, more...), err
}

// kindsPublic adds List's filters on kinds (the column kind) and public.
func kindsPublic(q store.Query, kind string, where []string, args []any) ([]string, []any) {
	if len(q.Kinds) > 0 {
		where = append(where, kind+` IN (`+placeholders(len(q.Kinds))+`)`)
		for _, k := range q.Kinds {
			args = append(args, string(k))
		}
	}
	if q.Public {
		where = append(where, `r.public = 1`)
	}
	return where, args
}

// listQuery runs one of List's queries: the records of from matching
// where, ordered by the index column order (which Before bounds, and
// Desc reverses), at most limit.
func (s *Store) listQuery(ctx context.Context, q store.Query, from string, where []string, args []any, order string, limit int) ([]*store.Stored, error) {
	// Before bounds the same index column as From, so the scan is one
	// range of the index, walked backwards for Desc.
	if q.Before > 0 {
		where = append(where, order+` < ?`)
		args = append(args, int64(min(q.Before, math.MaxInt64)))
	}
	if q.Desc {
		order += ` DESC`
	}
	query := `SELECT ` + recCols + ` FROM ` + from + ` WHERE ` + strings.Join(where, ` AND `) +
		` ORDER BY ` + order + ` LIMIT ?`
	args = append(args, limit)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: listing records: %w", err)
	}
	defer rows.Close()
	var out []*store.Stored
	for rows.Next() {
		st, err := scanStored(rows)
		if err != nil {
			return nil, fmt.Errorf("store: listing records: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: listing records: %w", err)
	}
	return out, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// WaitSize implements store.Store.
func (s *Store) WaitSize(ctx context.Context, size uint64) (uint64, error) {
	for {
		s.mu.Lock()
		cur, ch := s.size, s.changed
		s.mu.Unlock()
		if cur > size {
			return cur, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return cur, ctx.Err()
		case <-s.closing:
			return cur, store.ErrClosed
		}
	}
}

// Leaves implements store.Store.
func (s *Store) Leaves(ctx context.Context, start uint64, n int) ([]record.Leaf, error) {
	s.mu.Lock()
	// From memory when recent holds them all, or holds every leaf from
	// start on (the log has no more): a record's Check asks for the
	// leaves up to its own index, some of which are not committed yet.
	end := s.recentBase + uint64(len(s.recent))
	if start >= s.recentBase && (start+uint64(n) <= end || end == s.size && start <= end) {
		out := append([]record.Leaf(nil), s.recent[start-s.recentBase:min(start+uint64(n), end)-s.recentBase]...)
		s.mu.Unlock()
		return out, nil
	}
	s.mu.Unlock()
	rows, err := s.query(ctx, `SELECT kind, id, time, public FROM records WHERE idx >= ? AND idx < ? ORDER BY idx`, int64(start), int64(start)+int64(n))
	if err != nil {
		return nil, fmt.Errorf("store: reading leaves: %w", err)
	}
	defer rows.Close()
	out := make([]record.Leaf, 0, n)
	for rows.Next() {
		var kind string
		var id []byte
		var ms int64
		var pub bool
		if err := rows.Scan(&kind, &id, &ms, &pub); err != nil {
			return nil, fmt.Errorf("store: reading leaves: %w", err)
		}
		l := record.Leaf{Kind: record.Kind(kind), Time: ms, Private: !pub}
		copy(l.ID[:], id)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading leaves: %w", err)
	}
	return out, nil
}

// State implements store.Store.
func (s *Store) State(ctx context.Context) (store.LogState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closing:
		return store.LogState{}, store.ErrClosed
	default:
	}
	return s.state, nil
}

func tileKey(id store.TileID) int64 { return int64(id.Level)<<56 | int64(id.Index) }

// Tiles implements store.Store. The tiles are read in one query (a proof
// asks for two to four), of at most maxTilesQuery keys each.
func (s *Store) Tiles(ctx context.Context, ids []store.TileID) ([]store.Tile, error) {
	out := make([]store.Tile, len(ids))
	var keys []any
	at := make(map[int64][]int, len(ids)) // places in out, by key
	for i, id := range ids {
		out[i].TileID = id
		if id.Level < 0 || id.Level > 63/store.TileHeight || id.Index >= 1<<56 {
			continue
		}
		k := tileKey(id)
		if at[k] == nil {
			keys = append(keys, k)
		}
		at[k] = append(at[k], i)
	}
	for len(keys) > 0 {
		n := min(len(keys), maxTilesQuery)
		// As many placeholders as the power of two from n up, the last
		// key repeated: a few query texts, each prepared once.
		q := tilesQuery[bits.Len(uint(n-1))]
		args := keys[:n]
		for len(args) < 1<<bits.Len(uint(n-1)) {
			args = append(args[:len(args):len(args)], keys[n-1])
		}
		if err := s.readTiles(ctx, q, args, out, at); err != nil {
			return nil, err
		}
		keys = keys[n:]
	}
	return out, nil
}

// maxTilesQuery is the most tiles one query reads; tilesQuery[i] reads
// 2^i of them.
const maxTilesQuery = 64

var tilesQuery = func() (qs [7]string) {
	for i := range qs {
		qs[i] = `SELECT key, hashes, inner FROM tiles WHERE key IN (?` + strings.Repeat(", ?", 1<<i-1) + `)`
	}
	return qs
}()

// readTiles runs tiles query q with args and puts each tile it finds at
// its places in out.
func (s *Store) readTiles(ctx context.Context, q string, args []any, out []store.Tile, at map[int64][]int) error {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: reading tiles: %w", classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		var k int64
		var hashes, inner []byte
		if err := rows.Scan(&k, &hashes, &inner); err != nil {
			return fmt.Errorf("store: reading tiles: %w", classify(err))
		}
		for _, i := range at[k] {
			out[i].Hashes, out[i].Inner = hashes, inner
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: reading tiles: %w", classify(err))
	}
	return nil
}

// Integrate implements store.Store. The round is committed by the writer
// goroutine in the same transaction as the appends pending with it.
//
// SPEC: spec/store.md#integrate
func (s *Store) Integrate(ctx context.Context, r *store.Round) error {
	if r.NewSize < r.OldSize {
		return fmt.Errorf("store: a round cannot shrink the tree from %d to %d", r.OldSize, r.NewSize)
	}
	for _, t := range r.Tiles {
		if len(t.Hashes) == 0 || len(t.Hashes)%32 != 0 || len(t.Hashes) > 32*store.TileWidth {
			return fmt.Errorf("store: tile %d/%d has %d bytes, not 1 to %d hashes", t.Level, t.Index, len(t.Hashes), store.TileWidth)
		}
		if t.Level < 0 || t.Level > 63/store.TileHeight || t.Index >= 1<<56 {
			return fmt.Errorf("store: no tile %d/%d", t.Level, t.Index)
		}
		if len(t.Inner) != 0 && len(t.Inner) != store.InnerLen(t.Width()) {
			return fmt.Errorf("store: tile %d/%d of %d hashes has %d bytes of inner hashes, not %d", t.Level, t.Index, t.Width(), len(t.Inner), store.InnerLen(t.Width()))
		}
	}
	req := &writeReq{round: r, done: make(chan struct{})}
	if err := s.send(ctx, s.reqs, req); err != nil {
		return err
	}
	<-req.done // a round is short: wait for it even if ctx ends, to report its fate
	return req.err
}

// integrateTx writes round r.round in tx. A round that does not apply
// fails alone (r.err); an error writing it fails the transaction.
func (s *Store) integrateTx(ctx context.Context, tx *sql.Tx, r *writeReq, tree *uint64, hasCheckpoint *bool) error {
	rd := r.round
	if rd.OldSize != *tree || (*hasCheckpoint && rd.NewSize == rd.OldSize && rd.OldSize == 0) {
		r.err = fmt.Errorf("store: round from size %d, tree has %d: %w", rd.OldSize, *tree, store.ErrConflict)
		return nil
	}
	if rd.NewSize > s.next {
		r.err = fmt.Errorf("store: a round to size %d is beyond the %d leaves appended", rd.NewSize, s.next)
		return nil
	}
	if len(rd.Tiles) > 0 {
		st, err := s.stmt(upsertTile, 1)
		if err != nil {
			return err
		}
		up := tx.StmtContext(ctx, st)
		for _, t := range rd.Tiles {
			var inner any // NULL, not an empty blob, for none
			if len(t.Inner) > 0 {
				inner = t.Inner
			}
			if _, err := up.ExecContext(ctx, tileKey(t.TileID), t.Hashes, inner); err != nil {
				return fmt.Errorf("store: writing tile %d/%d: %w", t.Level, t.Index, err)
			}
		}
	}
	st, err := s.stmt(upsertCheckpoint, 1)
	if err == nil {
		_, err = tx.StmtContext(ctx, st).ExecContext(ctx, int64(rd.NewSize), rd.Checkpoint)
	}
	if err != nil {
		return fmt.Errorf("store: writing the checkpoint: %w", err)
	}
	*tree = rd.NewSize
	*hasCheckpoint = true
	return nil
}

// Checkpoint implements store.Store.
func (s *Store) Checkpoint(ctx context.Context, size uint64) ([]byte, error) {
	var note []byte
	if err := s.r.QueryRowContext(ctx, `SELECT note FROM checkpoints WHERE size = ?`, int64(size)).Scan(&note); err != nil {
		return nil, notFound(err, fmt.Sprintf("checkpoint of size %d", size))
	}
	return note, nil
}

// CheckpointsAround implements store.Store.
func (s *Store) CheckpointsAround(ctx context.Context, index uint64) (before, after store.StoredCheckpoint, err error) {
	var size int64
	err = s.r.QueryRowContext(ctx, `SELECT size, note FROM checkpoints WHERE size <= ? ORDER BY size DESC LIMIT 1`, int64(index)).Scan(&size, &before.Note)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return before, after, fmt.Errorf("store: the checkpoint before leaf %d: %w", index, err)
	}
	before.Size = uint64(size)
	err = s.r.QueryRowContext(ctx, `SELECT size, note FROM checkpoints WHERE size > ? ORDER BY size LIMIT 1`, int64(index)).Scan(&size, &after.Note)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return before, after, fmt.Errorf("store: the checkpoint after leaf %d: %w", index, err)
	}
	if after.Note != nil {
		after.Size = uint64(size)
	}
	return before, after, nil
}

// Cosigned implements store.Store.
func (s *Store) Cosigned(ctx context.Context, size uint64, note []byte) error {
	res, err := s.w.ExecContext(ctx, `UPDATE checkpoints SET note = ? WHERE size = ?`, note, int64(size))
	if err != nil {
		return fmt.Errorf("store: storing cosignatures: %w", classify(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: checkpoint of size %d: %w", size, store.ErrNotFound)
	}
	s.mu.Lock()
	if s.state.TreeSize == size {
		s.state.Checkpoint = note
	}
	s.mu.Unlock()
	return nil
}
