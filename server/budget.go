package server

import (
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pouch.dev/api"
	"pouch.dev/record"
)

// The server's limits on what one client, or all of them together, may
// make it hold: memory, connections, time. Each is written down in
// spec/api.md#limits, and shown in /metrics as pouch_limit{name=...}
// (durations in seconds); the use of each budget as
// pouch_budget_in_use{budget=...}, and the requests it refused as
// pouch_budget_refused_total{budget=...}. A request that meets a spent
// budget is answered 503 with Retry-After.
//
// SPEC: spec/api.md#limits
const (
	// MaxHeaderBytes bounds a request's header block (net/http allows
	// 4 KiB more for its own reasons).
	MaxHeaderBytes = 16 << 10
	// ReadHeaderTimeout bounds the time to read a request's header
	// block.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds the time to read a whole request, but for a
	// pouch's payload, which has UploadStallTimeout for each
	// UploadProgress bytes once its tag is verified. Streamed answers (an
	// inbox stream) lift it.
	ReadTimeout = 30 * time.Second
	// WriteTimeout bounds the time to write an answer; a streamed answer
	// (an inbox stream, a payload) renews it at each event or chunk.
	WriteTimeout = 60 * time.Second
	// IdleTimeout closes a keep-alive connection idle this long.
	IdleTimeout = 120 * time.Second

	// MaxConns bounds the open connections. The server takes the lower
	// of MaxConns and its file descriptor limit less FDHeadroom. At the
	// cap, a new connection evicts the connection idle the longest (a
	// keep-alive connection between requests, or one that has sent
	// nothing yet); if none is idle it is answered 503 and closed.
	MaxConns = 8192
	// FDHeadroom is the file descriptors kept for the store, the
	// witnesses and the rest of the process.
	FDHeadroom = 128

	// BodyMemory bounds the bytes of request bodies that all requests
	// together hold in memory. A body is read a step at a time, each
	// step taken from this budget as it arrives, so a body declared long
	// but sent slowly holds only what it sent.
	BodyMemory = 128 << 20
	// MaxUploads bounds the payloads streaming into the store at once
	// (those larger than InlinePayload).
	MaxUploads = 16
	// MaxDownloads bounds the payloads streaming out at once.
	MaxDownloads = 64
	// InlinePayload is the largest payload read into memory (from
	// BodyMemory) and stored with its tag in one transaction; a larger
	// one streams into the store in chunks (store.ChunkSize) while its
	// SHA-256 is computed, and is never held whole.
	InlinePayload = 256 << 10
	// MaxAgeHeader bounds a payload's age header, which the server reads
	// and checks (post-quantum recipients only) before the rest: the
	// protocol's bound (spec/letter.md#limits).
	MaxAgeHeader = record.MaxAgeHeader
	// UploadProgress and UploadStallTimeout: once a pouch's tag is
	// verified, its payload may take as long as it needs, provided each
	// UploadProgress bytes arrive within UploadStallTimeout.
	UploadProgress     = 64 << 10
	UploadStallTimeout = 10 * time.Second
	// MaxBatchBody bounds the body of POST /v1/pouches/batch.
	MaxBatchBody = 32 << 20
	// MaxBatchPayload bounds each payload in a batch: a batch is for many
	// small pouches; a large one goes alone, streamed.
	MaxBatchPayload = InlinePayload

	// RetryAfter is what a 503 for a spent budget tells the client to
	// wait; RetryAfterFull what a 507 for a full disk does.
	RetryAfter     = 1 * time.Second
	RetryAfterFull = 30 * time.Second
)

// A body's buffer starts at bodyStart bytes (or the body's length, if
// less), and doubles as the bytes arrive, by bodyStep at most at once.
const (
	bodyStart = 4 << 10
	bodyStep  = 64 << 10
)

// A budget is a quantity that requests take from and give back: bytes of
// memory, upload slots. Taking never blocks: a request that finds it
// spent is refused.
type budget struct {
	name  string
	cap   int64
	used  atomic.Int64
	peak  atomic.Int64
	taken prometheus.Gauge
	refus prometheus.Counter
}

func (b *budget) take(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.cap {
			b.refus.Inc()
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			b.taken.Add(float64(n))
			for p := b.peak.Load(); u+n > p && !b.peak.CompareAndSwap(p, u+n); p = b.peak.Load() {
			}
			return true
		}
	}
}

