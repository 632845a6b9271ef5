package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pouch.dev/record"
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
}

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
	}
	if reg != nil {
		reg.MustRegister(m.records, m.refusals, m.requests, m.streams)
	}
	return m
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
