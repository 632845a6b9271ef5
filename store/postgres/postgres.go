// Package postgres is the scale-out store: a PostgreSQL database (driver
// pgx, connection pool pgxpool) holding records, payloads, the tree's
// tiles and the signed checkpoints, which any number of pouch server
// processes may share.
//
// # Appends across processes
//
// Log indexes are gapless, so appends serialise at the database: every
// append transaction first locks the one row of log_head (SELECT ... FOR
// UPDATE), which holds the number of leaves and the latest time of
// sequencing. Holding it, the transaction reads the database's clock
// (clock_timestamp(), milliseconds), keeps it from going back (the
// maximum with the previous leaf's time), calls each entry's Check hook,
// writes the records and moves the head. Everything below the first index
// it gives is therefore committed, and readable from any connection, when
// a Check runs: a server may re-judge a record against records that other
// processes appended. Within one process, concurrent Append calls share
// one transaction (group commit), as in store/sqlite.
//
// Integrate locks the one row of tree_head the same way, and refuses a
// round whose old size is not the tree's (store.ErrConflict).
//
// # Waking up
//
// An append transaction sends NOTIFY pouch_log with the new number of
// leaves as its payload. Every store LISTENs on a connection of its own, so
// WaitSize wakes when another process appends; it also polls the head
// every second, in case a notification is lost with a connection.
//
// SPEC: spec/store.md#postgresql
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"pouch.dev/internal/failpoint"
	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/internal/columns"
)

// Options configure Open. The zero value is ready to use.
type Options struct {
	// Clock, if set, gives records their time of sequencing instead of
	// the database's clock: for tests that move time. Times still never
	// decrease with the index.
	Clock func() time.Time
	// MaxConns bounds the connection pool (default 16), besides the one
	// connection that listens for appends.
	MaxConns int32
	// ConnectTimeout bounds the opening of one connection (default 5s).
	ConnectTimeout time.Duration
	// StatementTimeout bounds each statement on the server (PostgreSQL's
	// statement_timeout; default 60s), and IdleInTransactionTimeout a
	// transaction left idle, such as by a process that hangs while it
	// holds the log's head (default 30s).
	StatementTimeout, IdleInTransactionTimeout time.Duration
	// Configure, if set, changes the pool's configuration before it
	// connects: more run-time parameters, a hook after connecting.
	Configure func(*pgxpool.Config) error
}

// Defaults of Options.
const (
	defaultMaxConns         = 16
	defaultConnectTimeout   = 5 * time.Second
	defaultStatementTimeout = 60 * time.Second
	defaultIdleInTx         = 30 * time.Second
	// pollInterval is how often WaitSize's listener reads the head
	// itself, in case a notification was lost.
	pollInterval = time.Second
)

// NotifyChannel is the channel on which every append transaction
// notifies the new number of leaves, in decimal; TreeNotifyChannel the
// one on which Integrate notifies the new tree size, in decimal, when a
// round commits.
const (
	NotifyChannel     = "pouch_log"
	TreeNotifyChannel = "pouch_tree"
)

// Advisory lock classes (the first key of PostgreSQL's two-key advisory
// locks) that the store takes. Other users of the database pick others.
const (
	// LockClassStager: a store holds (LockClassStager, owner) while it
	// lives, on its listening connection, for the payloads it stages.
	LockClassStager = 0x706f7501
	// lockClassMigrate serialises schema migrations of processes that
	// open the database at once.
	lockClassMigrate = 0x706f7502
)

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool  *pgxpool.Pool
	cfg   *pgxpool.Config
	opt   Options
	owner int64 // this store's owner ID for staged payloads

	reqs       chan *writeReq
	closing    chan struct{}
	done       chan struct{}
	listenDone chan struct{}
	once       sync.Once

	mu      sync.Mutex
	size    uint64        // leaves appended, as far as this process knows
	changed chan struct{} // closed and replaced when size grows
	swept   time.Time     // when expired nonces were last deleted (replicas.go)
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Importer = (*Store)(nil)
)

// A writeReq is one Append call, committed by the writer goroutine with
// the others pending (group commit).
type writeReq struct {
	entries []*store.Entry
	at      []store.Sequenced // Import: the places and times the entries get
	res     []store.Sequenced
	err     error
	done    chan struct{}
}

