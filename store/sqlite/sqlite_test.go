package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/store/storetest"
)

// openTemp opens a new store in a temporary folder.
func openTemp(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, _ := openTempAt(tb)
	return s
}

// openTempAt is openTemp that also returns the store's file, for tests
// that look at the file or open it again.
func openTempAt(tb testing.TB) (*sqlite.Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "pouch.db")
	s, err := sqlite.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	return s, path
}

func newStore(t *testing.T) store.Store { return openTemp(t) }

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

// TestIndexes: records take their log index as the table's next rowid
// (the log's first record excepted), so a batch that starts an empty log,
// a batch after a reopen and a batch after a refused duplicate all land
// at the indexes Append returns, and the records read back by index are
// the ones appended there.
func TestIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pouch.db")
	ctx := context.Background()
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var es []*store.Entry
	appendN := func(s *sqlite.Store, n int) {
		t.Helper()
		batch := make([]*store.Entry, n)
		for i := range batch {
			batch[i] = storetest.Entry(len(es)+i, record.KindCosign, "ir/president")
		}
		seq, err := s.Append(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, sq := range seq {
			if sq.Index != uint64(len(es)+i) {
				t.Fatalf("entry %d appended at index %d", len(es)+i, sq.Index)
			}
		}
		es = append(es, batch...)
	}
	check := func(s *sqlite.Store) {
		t.Helper()
		for i, e := range es {
			st, err := s.GetByIndex(ctx, uint64(i))
			if err != nil {
				t.Fatal(err)
			}
			if st.ID != e.ID {
				t.Fatalf("index %d holds %s, not %s", i, st.ID.Short(), e.ID.Short())
			}
			if got, err := s.Get(ctx, e.ID); err != nil || got.Index != uint64(i) {
				t.Fatalf("Get(%s) = %v, %v; want index %d", e.ID.Short(), got, err, i)
			}
		}
	}
	appendN(s, 5)
	appendN(s, 1)
	// A duplicate fails its call (the transaction is tried again with a
	// lookup) and takes no index.
	if _, err := s.Append(ctx, []*store.Entry{es[2]}); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("appending a stored record again: %v, want ErrDuplicate", err)
	}
	appendN(s, 300)
	check(s)
	s.Close()
	if s, err = sqlite.Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendN(s, 7)
	check(s)
}

// TestWriterSettings checks the writer's connection after appends: its
// durability (WAL, synchronous=FULL) and its small page cache over a
// mapped file (a large cache makes the commits after some B-tree splits
// walk all of it).
func TestWriterSettings(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	for i := range 3 {
		if _, err := s.Append(ctx, []*store.Entry{storetest.Entry(i, record.KindCosign, "ir/president")}); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"cache_size":   "-8192",
		"mmap_size":    strconv.Itoa(sqlite.MmapSize),
	} {
		got, err := s.WriterPragma(name)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("writer's %s = %s, want %s", name, got, want)
		}
	}
}
