package tlog

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"

	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/storetest"
)

// hashChildren and innerHashes compute what the merkle package computes.
func TestInnerHashes(t *testing.T) {
	data := make([]byte, 32*store.TileWidth)
	rand.Read(data)
	lv := innerHashes(data)
	want := data
	for k := 1; k <= TileHeight; k++ {
		var next []byte
		for i := 0; i < len(want); i += 64 {
			next = append(next, hasher.HashChildren(want[i:i+32], want[i+32:i+64])...)
		}
		if !bytes.Equal(lv[k], next) {
			t.Fatalf("level %d of the tile differs from hasher.HashChildren's", k)
		}
		want = next
	}
	if len(lv[TileHeight]) != 32 {
		t.Fatalf("the tile's root has %d bytes", len(lv[TileHeight]))
	}
	// What a store keeps (store.Tile.Inner), and the nodes below it, each
	// against hasher.HashChildren's levels.
	ref := [][]byte{data}
	for k := 1; k < TileHeight; k++ {
		var next []byte
		for i := 0; i < len(ref[k-1]); i += 64 {
			next = append(next, hasher.HashChildren(ref[k-1][i:i+32], ref[k-1][i+32:i+64])...)
		}
		ref = append(ref, next)
	}
	upper := innerOf(data)
	if want := bytes.Join(ref[store.InnerFrom:], nil); !bytes.Equal(upper, want) || len(upper) != store.InnerSize {
		t.Fatalf("upperHashes: %d bytes, not levels %d to %d (%d bytes)", len(upper), store.InnerFrom, TileHeight-1, len(want))
	}
	for k := 0; k < store.InnerFrom; k++ {
		for pos := 0; pos < store.TileWidth>>k; pos++ {
			if got := subtreeHash(data[32*(pos<<k) : 32*((pos+1)<<k)]); !bytes.Equal(got, ref[k][32*pos:32*pos+32]) {
				t.Fatalf("subtreeHash of node %d at level %d differs from hasher.HashChildren's", pos, k)
			}
		}
	}
}

// noInner is a store that returns no inner hashes (store.Tile.Inner), as
// for tiles stored before the store's schema kept them.
type noInner struct{ store.Store }

func (s noInner) Tiles(ctx context.Context, ids []store.TileID) ([]store.Tile, error) {
	ts, err := s.Store.Tiles(ctx, ids)
	for i := range ts {
		ts[i].Inner = nil
	}
	return ts, err
}

// LeafHash and nodeHash compute what the merkle package's hasher does.
func TestLeafAndNodeHash(t *testing.T) {
	for _, n := range []int{0, 1, 31, 32, 64, 126, 127, 128, 129, 300} {
		data := make([]byte, n)
		rand.Read(data)
		if !bytes.Equal(LeafHash(data), hasher.HashLeaf(data)) {
			t.Fatalf("LeafHash of %d bytes differs from hasher.HashLeaf's", n)
		}
	}
	for _, n := range [][2]int{{32, 32}, {31, 32}, {32, 33}, {0, 0}} {
		l, r := make([]byte, n[0]), make([]byte, n[1])
		rand.Read(l)
		rand.Read(r)
		if !bytes.Equal(nodeHash(l, r), hasher.HashChildren(l, r)) {
			t.Fatalf("nodeHash of %d and %d bytes differs from hasher.HashChildren's", n[0], n[1])
		}
	}
}

// A tileLRU drops the least recently used tile.
func TestTileLRU(t *testing.T) {
	c := tileLRU{max: 2, m: make(map[store.TileID]*fullTile)}
	id := func(i uint64) store.TileID { return store.TileID{Index: i} }
	c.put(id(1), []byte{1}, nil)
	c.put(id(2), []byte{2}, nil)
	if c.get(id(1)) == nil {
		t.Fatal("tile 1 dropped early")
	}
	c.put(id(3), []byte{3}, nil) // drops 2, the least recently used
	if c.get(id(2)) != nil || c.get(id(1)) == nil || c.get(id(3)) == nil {
		t.Fatalf("after putting 3: 1 %v, 2 %v, 3 %v", c.get(id(1)) != nil, c.get(id(2)) != nil, c.get(id(3)) != nil)
	}
	if len(c.m) != 2 || c.head == nil || c.tail == nil || c.head.prev != nil || c.tail.next != nil {
		t.Fatalf("list in a bad state: %d tiles", len(c.m))
	}
}

