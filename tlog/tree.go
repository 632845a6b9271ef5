package tlog

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	sumdb "golang.org/x/mod/sumdb/tlog"

	"pouch.dev/store"
)

// hasher is the RFC 6962 tree hasher (SHA-256).
var hasher = rfc6962.DefaultHasher

var rangeFactory = &compact.RangeFactory{Hash: nodeHash}

// LeafHash returns the RFC 6962 leaf hash of log entry data, as
// hasher.HashLeaf computes it (SHA-256 of 0x00, data), with one
// allocation, the hash, for the entries of up to 127 bytes a log of
// records holds.
func LeafHash(data []byte) []byte {
	if len(data) >= 128 {
		return hasher.HashLeaf(data)
	}
	var b [128]byte
	b[0] = rfc6962.RFC6962LeafHashPrefix
	copy(b[1:], data)
	sum := sha256.Sum256(b[:1+len(data)])
	return sum[:]
}

// nodeHash returns the RFC 6962 hash of the interior node with children
// l and r, as hasher.HashChildren computes it, with one allocation, the
// hash: the sequencer computes one or two per leaf.
func nodeHash(l, r []byte) []byte {
	if len(l) != 32 || len(r) != 32 {
		return hasher.HashChildren(l, r)
	}
	var b [1 + 64]byte
	b[0] = rfc6962.RFC6962NodeHashPrefix
	copy(b[1:], l)
	copy(b[33:], r)
	sum := sha256.Sum256(b[:])
	return sum[:]
}

// ErrNotIntegrated is returned for a proof about leaves the tree does not
// hold yet.
var ErrNotIntegrated = errors.New("not yet in the tree")

// maxCachedPartial bounds the partial tiles kept in memory.
const maxCachedPartial = 64

// The full tiles kept in memory, with all their levels once proofs
// needed them (16 KiB each then): level-0 tiles, one per 256 leaves, in
// least-recently-used order, at most maxCachedLeafTiles of them; tiles of
// the levels above, one per 65,536 leaves and read by nearly every
// proof, at most maxCachedUpperTiles (every one that a log of up to 2^28
// leaves holds), also in least-recently-used order.
const (
	maxCachedLeafTiles  = 6144
	maxCachedUpperTiles = 4096
)

// hashes reads tree hashes out of a store's tiles. Full tiles never change
// and are cached.
type hashes struct {
	st    store.Store
	mu    sync.Mutex
	leaf  tileLRU                     // full tiles of level 0
	upper tileLRU                     // full tiles of the levels above
	part  map[store.TileID]store.Tile // partial tiles, as wide as last read
	// edgeNodes memoizes nodes computed from partial tiles, by stored
	// hash index.
	edgeNodes map[int64][]byte
}

// maxEdgeNodes bounds edgeNodes.
const maxEdgeNodes = 4096

func newHashes(st store.Store) *hashes {
	h := &hashes{st: st}
	h.drop()
	return h
}

// drop empties the caches.
func (h *hashes) drop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.leaf = tileLRU{max: maxCachedLeafTiles, m: make(map[store.TileID]*fullTile)}
	h.upper = tileLRU{max: maxCachedUpperTiles, m: make(map[store.TileID]*fullTile)}
	h.part = make(map[store.TileID]store.Tile)
	h.edgeNodes = make(map[int64][]byte)
}

// A fullTile is a cached full tile: its 256 hashes, the upper levels of
// the perfect tree over them if the store keeps them (store.Tile.Inner),
// and all its levels (innerHashes) once a second proof needed the tile,
// or the first if the store keeps no inner hashes.
type fullTile struct {
	id         store.TileID
	data       []byte
	upper      []byte // store.Tile.Inner: levels InnerFrom to 7, or nil
	inner      *[TileHeight + 1][]byte
	prev, next *fullTile // in a tileLRU's list, most recent first
}

// A tileLRU holds at most max full tiles and drops the least recently
// used. Its users hold hashes.mu.
type tileLRU struct {
	max  int
	m    map[store.TileID]*fullTile
	head *fullTile // most recently used
	tail *fullTile // least
}

func (c *tileLRU) unlink(t *fullTile) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		c.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		c.tail = t.prev
	}
	t.prev, t.next = nil, nil
}

func (c *tileLRU) front(t *fullTile) {
	t.next = c.head
	if c.head != nil {
		c.head.prev = t
	}
	c.head = t
	if c.tail == nil {
		c.tail = t
	}
}

// get returns the cached tile id, now the most recently used, or nil.
func (c *tileLRU) get(id store.TileID) *fullTile {
	t := c.m[id]
	if t != nil && c.head != t {
		c.unlink(t)
		c.front(t)
	}
	return t
}

// put caches full tile id, with its inner hashes upper (nil if the store
// keeps none), dropping the least recently used beyond max.
func (c *tileLRU) put(id store.TileID, data, upper []byte) {
	if t := c.m[id]; t != nil {
		if t.upper == nil {
			t.upper = upper
		}
		return
	}
	t := &fullTile{id: id, data: data, upper: upper}
	c.m[id] = t
	c.front(t)
	for len(c.m) > c.max {
		old := c.tail
		c.unlink(old)
		delete(c.m, old.id)
	}
}

