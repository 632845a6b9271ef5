package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"pouch.dev/internal/failpoint"
	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/internal/columns"
)

const recCols = `r.idx, r.id, r.kind, r.time, r.public, r.parties, r.refs, r.signed`

func scanStored(row pgx.Row) (*store.Stored, error) {
	var (
		idx, ms   int64
		id, refs  []byte
		kind, par string
		pub       bool
		signed    []byte
		st        store.Stored
	)
	if err := row.Scan(&idx, &id, &kind, &ms, &pub, &par, &refs, &signed); err != nil {
		return nil, err
	}
	if len(id) != 32 {
		return nil, fmt.Errorf("store: record at index %d has a %d-byte ID", idx, len(id))
	}
	copy(st.ID[:], id)
	st.Kind = record.Kind(kind)
	st.Signed = signed
	st.Public = pub
	st.Parties = columns.SplitHandles(par)
	st.Refs = columns.SplitIDs(refs)
	st.Index = uint64(idx)
	st.Time = time.UnixMilli(ms).UTC()
	return &st, nil
}

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("store: %s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("store: reading %s: %w", what, classify(err))
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, id record.ID) (*store.Stored, error) {
	st, err := scanStored(s.pool.QueryRow(ctx, `SELECT `+recCols+` FROM records r WHERE r.id = $1`, id[:]))
	if err != nil {
		return nil, notFound(err, "record "+id.String())
	}
	return st, nil
}

// GetByIndex implements store.Store.
func (s *Store) GetByIndex(ctx context.Context, idx uint64) (*store.Stored, error) {
	st, err := scanStored(s.pool.QueryRow(ctx, `SELECT `+recCols+` FROM records r WHERE r.idx = $1`, int64(idx)))
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
	var (
		from  string
		where []string
		args  []any
		order string
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	kinds := func() []string {
		ks := make([]string, len(q.Kinds))
		for i, k := range q.Kinds {
			ks[i] = string(k)
		}
		return ks
	}
	switch {
	case q.IDPrefix != "":
		lo, hi, err := store.PrefixRange(q.IDPrefix)
		if err != nil || q.Party != "" || q.Ref != nil {
			return nil, fmt.Errorf("store: listing records: IDPrefix %q with party %q, ref %v: %w", q.IDPrefix, q.Party, q.Ref, store.ErrBadQuery)
		}
		// A range of the records_id index.
		from = `records r`
		where = append(where, `r.id BETWEEN `+arg(lo[:])+` AND `+arg(hi[:]), `r.idx >= `+arg(int64(q.From)))
		order = `r.idx`
	case q.Party != "":
		from = `parties p JOIN records r ON r.idx = p.idx`
		where = append(where, `p.handle = `+arg(string(q.Party)), `p.idx >= `+arg(int64(q.From)))
		order = `p.idx`
		if len(q.Kinds) > 0 {
			where = append(where, `p.kind = ANY(`+arg(kinds())+`)`)
		}
		if q.Ref != nil {
			where = append(where, `EXISTS (SELECT 1 FROM refs f WHERE f.ref = `+arg(q.Ref[:])+` AND f.idx = p.idx)`)
		}
	case q.Ref != nil:
		from = `refs f JOIN records r ON r.idx = f.idx`
		where = append(where, `f.ref = `+arg(q.Ref[:]), `f.idx >= `+arg(int64(q.From)))
		order = `f.idx`
	default:
		from = `records r`
		where = append(where, `r.idx >= `+arg(int64(q.From)))
		order = `r.idx`
	}
	if len(q.Kinds) > 0 && q.Party == "" {
		where = append(where, `r.kind = ANY(`+arg(kinds())+`)`)
	}
	if q.Public {
		where = append(where, `r.public`)
	}
	// Before bounds the same index column as From, so the scan is one
	// range of the index, walked backwards for Desc.
	if q.Before > 0 {
		where = append(where, order+` < `+arg(int64(min(q.Before, math.MaxInt64))))
	}
	if q.Desc {
		order += ` DESC`
	}
	query := `SELECT ` + recCols + ` FROM ` + from + ` WHERE ` + strings.Join(where, ` AND `) +
		` ORDER BY ` + order + ` LIMIT ` + arg(limit)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: listing records: %w", classify(err))
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
		return nil, fmt.Errorf("store: listing records: %w", classify(err))
	}
	return out, nil
}