// Proofs are the same whatever the caches hold: warm, cold, or too small
// to hold a proof's tiles; and they verify against the tree's root.
func TestProofsAcrossCacheStates(t *testing.T) {
	if testing.Short() {
		t.Skip("grows a log past one level-1 tile")
	}
	l, st := newTestLog(t)
	n := store.TileWidth*store.TileWidth + 300 // a full level-1 tile
	leaves := appendN(t, st, 0, n)
	ctx := context.Background()
	t.Run("inner hashes kept", func(t *testing.T) { checkProofs(t, l, leaves) })
	// The same tree read through a store that keeps no inner hashes.
	skey, _, err := GenerateKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := New(ctx, noInner{st}, Config{Origin: testOrigin, Key: skey})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("no inner hashes", func(t *testing.T) { checkProofs(t, l2, leaves) })
	tiles, err := st.Tiles(ctx, []store.TileID{{Level: 0, Index: 0}, {Level: 1, Index: 0}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range tiles {
		if !bytes.Equal(tl.Inner, innerOf(tl.Hashes)) {
			t.Errorf("full tile %d/%d stored with %d bytes of inner hashes, not its levels %d to %d", tl.Level, tl.Index, len(tl.Inner), store.InnerFrom, TileHeight-1)
		}
	}
	// Every tile, read in queries of many.
	if k, err := CheckTree(ctx, st); err != nil || k != uint64(n) {
		t.Fatalf("CheckTree = %d, %v", k, err)
	}
}

// checkProofs asks l, whose tree holds leaves, for proofs of random leaves
// and sizes, with its tile cache full, emptied and shrunk.
func checkProofs(t *testing.T, l *Log, leaves [][]byte) {
	ctx := context.Background()
	n := len(leaves)
	for {
		k, err := l.Integrate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
	}
	_, size := l.Checkpoint()
	if size != uint64(n) {
		t.Fatalf("tree of %d leaves, want %d", size, n)
	}
	root, err := l.Root(ctx, size)
	if err != nil {
		t.Fatal(err)
	}
	if want := refRoot(t, leaves); !bytes.Equal(root, want) {
		t.Fatalf("root %x, want %x", root, want)
	}
	// The roots of the trees the consistency proofs start from, computed
	// apart from the log's tiles.
	rnd := mrand.New(mrand.NewPCG(1, 2))
	const proofs = 300
	olds := make([]uint64, proofs)
	oldRoots := make(map[uint64][]byte)
	for i := range olds {
		olds[i] = 1 + rnd.Uint64N(size-1)
		oldRoots[olds[i]] = nil
	}
	rng := rangeFactory.NewEmptyRange(0)
	for i, lf := range leaves {
		if err := rng.Append(LeafHash(lf), nil); err != nil {
			t.Fatal(err)
		}
		if _, ok := oldRoots[uint64(i+1)]; ok {
			if oldRoots[uint64(i+1)], err = rng.GetRootHash(nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range proofs {
		switch i % 3 {
		case 1:
			l.DropTileCache()
		case 2:
			l.h.mu.Lock()
			l.h.leaf.max, l.h.upper.max = 1, 1
			l.h.mu.Unlock()
		}
		idx := rnd.Uint64N(size)
		p, err := l.Inclusion(ctx, idx, size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(hasher, idx, size, LeafHash(leaves[idx]), p, root); err != nil {
			t.Fatalf("inclusion of %d (cache state %d): %v", idx, i%3, err)
		}
		old := olds[i]
		c, err := l.Consistency(ctx, old, size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(hasher, old, size, c, oldRoots[old], root); err != nil {
			t.Fatalf("consistency from %d (cache state %d): %v", old, i%3, err)
		}
	}
}

// BenchmarkSequencerHashing hashes 10,000 leaves into the tree, as a
// sequencing round does before it signs: leaf hashes, the compact range,
// the changed tiles.
func BenchmarkSequencerHashing(b *testing.B) {
	var leaves []record.Leaf
	for i := range 10000 {
		e := storetest.Entry(i, record.Kinds[i%len(record.Kinds)])
		leaves = append(leaves, record.Leaf{Kind: e.Kind, ID: e.ID, Time: 1700000000000})
	}
	b.ReportAllocs()
	for b.Loop() {
		e := &edge{rng: rangeFactory.NewEmptyRange(0), tiles: make(map[store.TileID][]byte)}
		lh := make([][]byte, len(leaves))
		for i, l := range leaves {
			lh[i] = LeafHash(record.LeafData(l))
		}
		if _, err := e.add(lh); err != nil {
			b.Fatal(err)
		}
	}
}

// badInner is a store whose inner hashes of tile 0/0 are wrong.
type badInner struct{ store.Store }

func (s badInner) Tiles(ctx context.Context, ids []store.TileID) ([]store.Tile, error) {
	ts, err := s.Store.Tiles(ctx, ids)
	for i := range ts {
		if ts[i].TileID == (store.TileID{}) && len(ts[i].Inner) > 0 {
			ts[i].Inner = bytes.Clone(ts[i].Inner)
			ts[i].Inner[store.InnerSize-1] ^= 1
		}
	}
	return ts, err
}

// CheckTree checks the inner hashes kept with full tiles.
func TestCheckTreeInnerHashes(t *testing.T) {
	l, st := newTestLog(t)
	appendN(t, st, 0, store.TileWidth+10)
	ctx := context.Background()
	if _, err := l.Integrate(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := CheckTree(ctx, st); err != nil || n != store.TileWidth+10 {
		t.Fatalf("CheckTree = %d, %v", n, err)
	}
	if _, err := CheckTree(ctx, noInner{st}); err != nil {
		t.Fatalf("CheckTree without inner hashes: %v", err)
	}
	_, err := CheckTree(ctx, badInner{st})
	if !errors.Is(err, ErrTreeMismatch) || !strings.Contains(err.Error(), "tile 0/0") {
		t.Fatalf("CheckTree with wrong inner hashes: %v", err)
	}
}
