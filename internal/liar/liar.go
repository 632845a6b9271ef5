// Package liar is a hostile pouch server, for the tests of the verifying
// client (client/hostile_test.go).
//
// Start runs a real pouch server on 127.0.0.1 — a SQLite store, the log,
// a pouch witness if asked, the correspondence API — and in front of it an
// HTTP proxy on 127.0.0.1 that forwards every request and tells the lies a
// test chooses (Tell): it rewrites the real server's answer, or answers in
// its place. Clients under test talk to the proxy (Server.URL); the test
// sets its world up through the real server (Server.Honest).
//
// The test is the server's operator, as a hostile operator would be: it
// holds the log's private key and its store, so it can sign what only the
// server can (a checkpoint of a fork, Fork; leaves stamped with a wrong
// time, Clock) and sequence records the rules refuse (Sequence). What the
// proxy saw — requests asked, records submitted — tells the test whether a
// client signed or sent anything because of a lie.
//
// The lies the trust model names (docs/design.md#trust-model) are in lies.go.
package liar

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pouch.dev/directory"
	"pouch.dev/server"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/tlog"
	"pouch.dev/tlog/witness"
)

// Options configure a Server.
type Options struct {
	// Witness runs a pouch witness (package tlog/witness) in-process,
	// which the log asks to cosign every checkpoint.
	Witness bool
	// Skew sets the store's clock this far from the real time from the
	// start: the log stamps every leaf with it (see Clock).
	Skew time.Duration
}

// A Clock is the store's clock: the time of sequencing the log stamps on
// every leaf (it never decreases with the index). A hostile operator sets
// it wrong; the server's own clock, which checks request signatures, stays
// right.
type Clock struct {
	mu   sync.Mutex
	skew time.Duration
}

// Now returns the store's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skew)
}

// Skew sets the store's clock d from the real time.
func (c *Clock) Skew(d time.Duration) {
	c.mu.Lock()
	c.skew = d
	c.mu.Unlock()
}

// A Server is a real pouch server behind a lying proxy.
type Server struct {
	// URL is the proxy's base URL: what the clients under test talk to.
	URL string
	// Honest is the real server's base URL, behind the proxy.
	Honest string
	// Origin is the log's origin.
	Origin string
	// LogKey is the log's private signed-note key: the test is the
	// operator. VerifierKey is its public half.
	LogKey, VerifierKey string
	// WitnessKey is the witness's cosignature/v1 verifier key ("" without
	// a witness), WitnessURL its address.
	WitnessKey, WitnessURL string
	// Store and Log are the real server's.
	Store *sqlite.Store
	Log   *tlog.Log
	// Clock is the store's clock.
	Clock *Clock

	t       testing.TB
	backend *url.URL
	rp      *httputil.ReverseProxy

	mu       sync.Mutex
	lies     []*Lie
	told     map[string]int
	asked    []string // "METHOD path?query" of every request the proxy saw
	writes   int      // POST, PUT, DELETE requests
	pouches  [][]byte // bodies of POST /v1/pouches
	submits  [][]byte // bodies of POST /v1/records
	closeAll []func()
}

// Start starts a server and its proxy; t's cleanup stops them.
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	s := &Server{t: t, Clock: &Clock{skew: opt.Skew}, told: map[string]int{}}
	// The folders first: cleanups run last registered first, so the
	// servers stop before their folders are removed.
	dbDir, witDir := t.TempDir(), t.TempDir()
	t.Cleanup(s.close)

	st, err := sqlite.Open(filepath.Join(dbDir, "pouch.db"), sqlite.WithClock(s.Clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	s.Store = st
	s.closeAll = append(s.closeAll, func() { st.Close() })
	s.Origin = "pouch.localhost/liar-" + tlog.NewOrigin()[len(tlog.OriginPrefix):]
	if s.LogKey, s.VerifierKey, err = tlog.GenerateKey(s.Origin); err != nil {
		t.Fatal(err)
	}
	sopt := server.Options{Store: st, Origin: s.Origin, Key: s.LogKey, Logger: quiet, RefreshInterval: -1,
		Directory: directory.Config{Mode: directory.ModeOpen}, Metrics: prometheus.NewRegistry()}
	if opt.Witness {
		wkey, _, err := tlog.GenerateKey("witness.liar.test")
		if err != nil {
			t.Fatal(err)
		}
		w, err := witness.New(witness.Config{Key: wkey, Logs: []string{s.VerifierKey}, Dir: witDir, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		ws := httptest.NewServer(w)
		s.closeAll = append([]func(){ws.Close}, s.closeAll...)
		s.WitnessKey, s.WitnessURL = w.VerifierKey(), ws.URL
		sopt.Witnesses = []tlog.WitnessConfig{{URL: ws.URL, Key: s.WitnessKey}}
	}
	node, err := server.Start(ctx, sopt)
	if err != nil {
		t.Fatal(err)
	}
	s.Log = node.Log
	s.closeAll = append([]func(){node.Close}, s.closeAll...)
	honest := s.listen(node.Server)
	s.Honest = honest
	if s.backend, err = url.Parse(honest); err != nil {
		t.Fatal(err)
	}
	s.rp = &httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { pr.SetURL(s.backend) },
		ModifyResponse: s.rewrite,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	s.URL = s.listen(http.HandlerFunc(s.serve))
	return s
}

// listen serves h on 127.0.0.1 until the test ends and returns its URL.
func (s *Server) listen(h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go hs.Serve(ln)
	s.closeAll = append([]func(){func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		hs.Close()
	}}, s.closeAll...)
	return "http://" + ln.Addr().String()
}

func (s *Server) close() {
	for _, f := range s.closeAll {
		f()
	}
	s.closeAll = nil
}

// A Lie is one way the proxy lies: to the requests Match selects, it
// answers with Serve in the real server's place, or else rewrites the real
// server's answer with Rewrite.
type Lie struct {
	// Name names the lie in Told.
	Name  string
	Match func(r *http.Request) bool
	// Serve, if set, answers instead of the real server.
	Serve http.HandlerFunc
	// Rewrite, if set, is given the real server's answer (its status and
	// body) and returns the answer the client gets.
	Rewrite func(r *http.Request, status int, body []byte) (int, []byte)
}

// Tell makes the proxy tell lies from now on, in addition to those it
// already tells; the first whose Match selects a request answers it.
func (s *Server) Tell(lies ...*Lie) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lies = append(s.lies, lies...)
}

// Truth stops every lie: the proxy forwards everything as it is.
func (s *Server) Truth() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lies = nil
}

