package scenario

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/agreement/jcpoa"
	"pouch.dev/client"
	"pouch.dev/internal/pgtest"
	"pouch.dev/record"
)

// TestAgreementScenes plays scenes 4, 5 and 6 against the in-process
// server, then asserts issue 5's acceptance story on what the server and
// the log say, independently of the scenes' own checks.
func TestAgreementScenes(t *testing.T) {
	w, out := start(t)
	c := ctx(t)
	err := Play(c, w, 1, 4, 5, 6)
	if err == nil {
		err = MustFailDisclosure(c, w)
	}
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if w.Report.Failures != 0 {
		t.Fatalf("%d checks failed", w.Report.Failures)
	}

	// Scene 4: the JCPOA, as the server derives it and as a client
	// replays it from the log.
	id := w.Facts["scene4.jcpoa"]
	tl, _, err := w.replayAgreement(c, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		at      agreement.Date
		parties int
		embargo string
	}{
		{"2017-06-01", 7, agreement.ClauseActive},
		{"2019-06-01", 6, agreement.ClauseActive},
		{"2020-09-01", 6, agreement.ClauseActive},
		{"2020-09-30", 6, agreement.ClauseActive},
		{"2020-11-01", 6, agreement.ClauseLapsed},
		{"2020-11-30", 6, agreement.ClauseLapsed},
	} {
		srv, err := w.Client.AgreementStatus(c, id, want.at)
		if err != nil {
			t.Fatal(err)
		}
		for who, st := range map[string]*agreement.Status{"server": srv, "replay": tl.Status(want.at)} {
			if !st.InForce || st.PartiesInForce != want.parties {
				t.Errorf("%s, %s: in force %v with %d parties, want %d", who, want.at, st.InForce, st.PartiesInForce, want.parties)
			}
			if got := clauseState(st, jcpoa.ClauseEmbargo).State; got != want.embargo {
				t.Errorf("%s, %s: arms embargo %s, want %s", who, want.at, got, want.embargo)
			}
		}
	}
	// Both attestations: Lavrov's and the IAEA's, each a verified record
	// in the log by a named verifier.
	attested := map[record.Handle]bool{}
	for _, a := range tl.Actions() {
		if a.Attest == nil {
			continue
		}
		if _, err := w.Client.Prove(c, a.ID, record.KindAttest, nil); err != nil {
			t.Errorf("attestation %s by %s: %v", a.ID.Short(), a.By, err)
		}
		if a.Attest.Party == "ir" && a.Attest.Clause == jcpoa.ClauseNuclear {
			attested[a.By] = true
		}
	}
	if !attested["ru/fm"] || !attested["iaea/dg"] {
		t.Errorf("attestations of ir on nuclear by: %v, want ru/fm and iaea/dg", attested)
	}

	// Scene 5: more than 80 co-signatures, each verified.
	sid := w.Facts["scene5.statement"]
	sv, err := w.Client.Statement(c, sid, -1)
	if err != nil {
		t.Fatal(err)
	}
	if sv.Count <= 80 || sv.Count != jcpoa.Experts {
		t.Errorf("statement: %d co-signatures, want %d", sv.Count, jcpoa.Experts)
	}
	reg, _, err := w.provenAgreements(c)
	if err != nil {
		t.Fatal(err)
	}
	roll := reg.Statement(sid)
	if roll == nil || roll.Count() != jcpoa.Experts || len(roll.Rejected()) != 0 {
		t.Errorf("proven roll: %+v", roll)
	}

	// Scene 6: the draft deal is not in force.
	st, err := w.Client.AgreementStatus(c, w.Facts["scene6.deal"], "")
	if err != nil {
		t.Fatal(err)
	}
	if st.InForce || st.PartiesInForce != 0 {
		t.Errorf("the draft deal: in force %v with %d parties", st.InForce, st.PartiesInForce)
	}

	// The list of agreements and statements.
	list, err := w.Client.Agreements(c)
	if err != nil || len(list) != 3 {
		t.Errorf("agreements: %v %+v", err, list)
	}

	// Overdue attestations, in the inboxes of the depositary, the parties
	// in force and the verifier that owes them, as the client's replay of
	// the log derives them too; the United States, withdrawn, is told
	// nothing.
	today := agreement.DateOf(w.Clock.Now())
	replayed := tl.Alerts(today)
	if len(replayed) == 0 {
		t.Fatalf("no attestation of the JCPOA is overdue on %s: this check shows nothing", today)
	}
	for h, role := range map[record.Handle]string{jcpoa.Depositary: agreement.RoleDepositary, "ir/fm": agreement.RoleParty,
		"ru/fm": agreement.RoleParty, "iaea/dg": agreement.RoleVerifier, "us/president": ""} {
		got, err := w.Client.Alerts(c, w.ID(h))
		if err != nil {
			t.Fatal(err)
		}
		want := agreement.For(replayed, h)
		if len(got) != len(want) || (role == "") != (len(got) == 0) {
			t.Errorf("%s's alerts: %d from the server, %d replayed", h, len(got), len(want))
			continue
		}
		for i := range got {
			if got[i].Missing != want[i].Missing || got[i].Agreement != id || got[i].Notify[0].Role != role {
				t.Errorf("%s's alert %d: %+v, want %+v as %s", h, i, got[i], want[i], role)
			}
		}
	}
}

