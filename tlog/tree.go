package tlog

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	sumdb "golang.org/x/mod/sumdb/tlog"

	"pouch.dev/store"
)

// hasher is the RFC 6962 tree hasher (SHA-256).
var hasher = rfc6962.DefaultHasher

var rangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}

// LeafHash returns the RFC 6962 leaf hash of log entry data.
func LeafHash(data []byte) []byte { return hasher.HashLeaf(data) }

// ErrNotIntegrated is returned for a proof about leaves the tree does not
// hold yet.
var ErrNotIntegrated = errors.New("not yet in the tree")

// maxCachedPartial bounds the partial tiles kept in memory.
const maxCachedPartial = 64

// maxCachedTiles bounds the full (immutable) tiles kept in memory.
const maxCachedTiles = 8192

// hashes reads tree hashes out of a store's tiles. Full tiles never change
// and are cached.
type hashes struct {
	st     store.Store
	mu     sync.Mutex
	full   map[store.TileID][]byte
	part   map[store.TileID][]byte // partial tiles, as wide as last read
	inners map[store.TileID][TileHeight + 1][]byte
	// edgeNodes memoizes nodes computed from partial tiles, by stored
	// hash index.
	edgeNodes map[int64][]byte
}

// maxEdgeNodes bounds edgeNodes.
const maxEdgeNodes = 4096

func newHashes(st store.Store) *hashes {
	return &hashes{st: st, full: make(map[store.TileID][]byte), part: make(map[store.TileID][]byte), inners: make(map[store.TileID][TileHeight + 1][]byte), edgeNodes: make(map[int64][]byte)}
}

// tiles returns the stored hashes of tiles ids, each at least the width
// asked for.
func (h *hashes) tiles(ctx context.Context, ids []store.TileID, widths []int) ([][]byte, error) {
	out := make([][]byte, len(ids))
	var miss []store.TileID
	var missAt []int
	h.mu.Lock()
	for i, id := range ids {
		if d, ok := h.full[id]; ok {
			out[i] = d
		} else if d, ok := h.part[id]; ok && len(d) >= 32*widths[i] {
			// A partial tile's hashes are a prefix of its later versions.
			out[i] = d
		} else {
			miss = append(miss, id)
			missAt = append(missAt, i)
		}
	}
	h.mu.Unlock()
	if len(miss) > 0 {
		ts, err := h.st.Tiles(ctx, miss)
		if err != nil {
			return nil, err
		}
		h.mu.Lock()
		for j, t := range ts {
			out[missAt[j]] = t.Hashes
			if t.Width() == store.TileWidth {
				if len(h.full) >= maxCachedTiles {
					for k := range h.full {
						delete(h.full, k)
						break
					}
				}
				h.full[t.TileID] = t.Hashes
				delete(h.part, t.TileID)
			} else if t.Width() > 0 {
				if len(h.part) >= maxCachedPartial {
					for k := range h.part {
						delete(h.part, k)
						break
					}
				}
				h.part[t.TileID] = t.Hashes
			}
		}
		h.mu.Unlock()
	}
	for i, id := range ids {
		if len(out[i]) < 32*widths[i] {
			return nil, fmt.Errorf("tile %d/%d holds %d hashes, need %d: %w", id.Level, id.Index, len(out[i])/32, widths[i], ErrNotIntegrated)
		}
	}
	return out, nil
}