// cache returns the LRU that holds full tiles of id's level.
func (h *hashes) cache(id store.TileID) *tileLRU {
	if id.Level == 0 {
		return &h.leaf
	}
	return &h.upper
}

// tiles returns the stored hashes of tiles ids, each at least the width
// asked for, with their inner hashes if the store keeps them.
func (h *hashes) tiles(ctx context.Context, ids []store.TileID, widths []int) ([]store.Tile, error) {
	out := make([]store.Tile, len(ids))
	// The tiles to read, each once: a proof's nodes lie mostly in a few
	// tiles. missAt[i] is the place in miss of ids[i], or -1.
	var miss []store.TileID
	missAt := make([]int, len(ids))
	h.mu.Lock()
	for i, id := range ids {
		missAt[i] = -1
		if t := h.cache(id).get(id); t != nil {
			out[i] = store.Tile{TileID: id, Hashes: t.data, Inner: t.upper}
		} else if d, ok := h.part[id]; ok && d.Width() >= widths[i] {
			// A partial tile's hashes are a prefix of its later versions.
			out[i] = d
		} else {
			missAt[i] = slices.Index(miss, id)
			if missAt[i] < 0 {
				missAt[i] = len(miss)
				miss = append(miss, id)
			}
		}
	}
	h.mu.Unlock()
	if len(miss) > 0 {
		ts, err := h.st.Tiles(ctx, miss)
		if err != nil {
			return nil, err
		}
		if len(ts) != len(miss) {
			return nil, fmt.Errorf("store returned %d tiles, want %d", len(ts), len(miss))
		}
		for i := range ts {
			if len(ts[i].Inner) != store.InnerLen(ts[i].Width()) {
				ts[i].Inner = nil // none kept, or not for these hashes
			}
		}
		for i, j := range missAt {
			if j >= 0 {
				out[i] = ts[j]
			}
		}
		h.mu.Lock()
		h.keep(ts)
		h.mu.Unlock()
	}
	for i, id := range ids {
		if out[i].Width() < widths[i] {
			return nil, fmt.Errorf("tile %d/%d holds %d hashes, need %d: %w", id.Level, id.Index, out[i].Width(), widths[i], ErrNotIntegrated)
		}
	}
	return out, nil
}

// keep caches tiles: full ones in the LRUs, partial ones as the widest
// seen. Its caller holds h.mu.
func (h *hashes) keep(tiles []store.Tile) {
	for _, t := range tiles {
		if t.Width() == store.TileWidth {
			h.cache(t.TileID).put(t.TileID, t.Hashes, t.Inner)
			delete(h.part, t.TileID)
		} else if t.Width() > 0 {
			if old, ok := h.part[t.TileID]; ok && old.Width() > t.Width() {
				continue
			} else if !ok && len(h.part) >= maxCachedPartial {
				for k := range h.part {
					delete(h.part, k)
					break
				}
			}
			h.part[t.TileID] = t
		}
	}
}

