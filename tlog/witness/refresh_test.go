package witness_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/store/storetest"
	"pouch.dev/tlog"
	"pouch.dev/tlog/witness"
)

// aWitness is a pouch witness on 127.0.0.1 that can be taken down.
type aWitness struct {
	w    *witness.Witness
	url  string
	down atomic.Bool
	hits atomic.Int32
}

func startWitness(t *testing.T, name string, logs ...string) *aWitness {
	t.Helper()
	key, _, err := tlog.GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	a := &aWitness{}
	if a.w, err = witness.New(witness.Config{Key: key, Logs: logs, Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		a.hits.Add(1)
		if a.down.Load() {
			http.Error(rw, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		a.w.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

func cosignedAt(t *testing.T, v *tlog.Verifier, msg []byte) map[string]time.Time {
	t.Helper()
	cp, err := v.Open(msg)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]time.Time{}
	for _, c := range cp.Cosignatures {
		m[c.Witness] = c.Time
	}
	return m
}

// TestRefresh: an idle log has the same checkpoint cosigned again, with
// newer timestamps; a witness that is down keeps its older cosignature in
// the published checkpoint; the refreshed checkpoint is stored.
func TestRefresh(t *testing.T) {
	ctx := context.Background()
	logKey, _, _ := tlog.GenerateKey(origin)
	logV, _ := tlog.VerifierKey(logKey)
	a, b := startWitness(t, "a.witness.test", logV), startWitness(t, "b.witness.test", logV)
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := tlog.New(ctx, st, tlog.Config{Origin: origin, Key: logKey, RefreshInterval: -1,
		Witnesses: []tlog.WitnessConfig{{URL: a.url, Key: a.w.VerifierKey()}, {URL: b.url, Key: b.w.VerifierKey()}}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := tlog.NewVerifier(logV, []string{a.w.VerifierKey(), b.w.VerifierKey()}, 2)
	if err != nil {
		t.Fatal(err)
	}
	cp1 := grow(t, l, st, 0, 3)
	first := cosignedAt(t, v, cp1)
	// RefreshInterval < 0: Refresh does nothing unless forced.
	if n, err := l.Refresh(ctx, false); n != 0 || err != nil {
		t.Fatalf("Refresh with refreshing off: %d, %v", n, err)
	}
	// Cosignature timestamps are in seconds.
	time.Sleep(1100 * time.Millisecond)
	b.down.Store(true)
	hits := b.hits.Load()
	n, err := l.Refresh(ctx, true)
	if err != nil || n != 1 {
		t.Fatalf("Refresh: %d witnesses, %v; want 1", n, err)
	}
	if b.hits.Load() == hits {
		t.Fatal("the refresh did not ask witness b")
	}
	cp2, size := l.Checkpoint()
	if size != 3 {
		t.Fatalf("size %d after a refresh", size)
	}
	second := cosignedAt(t, v, cp2) // still 2 of 2: b's older cosignature is kept
	if !second["a.witness.test"].After(first["a.witness.test"]) || !second["b.witness.test"].Equal(first["b.witness.test"]) {
		t.Fatalf("cosignature times before %v, after %v", first, second)
	}
	stored, err := st.Checkpoint(ctx, 3)
	if err != nil || !bytes.Equal(stored, cp2) {
		t.Fatalf("the store holds\n%s\nnot the refreshed\n%s", stored, cp2)
	}
	if state, _ := st.State(ctx); !bytes.Equal(state.Checkpoint, cp2) {
		t.Fatal("the store's state does not hold the refreshed checkpoint")
	}
	// A client holding the first checkpoint takes the refreshed one.
	c := &tlog.Client{V: v}
	if _, err := c.Update(cp1, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Update(cp2, nil); err != nil || !bytes.Equal(got.Note, cp2) {
		t.Fatalf("client given the refreshed checkpoint: %v", err)
	}
	// Both down: nothing changes.
	a.down.Store(true)
	if n, err := l.Refresh(ctx, true); n != 0 || err != nil {
		t.Fatalf("Refresh with every witness down: %d, %v", n, err)
	}
	if cp3, _ := l.Checkpoint(); !bytes.Equal(cp3, cp2) {
		t.Fatal("a refresh that no witness answered changed the checkpoint")
	}
}

// TestRunRefreshes: Run, with a short refresh interval, keeps an idle
// log's cosignatures younger than it, and clients with a maximum age a
// little above it keep accepting the log's checkpoint.
func TestRunRefreshes(t *testing.T) {
	logKey, _, _ := tlog.GenerateKey(origin)
	logV, _ := tlog.VerifierKey(logKey)
	a := startWitness(t, "a.witness.test", logV)
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	l, err := tlog.New(ctx, st, tlog.Config{Origin: origin, Key: logKey, RefreshInterval: 500 * time.Millisecond,
		Witnesses: []tlog.WitnessConfig{{URL: a.url, Key: a.w.VerifierKey()}}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if _, err := st.Append(ctx, []*store.Entry{storetest.Entry(1, record.KindStatement)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.WaitCheckpoint(ctx, 1); err != nil {
		t.Fatal(err)
	}
	v, _ := tlog.NewVerifier(logV, []string{a.w.VerifierKey()}, 1)
	c := &tlog.Client{V: v, MaxAge: 3 * time.Second}
	var times []time.Time
	deadline := time.Now().Add(15 * time.Second)
	for len(times) < 3 && time.Now().Before(deadline) {
		msg, size := l.Checkpoint()
		cp, err := c.Update(msg, nil)
		if err != nil || size != 1 {
			t.Fatalf("the idle log's checkpoint (size %d): %v", size, err)
		}
		if len(times) == 0 || cp.FreshAsOf.After(times[len(times)-1]) {
			times = append(times, cp.FreshAsOf)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(times) < 3 {
		t.Fatalf("in 15 s of idling, the cosignature times were %v: not refreshed", times)
	}
}

func TestWitnessOrigins(t *testing.T) {
	k1, _, _ := tlog.GenerateKey(origin)
	v1, _ := tlog.VerifierKey(k1)
	k2, _, _ := tlog.GenerateKey(origin)
	v2, _ := tlog.VerifierKey(k2)
	other, _, _ := tlog.GenerateKey("other.test/log")
	vOther, _ := tlog.VerifierKey(other)
	wkey, _, _ := tlog.GenerateKey("witness.test")
	dir := t.TempDir()

	// Two logs with one origin in one configuration.
	if _, err := witness.New(witness.Config{Key: wkey, Logs: []string{v1, v2}, Dir: dir}); !errors.Is(err, witness.ErrOriginTaken) {
		t.Fatalf("two keys for one origin: %v", err)
	}
	// Several logs with their own origins are witnessed; the same key
	// given twice is one log.
	w, err := witness.New(witness.Config{Key: wkey, Logs: []string{v1, vOther, v1}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, k := range []string{k1, other} {
		name := strings.SplitN(k, "+", 4)[2]
		st, err := sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		l, err := tlog.New(ctx, st, tlog.Config{Origin: name, Key: k})
		if err != nil {
			t.Fatal(err)
		}
		cp := grow(t, l, st, 0, 2)
		if _, err := w.AddCheckpoint(tlog.FormatAddCheckpoint(0, nil, cp)); err != nil {
			t.Fatalf("witnessing %s: %v", name, err)
		}
	}
	// Restarted with a second log of an origin it has cosigned: refused,
	// naming the origin and the file to move if the key really changed.
	_, err = witness.New(witness.Config{Key: wkey, Logs: []string{v2, vOther}, Dir: dir})
	if !errors.Is(err, witness.ErrOriginTaken) || !strings.Contains(err.Error(), origin) || !strings.Contains(err.Error(), "pouch serve --origin") {
		t.Fatalf("a second log with a witnessed origin: %v", err)
	}
	// Moving the state away lets it witness the new log afresh.
	if err := os.Rename(filepath.Join(dir, "pouch.test%2Flog.checkpoint"), filepath.Join(dir, "old")); err != nil {
		t.Fatal(err)
	}
	if _, err := witness.New(witness.Config{Key: wkey, Logs: []string{v2, vOther}, Dir: dir}); err != nil {
		t.Fatalf("after moving the old state away: %v", err)
	}
}