// nodes returns the hashes of perfect subtrees ids.
func (h *hashes) nodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	tids := make([]store.TileID, len(ids))
	ws := make([]int, len(ids))
	idx := make([]int64, len(ids))
	ts := make([]sumdb.Tile, len(ids))
	out := make([][]byte, len(ids))
	var need []int
	for i, id := range ids {
		if id.Level > 63 || id.Index >= 1<<(63-id.Level) {
			return nil, fmt.Errorf("tree node %d/%d out of range", id.Level, id.Index)
		}
		// A node inside a full tile whose inner hashes are cached.
		tid := store.TileID{Level: int(id.Level / TileHeight), Index: id.Index >> (TileHeight - id.Level%TileHeight)}
		if hh := h.inner(tid, int(id.Level%TileHeight), id.Index); hh != nil {
			out[i] = hh
			continue
		}
		idx[i] = sumdb.StoredHashIndex(int(id.Level), int64(id.Index))
		ts[i] = sumdb.TileForIndex(TileHeight, idx[i])
		tids[i] = store.TileID{Level: ts[i].L, Index: uint64(ts[i].N)}
		ws[i] = ts[i].W
		need = append(need, i)
	}
	if len(need) == 0 {
		return out, nil
	}
	ntids := make([]store.TileID, len(need))
	nws := make([]int, len(need))
	for j, i := range need {
		ntids[j], nws[j] = tids[i], ws[i]
	}
	data, err := h.tiles(ctx, ntids, nws)
	if err != nil {
		return nil, err
	}
	for j, i := range need {
		if len(data[j]) == 32*store.TileWidth {
			if hh := h.inner(tids[i], int(ids[i].Level%TileHeight), ids[i].Index); hh != nil {
				out[i] = hh
				continue
			}
		}
		// A node in a partial tile: its hash never changes either, so it
		// is computed once.
		h.mu.Lock()
		hh, ok := h.edgeNodes[idx[i]]
		h.mu.Unlock()
		if !ok {
			t := ts[i]
			t.W = len(data[j]) / 32
			x, err := sumdb.HashFromTile(t, data[j], idx[i])
			if err != nil {
				return nil, fmt.Errorf("tree node %d/%d: %w", ids[i].Level, ids[i].Index, err)
			}
			hh = x[:]
			h.mu.Lock()
			if len(h.edgeNodes) >= maxEdgeNodes {
				clear(h.edgeNodes)
			}
			h.edgeNodes[idx[i]] = hh
			h.mu.Unlock()
		}
		out[i] = hh
	}
	return out, nil
}

// inner returns the hash at level k (0 to 7) within full tile tid of the
// node with index n at that level, if tid is a cached full tile; it
// computes and caches the tile's inner hashes on first use.
func (h *hashes) inner(tid store.TileID, k int, n uint64) []byte {
	h.mu.Lock()
	data, ok := h.full[tid]
	in, have := h.inners[tid]
	h.mu.Unlock()
	if !ok {
		return nil
	}
	if !have {
		in = innerHashes(data)
		h.mu.Lock()
		if len(h.inners) >= maxCachedInner {
			for k := range h.inners {
				delete(h.inners, k)
				break
			}
		}
		h.inners[tid] = in
		h.mu.Unlock()
	}
	pos := int(n & (1<<(TileHeight-k) - 1))
	return in[k][32*pos : 32*pos+32]
}

// maxCachedInner bounds the full tiles whose inner hashes (16 KiB each)
// are cached.
const maxCachedInner = 2048

// innerHashes returns the levels of the perfect tree over a full tile's
// 256 hashes: level 0 is the tile, level 8 its root.
func innerHashes(data []byte) [TileHeight + 1][]byte {
	var lv [TileHeight + 1][]byte
	lv[0] = data
	for k := 1; k <= TileHeight; k++ {
		prev := lv[k-1]
		cur := make([]byte, len(prev)/2)
		for i := 0; i < len(cur)/32; i++ {
			copy(cur[32*i:], hasher.HashChildren(prev[64*i:64*i+32], prev[64*i+32:64*i+64]))
		}
		lv[k] = cur
	}
	return lv
}

// inclusion returns the RFC 6962 inclusion proof of leaf index in the tree
// of size size.
//
// SPEC: spec/log.md#http-api
func (h *hashes) inclusion(ctx context.Context, index, size uint64) ([][]byte, error) {
	ns, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	hs, err := h.nodes(ctx, ns.IDs)
	if err != nil {
		return nil, err
	}
	return ns.Rehash(hs, hasher.HashChildren)
}

