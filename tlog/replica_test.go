package tlog

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"pouch.dev/store"
	"pouch.dev/store/sqlite"
)

// A lease is the lock of fakeLeader replicas: a token one holds at a time.
type lease struct{ tok chan struct{} }

func newLease() *lease {
	l := &lease{tok: make(chan struct{}, 1)}
	l.tok <- struct{}{}
	return l
}

// fakeLeader is a replica's handle on a shared store, with the lead of a
// shared lease, as PostgreSQL's advisory lock gives it.
type fakeLeader struct {
	store.Store
	lease *lease

	mu         sync.Mutex
	lost       chan struct{}
	once       *sync.Once
	integrated int // Integrate calls that wrote a round
}

func (f *fakeLeader) Integrate(ctx context.Context, r *store.Round) error {
	err := f.Store.Integrate(ctx, r)
	if err == nil && r.NewSize > r.OldSize {
		f.mu.Lock()
		f.integrated++
		f.mu.Unlock()
	}
	return err
}

func (f *fakeLeader) Lead(ctx context.Context) (<-chan struct{}, func(), error) {
	select {
	case <-f.lease.tok:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	lost, once := make(chan struct{}), new(sync.Once)
	f.lost, f.once = lost, once
	release := func() { once.Do(func() { f.lease.tok <- struct{}{} }) }
	return lost, release, nil
}

// lose takes the lead away, as a broken connection does: lost is closed
// and the lease is free for another.
func (f *fakeLeader) lose() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.lost)
	f.once.Do(func() { f.lease.tok <- struct{}{} })
}

type replica struct {
	log     *Log
	st      *fakeLeader
	cancel  context.CancelFunc
	done    chan struct{}
	leading chan bool // WhileLeading's start (true) and end (false)
}

func startReplicas(t *testing.T, n int) ([]*replica, store.Store) {
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
	ls := newLease()
	var rs []*replica
	for range n {
		r := &replica{st: &fakeLeader{Store: st, lease: ls}, done: make(chan struct{}), leading: make(chan bool, 16)}
		cfg := Config{Origin: testOrigin, Key: skey, WhileLeading: func(ctx context.Context) {
			r.leading <- true
			<-ctx.Done()
			r.leading <- false
		}}
		if r.log, err = New(context.Background(), r.st, cfg); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel = cancel
		go func() {
			defer close(r.done)
			r.log.Run(ctx)
		}()
		t.Cleanup(func() { cancel(); <-r.done })
		rs = append(rs, r)
	}
	return rs, st
}

