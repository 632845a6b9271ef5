package witness_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/store/storetest"
	"pouch.dev/tlog"
	"pouch.dev/tlog/witness"
)

const origin = "pouch.test/log"

type fixture struct {
	t       *testing.T
	logKey  string
	wit     *witness.Witness
	witURL  string
	witKey  string
	witHits int
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t}
	var err error
	if f.logKey, _, err = tlog.GenerateKey(origin); err != nil {
		t.Fatal(err)
	}
	logV, _ := tlog.VerifierKey(f.logKey)
	wkey, _, _ := tlog.GenerateKey("witness.test")
	f.wit, err = witness.New(witness.Config{Key: wkey, Logs: []string{logV}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	f.witKey = f.wit.VerifierKey()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.witHits++
		f.wit.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.witURL = srv.URL
	return f
}

// newLog opens a log with the fixture's key over a fresh store: two of
// them are two branches of a fork, signed by the same key.
func (f *fixture) newLog() (*tlog.Log, store.Store) {
	st, err := sqlite.Open(filepath.Join(f.t.TempDir(), "pouch.db"))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { st.Close() })
	l, err := tlog.New(context.Background(), st, tlog.Config{Origin: origin, Key: f.logKey,
		Witnesses: []tlog.WitnessConfig{{URL: f.witURL, Key: f.witKey}}})
	if err != nil {
		f.t.Fatal(err)
	}
	return l, st
}

