package server_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"pouch.dev/agreement"
	"pouch.dev/agreement/jcpoa"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/internal/testkeys"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/tlog"
)

const agOrigin = "pouch.example/log"

// agServer is the correspondence API on a SQLite store in dir.
type agServer struct {
	st   *sqlite.Store
	hs   *httptest.Server
	cl   *client.Client
	stop func()
}

func startAgServer(t *testing.T, dir string) *agServer {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(dir, "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	// The whole server: the log (sequenced), its routes and the API, so
	// that the verifying client can prove what it reads.
	skey, _, err := tlog.LoadOrCreateKey(filepath.Join(dir, "log.key"), agOrigin)
	if err != nil {
		t.Fatal(err)
	}
	node, err := server.Start(context.Background(), server.Options{Store: st, Origin: agOrigin, Key: skey, Directory: directory.Config{Mode: directory.ModeOpen}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(node.Server)
	cl := client.New(hs.URL)
	cl.Origin = agOrigin
	s := &agServer{st: st, hs: hs, cl: cl, stop: node.Close}
	t.Cleanup(s.close)
	return s
}

func (s *agServer) close() {
	if s.hs != nil {
		s.hs.Close()
		s.stop()
		s.st.Close()
		s.hs = nil
	}
}

func (s *agServer) size(t *testing.T) uint64 {
	t.Helper()
	ls, err := s.st.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ls.Size
}

// setup founds the scenario's houses and admits jcpoa.Principals with
// their testkeys.Key, then builds the scenario's records.
func setup(t *testing.T, s *agServer) *jcpoa.Scenario {
	t.Helper()
	return setupWith(t, s.cl)
}

// setupWith is setup through the client cl, of a server of log agOrigin.
func setupWith(t *testing.T, cl *client.Client) *jcpoa.Scenario {
	t.Helper()
	ctx := context.Background()
	houses := map[string]bool{}
	regs := map[string]*client.Identity{}
	for _, h := range jcpoa.Principals() {
		house := h.House()
		if !houses[house] {
			houses[house] = true
			_, k, _ := ed25519.GenerateKey(nil)
			regs[house] = client.Registrar(house, k)
			if _, err := cl.FoundHouse(ctx, house, "House "+house, regs[house], nil); err != nil {
				t.Fatalf("founding %s: %v", house, err)
			}
		}
		id, _ := age.GenerateHybridIdentity()
		pub := testkeys.Key(h).Public().(ed25519.PublicKey)
		if _, err := cl.Admit(ctx, regs[house], h, pub, id.Recipient().String(), "holder of "+string(h)); err != nil {
			t.Fatalf("admitting %s: %v", h, err)
		}
	}
	sc, err := jcpoa.Build(agOrigin, testkeys.Key, time.Now().UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func submitSteps(t *testing.T, s *agServer, steps []jcpoa.Step) {
	t.Helper()
	for _, st := range steps {
		if _, err := s.cl.Submit(context.Background(), st.Signed); err != nil {
			t.Fatalf("%s: %v", st.Say, err)
		}
	}
}

// TestAgreementRules plays scenes 4, 5 and 6 against the server: every
// action accepted, every must-fail case refused with its reason and
// nothing stored, the status and the roll served; then the server restarts
// on its store and still knows and refuses the same.
func TestAgreementRules(t *testing.T) {
	dir := t.TempDir()
	s := startAgServer(t, dir)
	ctx := context.Background()
	sc := setup(t, s)
	submitSteps(t, s, sc.JCPOA)
	submitSteps(t, s, sc.Statement)
	submitSteps(t, s, sc.Deal)
	jid, sid, did := sc.JCPOA[0].Signed.ID(), sc.Statement[0].Signed.ID(), sc.Deal[0].Signed.ID()

	check := func(s *agServer) {
		t.Helper()
		for _, c := range []struct {
			at      agreement.Date
			parties int
			embargo string
		}{{"2017-06-01", 7, agreement.ClauseActive}, {"2019-06-01", 6, agreement.ClauseActive},
			{"2020-09-15", 6, agreement.ClauseActive}, {"2020-11-01", 6, agreement.ClauseLapsed}} {
			st, err := s.cl.AgreementStatus(ctx, jid, c.at)
			if err != nil {
				t.Fatal(err)
			}
			if !st.InForce || st.PartiesInForce != c.parties {
				t.Errorf("%s: in force %v with %d parties, want %d", c.at, st.InForce, st.PartiesInForce, c.parties)
			}
			for _, cl := range st.Clauses {
				if cl.ID == jcpoa.ClauseEmbargo && cl.State != c.embargo {
					t.Errorf("%s: arms-embargo %s, want %s", c.at, cl.State, c.embargo)
				}
			}
		}
		st, err := s.cl.AgreementStatus(ctx, did, "2026-01-01")
		if err != nil {
			t.Fatal(err)
		}
		if st.InForce || st.PartiesInForce != 0 {
			t.Errorf("the draft deal: in force %v with %d parties", st.InForce, st.PartiesInForce)
		}
		sv, err := s.cl.Statement(ctx, sid, -1)
		if err != nil {
			t.Fatal(err)
		}
		if sv.Count != jcpoa.Experts {
			t.Errorf("statement: %d co-signatures, want %d", sv.Count, jcpoa.Experts)
		}
		// At the log size just after the first ten co-signatures.
		sv10, err := s.cl.Statement(ctx, sid, int64(sv.Signatories[9].Index+1))
		if err != nil {
			t.Fatal(err)
		}
		if sv10.Count != 10 {
			t.Errorf("statement at size %d: %d co-signatures, want 10", sv.Signatories[9].Index+1, sv10.Count)
		}
		list, err := s.cl.Agreements(ctx)
		if err != nil || len(list) != 3 {
			t.Errorf("agreements: %v, %+v", err, list)
		}
		// Every must-fail case is refused with its reason, nothing stored.
		bads := append(sc.BadJCPOA, sc.BadStatement...)
		for _, b := range bads {
			before := s.size(t)
			_, err := s.cl.Submit(ctx, b.Signed)
			if err == nil {
				t.Errorf("%s: accepted", b.Say)
				continue
			}
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Status/100 != 4 {
				t.Errorf("%s: %v, want a 4xx refusal", b.Say, err)
			}
			if !strings.Contains(err.Error(), "refused: ") {
				t.Errorf("%s: message %q does not say why", b.Say, err)
			}
			if after := s.size(t); after != before {
				t.Errorf("%s: log grew from %d to %d", b.Say, before, after)
			}
			t.Logf("%s: %d %v", b.Say, ce.Status, err)
		}
	}
	check(s)

	// The server restarts on its store: the registry is rebuilt.
	s.close()
	s = startAgServer(t, dir)
	check(s)
	// A replayed signature is refused as a replay.
	// The rule that refused travels in the error's code: the client's
	// error matches the same sentinel as the server's.
	if _, err := s.cl.Submit(ctx, sc.JCPOA[1].Signed); !errors.Is(err, client.ErrReplay) || !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("replayed signature: %v, want a replay (store.ErrDuplicate)", err)
	}
}

// TestAgreementConcurrentSigns sends two signatures for one party at once:
// exactly one is sequenced.
func TestAgreementConcurrentSigns(t *testing.T) {
	s := startAgServer(t, t.TempDir())
	ctx := context.Background()
	sc := setup(t, s)
	submitSteps(t, s, sc.JCPOA)
	id := sc.JCPOA[0].Signed.ID()
	for round := 0; round < 5; round++ {
		// us signs again after its withdrawal, twice at once, with
		// different records; then withdraws for the next round.
		signDay := agreement.Date("2021-01-10").AddDays(2 * round)
		var signs []*record.Signed
		for _, by := range []record.Handle{"us/president", "us/secretary-of-state"} {
			sg, err := record.Sign(&record.Record{Kind: record.KindAgreementSign, Origin: agOrigin, By: []record.Handle{by},
				Time: time.Now().UnixMilli()}, &agreement.Sign{Agreement: id, Party: "us", Date: signDay}, testkeys.Key(by))
			if err != nil {
				t.Fatal(err)
			}
			signs = append(signs, sg)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(signs))
		for i, sg := range signs {
			wg.Add(1)
			go func() { defer wg.Done(); _, errs[i] = s.cl.Submit(ctx, sg) }()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !strings.Contains(err.Error(), "already signed") {
				t.Errorf("round %d: %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d of 2 signatures for us accepted, want 1: %v", round, ok, errs)
		}
		w, err := record.Sign(&record.Record{Kind: record.KindAgreementWithdraw, Origin: agOrigin, By: []record.Handle{"us/president"},
			Time: time.Now().UnixMilli()}, &agreement.Withdraw{Agreement: id, Party: "us", Date: signDay.AddDays(1)}, testkeys.Key("us/president"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.cl.Submit(ctx, w); err != nil {
			t.Fatalf("round %d: withdrawing: %v", round, err)
		}
	}
}

// TestAgreementsOpenAPI checks that the OpenAPI document describes the
// agreement endpoints.
func TestAgreementsOpenAPI(t *testing.T) {
	doc := string(server.OpenAPI())
	for _, p := range []string{`"/v1/agreements"`, `"/v1/agreements/{id}"`, `"/v1/agreements/{id}/status"`, `"/v1/statements/{id}"`, `"AgreementStatus"`} {
		if !strings.Contains(doc, p) {
			t.Errorf("openapi.json lacks %s", p)
		}
	}
}
