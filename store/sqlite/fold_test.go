package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/storetest"
)

// testFolder is a store.RoundFolder that folds a round of its own making
// (no real tree: a tile per round and a checkpoint naming the size) and
// records what it was asked and told.
type testFolder struct {
	mu       sync.Mutex
	asked    []uint64 // the old sizes it was asked to fold from
	leaves   int      // leaves it was given
	results  []bool   // the done calls' verdicts, in order
	refuse   bool     // return no round
	badStart bool     // fold from a wrong size (a round that does not apply)
}

func (f *testFolder) FoldRound(old uint64, leaves []record.Leaf) (*store.Round, func(bool)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, old)
	f.leaves += len(leaves)
	if f.refuse {
		return nil, nil
	}
	from := old
	if f.badStart {
		from = old + 1
	}
	newSize := old + uint64(len(leaves))
	r := &store.Round{OldSize: from, NewSize: newSize,
		Tiles:      []store.Tile{{TileID: store.TileID{Level: 0, Index: old}, Hashes: make([]byte, 32)}},
		Checkpoint: fmt.Appendf(nil, "cp %d", newSize)}
	return r, func(committed bool) {
		f.mu.Lock()
		f.results = append(f.results, committed)
		f.mu.Unlock()
	}
}

func (f *testFolder) done() []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bool(nil), f.results...)
}

// TestFoldRound: with a folder, a transaction of appends carries their
// round: once Append returns, the tree covers them and the checkpoint is
// stored, the folder told so before; a folder that returns no round, a
// round that does not apply, and a transaction that fails all leave the
// tree where it was and the appends as they would be without a folder.
func TestFoldRound(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	defer s.Close()
	var _ store.Folding = s
	f := &testFolder{}
	s.SetRoundFolder(f)

	// Folded: Append's answer comes after the round is committed.
	seq, err := s.Append(ctx, []*store.Entry{storetest.Entry(0, record.KindHouse), storetest.Entry(1, record.KindHouse)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != 2 || st.TreeSize != 2 || string(st.Checkpoint) != "cp 2" {
		t.Fatalf("after a folded append: size %d, tree %d, checkpoint %q; want 2, 2, \"cp 2\"", st.Size, st.TreeSize, st.Checkpoint)
	}
	if got := f.done(); len(got) != 1 || !got[0] {
		t.Fatalf("the folder was told %v before Append returned, want [true]", got)
	}
	if cp, err := s.Checkpoint(ctx, 2); err != nil || string(cp) != "cp 2" {
		t.Fatalf("stored checkpoint of size 2: %q, %v", cp, err)
	}
	if seq[1].Index != 1 {
		t.Fatalf("second entry at %d", seq[1].Index)
	}

	// No round: the appends commit, the tree stays.
	f.refuse = true
	if _, err := s.Append(ctx, []*store.Entry{storetest.Entry(2, record.KindHouse)}); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.State(ctx); st.Size != 3 || st.TreeSize != 2 {
		t.Fatalf("folder refused: size %d, tree %d; want 3, 2", st.Size, st.TreeSize)
	}

	// The tree is now behind the next transaction's leaves: the folder
	// is not asked until a round catches it up.
	f.refuse = false
	asked := len(f.asked)
	if _, err := s.Append(ctx, []*store.Entry{storetest.Entry(3, record.KindHouse)}); err != nil {
		t.Fatal(err)
	}
	if len(f.asked) != asked {
		t.Fatalf("folder asked with the tree at 2 for leaves from 3: %v", f.asked)
	}
	if err := s.Integrate(ctx, &store.Round{OldSize: 2, NewSize: 4, Checkpoint: []byte("cp 4")}); err != nil {
		t.Fatal(err)
	}

	// A round that does not apply: refused alone, the appends commit.
	f.badStart = true
	if _, err := s.Append(ctx, []*store.Entry{storetest.Entry(4, record.KindHouse)}); err != nil {
		t.Fatalf("appends failed with a round that does not apply: %v", err)
	}
	if st, _ := s.State(ctx); st.Size != 5 || st.TreeSize != 4 {
		t.Fatalf("bad round: size %d, tree %d; want 5, 4", st.Size, st.TreeSize)
	}
	if got := f.done(); got[len(got)-1] {
		t.Fatalf("the folder was told a refused round committed: %v", got)
	}
	f.badStart = false
	if err := s.Integrate(ctx, &store.Round{OldSize: 4, NewSize: 5, Checkpoint: []byte("cp 5")}); err != nil {
		t.Fatal(err)
	}

	// A duplicate alone: its insert fails before any round is asked
	// for, and the second try, which looks the IDs up, has no leaf to
	// fold: the folder is told nothing, the tree stays.
	before := len(f.done())
	_, err = s.Append(ctx, []*store.Entry{storetest.Entry(0, record.KindHouse)})
	if !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("duplicate: %v, want ErrDuplicate", err)
	}
	if st, _ := s.State(ctx); st.Size != 5 || st.TreeSize != 5 {
		t.Fatalf("after a duplicate: size %d, tree %d; want 5, 5", st.Size, st.TreeSize)
	}
	if got := f.done()[before:]; len(got) != 0 {
		t.Fatalf("a duplicate alone: the folder was told %v, want nothing", got)
	}

	// Folding stops when the folder is taken away.
	s.SetRoundFolder(nil)
	asked = len(f.asked)
	if _, err := s.Append(ctx, []*store.Entry{storetest.Entry(5, record.KindHouse)}); err != nil {
		t.Fatal(err)
	}
	if len(f.asked) != asked {
		t.Fatal("folder asked after SetRoundFolder(nil)")
	}
	if st, _ := s.State(ctx); st.TreeSize != 5 {
		t.Fatalf("tree %d after folding stopped, want 5", st.TreeSize)
	}
}
