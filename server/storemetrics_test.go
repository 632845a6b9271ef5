package server_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/server"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
)

// TestStoreMetrics: with the embedded store, /metrics shows the writer's
// commits (both parts), the WAL's checkpoints and the appends as callers
// wait for them, and each append adds to both; with a store that does not report its timings, neither
// histogram is there, and the server works as before.
func TestStoreMetrics(t *testing.T) {
	for _, timed := range []bool{true, false} {
		t.Run(fmt.Sprintf("timed=%v", timed), func(t *testing.T) {
			st, err := sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			var s store.Store = st
			if !timed {
				s = struct{ store.Store }{st} // hides SetTimings
			}
			reg := prometheus.NewRegistry()
			const origin = "pouch.test/metrics"
			c, err := server.NewCorrespondence(context.Background(), server.CorrOptions{
				Store: s, Origin: origin, Registerer: reg,
				Directory: directory.Config{Mode: directory.ModeOpen},
			})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			c.Register(mux)
			mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			hs := httptest.NewServer(mux)
			t.Cleanup(hs.Close)
			cl := client.New(hs.URL)
			cl.Origin = origin

			commits := func() (prepare, commit, appends float64) {
				m := scrape(t, hs.URL)
				return m[`pouch_store_commit_seconds_count{part="prepare"}`], m[`pouch_store_commit_seconds_count{part="commit"}`], m[`pouch_store_append_seconds_count`]
			}
			p0, c0, a0 := commits()
			for i := range 3 {
				_, rk, _ := ed25519.GenerateKey(nil)
				h := fmt.Sprintf("h%d", i)
				if _, err := cl.FoundHouse(context.Background(), h, "", client.Registrar(h, rk), nil); err != nil {
					t.Fatal(err)
				}
			}
			p1, c1, a1 := commits()
			m := scrape(t, hs.URL)
			if !timed {
				for k := range m {
					if strings.HasPrefix(k, "pouch_store_") {
						t.Fatalf("/metrics shows %s for a store that reports no timings", k)
					}
				}
				return
			}
			// Each founding is acknowledged after its commit; the
			// sequencer's rounds may ride in them or add their own.
			if c1-c0 < 3 || p1-p0 != c1-c0 {
				t.Fatalf("commits counted: prepare %v -> %v, commit %v -> %v; want 3 more of each at least, as many of both", p0, p1, c0, c1)
			}
			if a1-a0 < 3 {
				t.Fatalf("appends counted: %v -> %v; want 3 more at least", a0, a1)
			}
			if m[`pouch_store_commit_seconds_sum{part="commit"}`] <= 0 || m[`pouch_store_append_seconds_sum`] <= 0 {
				t.Fatalf("the commits took no time: %v", m)
			}
			// The checkpointer copies the WAL within milliseconds.
			deadline := time.Now().Add(10 * time.Second)
			for scrape(t, hs.URL)[`pouch_store_checkpoint_seconds_count{mode="passive"}`] == 0 {
				if time.Now().After(deadline) {
					t.Fatal("no checkpoint of the WAL counted in 10 s")
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// scrape reads base's /metrics, in Prometheus's text format, into a map
// from each sample's name with its labels to its value.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}