// consistency returns the RFC 6962 consistency proof from size1 to size2.
func (h *hashes) consistency(ctx context.Context, size1, size2 uint64) ([][]byte, error) {
	if size1 <= size2 && (size1 == 0 || size1 == size2) {
		// A tree is consistent with itself, and the empty tree is a
		// prefix of every tree: the proof is empty (C2SP tlog-witness).
		// Newer versions of the merkle package refuse to compute a
		// proof from size 0.
		return [][]byte{}, nil
	}
	ns, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	hs, err := h.nodes(ctx, ns.IDs)
	if err != nil {
		return nil, err
	}
	return ns.Rehash(hs, hasher.HashChildren)
}

// compactRange returns the compact range [0, size) read from the tiles.
func (h *hashes) compactRange(ctx context.Context, size uint64) (*compact.Range, error) {
	ids := compact.RangeNodes(0, size, nil)
	hs, err := h.nodes(ctx, ids)
	if err != nil {
		return nil, err
	}
	return rangeFactory.NewRange(0, size, hs)
}

// root returns the root hash of the tree of size size.
func (h *hashes) root(ctx context.Context, size uint64) ([]byte, error) {
	if size == 0 {
		return hasher.EmptyRoot(), nil
	}
	r, err := h.compactRange(ctx, size)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

// An edge is the right edge of the tree, which a sequencing round grows: the
// compact range of the whole tree and the partial tiles.
type edge struct {
	rng   *compact.Range
	tiles map[store.TileID][]byte
	err   error
}

// loadEdge reads the right edge of the tree of size size from the store.
func loadEdge(ctx context.Context, h *hashes, size uint64) (*edge, error) {
	e := &edge{tiles: make(map[store.TileID][]byte)}
	var err error
	if size == 0 {
		e.rng = rangeFactory.NewEmptyRange(0)
	} else if e.rng, err = h.compactRange(ctx, size); err != nil {
		return nil, fmt.Errorf("reading the tree's right edge: %w", err)
	}
	for level := 0; size>>(TileHeight*uint(level)) > 0; level++ {
		n := size >> (TileHeight * uint(level))
		id := store.TileID{Level: level, Index: n >> TileHeight}
		w := int(n & (store.TileWidth - 1))
		if w == 0 {
			continue
		}
		ts, err := h.tiles(ctx, []store.TileID{id}, []int{w})
		if err != nil {
			return nil, fmt.Errorf("reading the tree's right edge: %w", err)
		}
		e.tiles[id] = append([]byte(nil), ts[0][:32*w]...)
	}
	return e, nil
}

// add appends leaf hashes to the edge and returns the tiles they changed.
//
// SPEC: spec/log.md#tiles
func (e *edge) add(leafHashes [][]byte) ([]store.Tile, error) {
	changed := make(map[store.TileID]bool)
	visit := func(id compact.NodeID, hash []byte) {
		if id.Level%TileHeight != 0 || e.err != nil {
			return
		}
		tid := store.TileID{Level: int(id.Level / TileHeight), Index: id.Index >> TileHeight}
		pos := int(id.Index & (store.TileWidth - 1))
		data := e.tiles[tid]
		if len(data) != 32*pos {
			e.err = fmt.Errorf("tile %d/%d: hash %d follows %d hashes", tid.Level, tid.Index, pos, len(data)/32)
			return
		}
		e.tiles[tid] = append(data, hash...)
		changed[tid] = true
	}
	for _, lh := range leafHashes {
		if err := e.rng.Append(lh, visit); err != nil {
			return nil, err
		}
	}
	if e.err != nil {
		return nil, e.err
	}
	out := make([]store.Tile, 0, len(changed))
	for id := range changed {
		out = append(out, store.Tile{TileID: id, Hashes: append([]byte(nil), e.tiles[id]...)})
	}
	// Full tiles never change again: drop them from the edge.
	for id, d := range e.tiles {
		if len(d) == 32*store.TileWidth {
			delete(e.tiles, id)
		}
	}
	return out, nil
}

func (e *edge) size() uint64 { return e.rng.End() }

func (e *edge) root() ([]byte, error) {
	if e.rng.End() == 0 {
		return hasher.EmptyRoot(), nil
	}
	return e.rng.GetRootHash(nil)
}
