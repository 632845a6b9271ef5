package tlog

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"

	"pouch.dev/store"
)

// TestFoldedRounds: with a Log without witnesses as the SQLite store's
// round folder, each transaction of appends carries its own round: the
// moment Append returns, the published checkpoint covers the appended
// leaves, with the root sumdb/tlog computes, consistent with the one
// before and proving inclusion of every new leaf; and a Log opened
// afterwards on the store finds the tree complete.
//
// The folder is set up here as Run's lead does, but without Run's
// sequencing loop: that loop takes the round lock for a moment after
// every round, and an append committed in that moment is left to it
// (FoldRound's TryLock), so its checkpoint comes a little later.
// TestRunFolds checks that Run sets the folder up.
func TestFoldedRounds(t *testing.T) {
	l, st := newTestLog(t)
	ctx := context.Background()
	all := appendN(t, st, 0, 1)
	if n, err := l.Integrate(ctx); err != nil || n != 1 {
		t.Fatalf("the first round integrated %d leaves, %v; want 1", n, err)
	}
	st.(store.Folding).SetRoundFolder(folder{l})
	defer st.(store.Folding).SetRoundFolder(nil)
	prevRoot := refRoot(t, all)
	prevSize := uint64(1)
	for _, n := range []int{1, 2, 253, 256, 1, 511, 3000, 20} {
		all = append(all, appendN(t, st, len(all), n)...)
		cp, size := l.Checkpoint()
		if size != uint64(len(all)) {
			t.Fatalf("right after appending %d leaves, the published checkpoint has size %d, want %d", n, size, len(all))
		}
		_, _, root, err := ParseCheckpointBody(checkpointText(cp))
		if err != nil {
			t.Fatal(err)
		}
		if want := refRoot(t, all); !bytes.Equal(root, want) {
			t.Fatalf("root at size %d = %x, sumdb/tlog computes %x", size, root, want)
		}
		p, err := l.Consistency(ctx, prevSize, size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(hasher, prevSize, size, p, prevRoot, root); err != nil {
			t.Fatalf("consistency %d -> %d: %v", prevSize, size, err)
		}
		for idx := prevSize; idx < size; idx += max(1, (size-prevSize)/7) {
			p, err := l.Inclusion(ctx, idx, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(hasher, idx, size, LeafHash(all[idx]), p, root); err != nil {
				t.Fatalf("inclusion of %d in %d: %v", idx, size, err)
			}
		}
		prevRoot, prevSize = root, size
	}
	state, err := st.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if state.TreeSize != prevSize {
		t.Fatalf("stored tree %d, published %d", state.TreeSize, prevSize)
	}
	l2, err := New(ctx, st, Config{Origin: testOrigin, Key: l.cfg.Key})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l2.Integrate(ctx); err != nil || n != 0 {
		t.Fatalf("a new Log's round = %d, %v; want nothing left to integrate", n, err)
	}
	if _, size := l2.Checkpoint(); size != prevSize {
		t.Fatalf("a new Log publishes %d, want %d", size, prevSize)
	}
}

// TestRunFolds: while Run leads, appends are sequenced in their own
// transactions: one of a few appends, each made once the last one's
// checkpoint is out, returns with the checkpoint already covering it
// (not every one need: see TestFoldedRounds).
func TestRunFolds(t *testing.T) {
	l, st := newTestLog(t)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); l.Run(ctx) }()
	defer func() { cancel(); <-ran }()
	folded := 0
	for i := 0; i < 20; i++ {
		appendN(t, st, i, 1)
		if _, size := l.Checkpoint(); size == uint64(i+1) {
			folded++
		}
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		_, _, err := l.WaitCheckpoint(wctx, uint64(i+1))
		wcancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	if folded == 0 {
		t.Fatal("no append of 20 returned with a checkpoint covering it: Run did not fold the rounds into the appends")
	}
	t.Logf("%d of 20 appends folded", folded)
}
