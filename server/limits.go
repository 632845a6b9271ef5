package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pouch.dev/record"
	"pouch.dev/store"
)

// A limiter is a token bucket per principal (or remote address).
type limiter struct {
	rate  float64
	burst float64
	mu    sync.Mutex
	b     map[string]*bucket
	last  time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	if burst <= 0 {
		burst = int(rate) + 1
	}
	return &limiter{rate: rate, burst: float64(burst), b: map[string]*bucket{}}
}

func (l *limiter) allow(key string) bool {
	if l.rate <= 0 {
		return true
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.last) > time.Minute {
		for k, b := range l.b {
			if now.Sub(b.at) > time.Minute {
				delete(l.b, k)
			}
		}
		l.last = now
	}
	b := l.b[key]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.b[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

type corrMetrics struct {
	records  *prometheus.CounterVec
	refusals *prometheus.CounterVec
	requests *prometheus.HistogramVec
	streams  prometheus.Gauge
	// The store's work on the disk (store.Timings), for a store that
	// reports it: the writer's commits, in two parts, the WAL's
	// checkpoints, by mode, and the appends as callers wait for them.
	// An acknowledgement waits for its append, which waits for the
	// commits before its own.
	commits     *prometheus.HistogramVec
	checkpoints *prometheus.HistogramVec
	appends     prometheus.Histogram
}

// diskBuckets are the store's histograms' buckets, in seconds: from a
// fast disk's fsync to the stalls of a slow one.
var diskBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}

func newCorrMetrics(reg prometheus.Registerer) *corrMetrics {
	m := &corrMetrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pouch_records_accepted_total", Help: "Records accepted and sequenced, by kind."}, []string{"kind"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pouch_records_refused_total", Help: "Records refused, by kind and reason."}, []string{"kind", "reason"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pouch_api_request_seconds", Help: "API request latency by route and status.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, 1}}, []string{"route", "status"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pouch_inbox_streams", Help: "Open inbox streams."}),
		commits: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pouch_store_commit_seconds", Help: "The store writer's transactions, by part: prepare (from the start to the commit) and commit (writing the WAL and its fsync).",
			Buckets: diskBuckets}, []string{"part"}),
		checkpoints: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pouch_store_checkpoint_seconds", Help: "Checkpoints of the store's WAL into its database file (the copy and its fsync), by mode.",
			Buckets: diskBuckets}, []string{"mode"}),
		appends: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pouch_store_append_seconds", Help: "Appends to the store, from the call until the records are durable: the wait for the writer and its commit.",
			Buckets: diskBuckets}),
	}
	if reg != nil {
		reg.MustRegister(m.records, m.refusals, m.requests, m.streams)
	}
	return m
}

// observe has st, if it reports its timings, report them to the store's
// histograms, registered then in reg. Without reg, or for a store that
// does not report them, it does nothing.
func (m *corrMetrics) observe(reg prometheus.Registerer, st store.Store) {
	t, ok := st.(store.Timed)
	if reg == nil || !ok {
		return
	}
	reg.MustRegister(m.commits, m.checkpoints, m.appends)
	prepare, commit := m.commits.WithLabelValues("prepare"), m.commits.WithLabelValues("commit")
	t.SetTimings(&store.Timings{
		Commit: func(p, c time.Duration) {
			prepare.Observe(p.Seconds())
			commit.Observe(c.Seconds())
		},
		Checkpoint: func(mode string, d time.Duration) {
			m.checkpoints.WithLabelValues(mode).Observe(d.Seconds())
		},
		Append: func(d time.Duration) { m.appends.Observe(d.Seconds()) },
	})
}

func (m *corrMetrics) accepted(k record.Kind) { m.records.WithLabelValues(string(k)).Inc() }
func (m *corrMetrics) refused(k record.Kind, reason string) {
	m.refusals.WithLabelValues(string(k), reason).Inc()
}

// reasonOf is a short, bounded label for a refusal.
func reasonOf(err error) string {
	switch s, _, _ := statusOf(err); s {
	case http.StatusConflict:
		return "replay"
	case http.StatusForbidden:
		return "unauthorised"
	case http.StatusBadRequest:
		return "malformed"
	case http.StatusTooManyRequests:
		return "rate"
	}
	return "other"
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	w.status = s
	w.ResponseWriter.WriteHeader(s)
}

// Unwrap gives http.ResponseController the writer underneath, for its
// deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *Correspondence) instrument(route string, f http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: 200}
		f(sw, r)
		c.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Observe(time.Since(start).Seconds())
	})
}
