package biglog_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"pouch.dev/internal/biglog"
)

// TestSmallLog grows a small log, opens it again from the cache, and
// checks that a verifying client proves it: its size, its directory
// (every office, the rotations), and the pouch sent in it.
func TestSmallLog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cache := t.TempDir()
	p := biglog.Params{Leaves: 3000, Houses: 2, Offices: 4, DirEvery: 400}
	for round := range 2 {
		l, err := biglog.Open(ctx, cache, p, t.Logf)
		if err != nil {
			t.Fatal(err)
		}
		c := l.Client(t.TempDir())
		reader := l.ID(l.Reader)
		v, err := c.View(ctx, reader)
		if err != nil {
			l.Close()
			t.Fatalf("round %d: %v", round, err)
		}
		if v.Size() < 3000 || v.Size() > 3100 {
			t.Errorf("round %d: a log of %d leaves, want 3000 and a few", round, v.Size())
		}
		for _, h := range l.Cast() {
			k, err := v.Directory().KeyAt(h, v.Size())
			if err != nil {
				t.Errorf("round %d: %s: %v", round, h, err)
				continue
			}
			if !l.ID(h).SigningPublic().Equal(k.Key) {
				t.Errorf("round %d: %s holds another key in the log than the cast's", round, h)
			}
		}
		if _, err := c.Tag(ctx, l.Pouch, reader); err != nil {
			t.Errorf("round %d: the pouch: %v", round, err)
		}
		before := v.Size()
		if err := l.Grow(ctx, 600, 200, t.Logf); err != nil {
			t.Fatal(err)
		}
		if v, err = c.View(ctx, reader); err != nil {
			t.Fatal(err)
		}
		if v.Size() < before+600 {
			t.Errorf("round %d: grown from %d to %d, want 600 more", round, before, v.Size())
		}
		if round == 1 && before > 3100 {
			t.Errorf("the cached log grew: %d leaves", before)
		}
		l.Close()
	}
}

// TestGrowCache grows the cached logs named by POUCH_BIGLOG_LEAVES (sizes,
// comma-separated) in CacheDir, ahead of the benchmarks that use them.
func TestGrowCache(t *testing.T) {
	sizes := os.Getenv("POUCH_BIGLOG_LEAVES")
	if sizes == "" {
		t.Skip("set POUCH_BIGLOG_LEAVES=10000,100000,1000000 to grow the cached logs")
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("POUCH_BIGLOG_LEAVES: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		l, err := biglog.Open(ctx, biglog.CacheDir(), biglog.Params{Leaves: n}, t.Logf)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
}
