package tlog

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	sumdb "golang.org/x/mod/sumdb/tlog"

	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/store/storetest"
)

const testOrigin = "pouch.test/log"

func newTestLog(t testing.TB, witnesses ...WitnessConfig) (*Log, store.Store) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	skey, _, err := GenerateKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(context.Background(), st, Config{Origin: testOrigin, Key: skey, Witnesses: witnesses})
	if err != nil {
		t.Fatal(err)
	}
	return l, st
}

// appendN appends n test records numbered from first, in batches, and
// returns their log entries.
func appendN(t testing.TB, st store.Store, first, n int) [][]byte {
	t.Helper()
	var all [][]byte
	for i := 0; i < n; {
		var b []*store.Entry
		for ; i < n && len(b) < store.MaxBatch; i++ {
			b = append(b, storetest.Entry(first+i, record.Kinds[(first+i)%len(record.Kinds)]))
		}
		seq, err := st.Append(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		for k, e := range b {
			all = append(all, record.LeafData(e.Leaf(seq[k])))
		}
	}
	return all
}

// refRoot computes the root of the leaves with sumdb/tlog, independently.
func refRoot(t testing.TB, leaves [][]byte) []byte {
	var stored []sumdb.Hash
	r := sumdb.HashReaderFunc(func(idx []int64) ([]sumdb.Hash, error) {
		out := make([]sumdb.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, e := range leaves {
		hs, err := sumdb.StoredHashes(int64(i), e, r)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	h, err := sumdb.TreeHash(int64(len(leaves)), r)
	if err != nil {
		t.Fatal(err)
	}
	return h[:]
}

func TestTreeGrowth(t *testing.T) {
	l, st := newTestLog(t)
	ctx := context.Background()
	var all [][]byte
	var roots [][]byte
	var sizes []uint64
	// Rounds of awkward sizes cross tile boundaries at levels 0 and 1.
	for _, n := range []int{1, 2, 253, 256, 1, 511, 3000, 20} {
		all = append(all, appendN(t, st, len(all), n)...)
		if got, err := l.Integrate(ctx); err != nil || got != n {
			t.Fatalf("Integrate = %d, %v; want %d", got, err, n)
		}
		cp, size := l.Checkpoint()
		if size != uint64(len(all)) {
			t.Fatalf("checkpoint size %d, want %d", size, len(all))
		}
		_, _, hash, err := ParseCheckpointBody(checkpointText(cp))
		if err != nil {
			t.Fatal(err)
		}
		if want := refRoot(t, all); !bytes.Equal(hash, want) {
			t.Fatalf("root at size %d = %x, sumdb/tlog computes %x", size, hash, want)
		}
		roots = append(roots, hash)
		sizes = append(sizes, size)
	}
	for i := range sizes {
		for j := i; j < len(sizes); j++ {
			p, err := l.Consistency(ctx, sizes[i], sizes[j])
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(hasher, sizes[i], sizes[j], p, roots[i], roots[j]); err != nil {
				t.Fatalf("consistency %d -> %d: %v", sizes[i], sizes[j], err)
			}
		}
		for _, idx := range []uint64{0, sizes[i] / 2, sizes[i] - 1} {
			p, err := l.Inclusion(ctx, idx, sizes[i])
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(hasher, idx, sizes[i], LeafHash(all[idx]), p, roots[i]); err != nil {
				t.Fatalf("inclusion of %d in %d: %v", idx, sizes[i], err)
			}
		}
	}
	// A fresh Log over the same store continues from the stored edge.
	skey := l.cfg.Key
	l2, err := New(ctx, st, Config{Origin: testOrigin, Key: skey})
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, appendN(t, st, len(all), 300)...)
	if _, err := l2.Integrate(ctx); err != nil {
		t.Fatal(err)
	}
	cp, _ := l2.Checkpoint()
	_, _, hash, _ := ParseCheckpointBody(checkpointText(cp))
	if !bytes.Equal(hash, refRoot(t, all)) {
		t.Fatalf("after reopening, the root is wrong")
	}
	// The first Log notices it is behind and catches up.
	all = append(all, appendN(t, st, len(all), 7)...)
	if _, err := l.Integrate(ctx); err != nil {
		t.Fatal(err)
	}
	cp, _ = l.Checkpoint()
	_, _, hash, _ = ParseCheckpointBody(checkpointText(cp))
	if !bytes.Equal(hash, refRoot(t, all)) {
		t.Fatalf("after another sequencer moved the tree, the root is wrong")
	}
}

// A Log that takes over a store whose tree another sequencer moved, with
// nothing left to integrate, publishes the stored head at its first round
// rather than serving its older checkpoint until new leaves come: a client
// that saw the newer one through the last leader would call the older one
// a rollback.
func TestIntegratePublishesStoredHead(t *testing.T) {
	l, st := newTestLog(t)
	ctx := context.Background()
	appendN(t, st, 0, 3)
	if _, err := l.Integrate(ctx); err != nil {
		t.Fatal(err)
	}
	// The second replica's Log, made now, publishes the tree of 3.
	l2, err := New(ctx, st, Config{Origin: testOrigin, Key: l.cfg.Key})
	if err != nil {
		t.Fatal(err)
	}
	if _, size := l2.Checkpoint(); size != 3 {
		t.Fatalf("the new Log publishes a tree of %d, want 3", size)
	}
	// The first sequences more; the second does not follow meanwhile.
	appendN(t, st, 3, 5)
	if n, err := l.Integrate(ctx); err != nil || n != 5 {
		t.Fatalf("Integrate = %d, %v; want 5", n, err)
	}
	want, _ := l.Checkpoint()
	// The second takes over: nothing to integrate, the stored head published.
	if n, err := l2.Integrate(ctx); err != nil || n != 0 {
		t.Fatalf("the second Log's round = %d, %v; want 0 and no error", n, err)
	}
	got, size := l2.Checkpoint()
	if size != 8 || !bytes.Equal(got, want) {
		t.Fatalf("after taking over, the second Log publishes a tree of %d, want the stored head of 8", size)
	}
}

func TestTilePaths(t *testing.T) {
	for _, tc := range []struct {
		p    TilePath
		path string
	}{
		{TilePath{0, 0, 256}, "tile/0/000"},
		{TilePath{0, 1234067, 256}, "tile/0/x001/x234/067"},
		{TilePath{1, 5, 7}, "tile/1/005.p/7"},
		{TilePath{EntriesLevel, 1000, 256}, "tile/entries/x001/000"},
		{TilePath{EntriesLevel, 3, 255}, "tile/entries/003.p/255"},
	} {
		if got := tc.p.Path(); got != tc.path {
			t.Errorf("%+v.Path() = %q, want %q", tc.p, got, tc.path)
		}
		got, err := ParseTilePath("/" + tc.path)
		if err != nil || got != tc.p {
			t.Errorf("ParseTilePath(%q) = %+v, %v", tc.path, got, err)
		}
	}
	for _, bad := range []string{"tile/0/1", "tile/0/001.p/256", "tile/0/001.p/0", "tile/data/000",
		"tile/8/0/000", "tile/0/x000/001", "tile/entries/000.p/", "tile/-1/000", "tiles/0/000", "tile/9/000"} {
		if tp, err := ParseTilePath(bad); err == nil {
			t.Errorf("ParseTilePath(%q) = %+v, want an error", bad, tp)
		}
	}
}

func TestEntryBundle(t *testing.T) {
	var b []byte
	var want [][]byte
	for i := 0; i < 5; i++ {
		e := []byte(fmt.Sprint("entry ", i))
		want = append(want, e)
		b = AppendEntry(b, e)
	}
	got, err := ParseEntryBundle(b)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ParseEntryBundle = %q, %v", got, err)
	}
	if _, err := ParseEntryBundle(b[:len(b)-1]); err == nil {
		t.Fatal("a truncated bundle parsed")
	}
}

// TestOrigins: a log named by nobody gets a fresh origin of its own, which
// its data folder keeps; an origin asked for at first start is kept; an
// existing key refuses to serve under another name.
func TestOrigins(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	_, a, err := LoadOrCreateKey(filepath.Join(dirA, "log.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := LoadOrCreateKey(filepath.Join(dirB, "log.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	if a == b || !strings.HasPrefix(a, OriginPrefix) || len(a) != len(OriginPrefix)+16 {
		t.Fatalf("two fresh logs are named %q and %q", a, b)
	}
	if _, again, err := LoadOrCreateKey(filepath.Join(dirA, "log.key"), ""); err != nil || again != a {
		t.Fatalf("restarted log named %q, %v; want %q", again, err, a)
	}
	if _, _, err := LoadOrCreateKey(filepath.Join(dirA, "log.key"), "pouch.example/log"); err == nil || !strings.Contains(err.Error(), a) {
		t.Fatalf("an existing key under another origin: %v", err)
	}
	dirC := t.TempDir()
	if _, c, err := LoadOrCreateKey(filepath.Join(dirC, "log.key"), "pouch.example/log"); err != nil || c != "pouch.example/log" {
		t.Fatalf("named at first start: %q, %v", c, err)
	}
	if _, c, err := LoadOrCreateKey(filepath.Join(dirC, "log.key"), ""); err != nil || c != "pouch.example/log" {
		t.Fatalf("restarted without a name: %q, %v", c, err)
	}
}