// stored caches tiles a round has just stored, as the store now holds
// them: the proofs asked next, by the witnesses and by clients about the
// records just integrated, need them.
func (h *hashes) stored(tiles []store.Tile) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keep(tiles)
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
		// A node inside a cached full tile.
		tid := store.TileID{Level: int(id.Level / TileHeight), Index: id.Index >> (TileHeight - id.Level%TileHeight)}
		if hh := h.inner(tid, int(id.Level%TileHeight), id.Index, true); hh != nil {
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
		k := int(ids[i].Level % TileHeight)
		if data[j].Width() == store.TileWidth {
			if hh := h.inner(tids[i], k, ids[i].Index, false); hh != nil {
				out[i] = hh
				continue
			}
		}
		// A node in a partial tile: its hash never changes either, so it
		// is computed once, from the tile's inner hashes if the store
		// keeps them.
		h.mu.Lock()
		hh, ok := h.edgeNodes[idx[i]]
		h.mu.Unlock()
		if !ok {
			if data[j].Inner != nil || store.InnerLen(data[j].Width()) == 0 {
				hh = nodeInTile(data[j].Hashes, data[j].Inner, k, int(ids[i].Index&(1<<(TileHeight-k)-1)))
			} else {
				t := ts[i]
				t.W = data[j].Width()
				x, err := sumdb.HashFromTile(t, data[j].Hashes, idx[i])
				if err != nil {
					return nil, fmt.Errorf("tree node %d/%d: %w", ids[i].Level, ids[i].Index, err)
				}
				hh = x[:]
			}
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
// node with index n at that level, if tid is a cached full tile. For a
// tile just read with its stored upper levels, it reads a node of those
// levels and hashes at most 7 nodes for one below; for a tile that was
// already cached (hot: the proofs before this one read it too), or one
// stored without them, it computes and caches all the tile's levels on
// first use.
func (h *hashes) inner(tid store.TileID, k int, n uint64, hot bool) []byte {
	h.mu.Lock()
	t := h.cache(tid).get(tid)
	if t == nil {
		h.mu.Unlock()
		return nil
	}
	data, upper, in := t.data, t.upper, t.inner
	h.mu.Unlock()
	pos := int(n & (1<<(TileHeight-k) - 1))
	if in == nil && upper != nil && (k >= store.InnerFrom || !hot) {
		return nodeInTile(data, upper, k, pos)
	}
	if in == nil {
		lv := innerHashes(data)
		in = &lv
		h.mu.Lock()
		t.inner = in
		h.mu.Unlock()
	}
	return in[k][32*pos : 32*pos+32]
}

// nodeInTile returns the hash of node pos at level k of the tree over a
// tile's hashes data, whose inner hashes (store.Tile.Inner) are upper:
// read from upper at levels InnerFrom and above, hashed from at most 8 of
// the tile's hashes below.
func nodeInTile(data, upper []byte, k, pos int) []byte {
	if k < store.InnerFrom {
		return subtreeHash(data[32*(pos<<k) : 32*((pos+1)<<k)])
	}
	off, w := 0, len(data)/32
	for j := store.InnerFrom; j < k; j++ {
		off += w >> j
	}
	return upper[32*(off+pos) : 32*(off+pos)+32]
}

// subtreeHash returns the root of the perfect tree over hashes, a power
// of two of them, at most 2^InnerFrom.
func subtreeHash(hashes []byte) []byte {
	var buf [32 << store.InnerFrom]byte
	n := copy(buf[:], hashes) / 32
	for ; n > 1; n /= 2 {
		for i := 0; i < n/2; i++ {
			hashChildren(buf[32*i:32*i+32], buf[64*i:64*i+64])
		}
	}
	return append([]byte(nil), buf[:32]...)
}

// innerLevels are a tile's inner hashes (store.Tile.Inner) by level, from
// InnerFrom: the edge grows them with its partial tiles.
type innerLevels [TileHeight - store.InnerFrom][]byte

// grow computes the nodes that data, a tile's hashes, completes beyond
// those in lv, and returns the inner hashes of data.
func (lv *innerLevels) grow(data []byte) []byte {
	w := len(data) / 32
	for k := store.InnerFrom; k < TileHeight; k++ {
		cur := &lv[k-store.InnerFrom]
		for j := len(*cur) / 32; j < w>>k; j++ {
			if k == store.InnerFrom {
				*cur = append(*cur, subtreeHash(data[32*(j<<k):32*((j+1)<<k)])...)
			} else {
				below := lv[k-store.InnerFrom-1]
				*cur = append(*cur, nodeHash(below[64*j:64*j+32], below[64*j+32:64*j+64])...)
			}
		}
	}
	out := make([]byte, 0, store.InnerLen(w))
	for _, l := range lv {
		out = append(out, l...)
	}
	return out
}

// innerOf returns the inner hashes of a tile's hashes data.
func innerOf(data []byte) []byte {
	var lv innerLevels
	return lv.grow(data)
}

// innerHashes returns the levels of the perfect tree over a full tile's
// 256 hashes: level 0 is the tile, level 8 its root. The levels above the
// tile share one allocation.
func innerHashes(data []byte) [TileHeight + 1][]byte {
	var lv [TileHeight + 1][]byte
	lv[0] = data
	buf := make([]byte, len(data)-32)
	for k := 1; k <= TileHeight; k++ {
		prev := lv[k-1]
		cur := buf[: len(prev)/2 : len(prev)/2]
		buf = buf[len(cur):]
		for i := 0; i < len(cur)/32; i++ {
			hashChildren(cur[32*i:32*i+32], prev[64*i:64*i+64])
		}
		lv[k] = cur
	}
	return lv
}

// hashChildren writes into dst the RFC 6962 hash of the interior node
// whose children's hashes are the 64 bytes of lr, as hasher.HashChildren
// computes it (SHA-256 of 0x01, left, right), without allocating.
func hashChildren(dst, lr []byte) {
	var b [1 + 64]byte
	b[0] = rfc6962.RFC6962NodeHashPrefix
	copy(b[1:], lr)
	sum := sha256.Sum256(b[:])
	copy(dst, sum[:])
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
	inner map[store.TileID]*innerLevels // of the partial tiles, as far as computed
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
		e.tiles[id] = append([]byte(nil), ts[0].Hashes[:32*w]...)
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
		lv := e.inner[id]
		if lv == nil {
			if e.inner == nil {
				e.inner = make(map[store.TileID]*innerLevels)
			}
			lv = new(innerLevels)
			e.inner[id] = lv
		}
		t := store.Tile{TileID: id, Hashes: append([]byte(nil), e.tiles[id]...)}
		t.Inner = lv.grow(t.Hashes)
		out = append(out, t)
	}
	// Full tiles never change again: drop them from the edge.
	for id, d := range e.tiles {
		if len(d) == 32*store.TileWidth {
			delete(e.tiles, id)
			delete(e.inner, id)
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
