package jcpoa

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/internal/testkeys"
	"pouch.dev/record"
)

const origin = "pouch.test/log"

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixMilli()

func build(t *testing.T) (*Scenario, testkeys.Directory) {
	t.Helper()
	sc, err := Build(origin, testkeys.Key, now)
	if err != nil {
		t.Fatal(err)
	}
	return sc, testkeys.NewDirectory(Principals()...)
}

func jcpoa(t *testing.T) (*Scenario, *agreement.Timeline) {
	t.Helper()
	sc, dir := build(t)
	tl, err := agreement.Replay(dir, Entries(sc.JCPOA, 100, now))
	if err != nil {
		t.Fatal(err)
	}
	if r := tl.Rejected(); len(r) != 0 {
		t.Fatalf("scenario actions refused: %v", r)
	}
	return sc, tl
}

func TestJCPOAParties(t *testing.T) {
	_, tl := jcpoa(t)
	for _, c := range []struct {
		at      agreement.Date
		parties []string
		inForce bool
	}{
		{"2015-07-13", nil, false},
		{"2015-07-14", []string{"ir", "us", "uk", "fr", "ru", "cn", "de"}, true},
		{"2017-06-01", []string{"ir", "us", "uk", "fr", "ru", "cn", "de"}, true},
		{"2018-05-07", []string{"ir", "us", "uk", "fr", "ru", "cn", "de"}, true},
		{"2018-05-08", []string{"ir", "uk", "fr", "ru", "cn", "de"}, true},
		{"2019-06-01", []string{"ir", "uk", "fr", "ru", "cn", "de"}, true},
	} {
		st := tl.Status(c.at)
		if got := tl.PartiesAt(c.at); !slices.Equal(got, c.parties) {
			t.Errorf("%s: parties %v, want %v", c.at, got, c.parties)
		}
		if st.PartiesInForce != len(c.parties) || st.InForce != c.inForce {
			t.Errorf("%s: %d parties in force, in force %v; want %d, %v", c.at, st.PartiesInForce, st.InForce, len(c.parties), c.inForce)
		}
	}
	st := tl.Status("2019-01-01")
	if us := st.Parties[1]; us.House != "us" || us.State != agreement.StateWithdrawn || us.Since != USWithdraws || us.By != "us/president" {
		t.Errorf("us in 2019: %+v", us)
	}
	if st.Entered != Signed {
		t.Errorf("entered into force %q, want %s", st.Entered, Signed)
	}
	if us := tl.Status("2018-01-01").Parties[1]; us.State != agreement.StateParty || us.Until != USWithdraws {
		t.Errorf("us in early 2018: %+v, want a party until %s", us, USWithdraws)
	}
}

func clause(st *agreement.Status, id string) agreement.ClauseStatus {
	for _, c := range st.Clauses {
		if c.ID == id {
			return c
		}
	}
	panic("no clause " + id)
}

func TestJCPOAClauses(t *testing.T) {
	_, tl := jcpoa(t)
	for _, c := range []struct {
		at     agreement.Date
		clause string
		state  string
	}{
		{"2015-12-01", ClauseEmbargo, agreement.ClausePending},
		{"2016-01-16", ClauseEmbargo, agreement.ClauseActive},
		{"2020-09-15", ClauseEmbargo, agreement.ClauseActive},
		{"2020-10-17", ClauseEmbargo, agreement.ClauseActive},
		{"2020-10-18", ClauseEmbargo, agreement.ClauseLapsed},
		{"2020-11-01", ClauseEmbargo, agreement.ClauseLapsed},
		{"2015-12-01", ClauseRelief, agreement.ClausePending},
		{"2016-01-16", ClauseRelief, agreement.ClauseActive},
		{"2015-10-17", ClauseNuclear, agreement.ClausePending},
		{"2015-10-18", ClauseNuclear, agreement.ClauseActive},
	} {
		cs := clause(tl.Status(c.at), c.clause)
		if cs.State != c.state || cs.Active != (c.state == agreement.ClauseActive) {
			t.Errorf("%s: clause %s %s (%s), want %s", c.at, c.clause, cs.State, cs.Reason, c.state)
		}
	}
	cs := clause(tl.Status("2020-11-01"), ClauseEmbargo)
	if cs.Since != EmbargoEnds || !strings.Contains(cs.Reason, "sunset") {
		t.Errorf("embargo in November 2020: %+v", cs)
	}
	cs = clause(tl.Status("2020-09-15"), ClauseEmbargo)
	if cs.Since != Implemented || cs.Until != EmbargoEnds {
		t.Errorf("embargo in September 2020: %+v", cs)
	}
}

