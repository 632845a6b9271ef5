package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"pouch.dev/client"
	"pouch.dev/internal/scenario"
)

// TestBenchStoreTimes: pouch bench reads the server's own times from its
// /metrics with Prometheus's parser: the store's commits and appends,
// and the requests of one route summed over their statuses, not those of
// another route.
func TestBenchStoreTimes(t *testing.T) {
	const metrics = `# TYPE pouch_store_commit_seconds histogram
pouch_store_commit_seconds_bucket{part="commit",le="0.005"} 7
pouch_store_commit_seconds_bucket{part="commit",le="0.01"} 9
pouch_store_commit_seconds_bucket{part="commit",le="+Inf"} 10
pouch_store_commit_seconds_sum{part="commit"} 0.1
pouch_store_commit_seconds_count{part="commit"} 10
# TYPE pouch_store_append_seconds histogram
pouch_store_append_seconds_bucket{le="0.005"} 20
pouch_store_append_seconds_bucket{le="0.01"} 20
pouch_store_append_seconds_bucket{le="+Inf"} 20
pouch_store_append_seconds_sum 0.05
pouch_store_append_seconds_count 20
# TYPE pouch_api_request_seconds histogram
pouch_api_request_seconds_bucket{route="pouches.submit",status="201",le="0.005"} 95
pouch_api_request_seconds_bucket{route="pouches.submit",status="201",le="0.01"} 99
pouch_api_request_seconds_bucket{route="pouches.submit",status="201",le="+Inf"} 100
pouch_api_request_seconds_sum{route="pouches.submit",status="201"} 0.4
pouch_api_request_seconds_count{route="pouches.submit",status="201"} 100
pouch_api_request_seconds_bucket{route="pouches.submit",status="409",le="0.005"} 4
pouch_api_request_seconds_bucket{route="pouches.submit",status="409",le="0.01"} 5
pouch_api_request_seconds_bucket{route="pouches.submit",status="409",le="+Inf"} 5
pouch_api_request_seconds_sum{route="pouches.submit",status="409"} 0.01
pouch_api_request_seconds_count{route="pouches.submit",status="409"} 5
pouch_api_request_seconds_bucket{route="pouches.get",status="200",le="0.005"} 0
pouch_api_request_seconds_bucket{route="pouches.get",status="200",le="0.01"} 0
pouch_api_request_seconds_bucket{route="pouches.get",status="200",le="+Inf"} 1000
pouch_api_request_seconds_sum{route="pouches.get",status="200"} 900
pouch_api_request_seconds_count{route="pouches.get",status="200"} 1000
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write([]byte(metrics))
	}))
	defer srv.Close()
	cl := client.New(srv.URL)
	cl.HTTP = srv.Client()
	w := &scenario.World{Client: cl, URL: srv.URL, Remote: true}

	commits, appends, requests, err := benchStoreTimes(context.Background(), w, "pouches.submit")
	if err != nil {
		t.Fatal(err)
	}
	if commits.total() != 10 || commits.over(.01) != 1 || appends.total() != 20 {
		t.Errorf("commits %d (%d over 10 ms), appends %d; want 10 (1), 20", commits.total(), commits.over(.01), appends.total())
	}
	if requests == nil {
		t.Fatal("no requests of pouches.submit")
	}
	// 105 requests: 99 within 5 ms, 104 within 10 ms.
	if n, over := requests.total(), requests.over(.01); n != 105 || over != 1 {
		t.Errorf("pouches.submit: %d requests, %d over 10 ms; want 105, 1", n, over)
	}
	if b, ok := requests.quantileBound(.99); !ok || b != .01 {
		t.Errorf("pouches.submit: 99 %% within %v (%v), want 0.01", b, ok)
	}
	// A phase's figures are the difference of two readings.
	if d := requests.minus(requests); d.total() != 0 || d.over(.01) != 0 {
		t.Errorf("a reading less itself: %d requests, %d over 10 ms", d.total(), d.over(.01))
	}

	if _, _, none, err := benchStoreTimes(context.Background(), w, "pouches.batch"); err != nil || none != nil {
		t.Errorf("a route the server never timed: %v, %v; want none and no error", none, err)
	}
}
