package tlog

import (
	"bytes"
	"context"
	"crypto/rand"
	mrand "math/rand/v2"
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
	c.put(id(1), []byte{1})
	c.put(id(2), []byte{2})
	if c.get(id(1)) == nil {
		t.Fatal("tile 1 dropped early")
	}
	c.put(id(3), []byte{3}) // drops 2, the least recently used
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