// WaitSize implements store.Store. It reads the head once, then waits
// for this process's appends and the notifications of the others'.
func (s *Store) WaitSize(ctx context.Context, size uint64) (uint64, error) {
	s.mu.Lock()
	cur := s.size
	s.mu.Unlock()
	if cur <= size {
		var n int64
		if err := s.pool.QueryRow(ctx, `SELECT size FROM log_head`).Scan(&n); err == nil {
			s.grow(uint64(n))
		}
	}
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
	rows, err := s.pool.Query(ctx, `SELECT kind, id, time, public FROM records WHERE idx >= $1 AND idx < $2 ORDER BY idx`, int64(start), int64(start)+int64(n))
	if err != nil {
		return nil, fmt.Errorf("store: reading leaves: %w", classify(err))
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
		return nil, fmt.Errorf("store: reading leaves: %w", classify(err))
	}
	return out, nil
}

// State implements store.Store: the heads as committed, whichever process
// moved them.
func (s *Store) State(ctx context.Context) (store.LogState, error) {
	if s.closed() {
		return store.LogState{}, store.ErrClosed
	}
	var size, tree int64
	var note []byte
	err := s.pool.QueryRow(ctx, `SELECT h.size, t.size, c.note FROM log_head h CROSS JOIN tree_head t LEFT JOIN checkpoints c ON c.size = t.size`).Scan(&size, &tree, &note)
	if err != nil {
		return store.LogState{}, fmt.Errorf("store: reading the log's state: %w", classify(err))
	}
	s.grow(uint64(size))
	return store.LogState{Size: uint64(size), TreeSize: uint64(tree), Checkpoint: note}, nil
}

func tileKey(id store.TileID) int64 { return int64(id.Level)<<56 | int64(id.Index) }

func validTile(id store.TileID) bool {
	return id.Level >= 0 && id.Level <= 63/store.TileHeight && id.Index < 1<<56
}

