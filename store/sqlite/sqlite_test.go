package sqlite_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/store/storetest"
)

func newStore(t *testing.T) store.Store {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pouch.db")
	ctx := context.Background()
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	e0, e1 := storetest.Entry(0, record.KindHouse), storetest.Entry(1, record.KindHouse)
	if _, err := s.Append(ctx, []*store.Entry{e0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Integrate(ctx, &store.Round{NewSize: 1, Checkpoint: []byte("cp 1")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, _ := s.State(ctx)
	if st.Size != 1 || st.TreeSize != 1 || string(st.Checkpoint) != "cp 1" {
		t.Fatalf("after reopening, State = %+v", st)
	}
	seq, err := s.Append(ctx, []*store.Entry{e1})
	if err != nil || seq[0].Index != 1 {
		t.Fatalf("append after reopening: %v, %v", seq, err)
	}
}

// TestClock: a clock that goes back, even across a restart, never makes a
// later record's time of sequencing earlier; leaves read back from the
// file after a restart carry the times and privacy they were committed
// with.
func TestClock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pouch.db")
	ctx := context.Background()
	now := time.Date(2021, 2, 8, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := sqlite.Open(path, sqlite.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	var es []*store.Entry
	var seq []store.Sequenced
	for i := 0; i < 300; i++ {
		e := storetest.Entry(i, record.Kinds[i%len(record.Kinds)])
		e.Public = i%3 != 0
		sq, err := s.Append(ctx, []*store.Entry{e})
		if err != nil {
			t.Fatal(err)
		}
		es, seq = append(es, e), append(seq, sq...)
		now = now.Add(time.Millisecond)
	}
	if !seq[0].Time.Equal(time.Date(2021, 2, 8, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("sequenced at %v, not at the store's clock", seq[0].Time)
	}
	last := seq[len(seq)-1].Time
	s.Close()

	now = now.Add(-time.Hour) // the clock goes back across the restart
	s, err = sqlite.Open(path, sqlite.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckLeaves(t, s, es, seq)
	sq, err := s.Append(ctx, []*store.Entry{storetest.Entry(1000, record.KindTag)})
	if err != nil {
		t.Fatal(err)
	}
	if !sq[0].Time.Equal(last) {
		t.Fatalf("after the clock went back, sequenced at %v, before the last record's %v", sq[0].Time, last)
	}
}

// The store keeps a tile's inner hashes, and refuses them in another size
// than the tile's width calls for, writing nothing of the round.
func TestTileInnerHashes(t *testing.T) {
	ctx := context.Background()
	s := newStore(t).(*sqlite.Store)
	defer s.Close()
	if _, err := s.Append(ctx, []*store.Entry{storetest.Entry(0, record.KindHouse)}); err != nil {
		t.Fatal(err)
	}
	id := store.TileID{Level: 1, Index: 3}
	hashes := bytes.Repeat([]byte{1}, 32*40)
	bad := &store.Round{NewSize: 1, Checkpoint: []byte("cp 1"),
		Tiles: []store.Tile{{TileID: id, Hashes: hashes, Inner: bytes.Repeat([]byte{2}, store.InnerLen(64))}}}
	if err := s.Integrate(ctx, bad); err == nil {
		t.Fatal("Integrate took inner hashes of a tile of 64 hashes for one of 40")
	}
	if st, _ := s.State(ctx); st.TreeSize != 0 {
		t.Fatalf("a refused round grew the tree to %d", st.TreeSize)
	}
	inner := bytes.Repeat([]byte{3}, store.InnerLen(40))
	good := &store.Round{NewSize: 1, Checkpoint: []byte("cp 1"), Tiles: []store.Tile{{TileID: id, Hashes: hashes, Inner: inner}}}
	if err := s.Integrate(ctx, good); err != nil {
		t.Fatal(err)
	}
	ts, err := s.Tiles(ctx, []store.TileID{id})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ts[0].Hashes, hashes) || !bytes.Equal(ts[0].Inner, inner) {
		t.Fatalf("read back %d hashes and %d bytes of inner hashes, want 40 and %d", ts[0].Width(), len(ts[0].Inner), len(inner))
	}
}