func TestJCPOAAttestations(t *testing.T) {
	_, tl := jcpoa(t)
	st := tl.Status("2019-12-31")
	by := map[record.Handle]agreement.AttestationStatus{}
	for _, a := range st.Attestations {
		by[a.By] = a
	}
	if len(st.Attestations) != 2 {
		t.Fatalf("attestations %+v, want the latest of iaea/dg and of ru/fm", st.Attestations)
	}
	if a := by["iaea/dg"]; a.Party != "ir" || a.Clause != ClauseNuclear || a.To != "2019-05-31" {
		t.Errorf("iaea/dg: %+v", a)
	}
	if a := by["ru/fm"]; a.Party != "ir" || a.To != Sochi {
		t.Errorf("ru/fm: %+v", a)
	}
	// Both were verified against the directory: attestations signed with a
	// wrong key are refused (see TestMustFail); here, both are accepted.
	if len(tl.Rejected()) != 0 {
		t.Errorf("rejected: %v", tl.Rejected())
	}
	// In 2017 the IAEA's latest attestation is the August 2017 one.
	if st := tl.Status("2017-12-31"); len(st.Attestations) != 2 || st.Attestations[0].To != "2017-08-31" {
		t.Errorf("2017: %+v", st.Attestations)
	}
	// The IAEA attested in time until May 2019: nothing missing before.
	for _, d := range []agreement.Date{"2016-06-01", "2017-06-01", "2018-06-01", "2019-06-01", "2020-05-29"} {
		if m := tl.Status(d).Missing; len(m) != 0 {
			t.Errorf("missing on %s: %+v", d, m)
		}
	}
	// By September 2020 the IAEA's attestation (every 365 days) is overdue.
	st = tl.Status("2020-09-15")
	if len(st.Missing) != 1 || st.Missing[0].By != "iaea/dg" || st.Missing[0].Covered != "2019-05-31" || st.Missing[0].Due != "2020-05-30" {
		t.Errorf("missing in 2020: %+v", st.Missing)
	}
}

func TestStatement(t *testing.T) {
	sc, dir := build(t)
	es := Entries(sc.Statement, 500, now)
	roll, err := agreement.ReplayStatement(dir, es)
	if err != nil {
		t.Fatal(err)
	}
	if roll.Count() != Experts || roll.Count() <= 80 || len(roll.Rejected()) != 0 {
		t.Fatalf("%d co-signatures, %d rejected; want %d", roll.Count(), len(roll.Rejected()), Experts)
	}
	if n := len(roll.SignatoriesAt(es[41].Index)); n != 40 {
		t.Errorf("at log size %d: %d signatories, want 40", es[41].Index, n)
	}
	for _, b := range sc.BadStatement {
		err := roll.Apply(agreement.Entry{Signed: b.Signed, Index: 1000, Time: now})
		if !errors.Is(err, b.Reason) {
			t.Errorf("%s: got %v, want %v", b.Say, err, b.Reason)
		}
	}
	if roll.Count() != Experts {
		t.Errorf("a refused co-signature changed the roll")
	}
}

func TestDraftDeal(t *testing.T) {
	sc, dir := build(t)
	tl, err := agreement.Replay(dir, Entries(sc.Deal, 900, now))
	if err != nil {
		t.Fatal(err)
	}
	st := tl.Status(agreement.DateOfMillis(now))
	if st.InForce || st.PartiesInForce != 0 || st.Entered != "" {
		t.Errorf("draft deal: %+v", st)
	}
	for _, p := range st.Parties {
		if p.State != agreement.StateInvited {
			t.Errorf("draft deal party %+v", p)
		}
	}
}

// The must-fail cases are refused with their reason, a clear message, and
// nothing changed.
func TestMustFail(t *testing.T) {
	sc, tl := jcpoa(t)
	before := tl.Status("2020-01-01")
	n := len(tl.Actions())
	for i, b := range sc.BadJCPOA {
		e := agreement.Entry{Signed: b.Signed, Index: 1000 + uint64(i), Time: now}
		err := tl.Apply(e)
		var ref *agreement.Refusal
		if !errors.As(err, &ref) || !errors.Is(err, b.Reason) {
			t.Errorf("%s: got %v, want a refusal for %v", b.Say, err, b.Reason)
			continue
		}
		t.Logf("%s: %v", b.Say, err)
		if ref.ID != b.Signed.ID() {
			t.Errorf("%s: refusal names record %s", b.Say, ref.ID.Short())
		}
	}
	if len(tl.Actions()) != n {
		t.Errorf("refused actions were applied")
	}
	after := tl.Status("2020-01-01")
	if after.PartiesInForce != before.PartiesInForce || len(after.Attestations) != len(before.Attestations) {
		t.Errorf("status changed: %+v -> %+v", before, after)
	}
	// Replaying a log that contains the bad records gives the same status
	// and lists them as rejected.
	es := Entries(sc.JCPOA, 100, now)
	for i, b := range sc.BadJCPOA {
		es = append(es, agreement.Entry{Signed: b.Signed, Index: 200 + uint64(i), Time: now})
	}
	tl2, err := agreement.Replay(testkeys.NewDirectory(Principals()...), es)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl2.Rejected()) != len(sc.BadJCPOA) || tl2.Status("2020-01-01").PartiesInForce != 6 {
		t.Errorf("replay with bad records: %d rejected", len(tl2.Rejected()))
	}
}

// The messages name the problem plainly.
func TestMustFailMessages(t *testing.T) {
	sc, tl := jcpoa(t)
	want := []string{
		"agreement-sign by ir/speaker refused: ir/speaker may not sign for ir: the agreement names ir/president, ir/fm",
		"agreement-sign by ru/fm refused: ru/fm may not sign for ir: the agreement names ir/president, ir/fm",
		"agreement-withdraw by us/president refused: us is not a party to jcpoa: it already withdrew, effective 2018-05-08",
		"agreement-sign by ru/fm refused: ru already signed jcpoa on 2015-07-14 (by ru/fm",
		"attest by ir/fm refused: ir/fm is not a named verifier of jcpoa (verifiers: iaea/dg, ru/fm)",
	}
	for i, b := range sc.BadJCPOA {
		err := tl.Check(agreement.Entry{Signed: b.Signed, Index: 1000, Time: now})
		if err == nil || !strings.HasPrefix(err.Error(), want[i]) {
			t.Errorf("got  %v\nwant %s...", err, want[i])
		}
	}
}