// maxGroup bounds the entries one group-commit transaction carries.
const maxGroup = 8192

// Open connects to the PostgreSQL database named by url (a postgres://
// URL or a key=value connection string), creates or migrates its schema,
// discards the payloads staged by stores that have stopped, and starts
// listening for appends.
func Open(ctx context.Context, url string, opt Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w (want a URL such as postgres://user@host:5432/db?sslmode=disable)", err)
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = defaultMaxConns
	}
	if opt.ConnectTimeout <= 0 {
		opt.ConnectTimeout = defaultConnectTimeout
	}
	if opt.StatementTimeout <= 0 {
		opt.StatementTimeout = defaultStatementTimeout
	}
	if opt.IdleInTransactionTimeout <= 0 {
		opt.IdleInTransactionTimeout = defaultIdleInTx
	}
	cfg.MaxConns = opt.MaxConns
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > opt.ConnectTimeout {
		cfg.ConnConfig.ConnectTimeout = opt.ConnectTimeout
	}
	rp := cfg.ConnConfig.RuntimeParams
	setDefault(rp, "statement_timeout", strconv.FormatInt(opt.StatementTimeout.Milliseconds(), 10))
	setDefault(rp, "idle_in_transaction_session_timeout", strconv.FormatInt(opt.IdleInTransactionTimeout.Milliseconds(), 10))
	setDefault(rp, "application_name", "pouch")
	if opt.Configure != nil {
		if err := opt.Configure(cfg); err != nil {
			return nil, fmt.Errorf("postgres: configuring the pool: %w", err)
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	where := fmt.Sprintf("the database %s on %s", cfg.ConnConfig.Database, cfg.ConnConfig.Host)
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot reach %s: %w", where, classify(err))
	}
	if err := migrate(ctx, pool, where); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{
		pool: pool, cfg: cfg, opt: opt,
		reqs:       make(chan *writeReq, 1024),
		closing:    make(chan struct{}),
		done:       make(chan struct{}),
		listenDone: make(chan struct{}),
		changed:    make(chan struct{}),
	}
	if err := pool.QueryRow(ctx, `SELECT nextval('payload_owners')`).Scan(&s.owner); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: reading %s: %w", where, classify(err))
	}
	// The listener holds this store's stager lock before Open returns, so
	// that no other store's Open discards what it stages.
	ready := make(chan error, 1)
	go s.listen(ready)
	if err := <-ready; err != nil {
		close(s.closing)
		<-s.listenDone
		pool.Close()
		return nil, fmt.Errorf("postgres: listening on %s: %w", where, classify(err))
	}
	if err := s.discardStaged(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres: discarding staged payloads in %s: %w", where, classify(err))
	}
	var size int64
	if err := pool.QueryRow(ctx, `SELECT size FROM log_head`).Scan(&size); err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres: reading %s: %w", where, classify(err))
	}
	s.grow(uint64(size))
	go s.writer()
	return s, nil
}

func setDefault(m map[string]string, k, v string) {
	if _, ok := m[k]; !ok {
		m[k] = v
	}
}

