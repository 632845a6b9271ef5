package tlog

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
)

// TestFoldedRounds: while a Log without witnesses leads, over the SQLite
// store, each transaction of appends carries its own round: the moment
// Append returns, the published checkpoint covers the appended leaves,
// with the root sumdb/tlog computes, consistent with the one before and
// proving inclusion of every new leaf; and a Log opened afterwards on the
// store finds the tree complete.
func TestFoldedRounds(t *testing.T) {
	l, st := newTestLog(t)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); l.Run(ctx) }()
	defer func() { cancel(); <-ran }()

	// The first append may come before Run has set the folder up.
	all := appendN(t, st, 0, 1)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if _, _, err := l.WaitCheckpoint(wctx, 1); err != nil {
		t.Fatal(err)
	}
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
