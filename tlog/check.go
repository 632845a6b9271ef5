package tlog

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"pouch.dev/record"
	"pouch.dev/store"
)

// TileIDs returns the tiles a tree of size leaves is stored in: at each
// level, the full tiles and the partial one at the right edge, if any.
func TileIDs(size uint64) []store.TileID {
	var ids []store.TileID
	for level := 0; level <= 63/TileHeight; level++ {
		n := size >> (TileHeight * uint(level)) // hashes at this level
		if n == 0 {
			break
		}
		for i := uint64(0); i*store.TileWidth < n; i++ {
			ids = append(ids, store.TileID{Level: level, Index: i})
		}
	}
	return ids
}

// ErrTreeMismatch is wrapped by CheckTree's errors for a store whose
// leaves, tiles and checkpoint do not describe one tree.
var ErrTreeMismatch = errors.New("the store's tree does not match")

// CheckTree recomputes the root hash of the tree of the store's latest
// checkpoint twice, from the leaves the store holds and from its tiles,
// and checks that both are the checkpoint's. It returns the tree's size.
// It does not verify the checkpoint's signatures.
func CheckTree(ctx context.Context, st store.Store) (uint64, error) {
	state, err := st.State(ctx)
	if err != nil {
		return 0, err
	}
	if state.Checkpoint == nil {
		return 0, fmt.Errorf("the store holds no checkpoint")
	}
	_, size, want, err := ParseCheckpointBody(checkpointText(state.Checkpoint))
	if err != nil {
		return 0, err
	}
	if size != state.TreeSize {
		return 0, fmt.Errorf("the latest checkpoint is of size %d, the store's tree of %d", size, state.TreeSize)
	}
	rng := rangeFactory.NewEmptyRange(0)
	for start := uint64(0); start < size; {
		n := int(min(size-start, 4096))
		leaves, err := st.Leaves(ctx, start, n)
		if err != nil {
			return 0, err
		}
		if len(leaves) != n {
			return 0, fmt.Errorf("the store returned %d leaves from index %d, want %d", len(leaves), start, n)
		}
		for _, l := range leaves {
			if err := rng.Append(LeafHash(record.LeafData(l)), nil); err != nil {
				return 0, err
			}
		}
		start += uint64(n)
	}
	fromLeaves := hasher.EmptyRoot()
	if size > 0 {
		if fromLeaves, err = rng.GetRootHash(nil); err != nil {
			return 0, err
		}
	}
	if !bytes.Equal(fromLeaves, want) {
		return 0, fmt.Errorf("the root of the store's %d leaves is %s, the checkpoint says %s: %w",
			size, base64.StdEncoding.EncodeToString(fromLeaves), base64.StdEncoding.EncodeToString(want), ErrTreeMismatch)
	}
	fromTiles, err := newHashes(st).root(ctx, size)
	if err != nil {
		return 0, fmt.Errorf("reading the tree from the store's tiles: %w", err)
	}
	if !bytes.Equal(fromTiles, want) {
		return 0, fmt.Errorf("the root of the store's tiles is %s, the checkpoint says %s: %w",
			base64.StdEncoding.EncodeToString(fromTiles), base64.StdEncoding.EncodeToString(want), ErrTreeMismatch)
	}
	// The inner hashes kept with full tiles, which proofs read instead of
	// hashing the tiles.
	ids := TileIDs(size)
	for len(ids) > 0 {
		n := min(len(ids), 1024)
		tiles, err := st.Tiles(ctx, ids[:n])
		if err != nil {
			return 0, err
		}
		for _, t := range tiles {
			if len(t.Inner) > 0 && !bytes.Equal(t.Inner, innerOf(t.Hashes)) {
				return 0, fmt.Errorf("the inner hashes stored with tile %d/%d are not the tree over its %d hashes: %w", t.Level, t.Index, t.Width(), ErrTreeMismatch)
			}
		}
		ids = ids[n:]
	}
	return size, nil
}