// Pool returns the store's connection pool, for the server's other
// shared state (such as the sequencer's leadership lock).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// migrate brings the database's schema to SchemaVersion, in one
// transaction, holding an advisory lock so that processes opening the
// database at once migrate it once.
//
// SPEC: spec/store.md#schema-versions
func migrate(ctx context.Context, pool *pgxpool.Pool, where string) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", where, classify(err))
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, lockClassMigrate); err != nil {
		return fmt.Errorf("postgres: locking %s for migration: %w", where, classify(err))
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		one     boolean PRIMARY KEY DEFAULT true CHECK (one),
		version integer NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: creating the schema in %s: %w", where, classify(err))
	}
	var have int
	err = tx.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&have)
	if errors.Is(err, pgx.ErrNoRows) {
		have = 0
		_, err = tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES (0)`)
	}
	if err != nil {
		return fmt.Errorf("postgres: reading the schema version of %s: %w", where, classify(err))
	}
	if err := store.CheckSchemaVersion(where, have, SchemaVersion); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	for v := have; v < SchemaVersion; v++ {
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			return fmt.Errorf("postgres: migrating %s to schema version %d: %w", where, v+1, classify(err))
		}
	}
	if have < SchemaVersion {
		if _, err := tx.Exec(ctx, `UPDATE schema_version SET version = $1`, SchemaVersion); err != nil {
			return fmt.Errorf("postgres: migrating %s: %w", where, classify(err))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: migrating %s: %w", where, classify(err))
	}
	return nil
}

// discardStaged discards the payloads staged by stores that have stopped:
// those whose owner's advisory lock nobody holds.
//
// SPEC: spec/store.md#payloads
func (s *Store) discardStaged(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT owner FROM payload_staged`)
	if err != nil {
		return err
	}
	owners, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	for _, o := range owners {
		if o == s.owner {
			continue
		}
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var free bool
			if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1, $2)`, LockClassStager, int32(o)).Scan(&free); err != nil || !free {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM payload_chunks WHERE payload IN (SELECT payload FROM payload_staged WHERE owner = $1)`, o); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DELETE FROM payload_staged WHERE owner = $1`, o)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// listen holds a connection of its own that LISTENs for appends and holds
// the stager lock; it reconnects when the connection breaks. It reports
// on ready once it first listens (or fails to).
func (s *Store) listen(ready chan<- error) {
	defer close(s.listenDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	backoff := 100 * time.Millisecond
	for {
		conn, locked, err := s.listenConn(ctx)
		if err == nil && !locked && ready != nil {
			conn.Close(context.Background())
			err = fmt.Errorf("the advisory lock (%d, %d) of this store's staged payloads is taken", LockClassStager, int32(s.owner))
		}
		if ready != nil {
			ready <- err
			if err != nil {
				return
			}
			ready = nil
		}
		if err == nil {
			// It returns when the connection fails: connect again.
			t0 := time.Now()
			s.wait(ctx, conn, locked)
			conn.Close(context.Background())
			if time.Since(t0) > time.Minute {
				backoff = 100 * time.Millisecond
			}
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listenConn connects, listens, and tries to take this store's stager
// lock.
func (s *Store) listenConn(ctx context.Context) (*pgx.Conn, bool, error) {
	conn, err := pgx.ConnectConfig(ctx, s.cfg.ConnConfig.Copy())
	if err != nil {
		return nil, false, err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+NotifyChannel); err != nil {
		conn.Close(context.Background())
		return nil, false, err
	}
	// After a reconnection, the session of the broken connection may
	// hold the lock a while longer: wait tries again until it holds.
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, LockClassStager, int32(s.owner)).Scan(&locked); err != nil {
		conn.Close(context.Background())
		return nil, false, err
	}
	return conn, locked, nil
}

// wait reads notifications on conn until it fails, and the head every
// pollInterval.
func (s *Store) wait(ctx context.Context, conn *pgx.Conn, locked bool) error {
	for {
		// A server that stopped answering (a partition) fails the poll,
		// and the listener reconnects.
		qctx, cancel := context.WithTimeout(ctx, s.opt.ConnectTimeout)
		var size int64
		err := conn.QueryRow(qctx, `SELECT size FROM log_head`).Scan(&size)
		if err == nil && !locked {
			err = conn.QueryRow(qctx, `SELECT pg_try_advisory_lock($1, $2)`, LockClassStager, int32(s.owner)).Scan(&locked)
		}
		cancel()
		if err != nil {
			return err
		}
		s.grow(uint64(size))
		for {
			wctx, cancel := context.WithTimeout(ctx, pollInterval)
			n, err := conn.WaitForNotification(wctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
					break // poll
				}
				return err
			}
			if v, err := strconv.ParseUint(n.Payload, 10, 64); err == nil {
				s.grow(v)
			}
		}
	}
}

// grow records that the log has at least size leaves, and wakes WaitSize.
func (s *Store) grow(size uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if size > s.size {
		s.size = size
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// Close stops the writer and the listener and closes the pool. Pending
// appends fail with store.ErrClosed.
func (s *Store) Close() error {
	s.once.Do(func() {
		close(s.closing)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
		}
		<-s.listenDone
		s.pool.Close()
	})
	return nil
}

func (s *Store) closed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, entries []*store.Entry) ([]store.Sequenced, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	if len(entries) > store.MaxBatch {
		return nil, fmt.Errorf("%d entries: %w (limit %d)", len(entries), store.ErrTooLarge, store.MaxBatch)
	}
	req := &writeReq{entries: entries, done: make(chan struct{})}
	select {
	case s.reqs <- req:
	case <-s.closing:
		return nil, store.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-req.done:
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
	select {
	case s.reqs <- req:
	case <-s.closing:
		return store.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-req.done
	return req.err
}

// ImportCheckpoints implements store.Importer.
func (s *Store) ImportCheckpoints(ctx context.Context, cps []store.StoredCheckpoint) error {
	if len(cps) == 0 {
		return nil
	}
	sizes := make([]int64, len(cps))
	notes := make([][]byte, len(cps))
	for i, cp := range cps {
		if cp.Note == nil {
			return fmt.Errorf("store: importing an empty checkpoint of size %d", cp.Size)
		}
		sizes[i], notes[i] = int64(cp.Size), cp.Note
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var leaves int64
		if err := tx.QueryRow(ctx, `SELECT size FROM log_head`).Scan(&leaves); err != nil {
			return err
		}
		for _, n := range sizes {
			if n > leaves {
				return fmt.Errorf("store: importing a checkpoint of size %d into a log of %d leaves", n, leaves)
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO checkpoints (size, note) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, sizes, notes)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: importing checkpoints: %w", classify(err))
	}
	return nil
}

func (s *Store) writer() {
	defer close(s.done)
	for {
		select {
		case first := <-s.reqs:
			s.commit(first)
		case <-s.closing:
			s.failPending()
			return
		}
	}
}

// drain adds to batch the Append calls pending, up to maxGroup entries.
func (s *Store) drain(batch []*writeReq) []*writeReq {
	n := 0
	for _, r := range batch {
		n += len(r.entries)
	}
	for n < maxGroup {
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
			n += len(r.entries)
		default:
			return batch
		}
	}
	return batch
}

func (s *Store) failPending() {
	for {
		select {
		case r := <-s.reqs:
			r.err = store.ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

// commit writes one group of Append calls in one transaction, and tells
// each caller its fate.
func (s *Store) commit(first *writeReq) {
	batch, size, err := s.commitTx(first)
	if err != nil {
		err = classify(err)
		for _, r := range batch {
			if r.err == nil {
				r.err, r.res = err, nil
			}
		}
	} else if size > 0 {
		s.grow(size)
		// SPEC: spec/store.md#failpoints
		failpoint.Hit("store/append-committed")
	}
	for _, r := range batch {
		close(r.done)
	}
}

// txTimeout bounds one append transaction, whatever its callers' contexts.
const txTimeout = 60 * time.Second

// commitTx locks the log's head, takes first and the Append calls pending
// by then (those that came while it waited for the lock join it: group
// commit, across processes too), writes them in one transaction, and
// returns them and the new number of leaves, or 0 if it appended none.
// Calls refused on their own (a duplicate, a payload not staged, a Check)
// get their error in r.err and write nothing.
//
// SPEC: spec/store.md#append
func (s *Store) commitTx(first *writeReq) (batch []*writeReq, size uint64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), txTimeout)
	defer cancel()
	batch = []*writeReq{first}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return batch, 0, fmt.Errorf("store: beginning the append transaction: %w", err)
	}
	defer tx.Rollback(context.Background())
	var head, lastMS, nowMS int64
	if err := tx.QueryRow(ctx, `SELECT size, last_ms FROM log_head FOR UPDATE`).Scan(&head, &lastMS); err != nil {
		return batch, 0, fmt.Errorf("store: locking the log's head: %w", err)
	}
	batch = s.drain(batch)
	var ids [][]byte
	var stagedKeys []int64
	nPay := 0
	for _, r := range batch {
		for _, e := range r.entries {
			ids = append(ids, e.ID[:])
			if e.Staged != nil {
				stagedKeys = append(stagedKeys, e.Staged.Key)
			}
			if e.Payload != nil {
				nPay++
			}
		}
	}

	// One round trip, holding the head's lock: the database's clock, the
	// IDs already stored, the staged payloads named (locked against a
	// concurrent Abort), and keys for the payloads that come in memory.
	var (
		stored = map[record.ID]bool{}
		staged = map[int64]stagedRow{}
		keys   []int64
	)
	b := &pgx.Batch{}
	b.Queue(`SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint`).QueryRow(func(row pgx.Row) error {
		return row.Scan(&nowMS)
	})
	b.Queue(`SELECT id FROM records WHERE id = ANY($1)`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id []byte
			if err := rows.Scan(&id); err != nil {
				return err
			}
			stored[record.ID(id)] = true
		}
		return rows.Err()
	})
	if len(stagedKeys) > 0 {
		b.Queue(`SELECT payload, size, committed FROM payload_staged WHERE payload = ANY($1) FOR UPDATE`, stagedKeys).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var k int64
				var sr stagedRow
				if err := rows.Scan(&k, &sr.size, &sr.committed); err != nil {
					return err
				}
				staged[k] = sr
			}
			return rows.Err()
		})
	}
	if nPay > 0 {
		b.Queue(`SELECT nextval('payload_keys') FROM generate_series(1, $1)`, nPay).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var k int64
				if err := rows.Scan(&k); err != nil {
					return err
				}
				keys = append(keys, k)
			}
			return rows.Err()
		})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return batch, 0, fmt.Errorf("store: reading the log's head: %w", err)
	}

	// The time of sequencing never decreases with the index, whatever
	// the clock does.
	if s.opt.Clock != nil {
		nowMS = s.opt.Clock().UnixMilli()
	}
	ms := max(nowMS, lastMS)
	now := time.UnixMilli(ms).UTC()
	floor := lastMS // the time of the latest leaf, as this transaction goes
	next := uint64(head)

	var (
		rIdx, rTime             []int64
		rID, rRefs, rSigned     [][]byte
		rKind, rParties         []string
		rPublic                 []bool
		pHandle, pKind          []string
		pIdx                    []int64
		fRef                    [][]byte
		fIdx                    []int64
		payIdx, payKey, paySize []int64
		taken                   []int64
		chunks                  []chunkRow
	)
	seen := map[record.ID]bool{}
	gone := map[int64]bool{}
	for _, r := range batch {
		if err := checkCall(r.entries, seen, stored, staged, gone); err != nil {
			r.err = err
			continue
		}
		if r.at != nil {
			if err := store.CheckImport(r.at, next, floor); err != nil {
				r.err = err
				continue
			}
		} else if err := checkEntries(r.entries, next, now); err != nil {
			r.err = err
			continue
		}
		r.res = make([]store.Sequenced, len(r.entries))
		for i, e := range r.entries {
			idx := int64(next)
			next++
			seen[e.ID] = true
			t := ms
			if r.at != nil {
				// Imported at its own time, which later calls in the
				// group do not precede.
				t = r.at[i].Time.UnixMilli()
				ms = max(ms, t)
				now = time.UnixMilli(ms).UTC()
			}
			floor = t
			rIdx = append(rIdx, idx)
			rID = append(rID, e.ID[:])
			rKind = append(rKind, string(e.Kind))
			rTime = append(rTime, t)
			rPublic = append(rPublic, e.Public)
			rParties = append(rParties, columns.JoinHandles(e.Parties))
			rRefs = append(rRefs, columns.JoinIDs(e.Refs))
			rSigned = append(rSigned, e.Signed)
			for k, p := range e.Parties {
				if !contains(e.Parties[:k], p) {
					pHandle, pIdx, pKind = append(pHandle, string(p)), append(pIdx, idx), append(pKind, string(e.Kind))
				}
			}
			for k, ref := range e.Refs {
				if !contains(e.Refs[:k], ref) {
					fRef, fIdx = append(fRef, ref[:]), append(fIdx, idx)
				}
			}
			switch {
			case e.Staged != nil:
				payIdx, payKey, paySize = append(payIdx, idx), append(payKey, e.Staged.Key), append(paySize, e.Staged.Size)
				taken = append(taken, e.Staged.Key)
				gone[e.Staged.Key] = true
			case e.Payload != nil:
				key := keys[0]
				keys = keys[1:]
				for seq, off := 0, 0; off < len(e.Payload); seq, off = seq+1, off+store.ChunkSize {
					chunks = append(chunks, chunkRow{key, seq, e.Payload[off:min(off+store.ChunkSize, len(e.Payload))]})
				}
				payIdx, payKey, paySize = append(payIdx, idx), append(payKey, key), append(paySize, int64(len(e.Payload)))
			}
			r.res[i] = store.Sequenced{Index: uint64(idx), Time: time.UnixMilli(t).UTC()}
		}
	}
	if len(rIdx) == 0 {
		return batch, 0, nil // every call refused: nothing to write
	}
	b = &pgx.Batch{}
	b.Queue(`INSERT INTO records (idx, id, kind, time, public, parties, refs, signed)
		SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::bigint[], $5::boolean[], $6::text[], $7::bytea[], $8::bytea[])`,
		rIdx, rID, rKind, rTime, rPublic, rParties, rRefs, rSigned)
	if len(pIdx) > 0 {
		b.Queue(`INSERT INTO parties (handle, idx, kind) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])`, pHandle, pIdx, pKind)
	}
	if len(fIdx) > 0 {
		b.Queue(`INSERT INTO refs (ref, idx) SELECT * FROM unnest($1::bytea[], $2::bigint[])`, fRef, fIdx)
	}
	// Each chunk in a statement of its own, bound as one parameter.
	for _, c := range chunks {
		b.Queue(`INSERT INTO payload_chunks (payload, seq, data) VALUES ($1, $2, $3)`, c.key, c.seq, c.data)
	}
	if len(payIdx) > 0 {
		b.Queue(`INSERT INTO record_payloads (idx, payload, size) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])`, payIdx, payKey, paySize)
	}
	if len(taken) > 0 {
		b.Queue(`DELETE FROM payload_staged WHERE payload = ANY($1)`, taken)
	}
	b.Queue(`UPDATE log_head SET size = $1, last_ms = $2`, int64(next), floor)
	b.Queue(`SELECT pg_notify($1, $2)`, NotifyChannel, strconv.FormatUint(next, 10))
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return batch, 0, fmt.Errorf("store: writing records: %w", err)
	}
	// SPEC: spec/store.md#failpoints
	failpoint.Hit("store/append-before-commit")
	if err := tx.Commit(ctx); err != nil {
		return batch, 0, fmt.Errorf("store: committing appends: %w", err)
	}
	return batch, next, nil
}

type stagedRow struct {
	size      int64
	committed bool
}

type chunkRow struct {
	key  int64
	seq  int
	data []byte
}

// checkCall checks one Append call's entries against the IDs stored and
// those of the calls before it in the group (seen), and the staged
// payloads they name against those staged and not yet taken (gone).
func checkCall(entries []*store.Entry, seen, stored map[record.ID]bool, staged map[int64]stagedRow, gone map[int64]bool) error {
	var mine []int64
	for k, e := range entries {
		if seen[e.ID] || stored[e.ID] {
			return fmt.Errorf("store: record %s: %w", e.ID.Short(), store.ErrDuplicate)
		}
		for _, o := range entries[:k] {
			if o.ID == e.ID {
				return fmt.Errorf("store: record %s twice in one call: %w", e.ID.Short(), store.ErrDuplicate)
			}
		}
	}
	for _, e := range entries {
		if e.Staged == nil {
			continue
		}
		if e.Payload != nil {
			return fmt.Errorf("store: record %s carries a payload and names a staged one", e.ID.Short())
		}
		k := e.Staged.Key
		sr, ok := staged[k]
		if !ok || gone[k] || contains(mine, k) {
			return fmt.Errorf("store: record %s names payload %d: %w", e.ID.Short(), k, store.ErrNotStaged)
		}
		if !sr.committed || sr.size != e.Staged.Size {
			return fmt.Errorf("store: record %s names payload %d of %d bytes, but %d are staged (committed: %v): %w",
				e.ID.Short(), k, e.Staged.Size, sr.size, sr.committed, store.ErrNotStaged)
		}
		mine = append(mine, k)
	}
	return nil
}

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

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// classify adds store.ErrFull to an error of a full disk, and store.ErrIO
// to an I/O error or a lost connection, so that callers tell them from the
// rest.
//
// SPEC: spec/store.md#full-storage
func classify(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100": // disk_full
			return fmt.Errorf("%w: %w", store.ErrFull, err)
		case pe.Code == "58030" || pe.Code == "XX001" || pe.Code == "XX002": // io_error, data_corrupted, index_corrupted
			return fmt.Errorf("%w: %w", store.ErrIO, err)
		case strings.HasPrefix(pe.Code, "08"), pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // connection; shutdown
			return fmt.Errorf("%w: %w", store.ErrIO, err)
		}
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) {
		return fmt.Errorf("%w: %w", store.ErrIO, err)
	}
	return err
}
