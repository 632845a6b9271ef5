// Package storecopy copies a whole pouch deployment's log from one store
// to another (pouch migrate): every record at its index with its time of
// sequencing, its payload chunk by chunk, every checkpoint with its
// cosignatures, and the tree's tiles; then it checks that the target's
// latest checkpoint is byte for byte the source's and that the target's
// tree recomputes to its root, from the leaves and from the tiles.
//
// SPEC: spec/cli.md#migrate
package storecopy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"pouch.dev/store"
	"pouch.dev/tlog"
)

// ErrNotEmpty: the target store holds records or checkpoints already.
var ErrNotEmpty = errors.New("the target store is not empty")

// Progress tells how far a copy has gone.
type Progress struct {
	Phase        string // "records", "checkpoints", "tiles", "checking"
	Records      uint64 // records copied
	TotalRecords uint64
	PayloadBytes int64 // payload bytes copied
}

// Result says what a copy copied.
type Result struct {
	Records      uint64 // records (leaves)
	Payloads     int    // payloads
	PayloadBytes int64
	Checkpoints  int    // checkpoints, with their cosignatures
	Tiles        int    // tiles, full and partial
	TreeSize     uint64 // the size of the latest checkpoint
	Checkpoint   []byte // the latest checkpoint, identical in both stores
}

// batch is the most records one Import carries.
const batch = 1000

// Copy copies the log of from into to, which must be empty and implement
// store.Importer, and checks the copy. The source must not change
// meanwhile (stop its servers). progress, if not nil, is called as the
// copy goes.
func Copy(ctx context.Context, from, to store.Store, progress func(Progress)) (*Result, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	im, ok := to.(store.Importer)
	if !ok {
		return nil, fmt.Errorf("the target store cannot import records (%T)", to)
	}
	src, err := from.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the source: %w", err)
	}
	dst, err := to.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the target: %w", err)
	}
	if dst.Size != 0 || dst.TreeSize != 0 || dst.Checkpoint != nil {
		return nil, fmt.Errorf("%w: it holds %d records and a tree of %d", ErrNotEmpty, dst.Size, dst.TreeSize)
	}
	res := &Result{TreeSize: src.TreeSize, Checkpoint: src.Checkpoint}

	// Records, with their payloads.
	buf := make([]byte, store.ChunkSize)
	for res.Records < src.Size {
		progress(Progress{Phase: "records", Records: res.Records, TotalRecords: src.Size, PayloadBytes: res.PayloadBytes})
		l, err := from.List(ctx, store.Query{From: res.Records, Limit: int(min(batch, src.Size-res.Records))})
		if err != nil {
			return nil, fmt.Errorf("reading records from index %d: %w", res.Records, err)
		}
		if len(l) == 0 {
			return nil, fmt.Errorf("the source holds no record at index %d, below its size %d", res.Records, src.Size)
		}
		entries := make([]*store.Entry, len(l))
		at := make([]store.Sequenced, len(l))
		var staged []store.PayloadWriter
		abort := func() {
			for _, w := range staged {
				w.Abort()
			}
		}
		for i, st := range l {
			if st.Index != res.Records+uint64(i) {
				abort()
				return nil, fmt.Errorf("the source's record at index %d is missing (found %d)", res.Records+uint64(i), st.Index)
			}
			e := st.Entry
			entries[i], at[i] = &e, st.Sequenced
			w, n, err := copyPayload(ctx, from, to, st, buf)
			if w != nil {
				staged = append(staged, w)
			}
			if err != nil {
				abort()
				return nil, err
			}
			if w != nil {
				if e.Staged, err = w.Commit(); err != nil {
					abort()
					return nil, fmt.Errorf("storing the payload of record %d: %w", st.Index, err)
				}
				res.Payloads++
				res.PayloadBytes += n
			}
		}
		if err := im.Import(ctx, entries, at); err != nil {
			abort()
			return nil, fmt.Errorf("importing records from index %d: %w", res.Records, err)
		}
		res.Records += uint64(len(l))
	}
	progress(Progress{Phase: "records", Records: res.Records, TotalRecords: src.Size, PayloadBytes: res.PayloadBytes})
	if src.Checkpoint == nil {
		return res, nil
	}

	// The earlier checkpoints, a thousand per transaction; then the tree
	// with the last, in one round.
	progress(Progress{Phase: "checkpoints", Records: res.Records, TotalRecords: src.Size, PayloadBytes: res.PayloadBytes})
	cps, err := checkpoints(ctx, from, src.TreeSize)
	if err != nil {
		return nil, err
	}
	if len(cps) == 0 || cps[len(cps)-1].Size != src.TreeSize {
		return nil, fmt.Errorf("the source's checkpoints do not reach its tree size %d", src.TreeSize)
	}
	for rest := cps[:len(cps)-1]; len(rest) > 0; {
		n := min(len(rest), batch)
		if err := im.ImportCheckpoints(ctx, rest[:n]); err != nil {
			return nil, err
		}
		rest = rest[n:]
	}
	progress(Progress{Phase: "tiles", Records: res.Records, TotalRecords: src.Size, PayloadBytes: res.PayloadBytes})
	var tiles []store.Tile
	ids := tlog.TileIDs(src.TreeSize)
	for len(ids) > 0 {
		n := min(len(ids), 256)
		ts, err := from.Tiles(ctx, ids[:n])
		if err != nil {
			return nil, fmt.Errorf("reading tiles: %w", err)
		}
		for _, t := range ts {
			if t.Hashes != nil {
				tiles = append(tiles, t)
			}
		}
		ids = ids[n:]
	}
	last := cps[len(cps)-1]
	if err := to.Integrate(ctx, &store.Round{OldSize: 0, NewSize: last.Size, Tiles: tiles, Checkpoint: last.Note}); err != nil {
		return nil, fmt.Errorf("storing the tree and the checkpoint of size %d: %w", last.Size, err)
	}
	res.Checkpoints, res.Tiles = len(cps), len(tiles)

	// The check.
	progress(Progress{Phase: "checking", Records: res.Records, TotalRecords: src.Size, PayloadBytes: res.PayloadBytes})
	got, err := to.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the target: %w", err)
	}
	if got.Size != src.Size || got.TreeSize != src.TreeSize || !bytes.Equal(got.Checkpoint, src.Checkpoint) {
		return nil, fmt.Errorf("the copy differs: the target has %d records, a tree of %d and checkpoint %q; the source %d, %d and %q",
			got.Size, got.TreeSize, got.Checkpoint, src.Size, src.TreeSize, src.Checkpoint)
	}
	if _, err := tlog.CheckTree(ctx, to); err != nil {
		return nil, fmt.Errorf("the target's tree: %w", err)
	}
	return res, nil
}

