package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"pouch.dev/record"

	"pouch.dev/internal/pgtest"
	"pouch.dev/store"
	"pouch.dev/store/postgres"
	"pouch.dev/store/storetest"
)

func open(t *testing.T, url string, opt postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t *testing.T) store.Store { return open(t, pgtest.DB(t), postgres.Options{}) }

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

// TestTwoProcesses: two stores over one database, as two server processes
// are, append concurrently. Indexes stay gapless, times never decrease,
// each Check runs when every record of the other store below its entry is
// committed and readable from it, and WaitSize wakes when the other store
// appends.
func TestTwoProcesses(t *testing.T) {
	url := pgtest.DB(t)
	a, b := open(t, url, postgres.Options{}), open(t, url, postgres.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	woke := make(chan uint64, 1)
	go func() {
		n, _ := b.WaitSize(ctx, 0)
		woke <- n
	}()
	time.Sleep(50 * time.Millisecond)
	if _, err := a.Append(ctx, []*store.Entry{storetest.Entry(0, record.KindHouse)}); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-woke:
		if n != 1 {
			t.Fatalf("WaitSize on the other store returned %d, want 1", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitSize did not wake when another store appended")
	}

	const workers, each = 6, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		s, other := a, b
		if w%2 == 1 {
			s, other = b, a
		}
		wg.Go(func() {
			for i := range each {
				e := storetest.Entry(1+w*1000+i, record.KindCustody, "ru/amb-tehran")
				e.Check = func(sq store.Sequenced) error {
					// What another connection sees committed is the head
					// this transaction locked: everything below is
					// readable, and between it and the entry lie only
					// this store's own calls grouped with it (at most
					// one per other worker of this store).
					st, err := other.State(ctx)
					if err != nil {
						return err
					}
					if st.Size > sq.Index || sq.Index-st.Size >= workers/2 {
						return fmt.Errorf("checking index %d, the other store sees %d leaves committed", sq.Index, st.Size)
					}
					if _, err := other.GetByIndex(ctx, st.Size-1); err != nil {
						return fmt.Errorf("checking index %d, the record below the head is not readable: %w", sq.Index, err)
					}
					return nil
				}
				if _, err := s.Append(ctx, []*store.Entry{e}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n := uint64(1 + workers*each)
	st, err := b.State(ctx)
	if err != nil || st.Size != n {
		t.Fatalf("State = %+v, %v; want %d leaves", st, err, n)
	}
	leaves, err := a.Leaves(ctx, 0, int(n))
	if err != nil || uint64(len(leaves)) != n {
		t.Fatalf("Leaves = %d, %v; want %d", len(leaves), err, n)
	}
	for i := 1; i < len(leaves); i++ {
		if leaves[i].Time < leaves[i-1].Time {
			t.Fatalf("leaf %d sequenced at %d, before leaf %d at %d", i, leaves[i].Time, i-1, leaves[i-1].Time)
		}
	}
	// Two sequencers in two processes: one round from a size wins.
	r := &store.Round{OldSize: 0, NewSize: n, Checkpoint: []byte("cp")}
	errA := a.Integrate(ctx, r)
	errB := b.Integrate(ctx, r)
	if errA != nil || !errors.Is(errB, store.ErrConflict) {
		t.Fatalf("the same round in two processes: %v, %v; want nil, ErrConflict", errA, errB)
	}
}

// TestClock: the time of sequencing is the database's, and a clock that
// goes back (Options.Clock, for tests) never makes a later record earlier,
// across reopening.
func TestClock(t *testing.T) {
	url := pgtest.DB(t)
	ctx := context.Background()
	s := open(t, url, postgres.Options{})
	before := time.Now().Add(-2 * time.Second)
	sq, err := s.Append(ctx, []*store.Entry{storetest.Entry(0, record.KindHouse)})
	if err != nil {
		t.Fatal(err)
	}
	if sq[0].Time.Before(before) || sq[0].Time.After(time.Now().Add(2*time.Second)) {
		t.Fatalf("sequenced at %v, not at the database's clock (now %v)", sq[0].Time, time.Now())
	}
	s.Close()
	past := time.Date(2021, 2, 8, 12, 0, 0, 0, time.UTC)
	s = open(t, url, postgres.Options{Clock: func() time.Time { return past }})
	sq2, err := s.Append(ctx, []*store.Entry{storetest.Entry(1, record.KindHouse)})
	if err != nil {
		t.Fatal(err)
	}
	if !sq2[0].Time.Equal(sq[0].Time) {
		t.Fatalf("after the clock went back, sequenced at %v, not held at the last record's %v", sq2[0].Time, sq[0].Time)
	}
}

// TestStagedByStopped: opening a store discards the payloads staged by a
// store that has stopped, and keeps those of a store that lives.
func TestStagedByStopped(t *testing.T) {
	url := pgtest.DB(t)
	ctx := context.Background()
	live, dead := open(t, url, postgres.Options{}), open(t, url, postgres.Options{})
	stage := func(s *postgres.Store) *store.Staged {
		w, err := s.StagePayload(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(make([]byte, store.ChunkSize+5))
		sp, err := w.Commit()
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	spLive, spDead := stage(live), stage(dead)
	dead.Close()
	open(t, url, postgres.Options{})
	e := storetest.Entry(0, record.KindTag, "ir/president")
	e.Staged = spDead
	if _, err := live.Append(ctx, []*store.Entry{e}); !errors.Is(err, store.ErrNotStaged) {
		t.Fatalf("a payload staged by a stopped store: %v, want ErrNotStaged (discarded)", err)
	}
	e.Staged = spLive
	if _, err := live.Append(ctx, []*store.Entry{e}); err != nil {
		t.Fatalf("a payload staged by a living store was discarded: %v", err)
	}
}

// TestNewerSchema: a store refuses a database of a newer schema version,
// and changes nothing in it.
func TestNewerSchema(t *testing.T) {
	url := pgtest.DB(t)
	ctx := context.Background()
	open(t, url, postgres.Options{}).Close()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `UPDATE schema_version SET version = $1`, postgres.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(ctx, url, postgres.Options{})
	if !errors.Is(err, store.ErrNewerSchema) {
		t.Fatalf("opening a database of a newer schema: %v, want ErrNewerSchema", err)
	}
	var v int
	if err := c.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil || v != postgres.SchemaVersion+1 {
		t.Fatalf("schema version after the refusal: %d, %v", v, err)
	}
}

// TestBadURL: a URL that does not parse, and a server that does not
// answer, fail Open with an error that says so.
func TestBadURL(t *testing.T) {
	ctx := context.Background()
	if _, err := postgres.Open(ctx, "postgres://a b@:x", postgres.Options{}); err == nil || !strings.Contains(err.Error(), "postgres://") {
		t.Errorf("a malformed URL: %v", err)
	}
	_, err := postgres.Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable", postgres.Options{ConnectTimeout: time.Second})
	if !errors.Is(err, store.ErrIO) || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("an unreachable server: %v, want ErrIO saying it cannot reach it", err)
	}
}

// TestListenerReconnects: when the server drops every connection of the
// stores (a restart, a failover), WaitSize still wakes when another
// store appends, and appends work again.
func TestListenerReconnects(t *testing.T) {
	url := pgtest.DB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, b := open(t, url, postgres.Options{}), open(t, url, postgres.Options{})
	if _, err := a.Append(ctx, []*store.Entry{storetest.Entry(0, record.KindHouse)}); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var killed int
	if err := c.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed < 2 {
		t.Fatalf("terminated %d connections, want both stores' listeners at least", killed)
	}
	woke := make(chan uint64, 1)
	go func() {
		n, _ := b.WaitSize(ctx, 1)
		woke <- n
	}()
	time.Sleep(100 * time.Millisecond)
	// The first use of a pooled connection that was dropped may fail
	// (store.ErrIO); the next goes through.
	e := storetest.Entry(1, record.KindHouse)
	if _, err := a.Append(ctx, []*store.Entry{e}); err != nil {
		if !errors.Is(err, store.ErrIO) {
			t.Fatalf("append after the connections dropped: %v, want ErrIO or success", err)
		}
		if _, err := a.Append(ctx, []*store.Entry{e}); err != nil {
			t.Fatalf("the append after that: %v", err)
		}
	}
	select {
	case n := <-woke:
		if n != 2 {
			t.Fatalf("WaitSize returned %d, want 2", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitSize did not wake after the connections dropped and another store appended")
	}
}

// TestConflictAcrossProcesses: two stores over one database, as two
// server processes, each append a record that claims the same slot (it
// refers to it), with a Check that refuses the claim if the database
// already holds one. Exactly one of each pair is accepted: a Check sees
// every record another process appended below its entry.
func TestConflictAcrossProcesses(t *testing.T) {
	url := pgtest.DB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stores := []*postgres.Store{open(t, url, postgres.Options{}), open(t, url, postgres.Options{})}
	taken := errors.New("slot already claimed")
	for slot := range 20 {
		var id record.ID
		id[0], id[1] = 0xcc, byte(slot)
		errs := make([]error, len(stores))
		var wg sync.WaitGroup
		for i, s := range stores {
			e := storetest.Entry(slot*10+i, record.KindCustody, "ru/amb-tehran")
			e.Refs = []record.ID{id}
			e.Check = func(store.Sequenced) error {
				l, err := s.List(ctx, store.Query{Ref: &id})
				if err != nil {
					return err
				}
				if len(l) > 0 {
					return taken
				}
				return nil
			}
			wg.Go(func() { _, errs[i] = s.Append(ctx, []*store.Entry{e}) })
		}
		wg.Wait()
		accepted := 0
		for _, err := range errs {
			switch {
			case err == nil:
				accepted++
			case !errors.Is(err, taken):
				t.Fatalf("slot %d: %v", slot, err)
			}
		}
		l, err := stores[0].List(ctx, store.Query{Ref: &id})
		if accepted != 1 || err != nil || len(l) != 1 {
			t.Fatalf("slot %d: %d claims accepted, %d stored (%v); want exactly one", slot, accepted, len(l), err)
		}
	}
}
