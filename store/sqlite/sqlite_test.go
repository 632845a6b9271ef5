package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

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