// leader waits until exactly one replica leads and returns it. While the
// lead passes from one to another, both may say they lead for as long as
// the one that lost it takes to notice (a goroutine's wake-up; a round it
// started then fails: Integrate refuses a round whose OldSize is not the
// tree's); longer than a second is a failure.
func leader(t *testing.T, rs []*replica, skip *replica) *replica {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var several time.Time
	for time.Now().Before(deadline) {
		var got []*replica
		for _, r := range rs {
			if r != skip && r.log.Leading() {
				got = append(got, r)
			}
		}
		if len(got) > 1 {
			if several.IsZero() {
				several = time.Now()
			}
			if time.Since(several) > time.Second {
				t.Fatalf("%d replicas lead at once for over a second", len(got))
			}
			time.Sleep(time.Millisecond)
			continue
		}
		several = time.Time{}
		if len(got) == 1 {
			return got[0]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no replica took the lead within 5 s")
	return nil
}

// waitAll waits until every replica in rs publishes a checkpoint of size.
func waitAll(t *testing.T, rs []*replica, size uint64) [][]byte {
	t.Helper()
	var cps [][]byte
	for _, r := range rs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cp, n, err := r.log.WaitCheckpoint(ctx, size)
		cancel()
		if err != nil {
			t.Fatalf("a replica published size %d, want %d: %v", n, size, err)
		}
		cps = append(cps, cp)
	}
	return cps
}

// TestReplicasOneSequencer: of three replicas over one store, one
// sequences; the others serve its checkpoints; when the leader stops or
// loses the lead, another takes over, and the checkpoints form one chain.
func TestReplicasOneSequencer(t *testing.T) {
	rs, st := startReplicas(t, 3)
	ctx := context.Background()
	var all [][]byte
	var sizes []uint64
	var roots [][]byte
	var stopped *replica
	round := func(n int) {
		t.Helper()
		all = append(all, appendN(t, st, len(all), n)...)
		var live []*replica
		for _, r := range rs {
			if r != stopped {
				live = append(live, r)
			}
		}
		cps := waitAll(t, live, uint64(len(all)))
		// Every replica serves the same checkpoint text: one tree.
		for _, cp := range cps[1:] {
			if !bytes.Equal([]byte(checkpointText(cp)), []byte(checkpointText(cps[0]))) {
				t.Fatalf("replicas serve different checkpoints:\n%s\n%s", cps[0], cp)
			}
		}
		_, size, hash, err := ParseCheckpointBody(checkpointText(cps[0]))
		if err != nil {
			t.Fatal(err)
		}
		if size != uint64(len(all)) || !bytes.Equal(hash, refRoot(t, all)) {
			t.Fatalf("checkpoint %d %x, want %d %x", size, hash, len(all), refRoot(t, all))
		}
		sizes, roots = append(sizes, size), append(roots, hash)
	}

	first := leader(t, rs, nil)
	if !<-first.leading {
		t.Fatal("WhileLeading did not start on the leader")
	}
	round(10)
	round(300)

	// The leader's process stops: another takes over.
	first.cancel()
	<-first.done
	stopped = first
	if <-first.leading {
		t.Fatal("WhileLeading did not end when the leader stopped")
	}
	second := leader(t, rs, first)
	if second == first {
		t.Fatal("a stopped replica leads")
	}
	round(5)

	// The second loses its lead (its connection broke): it stops
	// sequencing, and the third takes over.
	<-second.leading
	second.st.lose()
	if <-second.leading {
		t.Fatal("WhileLeading did not end when the lead was lost")
	}
	third := leader(t, rs, first)
	if third == second {
		// It may take the lead back; the other must not hold it too.
		t.Log("the replica that lost the lead took it again")
	}
	round(700)

	// One chain: each checkpoint is consistent with every later one, as
	// a replica that did not sequence the last of them proves it.
	prover := second
	if third == second {
		prover = rs[0]
		if prover == first || prover == second {
			prover = rs[1]
		}
		if prover == first || prover == second {
			prover = rs[2]
		}
	}
	hasher := rfc6962.DefaultHasher
	for i := range sizes {
		for j := i; j < len(sizes); j++ {
			p, err := prover.log.Consistency(ctx, sizes[i], sizes[j])
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(hasher, sizes[i], sizes[j], p, roots[i], roots[j]); err != nil {
				t.Fatalf("consistency %d -> %d: %v", sizes[i], sizes[j], err)
			}
		}
	}
}

// TestReplicaFollowsStore: a replica that never leads publishes what the
// leader stores, so its WaitCheckpoint wakes.
func TestReplicaFollowsStore(t *testing.T) {
	rs, st := startReplicas(t, 2)
	lead := leader(t, rs, nil)
	other := rs[0]
	if other == lead {
		other = rs[1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan uint64, 1)
	go func() {
		_, n, _ := other.log.WaitCheckpoint(ctx, 3)
		got <- n
	}()
	appendN(t, st, 0, 3)
	if n := <-got; n != 3 {
		t.Fatalf("the follower published size %d, want 3", n)
	}
	if other.log.Leading() {
		t.Fatal("the follower leads beside the leader")
	}
	other.st.mu.Lock()
	defer other.st.mu.Unlock()
	if other.st.integrated != 0 {
		t.Fatalf("the follower integrated %d rounds", other.st.integrated)
	}
}
