package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"pouch.dev/internal/pgtest"
	"pouch.dev/store"
	"pouch.dev/store/postgres"
)

// TestLead: of two stores over one database, one holds the lead at a
// time; releasing it hands it over, and a leader whose session the
// database ends (as when its process dies or is cut off) learns it lost
// the lead, which the other takes, within seconds.
func TestLead(t *testing.T) {
	url := pgtest.DB(t)
	a, b := open(t, url, postgres.Options{}), open(t, url, postgres.Options{})
	ctx := context.Background()

	lostA, releaseA, err := a.Lead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	_, _, err = b.Lead(wctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second store took the lead beside the first: %v", err)
	}

	got := make(chan error, 1)
	var lostB <-chan struct{}
	var releaseB func()
	go func() {
		var err error
		lostB, releaseB, err = b.Lead(ctx)
		got <- err
	}()
	start := time.Now()
	releaseA()
	releaseA() // twice is fine
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the lead was not handed over within 5 s of its release")
	}
	t.Logf("handed over in %v", time.Since(start).Round(time.Millisecond))
	select {
	case <-lostA:
	default:
		t.Fatal("lost is not closed after release")
	}

	// The database ends b's session, as it does when the leader's
	// connection dies.
	go func() {
		var err error
		lostA, releaseA, err = a.Lead(ctx)
		got <- err
	}()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	start = time.Now()
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'pouch sequencer lead' AND datname = current_database() AND
		pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1)`, 0x706f7503).Scan(&n); err != nil || n != 1 {
		t.Fatalf("ending the leader's session: %d sessions, %v", n, err)
	}
	select {
	case <-lostB:
	case <-time.After(5 * time.Second):
		t.Fatal("the leader did not learn within 5 s that its session ended")
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no store took the lead within 5 s of the leader's session ending")
	}
	t.Logf("taken over in %v after the session ended", time.Since(start).Round(time.Millisecond))
	releaseB()
	releaseA()
}

// TestNonces: a nonce used through one store is refused through another
// until it expires.
func TestNonces(t *testing.T) {
	url := pgtest.DB(t)
	a, b := open(t, url, postgres.Options{}), open(t, url, postgres.Options{})
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	if err := a.UseNonce(ctx, "request ru/president n1", later); err != nil {
		t.Fatal(err)
	}
	if err := b.UseNonce(ctx, "request ru/president n1", later); !errors.Is(err, store.ErrNonceUsed) {
		t.Fatalf("a nonce replayed to another replica: %v, want ErrNonceUsed", err)
	}
	if err := b.UseNonce(ctx, "request ru/president n2", later); err != nil {
		t.Fatal(err)
	}
	// Concurrent uses of one nonce: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			if err := s.UseNonce(ctx, "request ir/fm race", later); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, store.ErrNonceUsed) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent uses of one nonce succeeded, want 1", wins)
	}
	// An expired nonce may be used again.
	if err := a.UseNonce(ctx, "request ru/president old", time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := b.UseNonce(ctx, "request ru/president old", later); err != nil {
		t.Fatalf("an expired nonce: %v", err)
	}
}

// TestMeet: two replicas claim one meeting place at once; exactly one
// gets it and the other is told where. A departed replica's claim passes
// to the next that asks.
func TestMeet(t *testing.T) {
	url := pgtest.DB(t)
	a, b := open(t, url, postgres.Options{}), open(t, url, postgres.Options{})
	ctx := context.Background()
	const ra, rb = "http://127.0.0.1:1001", "http://127.0.0.1:1002"
	for _, r := range []struct {
		s    *postgres.Store
		addr string
	}{{a, ra}, {b, rb}} {
		if err := r.s.Heartbeat(ctx, r.addr, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 20 {
		key := "line ir/fm ru/president " + string(rune('a'+round))
		var atA, atB string
		var errA, errB error
		var wg sync.WaitGroup
		wg.Go(func() { atA, errA = a.Meet(ctx, key, ra, time.Minute) })
		wg.Go(func() { atB, errB = b.Meet(ctx, key, rb, time.Minute) })
		wg.Wait()
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if atA != atB || (atA != ra && atA != rb) {
			t.Fatalf("the replicas meet at %q and %q", atA, atB)
		}
	}
	key := "line ir/fm ru/president"
	if at, err := a.Meet(ctx, key, ra, time.Minute); err != nil || at != ra {
		t.Fatalf("Meet = %q, %v", at, err)
	}
	if at, err := b.Meet(ctx, key, rb, time.Minute); err != nil || at != ra {
		t.Fatalf("Meet at a held place = %q, %v; want %q", at, err, ra)
	}
	if err := a.Depart(ctx, ra); err != nil {
		t.Fatal(err)
	}
	if at, err := b.Meet(ctx, key, rb, time.Minute); err != nil || at != rb {
		t.Fatalf("Meet at a departed replica's place = %q, %v; want %q", at, err, rb)
	}
	if err := b.Leave(ctx, key, rb); err != nil {
		t.Fatal(err)
	}
	if at, err := a.Meet(ctx, key, ra, time.Minute); err != nil || at != ra {
		t.Fatalf("Meet after Leave = %q, %v; want %q", at, err, ra)
	}
}
