// Package server is pouch's HTTP server: the transparency log at the C2SP
// tlog-tiles paths, the log's proofs under /v1/log, and the API through
// which records are submitted and read.
//
// Start assembles a whole server (Node) from Options: the log over a
// store, its witnesses, the correspondence API and every route; further
// parts plug in through Server.Handle.
//
// # Limits
//
// What a client can make the server hold is bounded, whatever it
// declares: request bodies are read a step at a time under a memory
// budget; a pouch's tag is verified before its payload is read, and a
// large payload streams into the store in chunks; uploads, downloads and
// connections are capped, the connection cap below the descriptor limit,
// evicting idle connections at the cap; and the http.Server that
// Limits.HTTPServer returns has read, write and idle timeouts. A spent
// budget is answered 503 with Retry-After, a full disk 507. The limits are
// the constants of budget.go (spec/api.md#limits), shown in /metrics.
//
// SPEC: spec/log.md#http-api
package server

import (
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"pouch.dev/api"
	"pouch.dev/store"
	"pouch.dev/tlog"
)

// Config configures a Server: the HTTP handler of a Node.
type Config struct {
	// Store holds the records and the tree. Required.
	Store store.Store
	// Log is the sequenced log kept in Store. Required.
	Log *tlog.Log
	// Logger receives request errors; nil means slog.Default().
	Logger *slog.Logger
	// API adds the correspondence API's routes. Required.
	API interface{ Register(mux Mux) }
	// ProofWait bounds how long a proof request with ?wait=1 waits for a
	// checkpoint covering the record; 0 means 10 seconds.
	ProofWait time.Duration
}

// A Mux is where routes are registered: an *http.ServeMux, or a Server,
// which also remembers them (Routes).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// A Server is pouch's HTTP handler.
type Server struct {
	cfg Config
	st  store.Store
	log *tlog.Log
	lg  *slog.Logger
	mux *http.ServeMux

	routesMu sync.Mutex
	routes   []string
}

// newServer returns a Server serving cfg's log, store and API.
func newServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ProofWait <= 0 {
		cfg.ProofWait = 10 * time.Second
	}
	s := &Server{cfg: cfg, st: cfg.Store, log: cfg.Log, lg: cfg.Logger, mux: http.NewServeMux()}
	s.Handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	}))
	s.registerLog()
	cfg.API.Register(s)
	return s
}

// Handle adds a route to the server, as http.ServeMux.Handle does, and
// remembers its pattern (Routes). Every route is added through it.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	s.routesMu.Lock()
	s.routes = append(s.routes, pattern)
	s.routesMu.Unlock()
}

// Routes returns the patterns of every route the server serves, such as
// "GET /v1/records/{id}", sorted: what the OpenAPI document must
// describe.
func (s *Server) Routes() []string {
	s.routesMu.Lock()
	defer s.routesMu.Unlock()
	rs := slices.Clone(s.routes)
	slices.Sort(rs)
	return rs
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// A server never crashes on input.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.lg.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v)
			s.fail(w, http.StatusInternalServerError, "internal error", "")
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// Problem is the JSON body of every error response, the API's
// (spec/api.md#errors).
type Problem = api.ErrorBody

func (s *Server) fail(w http.ResponseWriter, status int, msg, hint string) {
	s.writeJSON(w, status, Problem{Error: msg, Hint: hint})
}

// failErr answers err with the code of the rule it names (api.CodeOf), so
// that a client tells "no such record" from the rest.
func (s *Server) failErr(w http.ResponseWriter, status int, err error, hint string) {
	code, _ := api.CodeOf(err)
	s.writeJSON(w, status, Problem{Error: err.Error(), Hint: hint, Code: code})
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) { writeJSONTo(w, status, v) }
