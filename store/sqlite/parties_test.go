package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/store/storetest"
)

// A partiesModel is what List by party must return, kept beside a store.
type partiesModel struct {
	es  []*store.Entry
	idx []uint64
}

func (m *partiesModel) add(es []*store.Entry, seq []store.Sequenced) {
	m.es = append(m.es, es...)
	for _, sq := range seq {
		m.idx = append(m.idx, sq.Index)
	}
}

// want lists what q must return, from the model.
func (m *partiesModel) want(q store.Query) []uint64 {
	var out []uint64
	for i, e := range m.es {
		x := m.idx[i]
		if !slices.Contains(e.Parties, q.Party) || x < q.From || q.Before > 0 && x >= q.Before ||
			len(q.Kinds) > 0 && !slices.Contains(q.Kinds, e.Kind) || q.Public && !e.Public ||
			q.Ref != nil && !slices.Contains(e.Refs, *q.Ref) {
			continue
		}
		out = append(out, x)
	}
	if q.Desc {
		slices.Reverse(out)
	}
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

// check runs a set of party queries against s and the model: both
// orders, bounds on either side of any index, small limits, kinds, a
// reference and public.
func (m *partiesModel) check(t *testing.T, s *sqlite.Store) {
	t.Helper()
	ctx := context.Background()
	n := uint64(len(m.es))
	ref := m.es[0].ID
	for _, party := range []record.Handle{"aa/one", "bb/two", "cc/three", "zz/nobody"} {
		for _, desc := range []bool{false, true} {
			for _, q := range []store.Query{
				{},
				{Limit: 2},
				{Limit: 7},
				{From: n / 3},
				{From: n / 3, Before: 2 * n / 3, Limit: 3},
				{Before: n - 2},
				{Kinds: []record.Kind{record.KindCustody}},
				{Ref: &ref},
				{Public: true, Limit: 5},
			} {
				q.Party, q.Desc = party, desc
				if q.Limit == 0 {
					q.Limit = store.MaxList
				}
				got, err := s.List(ctx, q)
				if err != nil {
					t.Fatalf("List(%+v): %v", q, err)
				}
				var idx []uint64
				for _, st := range got {
					idx = append(idx, st.Index)
				}
				if want := m.want(q); !slices.Equal(idx, want) {
					t.Fatalf("List(party %s, from %d, before %d, limit %d, desc %v, kinds %v, ref %v, public %v) = %v, want %v",
						q.Party, q.From, q.Before, q.Limit, q.Desc, q.Kinds, q.Ref != nil, q.Public, idx, want)
				}
			}
		}
	}
}

// TestPartiesLag checks List by party while the parties index lags the
// records (some or all of a party's records not in it yet), across its
// writes, after a reopen, and after a stop that left records unindexed.
func TestPartiesLag(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pouch.db")
	s := openFlushing(t, path, 1<<30, time.Hour) // nothing written before Close
	m := &partiesModel{}
	next := 0
	var first record.ID // the first record's ID, which some refer to
	appendSome := func(s *sqlite.Store, n int) {
		t.Helper()
		parties := [][]record.Handle{{"aa/one"}, {"aa/one", "bb/two"}, {"bb/two", "cc/three"}, {"cc/three", "cc/three"}}
		kinds := []record.Kind{record.KindTag, record.KindCustody, record.KindAcceptance}
		var es []*store.Entry
		for range n {
			e := storetest.Entry(next, kinds[next%len(kinds)], parties[next%len(parties)]...)
			e.Public = next%5 == 0
			if next == 0 {
				first = e.ID
			} else if next%4 == 1 {
				e.Refs = []record.ID{first}
			}
			next++
			es = append(es, e)
		}
		seq, err := s.Append(ctx, es)
		if err != nil {
			t.Fatal(err)
		}
		m.add(es, seq)
	}
	for range 6 {
		appendSome(s, 5)
	}
	// All 30 lag: none of their rows is written.
	if n := count(t, path, `SELECT count(*) FROM parties`); n != 0 {
		t.Fatalf("%d parties rows written, want none yet", n)
	}
	m.check(t, s)

	// A clean stop writes them; a reopen reads them from the index.
	s.Close()
	if n := count(t, path, `SELECT upto FROM parties_indexed`); n != 30 {
		t.Fatalf("parties indexed up to %d after Close, want 30", n)
	}
	s = openFlushing(t, path, 1<<30, time.Hour)
	m.check(t, s)
	// Half indexed, half lagging.
	for range 4 {
		appendSome(s, 5)
	}
	m.check(t, s)
	s.Close()

	// As a kill -9 leaves it: the last records' rows never written.
	exec(t, path, `DELETE FROM parties WHERE idx >= 37`)
	exec(t, path, `UPDATE parties_indexed SET upto = 37`)
	s = openFlushing(t, path, 6, time.Hour) // written with the next commit of 2 records or more
	defer s.Close()
	m.check(t, s)
	appendSome(s, 3)
	m.check(t, s)
	if n := count(t, path, `SELECT upto FROM parties_indexed`); n != next {
		t.Fatalf("parties indexed up to %d, want %d", n, next)
	}
	if n, want := count(t, path, `SELECT count(*) FROM parties`), rows(m); n != want {
		t.Fatalf("%d parties rows, want %d", n, want)
	}
}

// rows counts the parties rows the model's records make, one per
// distinct party of each.
func rows(m *partiesModel) int {
	n := 0
	for _, e := range m.es {
		n += len(slices.Compact(slices.Clone(e.Parties)))
	}
	return n
}

// TestPartiesFlushIdle: rows waiting are written once the oldest has
// waited the flush age, with no commit to carry them.
func TestPartiesFlushIdle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pouch.db")
	s := openFlushing(t, path, 1<<30, 20*time.Millisecond)
	defer s.Close()
	if _, err := s.Append(context.Background(), []*store.Entry{storetest.Entry(0, record.KindTag, "aa/one", "bb/two")}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); count(t, path, `SELECT count(*) FROM parties`) != 2; {
		if time.Now().After(deadline) {
			t.Fatal("the rows waiting were not written within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := count(t, path, `SELECT upto FROM parties_indexed`); n != 1 {
		t.Fatalf("parties indexed up to %d, want 1", n)
	}
}

// TestPartiesFailedCommit: the rows of a commit that failed are not
// written later under the indexes other records then take, which would
// list those records to a party of the failed one.
func TestPartiesFailedCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pouch.db")
	s := openFlushing(t, path, 1<<30, time.Hour)
	defer s.Close()
	if _, err := s.Append(ctx, []*store.Entry{storetest.Entry(0, record.KindTag, "aa/one")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMaxPageCount(1); err != nil { // the "disk" is full
		t.Fatal(err)
	}
	lost := storetest.Entry(1, record.KindTag, "ee/secret")
	lost.Payload = make([]byte, 64<<10)
	if _, err := s.Append(ctx, []*store.Entry{lost}); !errors.Is(err, store.ErrFull) {
		t.Fatalf("appending to a full store: %v, want ErrFull", err)
	}
	if err := s.SetMaxPageCount(1 << 30); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, []*store.Entry{storetest.Entry(2, record.KindTag, "bb/two")}); err != nil {
		t.Fatal(err)
	}
	s.Close() // writes the rows waiting
	if n := count(t, path, `SELECT count(*) FROM parties WHERE handle = 'ee/secret'`); n != 0 {
		t.Fatalf("%d parties rows of the failed record were written", n)
	}
	if n := count(t, path, `SELECT count(*) FROM parties`); n != 2 {
		t.Fatalf("%d parties rows, want 2", n)
	}
}

// TestPartiesTwoStores: a second store open on the same file (a copy
// read from a running server's data folder) writes, when it closes, the
// parties rows of the records not yet indexed; the first then writes the
// same rows, and goes on appending.
func TestPartiesTwoStores(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pouch.db")
	a := openFlushing(t, path, 1<<30, time.Hour)
	defer a.Close()
	m := &partiesModel{}
	add := func(n int, parties ...record.Handle) {
		t.Helper()
		e := storetest.Entry(n, record.KindTag, parties...)
		seq, err := a.Append(ctx, []*store.Entry{e})
		if err != nil {
			t.Fatal(err)
		}
		m.add([]*store.Entry{e}, seq)
	}
	add(0, "aa/one")
	add(1, "bb/two", "aa/one")
	b, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b.Close() // writes the rows of 0 and 1
	if n := count(t, path, `SELECT count(*) FROM parties`); n != 3 {
		t.Fatalf("%d parties rows after the second store closed, want 3", n)
	}
	add(2, "cc/three")
	a.Close() // writes 0, 1 (again, skipped) and 2
	if n := count(t, path, `SELECT count(*) FROM parties`); n != 4 {
		t.Fatalf("%d parties rows, want 4", n)
	}
	if n := count(t, path, `SELECT upto FROM parties_indexed`); n != 3 {
		t.Fatalf("parties indexed up to %d, want 3", n)
	}
	if a, err = sqlite.Open(path); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	m.check(t, a)
}

// TestPartiesCloseAtOnce: a store closed as soon as it opened still
// writes the parties rows waiting. Its writer starts after Open returns;
// on one processor it often first runs after Close, and then must still
// stop cleanly rather than as if Open had failed.
func TestPartiesCloseAtOnce(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for i := range 20 {
		path := filepath.Join(t.TempDir(), "pouch.db")
		a := openFlushing(t, path, 1<<30, time.Hour)
		if _, err := a.Append(context.Background(), []*store.Entry{storetest.Entry(0, record.KindTag, "aa/one")}); err != nil {
			t.Fatal(err)
		}
		b, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		n := count(t, path, `SELECT count(*) FROM parties`)
		a.Close()
		if n != 1 {
			t.Fatalf("try %d: %d parties rows after a store closed at once, want 1", i, n)
		}
	}
}

// openFlushing opens the store at path with its parties rows written
// once rows of them wait or the oldest has waited age.
func openFlushing(t *testing.T, path string, rows int, age time.Duration) *sqlite.Store {
	t.Helper()
	restore := sqlite.SetPartyFlush(rows, age)
	defer restore()
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