func grow(t *testing.T, l *tlog.Log, st store.Store, first, n int) []byte {
	t.Helper()
	var es []*store.Entry
	for i := 0; i < n; i++ {
		es = append(es, storetest.Entry(first+i, record.KindStatement))
	}
	if _, err := st.Append(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Integrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	cp, _ := l.Checkpoint()
	return cp
}

func TestCosigning(t *testing.T) {
	f := newFixture(t)
	l, st := f.newLog()
	logV, _ := tlog.VerifierKey(f.logKey)
	v, err := tlog.NewVerifier(logV, []string{f.witKey}, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := &tlog.Client{V: v, Dir: t.TempDir()}
	ctx := context.Background()
	for i, n := range []int{5, 1, 300} {
		cp := grow(t, l, st, i*1000, n)
		got, err := c.Update(cp, func(a, b uint64) ([][]byte, error) { return l.Consistency(ctx, a, b) })
		if err != nil {
			t.Fatalf("round %d: the cosigned checkpoint does not satisfy a 1-of-1 client: %v\n%s", i, err, cp)
		}
		if len(got.Cosigners) != 1 || got.Cosigners[0] != "witness.test" {
			t.Fatalf("cosigners = %v", got.Cosigners)
		}
	}
	// The stored checkpoint carries the cosignature too.
	state, _ := st.State(ctx)
	if _, err := v.Open(state.Checkpoint); err != nil {
		t.Fatalf("stored checkpoint: %v", err)
	}
	// A client requiring a witness the log does not use refuses.
	other, _, _ := tlog.GenerateKey("other.witness")
	otherV, _ := tlog.VerifierKey(other)
	v2, _ := tlog.NewVerifier(logV, []string{f.witKey, otherV}, 2)
	if _, err := v2.Open(state.Checkpoint); !errors.Is(err, tlog.ErrNoQuorum) {
		t.Fatalf("2-of-2 client accepted a checkpoint with one cosignature: %v", err)
	}
}

// TestSplitView shows one log key signing two histories: the witness
// cosigns the first and refuses the second, and a client holding one
// branch detects the other as a fork carrying both checkpoints.
func TestSplitView(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, sta := f.newLog()
	b, stb := f.newLog()
	cpA := grow(t, a, sta, 0, 10) // branch A: records 0..9
	hits := f.witHits
	cpB := grow(t, b, stb, 100, 10) // branch B: other records, same size
	if f.witHits == hits {
		t.Fatal("branch B never asked the witness")
	}
	logV, _ := tlog.VerifierKey(f.logKey)
	v, _ := tlog.NewVerifier(logV, []string{f.witKey}, 1)
	if _, err := v.Open(cpA); err != nil {
		t.Fatalf("branch A: %v", err)
	}
	if _, err := v.Open(cpB); !errors.Is(err, tlog.ErrNoQuorum) {
		t.Fatalf("the witness cosigned branch B of a split view: %v", err)
	}

	// Same size, other root: the witness refuses with 409 (C2SP
	// tlog-witness), naming the size it holds.
	_, err := f.wit.AddCheckpoint(tlog.FormatAddCheckpoint(10, nil, cpB))
	var we *witness.Error
	if !errors.As(err, &we) || we.Status != http.StatusConflict || we.Size != 10 {
		t.Fatalf("witness on a same-size fork: %v, want 409", err)
	}
	// The same checkpoint again, with an empty proof, is cosigned (a
	// refresh); with a proof it is refused.
	if _, err := f.wit.AddCheckpoint(tlog.FormatAddCheckpoint(10, nil, cpA)); err != nil {
		t.Fatalf("witness on the same checkpoint again: %v", err)
	}
	_, err = f.wit.AddCheckpoint(tlog.FormatAddCheckpoint(10, [][]byte{make([]byte, 32)}, cpA))
	if !errors.As(err, &we) || we.Status != http.StatusUnprocessableEntity {
		t.Fatalf("witness on the same size with a proof: %v, want 422", err)
	}
	// A smaller checkpoint after a larger one is refused too.
	c3, _ := newSmall(t, f)
	if _, err := f.wit.AddCheckpoint(tlog.FormatAddCheckpoint(3, nil, c3)); err == nil {
		t.Fatal("witness cosigned a smaller checkpoint after a larger one")
	}
	if _, err := f.wit.AddCheckpoint(tlog.FormatAddCheckpoint(10, nil, c3)); err == nil {
		t.Fatal("witness cosigned a smaller checkpoint after a larger one")
	}

	// The client, without witnesses, holding branch A.
	vLog, _ := tlog.NewVerifier(logV, nil, 0)
	c := &tlog.Client{V: vLog, Dir: t.TempDir()}
	if _, err := c.Update(cpA, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.Update(cpB, nil)
	var sv *tlog.SplitViewError
	if !errors.As(err, &sv) || !errors.Is(err, tlog.ErrFork) {
		t.Fatalf("client given a same-size fork: %v, want a fork", err)
	}
	if string(sv.Old) != string(cpA) || string(sv.New) != string(cpB) {
		t.Fatalf("the fork error does not carry both checkpoints")
	}
	// Branch B grows; its consistency proof cannot link it to A.
	cpB2 := grow(t, b, stb, 300, 5)
	_, err = c.Update(cpB2, func(x, y uint64) ([][]byte, error) { return b.Consistency(ctx, x, y) })
	if !errors.Is(err, tlog.ErrFork) {
		t.Fatalf("client given a larger checkpoint of another branch: %v, want a fork", err)
	}
	// A rollback: a fresh client state, reloaded from disk, holds A (10);
	// a 3-leaf checkpoint is refused.
	c2 := &tlog.Client{V: vLog, Dir: c.Dir}
	_, err = c2.Update(c3, nil)
	if !errors.Is(err, tlog.ErrRollback) || !errors.As(err, &sv) || string(sv.Old) != string(cpA) {
		t.Fatalf("client given a smaller checkpoint: %v, want a rollback with both checkpoints", err)
	}
	if last, _ := c2.Last(); last == nil || last.Size != 10 {
		t.Fatalf("after refusals the client holds %+v, want size 10", last)
	}
}

// newSmall returns a 3-leaf checkpoint signed by the fixture's log key,
// from a log that asks no witness.
func newSmall(t *testing.T, f *fixture) ([]byte, *tlog.Log) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := tlog.New(context.Background(), st, tlog.Config{Origin: origin, Key: f.logKey})
	if err != nil {
		t.Fatal(err)
	}
	cp := grow(t, l, st, 0, 3)
	return cp, l
}

func TestRefusals(t *testing.T) {
	f := newFixture(t)
	l, st := f.newLog()
	cp := grow(t, l, st, 0, 4)
	for _, tc := range []struct {
		name   string
		body   string
		status int
	}{
		{"garbage", "hello", http.StatusBadRequest},
		{"unknown log", "old 0\n\nother.log/x\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— other.log/x AAAA\n", http.StatusNotFound},
		{"bad signature", "old 0\n\n" + strings.Replace(string(cp), "\n4\n", "\n5\n", 1), http.StatusForbidden},
		{"old beyond size", "old 9\n\n" + string(cp), http.StatusBadRequest},
		{"stale old size", "old 0\n\n" + string(cp), http.StatusConflict},
	} {
		_, err := f.wit.AddCheckpoint([]byte(tc.body))
		var we *witness.Error
		if !errors.As(err, &we) || we.Status != tc.status {
			t.Errorf("%s: %v, want status %d", tc.name, err, tc.status)
		}
	}
}

// TestMLDSAWitnessClock: a witness with an ML-DSA-44 key cosigns
// post-quantum, at the time its own clock gives, which a client reads back
// from the cosignature; an Ed25519 witness cannot take a clock.
func TestMLDSAWitnessClock(t *testing.T) {
	logKey, _, err := tlog.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	logV, _ := tlog.VerifierKey(logKey)
	at := time.Date(2015, 7, 14, 9, 0, 0, 0, time.UTC)
	wkey, wvkey, err := witness.GenerateMLDSAKey("pq.witness.test")
	if err != nil {
		t.Fatal(err)
	}
	wit, err := witness.New(witness.Config{Key: wkey, Logs: []string{logV}, Dir: t.TempDir(), Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	if wit.VerifierKey() != wvkey {
		t.Fatalf("verifier key %s, generated %s", wit.VerifierKey(), wvkey)
	}
	srv := httptest.NewServer(wit)
	defer srv.Close()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := tlog.New(context.Background(), st, tlog.Config{Origin: origin, Key: logKey, Witnesses: []tlog.WitnessConfig{{URL: srv.URL, Key: wvkey}}})
	if err != nil {
		t.Fatal(err)
	}
	cp := grow(t, l, st, 0, 3)
	v, err := tlog.NewVerifier(logV, []string{wvkey}, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Open(cp)
	if err != nil {
		t.Fatalf("the ML-DSA cosigned checkpoint: %v\n%s", err, cp)
	}
	if len(got.Cosignatures) != 1 || !got.Cosignatures[0].Time.Equal(at) || !got.FreshAsOf.Equal(at) {
		t.Fatalf("cosignatures %+v, fresh as of %v; want one at %v", got.Cosignatures, got.FreshAsOf, at)
	}
	ekey, _, _ := tlog.GenerateKey("ed.witness.test")
	if _, err := witness.New(witness.Config{Key: ekey, Logs: []string{logV}, Dir: t.TempDir(), Now: time.Now}); err == nil {
		t.Fatal("an Ed25519 witness took a clock of its own")
	}
}