// Told returns how many answers the lie named name changed or gave.
func (s *Server) Told(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.told[name]
}

// Asked returns how many requests the proxy saw whose path starts with
// prefix.
func (s *Server) Asked(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.asked {
		if len(a) >= len(prefix) && a[:len(prefix)] == prefix {
			n++
		}
	}
	return n
}

// Writes returns how many requests that write (POST, PUT, DELETE) the
// proxy saw: records and pouches submitted, whether the server accepted
// them or not.
func (s *Server) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Pouches returns the bodies of the POST /v1/pouches requests the proxy
// saw (api.PouchSubmission, CBOR), in order.
func (s *Server) Pouches() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.pouches...)
}

type lieKey struct{}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil && r.Method != http.MethodGet {
		b, err := io.ReadAll(io.LimitReader(r.Body, 128<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	s.mu.Lock()
	s.asked = append(s.asked, r.URL.Path)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.writes++
		switch r.URL.Path {
		case "/v1/pouches":
			s.pouches = append(s.pouches, body)
		case "/v1/records":
			s.submits = append(s.submits, body)
		}
	}
	var lie *Lie
	for _, l := range s.lies {
		if l.Match(r) {
			lie = l
			break
		}
	}
	if lie != nil && lie.Serve != nil {
		s.told[lie.Name]++
	}
	s.mu.Unlock()
	switch {
	case lie != nil && lie.Serve != nil:
		lie.Serve(w, r)
	case lie != nil:
		s.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), lieKey{}, lie)))
	default:
		s.rp.ServeHTTP(w, r)
	}
}

// rewrite is the reverse proxy's ModifyResponse: it lets the request's lie
// rewrite the real server's answer.
func (s *Server) rewrite(resp *http.Response) error {
	l, _ := resp.Request.Context().Value(lieKey{}).(*Lie)
	if l == nil || l.Rewrite == nil {
		return nil
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	status, nb := l.Rewrite(resp.Request, resp.StatusCode, b)
	if status != resp.StatusCode || !bytes.Equal(nb, b) {
		s.mu.Lock()
		s.told[l.Name]++
		s.mu.Unlock()
	}
	resp.StatusCode, resp.Status = status, strconv.Itoa(status)+" "+http.StatusText(status)
	resp.Body = io.NopCloser(bytes.NewReader(nb))
	resp.ContentLength = int64(len(nb))
	resp.Header.Set("Content-Length", strconv.Itoa(len(nb)))
	return nil
}

// Size returns the number of records the real server holds: sequenced
// in its store, integrated in the tree or not.
func (s *Server) Size() uint64 {
	s.t.Helper()
	ls, err := s.Store.State(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return ls.Size
}

// Sequence appends entries to the store as the server would, but without
// its rules, as a hostile operator does, and waits until the log has
// integrated them into a published checkpoint. It returns their places.
func (s *Server) Sequence(es ...*store.Entry) []store.Sequenced {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sq, err := s.Store.Append(ctx, es)
	if err != nil {
		s.t.Fatalf("sequencing as the operator: %v", err)
	}
	s.Integrated(sq[len(sq)-1].Index + 1)
	return sq
}

// Integrated waits until the log has published a checkpoint of at least
// size leaves, and returns it.
func (s *Server) Integrated(size uint64) []byte {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cp, _, err := s.Log.WaitCheckpoint(ctx, size)
	if err != nil {
		s.t.Fatalf("waiting for a checkpoint of %d leaves: %v", size, err)
	}
	return cp
}

// Checkpoint returns the log's latest published checkpoint, with its
// cosignatures, once it covers every record the store holds.
func (s *Server) Checkpoint() []byte {
	s.t.Helper()
	return s.Integrated(s.Size())
}