// Tiles implements store.Store.
func (s *Store) Tiles(ctx context.Context, ids []store.TileID) ([]store.Tile, error) {
	out := make([]store.Tile, len(ids))
	var keys []int64
	for i, id := range ids {
		out[i].TileID = id
		if validTile(id) {
			keys = append(keys, tileKey(id))
		}
	}
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT key, hashes, inner_hashes FROM tiles WHERE key = ANY($1)`, keys)
	if err != nil {
		return nil, fmt.Errorf("store: reading tiles: %w", classify(err))
	}
	defer rows.Close()
	got := map[int64]store.Tile{}
	for rows.Next() {
		var k int64
		var t store.Tile
		if err := rows.Scan(&k, &t.Hashes, &t.Inner); err != nil {
			return nil, fmt.Errorf("store: reading tiles: %w", err)
		}
		got[k] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading tiles: %w", classify(err))
	}
	for i, id := range ids {
		if validTile(id) {
			t := got[tileKey(id)]
			out[i].Hashes, out[i].Inner = t.Hashes, t.Inner
		}
	}
	return out, nil
}

// Integrate implements store.Store. It locks the tree's head, so that of
// two sequencers that started from the same size one commits and the
// other gets store.ErrConflict.
//
// SPEC: spec/store.md#integrate
func (s *Store) Integrate(ctx context.Context, r *store.Round) error {
	if r.NewSize < r.OldSize {
		return fmt.Errorf("store: a round cannot shrink the tree from %d to %d", r.OldSize, r.NewSize)
	}
	var keys []int64
	var hashes, inner [][]byte
	for _, t := range r.Tiles {
		if len(t.Hashes) == 0 || len(t.Hashes)%32 != 0 || len(t.Hashes) > 32*store.TileWidth {
			return fmt.Errorf("store: tile %d/%d has %d bytes, not 1 to %d hashes", t.Level, t.Index, len(t.Hashes), store.TileWidth)
		}
		if !validTile(t.TileID) {
			return fmt.Errorf("store: no tile %d/%d", t.Level, t.Index)
		}
		if len(t.Inner) != 0 && len(t.Inner) != store.InnerLen(t.Width()) {
			return fmt.Errorf("store: tile %d/%d of %d hashes has %d bytes of inner hashes, not %d", t.Level, t.Index, t.Width(), len(t.Inner), store.InnerLen(t.Width()))
		}
		var in []byte // NULL for none
		if len(t.Inner) > 0 {
			in = t.Inner
		}
		keys, hashes, inner = append(keys, tileKey(t.TileID)), append(hashes, t.Hashes), append(inner, in)
	}
	if s.closed() {
		return store.ErrClosed
	}
	// A round is short: it runs to its end even if ctx ends, to report
	// its fate.
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), txTimeout)
	defer cancel()
	tx, err := s.pool.Begin(tctx)
	if err != nil {
		return fmt.Errorf("store: beginning a round: %w", classify(err))
	}
	defer tx.Rollback(context.Background())
	var tree, leaves int64
	var hasCheckpoint bool
	err = tx.QueryRow(tctx, `SELECT t.size, h.size, EXISTS (SELECT 1 FROM checkpoints) FROM tree_head t CROSS JOIN log_head h FOR UPDATE OF t`).Scan(&tree, &leaves, &hasCheckpoint)
	if err != nil {
		return fmt.Errorf("store: locking the tree's head: %w", classify(err))
	}
	if int64(r.OldSize) != tree || (hasCheckpoint && r.NewSize == r.OldSize && r.OldSize == 0) {
		return fmt.Errorf("store: round from size %d, tree has %d: %w", r.OldSize, tree, store.ErrConflict)
	}
	if int64(r.NewSize) > leaves {
		return fmt.Errorf("store: a round to size %d is beyond the %d leaves appended", r.NewSize, leaves)
	}
	b := &pgx.Batch{}
	if len(keys) > 0 {
		b.Queue(`INSERT INTO tiles (key, hashes, inner_hashes) SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[]) ON CONFLICT (key) DO UPDATE SET hashes = excluded.hashes, inner_hashes = excluded.inner_hashes`, keys, hashes, inner)
	}
	b.Queue(`INSERT INTO checkpoints (size, note) VALUES ($1, $2) ON CONFLICT (size) DO UPDATE SET note = excluded.note`, int64(r.NewSize), r.Checkpoint)
	b.Queue(`UPDATE tree_head SET size = $1`, int64(r.NewSize))
	b.Queue(`SELECT pg_notify($1, $2)`, TreeNotifyChannel, strconv.FormatUint(r.NewSize, 10))
	if err := tx.SendBatch(tctx, b).Close(); err != nil {
		return fmt.Errorf("store: writing a round: %w", classify(err))
	}
	// SPEC: spec/store.md#failpoints
	failpoint.Hit("store/round-before-commit")
	if err := tx.Commit(tctx); err != nil {
		return fmt.Errorf("store: committing a round: %w", classify(err))
	}
	failpoint.Hit("store/round-committed")
	return nil
}

// Checkpoint implements store.Store.
func (s *Store) Checkpoint(ctx context.Context, size uint64) ([]byte, error) {
	var note []byte
	if err := s.pool.QueryRow(ctx, `SELECT note FROM checkpoints WHERE size = $1`, int64(size)).Scan(&note); err != nil {
		return nil, notFound(err, fmt.Sprintf("checkpoint of size %d", size))
	}
	return note, nil
}

// CheckpointsAround implements store.Store.
func (s *Store) CheckpointsAround(ctx context.Context, index uint64) (before, after store.StoredCheckpoint, err error) {
	var size int64
	err = s.pool.QueryRow(ctx, `SELECT size, note FROM checkpoints WHERE size <= $1 ORDER BY size DESC LIMIT 1`, int64(index)).Scan(&size, &before.Note)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return before, after, fmt.Errorf("store: the checkpoint before leaf %d: %w", index, classify(err))
	}
	before.Size = uint64(size)
	size = 0
	err = s.pool.QueryRow(ctx, `SELECT size, note FROM checkpoints WHERE size > $1 ORDER BY size LIMIT 1`, int64(index)).Scan(&size, &after.Note)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return before, after, fmt.Errorf("store: the checkpoint after leaf %d: %w", index, classify(err))
	}
	if after.Note != nil {
		after.Size = uint64(size)
	}
	return before, after, nil
}

// Cosigned implements store.Store.
func (s *Store) Cosigned(ctx context.Context, size uint64, note []byte) error {
	tag, err := s.pool.Exec(ctx, `UPDATE checkpoints SET note = $1 WHERE size = $2`, note, int64(size))
	if err != nil {
		return fmt.Errorf("store: storing cosignatures: %w", classify(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: checkpoint of size %d: %w", size, store.ErrNotFound)
	}
	return nil
}