func (b *budget) give(n int64) {
	b.used.Add(-n)
	b.taken.Sub(float64(n))
}

// busy is the error of a request that found b spent.
func (b *budget) busy() error {
	return &apiError{status: http.StatusServiceUnavailable, hint: "retry in a moment",
		err: fmt.Errorf("%w: the server's %s budget (%d) is spent", api.ErrBusy, b.name, b.cap)}
}

// A hold is what one request took from a budget; release gives it back.
type hold struct {
	b *budget
	n int64
}

func (h *hold) grow(n int64) bool {
	if !h.b.take(n) {
		return false
	}
	h.n += n
	return true
}

func (h *hold) shrink(n int64) {
	n = min(n, h.n)
	h.n -= n
	h.b.give(n)
}

func (h *hold) release() { h.shrink(h.n) }

// Limits holds the server's budgets, shared by the correspondence API and
// the connection limiter, and shows them in /metrics.
type Limits struct {
	memory    *budget // bytes of request bodies in memory
	uploads   *budget // payloads streaming in
	downloads *budget // payloads streaming out
	conns     *budget // open connections

	evicted prometheus.Counter // idle connections closed to make room
}

// NewLimits returns the budgets of the constants above, with the
// connection cap of ConnCap, registered with reg (if not nil).
func NewLimits(reg prometheus.Registerer) *Limits {
	inUse := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "pouch_budget_in_use", Help: "What requests hold now of each budget of the server (spec/api.md#limits)."}, []string{"budget"})
	capacity := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "pouch_budget_capacity", Help: "The size of each budget of the server."}, []string{"budget"})
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pouch_budget_refused_total", Help: "Requests or connections refused because a budget was spent."}, []string{"budget"})
	limit := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "pouch_limit", Help: "The server's fixed limits (bytes, counts; durations in seconds)."}, []string{"name"})
	mk := func(name string, n int64) *budget {
		capacity.WithLabelValues(name).Set(float64(n))
		return &budget{name: name, cap: n, taken: inUse.WithLabelValues(name), refus: refused.WithLabelValues(name)}
	}
	evicted := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "pouch_connections_evicted_total", Help: "Idle connections closed to make room for new ones at the connection cap."})
	l := &Limits{
		memory:    mk("body_memory_bytes", BodyMemory),
		uploads:   mk("uploads", MaxUploads),
		downloads: mk("downloads", MaxDownloads),
		conns:     mk("connections", int64(ConnCap())),
		evicted:   evicted,
	}
	for name, v := range map[string]float64{
		"max_header_bytes":             MaxHeaderBytes,
		"read_header_timeout_seconds":  ReadHeaderTimeout.Seconds(),
		"read_timeout_seconds":         ReadTimeout.Seconds(),
		"write_timeout_seconds":        WriteTimeout.Seconds(),
		"idle_timeout_seconds":         IdleTimeout.Seconds(),
		"max_conns":                    MaxConns,
		"fd_headroom":                  FDHeadroom,
		"body_memory_bytes":            BodyMemory,
		"max_uploads":                  MaxUploads,
		"max_downloads":                MaxDownloads,
		"inline_payload_bytes":         InlinePayload,
		"max_age_header_bytes":         MaxAgeHeader,
		"upload_progress_bytes":        UploadProgress,
		"upload_stall_timeout_seconds": UploadStallTimeout.Seconds(),
		"max_batch_body_bytes":         MaxBatchBody,
		"max_batch_payload_bytes":      MaxBatchPayload,
		"max_record_bytes":             record.MaxRecordSize,
		"retry_after_seconds":          RetryAfter.Seconds(),
		"retry_after_full_seconds":     RetryAfterFull.Seconds(),
	} {
		limit.WithLabelValues(name).Set(v)
	}
	if reg != nil {
		reg.MustRegister(inUse, capacity, refused, limit, evicted)
	}
	return l
}

// ConnCap is the connection cap of this process: MaxConns, or fewer if
// the file descriptor limit less FDHeadroom is lower (and at least 16).
func ConnCap() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > MaxConns+FDHeadroom {
		return MaxConns
	}
	return max(16, min(MaxConns, int(rl.Cur)-FDHeadroom))
}

// retryAfter sets the Retry-After header of an answer of status.
func retryAfter(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(int(RetryAfter.Seconds())))
	case http.StatusInsufficientStorage:
		w.Header().Set("Retry-After", strconv.Itoa(int(RetryAfterFull.Seconds())))
	}
}