// copyPayload stages the payload of record st, if it has one, in to, a
// chunk at a time, and returns its writer (not yet committed) and size.
func copyPayload(ctx context.Context, from, to store.Store, st *store.Stored, buf []byte) (store.PayloadWriter, int64, error) {
	r, err := from.OpenPayload(ctx, st.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading the payload of record %d: %w", st.Index, err)
	}
	defer r.Close()
	w, err := to.StagePayload(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("staging the payload of record %d: %w", st.Index, err)
	}
	n, err := io.CopyBuffer(w, r, buf)
	if err != nil {
		return w, n, fmt.Errorf("copying the payload of record %d: %w", st.Index, err)
	}
	if n != r.Size() {
		return w, n, fmt.Errorf("the payload of record %d has %d bytes, its reader said %d", st.Index, n, r.Size())
	}
	return w, n, nil
}

// checkpoints returns the stored checkpoints of from up to size, in order.
func checkpoints(ctx context.Context, from store.Store, size uint64) ([]store.StoredCheckpoint, error) {
	var out []store.StoredCheckpoint
	before, after, err := from.CheckpointsAround(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	if before.Note != nil {
		out = append(out, before) // the empty tree's
	}
	for after.Note != nil && after.Size <= size {
		out = append(out, after)
		if _, after, err = from.CheckpointsAround(ctx, after.Size); err != nil {
			return nil, fmt.Errorf("reading checkpoints: %w", err)
		}
	}
	return out, nil
}
