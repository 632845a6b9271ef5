package sqlite

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/storetest"
)

// TestReleaseLargeGroup: a group of more requests than releaseSlice,
// committed in one transaction, is answered in full, a slice at a time,
// each appender with its own index; Close waits until every one is
// answered.
func TestReleaseLargeGroup(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	// The first commit holds the writer until the group has queued.
	hold := make(chan struct{})
	var commits atomic.Int64
	s.SetTimings(&store.Timings{Commit: func(_, _ time.Duration) {
		if commits.Add(1) == 1 {
			<-hold
		}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type result struct {
		i   int
		seq []store.Sequenced
		err error
	}
	n := cap(s.reqs) - 1 // all queued in the buffer, where len counts them
	if n <= releaseSlice {
		t.Fatalf("%d appenders make one slice of %d", n, releaseSlice)
	}
	res := make(chan result, n+1)
	add := func(i int) {
		seq, err := s.Append(ctx, []*store.Entry{storetest.Entry(i, record.KindHouse)})
		res <- result{i, seq, err}
	}
	go add(0)
	for commits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i <= n; i++ {
		go add(i)
	}
	for len(s.reqs) < n {
		if ctx.Err() != nil {
			t.Fatalf("%d of %d appends queued", len(s.reqs), n)
		}
		time.Sleep(time.Millisecond)
	}
	close(hold)
	seen := make(map[uint64]int)
	for range n + 1 {
		var r result
		select {
		case r = <-res:
		case <-ctx.Done():
			t.Fatalf("%d of %d appends answered", len(seen), n+1)
		}
		if r.err != nil {
			t.Fatalf("append %d: %v", r.i, r.err)
		}
		if j, dup := seen[r.seq[0].Index]; dup {
			t.Fatalf("appends %d and %d both at index %d", j, r.i, r.seq[0].Index)
		}
		seen[r.seq[0].Index] = r.i
	}
	// All n in one transaction after the first: the group was larger
	// than a slice.
	if c := commits.Load(); c != 2 {
		t.Errorf("%d commits, want 2 (the first append's, then the group's)", c)
	}
	if st, err := s.State(ctx); err != nil || st.Size != uint64(n+1) {
		t.Errorf("log size %d (%v) after %d appends", st.Size, err, n+1)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
