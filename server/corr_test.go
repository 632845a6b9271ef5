package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/internal/pgtest"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store"
	"pouch.dev/store/postgres"
	"pouch.dev/store/sqlite"
	"pouch.dev/tlog"
)

// onPostgres, while set, has startCorr keep the log in PostgreSQL
// (TestCorrespondencePostgres).
var onPostgres bool

// newTestStore opens an empty store for t's server: a SQLite file, or
// with onPostgres a PostgreSQL database of its own. It closes it at the
// end of t.
func newTestStore(t *testing.T) store.Store {
	t.Helper()
	var st store.Store
	var err error
	if onPostgres {
		st, err = postgres.Open(context.Background(), pgtest.DB(t), postgres.Options{})
	} else {
		st, err = sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestCorrespondencePostgres runs the tests of the correspondence API
// (those that start it with startCorr) with the log in PostgreSQL.
func TestCorrespondencePostgres(t *testing.T) {
	pgtest.Require(t)
	onPostgres = true
	defer func() { onPostgres = false }()
	for _, tt := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"RequestBoundToOrigin", TestRequestBoundToOrigin},
		{"Limits", TestLimits},
		{"LetterLimits", TestLetterLimits},
		{"ClassicalPayloadRefused", TestClassicalPayloadRefused},
		{"StreamedPouch", TestStreamedPouch},
		{"TagBeforePayload", TestTagBeforePayload},
		{"BodyLimits", TestBodyLimits},
		{"PayloadOnlyWithTag", TestPayloadOnlyWithTag},
	} {
		t.Run(tt.name, tt.f)
	}
}