// TestAgreementMustFail offers again, to a server holding scenes 4 and
// 5, each action the rules refuse, signed afresh: each is refused with a
// message naming the reason, and the log does not grow.
func TestAgreementMustFail(t *testing.T) {
	w, _ := start(t)
	c := ctx(t)
	if err := Play(c, w, 4, 5); err != nil {
		t.Fatal(err)
	}
	if err := w.Advance(c, time.Second); err != nil { // new records, not replays of the scenes'
		t.Fatal(err)
	}
	sc, err := w.buildAgreements()
	if err != nil {
		t.Fatal(err)
	}
	bads := append(sc.BadJCPOA, sc.BadStatement...)
	if len(bads) < 5 {
		t.Fatalf("only %d must-fail cases", len(bads))
	}
	for _, b := range bads {
		b.Signed = resign(t, w, b.Signed, w.Facts["scene4.jcpoa"], w.Facts["scene5.statement"])
		before, err := w.logSize(c)
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.Client.Submit(c, b.Signed)
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status/100 != 4 || !errors.Is(err, b.Reason) {
			t.Errorf("%s: %v, want a refusal by %q", b.Say, err, b.Reason)
			continue
		}
		if says := refusalSays[b.Reason]; says == "" || !strings.Contains(err.Error(), says) {
			t.Errorf("%s: %q does not say %q", b.Say, err, says)
		}
		if after, err := w.logSize(c); err != nil || after != before {
			t.Errorf("%s: the log grew from %d to %d (%v)", b.Say, before, after, err)
		}
		if _, err := w.Client.Record(c, b.Signed.ID(), nil); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("%s: the refused record: %v", b.Say, err)
		}
	}
}

// TestDemo plays everything `pouch demo` plays, in its order.
func TestDemo(t *testing.T) {
	w, out := start(t)
	testDemo(t, w, out)
}

// TestDemoPostgres plays the demo with the server's log in PostgreSQL.
func TestDemoPostgres(t *testing.T) {
	w, out := startWith(t, Options{DB: pgtest.DB(t)})
	testDemo(t, w, out)
}

func testDemo(t *testing.T, w *World, out *bytes.Buffer) {
	c := ctx(t)
	err := Play(c, w)
	if err == nil {
		err = MustFail(c, w)
	}
	if err == nil {
		err = MustFailDisclosure(c, w)
	}
	if err != nil || w.Report.Failures != 0 {
		t.Log("\n" + out.String())
		t.Fatalf("%v (%d checks failed)", err, w.Report.Failures)
	}
	for _, want := range []string{
		"2018-05-08  us withdraws",
		"2020-10-18  clause arms-embargo lapses (sunset)",
		"85 co-signatures",
		"not in force; ir and ru invited",
		"section does not match its commitment",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
}

// resign signs again, at the world's time now, the action s with its
// agreement or statement replaced by those of the scenes played.
func resign(t *testing.T, w *World, s *record.Signed, ag, st record.ID) *record.Signed {
	t.Helper()
	r, err := s.Open()
	if err != nil {
		t.Fatal(err)
	}
	var body any
	switch r.Kind {
	case record.KindAgreementSign:
		var b agreement.Sign
		err, body = r.DecodeBody(&b), &b
		b.Agreement = ag
	case record.KindAgreementWithdraw:
		var b agreement.Withdraw
		err, body = r.DecodeBody(&b), &b
		b.Agreement = ag
	case record.KindAttest:
		var b agreement.Attest
		err, body = r.DecodeBody(&b), &b
		b.Agreement = ag
	case record.KindCosign:
		var b agreement.Cosign
		err, body = r.DecodeBody(&b), &b
		b.Statement = st
	default:
		t.Fatalf("a %s record among the must-fail cases", r.Kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	by := r.Signer()
	out, err := record.Sign(&record.Record{Kind: r.Kind, Origin: r.Origin, By: []record.Handle{by}, Time: w.Clock.Now().UnixMilli()}, body, w.ID(by).Signing)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