func startCorr(t *testing.T, opt server.CorrOptions) (*httptest.Server, *client.Client) {
	t.Helper()
	st := newTestStore(t)
	opt.Store = st
	if opt.Origin == "" {
		opt.Origin = "pouch.test/corr"
	}
	if opt.Directory.Mode == directory.ModeOperator && opt.Directory.Operator == nil {
		opt.Directory.Mode = directory.ModeOpen
	}
	c, err := server.NewCorrespondence(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	return serveCorr(t, c, opt.Origin)
}

// serveCorr serves c's API on loopback until the test ends, and returns
// the server and a client of log origin.
func serveCorr(tb testing.TB, c *server.Correspondence, origin string) (*httptest.Server, *client.Client) {
	mux := http.NewServeMux()
	c.Register(mux)
	hs := httptest.NewServer(mux)
	tb.Cleanup(hs.Close)
	cl := client.New(hs.URL)
	cl.Origin = origin
	return hs, cl
}

// TestOpenAPI checks that the served OpenAPI document describes exactly
// the routes the server registers (Server.Routes): every route, with its
// method, is documented, and nothing is documented that is not served.
func TestOpenAPI(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const origin = "pouch.test/openapi"
	skey, _, err := tlog.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	node, err := server.Start(ctx, server.Options{Store: st, Origin: origin, Key: skey, Directory: directory.Config{Mode: directory.ModeOpen}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	srv := node.Server
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)

	resp, err := http.Get(hs.URL + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	routes := srv.Routes()
	if len(routes) < 20 {
		t.Fatalf("the server registers %d routes: %v", len(routes), routes)
	}
	served := map[string]bool{}
	for _, route := range routes {
		m, p, ok := strings.Cut(route, " ")
		if !ok || m != strings.ToUpper(m) {
			t.Errorf("route %q has no method", route)
			continue
		}
		// OpenAPI has no multi-segment wildcard: {path...} is {path}.
		p = strings.ReplaceAll(p, "...}", "}")
		key := strings.ToLower(m) + " " + p
		if served[key] {
			t.Errorf("route %s registered twice", route)
		}
		served[key] = true
		if _, ok := doc.Paths[p][strings.ToLower(m)]; !ok {
			t.Errorf("the OpenAPI document lacks %s, which the server serves", route)
		}
	}
	for p, ops := range doc.Paths {
		for m := range ops {
			if !served[m+" "+p] {
				t.Errorf("the OpenAPI document describes %s %s, which the server does not serve", strings.ToUpper(m), p)
			}
		}
	}
}

// TestLimits checks the request size limit and the per-principal rate
// limit, and that refusals are counted in the metrics.
func TestLimits(t *testing.T) {
	reg := prometheus.NewRegistry()
	hs, c := startCorr(t, server.CorrOptions{Rate: 0.001, Burst: 2, Registerer: reg})
	ctx := context.Background()

	// A body over the record size limit.
	resp, err := http.Post(hs.URL+"/v1/records", "application/cbor", bytes.NewReader(make([]byte, record.MaxRecordSize+1)))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized record: %s", resp.Status)
	}

	// Garbage is refused, not a crash.
	for _, b := range [][]byte{{0xff}, {0xa0}, []byte("hello")} {
		if _, err := c.Submit(ctx, &record.Signed{Record: b}); err == nil {
			t.Fatalf("garbage %x accepted", b)
		}
	}

	// The registrar of "ir" may submit twice (burst 2), then is limited.
	_, rk, _ := ed25519.GenerateKey(nil)
	reg1 := client.Registrar("ir", rk)
	if _, err := c.FoundHouse(ctx, "ir", "", reg1, nil); err != nil {
		t.Fatal(err)
	}
	c.FoundHouse(ctx, "ir", "", reg1, nil) // refused (taken), but counted
	_, err = c.FoundHouse(ctx, "ir", "again", reg1, nil)
	var ce *client.Error
	if !errorAs(err, &ce) || ce.Status != http.StatusTooManyRequests {
		t.Fatalf("third request: %v", err)
	}
	// Another principal is not limited by the first.
	_, rk2, _ := ed25519.GenerateKey(nil)
	if _, err := c.FoundHouse(ctx, "ru", "", client.Registrar("ru", rk2), nil); err != nil {
		t.Fatalf("another principal: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var accepted, refused float64
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			switch mf.GetName() {
			case "pouch_records_accepted_total":
				accepted += m.GetCounter().GetValue()
			case "pouch_records_refused_total":
				refused += m.GetCounter().GetValue()
			}
		}
	}
	if accepted != 2 || refused < 4 {
		t.Fatalf("metrics: %v accepted, %v refused", accepted, refused)
	}
}

func errorAs(err error, target **client.Error) bool {
	e, ok := err.(*client.Error)
	if ok {
		*target = e
	}
	return ok
}

// FuzzSubmit feeds arbitrary bodies to the two write endpoints: the server
// must answer every one (never crash), and refuse what is not a valid
// record.
func FuzzSubmit(f *testing.F) {
	_, k, _ := ed25519.GenerateKey(nil)
	r := &record.Record{Kind: record.KindHouse, By: []record.Handle{"ir/registrar"}, Time: 1}
	s, _ := record.Sign(r, &directory.House{House: "ir", Registrar: k.Public().(ed25519.PublicKey)}, k)
	f.Add(s.Marshal(), false)
	f.Add([]byte{0xa2, 0x63, 't', 'a', 'g', 0x40, 0x67, 'p', 'a', 'y', 'l', 'o', 'a', 'd', 0x40}, true)
	f.Add([]byte{0xff}, false)
	hs, _ := startCorrF(f)
	f.Fuzz(func(t *testing.T, b []byte, pouch bool) {
		path := "/v1/records"
		if pouch {
			path = "/v1/pouches"
		}
		resp, err := http.Post(hs.URL+path, "application/cbor", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s answered %s for %x", path, resp.Status, b)
		}
	})
}

func startCorrF(f *testing.F) (*httptest.Server, *client.Client) {
	st, err := sqlite.Open(filepath.Join(f.TempDir(), "pouch.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	c, err := server.NewCorrespondence(context.Background(), server.CorrOptions{Store: st, Directory: directory.Config{Mode: directory.ModeOpen}, Origin: "pouch.test/fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	return serveCorr(f, c, "pouch.test/fuzz")
}

// TestGenesis: a fresh store gets the log's genesis record at index 0,
// signed by the operator key; a correspondence API started on that store
// with another founding rule refuses to start.
func TestGenesis(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pouch.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	_, op, _ := ed25519.GenerateKey(nil)
	cfg := directory.Config{Mode: directory.ModeOperator, Operator: op.Public().(ed25519.PublicKey)}
	if _, err := server.NewCorrespondence(ctx, server.CorrOptions{Store: st, Directory: cfg, Origin: "pouch.test/genesis"}); err == nil {
		t.Fatal("an operator-mode log was founded without the operator key")
	}
	if _, err := server.NewCorrespondence(ctx, server.CorrOptions{Store: st, Directory: cfg, OperatorKey: op, Origin: "pouch.test/genesis"}); err != nil {
		t.Fatal(err)
	}
	e, err := st.GetByIndex(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, r, err := record.Verify(e.Signed)
	if err != nil || r.Kind != record.KindGenesis || !e.Public || r.Origin != "pouch.test/genesis" || !s.KeyOf(0).Equal(op.Public()) {
		t.Fatalf("record 0: %+v %v", r, err)
	}
	// Started again, in the same mode, it founds nothing more.
	if _, err := server.NewCorrespondence(ctx, server.CorrOptions{Store: st, Directory: cfg, Origin: "pouch.test/genesis"}); err != nil {
		t.Fatal(err)
	}
	if state, _ := st.State(ctx); state.Size != 1 {
		t.Fatalf("restarting wrote records: size %d", state.Size)
	}
	_, err = server.NewCorrespondence(ctx, server.CorrOptions{Store: st, Directory: directory.Config{Mode: directory.ModeOpen}, Origin: "pouch.test/genesis"})
	if !errors.Is(err, directory.ErrGenesis) {
		t.Fatalf("an operator-mode log started in open mode: %v, want ErrGenesis", err)
	}
	st.Close()
}
