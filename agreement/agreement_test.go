package agreement_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/record"
)

const origin = "pouch.test/log"

// day is the sequencing time of every test entry: 2026-01-01, after every
// date used in the tests.
var day = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixMilli()

var keys sync.Map // record.Handle -> ed25519.PrivateKey

// key returns the test key of h, derived from its name.
func key(h record.Handle) ed25519.PrivateKey {
	if k, ok := keys.Load(h); ok {
		return k.(ed25519.PrivateKey)
	}
	seed := sha256.Sum256([]byte("pouch.dev/test-key/" + string(h)))
	k := ed25519.NewKeyFromSeed(seed[:])
	keys.Store(h, k)
	return k
}

// fakeDir is an in-memory directory: every office holds key(h) from the
// start of the log and acts for its house, except those in denied.
type fakeDir struct {
	denied map[record.Handle]bool
}

func (d fakeDir) CheckKey(h record.Handle, k []byte, index uint64) error {
	if !bytes.Equal(k, key(h).Public().(ed25519.PublicKey)) {
		return fmt.Errorf("key is not the current key of %s", h)
	}
	return nil
}

func (d fakeDir) Authorised(h record.Handle, house string, index uint64) bool {
	return h.House() == house && !d.denied[h]
}

// log builds entries with consecutive indexes.
type log struct {
	t       *testing.T
	entries []agreement.Entry
	claimed int64
}

func (l *log) signed(kind record.Kind, by record.Handle, body any) *record.Signed {
	l.t.Helper()
	l.claimed++ // distinct records even for the same body
	s, err := record.Sign(&record.Record{Kind: kind, Origin: origin, By: []record.Handle{by}, Time: l.claimed}, body, key(by))
	if err != nil {
		l.t.Fatal(err)
	}
	return s
}

func (l *log) add(kind record.Kind, by record.Handle, body any) agreement.Entry {
	e := agreement.Entry{Signed: l.signed(kind, by, body), Index: uint64(len(l.entries)), Time: day}
	l.entries = append(l.entries, e)
	return e
}

func threeParties() *agreement.Agreement {
	return &agreement.Agreement{
		Name:  "test",
		Title: "A test instrument",
		Text:  agreement.Digest([]byte("text")),
		Parties: []agreement.Party{
			{House: "aa", Signers: []record.Handle{"aa/fm"}},
			{House: "bb", Signers: []record.Handle{"bb/fm", "bb/president"}},
			{House: "cc", Signers: []record.Handle{"cc/fm"}},
		},
		Force:     agreement.Force{Need: 2},
		Verifiers: []record.Handle{"vv/dg"},
		Clauses: []agreement.Clause{
			{ID: "core", Title: "Core obligations", Attest: &agreement.Expect{By: []record.Handle{"vv/dg"}, Every: 30}},
			{ID: "temp", Title: "Temporary measure", From: "2020-03-01", Until: "2020-06-01",
				EndOn: &agreement.Trigger{By: "vv/dg", Of: "aa", Clause: "done"}},
			{ID: "done", Title: "Condition: the measure is done", StartOn: &agreement.Trigger{By: "vv/dg", Of: "aa", Clause: "done"}},
		},
	}
}

func newTimeline(t *testing.T, b *agreement.Agreement) (*log, *agreement.Timeline, record.ID) {
	t.Helper()
	l := &log{t: t}
	e := l.add(record.KindAgreement, "dep/sg", b)
	tl, err := agreement.New(fakeDir{}, e)
	if err != nil {
		t.Fatal(err)
	}
	return l, tl, e.Signed.ID()
}

func mustApply(t *testing.T, tl *agreement.Timeline, e agreement.Entry) {
	t.Helper()
	if err := tl.Apply(e); err != nil {
		t.Fatal(err)
	}
}

func refused(t *testing.T, tl *agreement.Timeline, e agreement.Entry, reason error) {
	t.Helper()
	n := len(tl.Actions())
	err := tl.Apply(e)
	var ref *agreement.Refusal
	if !errors.As(err, &ref) || !errors.Is(err, reason) {
		t.Fatalf("got %v, want refusal for %q", err, reason)
	}
	if len(tl.Actions()) != n {
		t.Fatalf("refused action applied")
	}
}

func TestEntryIntoForceNofM(t *testing.T) {
	l, tl, id := newTimeline(t, threeParties())
	mustApply(t, tl, l.add(record.KindAgreementSign, "aa/fm", &agreement.Sign{Agreement: id, Party: "aa", Date: "2020-01-10"}))
	if tl.InForce("2020-02-01") {
		t.Fatal("in force with one of two needed parties")
	}
	// A signature logged later but dated earlier counts from its date.
	mustApply(t, tl, l.add(record.KindAgreementSign, "bb/president", &agreement.Sign{Agreement: id, Party: "bb", Date: "2020-01-05"}))
	st := tl.Status("2020-02-01")
	if !st.InForce || st.Entered != "2020-01-10" || st.PartiesInForce != 2 {
		t.Fatalf("status %+v", st)
	}
	if tl.InForce("2020-01-09") {
		t.Fatal("in force before the second signature")
	}
	// cc joins and leaves; aa leaves: 1 party remains, below keep (2).
	mustApply(t, tl, l.add(record.KindAgreementSign, "cc/fm", &agreement.Sign{Agreement: id, Party: "cc", Date: "2020-02-01"}))
	mustApply(t, tl, l.add(record.KindAgreementWithdraw, "cc/fm", &agreement.Withdraw{Agreement: id, Party: "cc", Date: "2020-04-01"}))
	mustApply(t, tl, l.add(record.KindAgreementWithdraw, "aa/fm", &agreement.Withdraw{Agreement: id, Party: "aa", Date: "2020-05-01"}))
	if !tl.InForce("2020-04-30") || tl.InForce("2020-05-01") {
		t.Fatal("termination day wrong")
	}
	// Rejoining does not revive a terminated agreement.
	mustApply(t, tl, l.add(record.KindAgreementSign, "aa/fm", &agreement.Sign{Agreement: id, Party: "aa", Date: "2020-07-01"}))
	st = tl.Status("2020-08-01")
	if st.InForce || st.Ended != "2020-05-01" || st.PartiesInForce != 2 {
		t.Fatalf("after termination: %+v", st)
	}
	if len(tl.Terms("aa")) != 2 {
		t.Fatalf("aa terms: %+v", tl.Terms("aa"))
	}
	for _, c := range st.Clauses {
		if c.Active {
			t.Errorf("clause %s active after termination", c.ID)
		}
	}
}

func TestClauseTriggersAndMissing(t *testing.T) {
	l, tl, id := newTimeline(t, threeParties())
	mustApply(t, tl, l.add(record.KindAgreementSign, "aa/fm", &agreement.Sign{Agreement: id, Party: "aa", Date: "2020-01-01"}))
	mustApply(t, tl, l.add(record.KindAgreementSign, "bb/fm", &agreement.Sign{Agreement: id, Party: "bb", Date: "2020-01-01"}))
	state := func(d agreement.Date, c int) string { return tl.Status(d).Clauses[c].State }
	if state("2020-02-01", 1) != agreement.ClausePending || state("2020-03-01", 1) != agreement.ClauseActive {
		t.Fatal("temp clause does not start on its effective date")
	}
	if state("2020-12-01", 2) != agreement.ClausePending {
		t.Fatal("condition active before its attestation")
	}
	// The verifier attests the condition on 2020-04-15: temp ends early.
	mustApply(t, tl, l.add(record.KindAttest, "vv/dg", &agreement.Attest{Agreement: id, Party: "aa", Clause: "done", From: "2020-04-15", To: "2020-04-15", Date: "2020-04-15"}))
	if state("2020-04-14", 1) != agreement.ClauseActive || state("2020-04-15", 1) != agreement.ClauseLapsed {
		t.Fatal("end-on trigger did not end the clause")
	}
	if state("2020-04-15", 2) != agreement.ClauseActive {
		t.Fatal("start-on trigger did not start the condition")
	}
	// core expects an attestation of each party every 30 days.
	st := tl.Status("2020-01-30")
	if len(st.Missing) != 0 {
		t.Fatalf("missing before due: %+v", st.Missing)
	}
	st = tl.Status("2020-01-31")
	if len(st.Missing) != 2 || st.Missing[0].Party != "aa" || st.Missing[0].Due != "2020-01-31" {
		t.Fatalf("missing when due: %+v", st.Missing)
	}
	mustApply(t, tl, l.add(record.KindAttest, "vv/dg", &agreement.Attest{Agreement: id, Party: "aa", Clause: "core", From: "2020-01-01", To: "2020-03-31", Date: "2020-04-02"}))
	if st := tl.Status("2020-04-02"); len(st.Missing) != 1 || st.Missing[0].Party != "bb" {
		t.Fatalf("missing after aa's attestation: %+v", st.Missing)
	}
	if st := tl.Status("2020-04-01"); len(st.Missing) != 2 {
		t.Fatalf("an attestation counted before its date: %+v", st.Missing)
	}
	if st := tl.Status("2020-05-01"); len(st.Missing) != 2 || st.Missing[0].Covered != "2020-03-31" || st.Missing[0].Due != "2020-04-30" {
		t.Fatalf("missing a month later: %+v", st.Missing)
	}
	// The status has a stable JSON form.
	if _, err := json.Marshal(tl.Status("2020-05-01")); err != nil {
		t.Fatal(err)
	}
}

func TestRefusals(t *testing.T) {
	l, tl, id := newTimeline(t, threeParties())
	sign := &agreement.Sign{Agreement: id, Party: "aa", Date: "2020-01-01"}
	first := l.add(record.KindAgreementSign, "aa/fm", sign)
	mustApply(t, tl, first)

	refused(t, tl, first, agreement.ErrReplayed)
	e := l.add(record.KindAgreementSign, "bb/fm", &agreement.Sign{Agreement: id, Party: "bb", Date: "2020-01-01"})
	e.Index = 0
	refused(t, tl, e, agreement.ErrOutOfOrder)
	refused(t, tl, l.add(record.KindAgreementSign, "aa/fm", sign), agreement.ErrAlreadySigned)
	refused(t, tl, l.add(record.KindAgreementSign, "dd/fm", &agreement.Sign{Agreement: id, Party: "dd", Date: "2020-01-01"}), agreement.ErrNotInvited)
	refused(t, tl, l.add(record.KindAgreementSign, "bb/speaker", &agreement.Sign{Agreement: id, Party: "bb", Date: "2020-01-01"}), agreement.ErrNotAuthorised)
	refused(t, tl, l.add(record.KindAgreementSign, "aa/fm", &agreement.Sign{Agreement: id, Party: "bb", Date: "2020-01-01"}), agreement.ErrNotAuthorised)
	refused(t, tl, l.add(record.KindAgreementSign, "bb/fm", &agreement.Sign{Agreement: record.ID{1}, Party: "bb", Date: "2020-01-01"}), agreement.ErrWrongAgreement)
	refused(t, tl, l.add(record.KindAgreementSign, "bb/fm", &agreement.Sign{Agreement: id, Party: "bb", Date: "2027-01-01"}), agreement.ErrBadDate)
	refused(t, tl, l.add(record.KindAgreementWithdraw, "bb/fm", &agreement.Withdraw{Agreement: id, Party: "bb", Date: "2021-01-01"}), agreement.ErrNotParty)
	refused(t, tl, l.add(record.KindAgreementWithdraw, "dd/fm", &agreement.Withdraw{Agreement: id, Party: "dd", Date: "2021-01-01"}), agreement.ErrNotParty)
	refused(t, tl, l.add(record.KindAgreementWithdraw, "aa/fm", &agreement.Withdraw{Agreement: id, Party: "aa", Date: "2020-01-01"}), agreement.ErrBadDate)
	refused(t, tl, l.add(record.KindAttest, "aa/fm", &agreement.Attest{Agreement: id, Party: "aa", Clause: "core", From: "2020-01-01", To: "2020-01-02", Date: "2020-01-02"}), agreement.ErrNotVerifier)
	refused(t, tl, l.add(record.KindAttest, "vv/dg", &agreement.Attest{Agreement: id, Party: "aa", Clause: "nope", From: "2020-01-01", To: "2020-01-02", Date: "2020-01-02"}), agreement.ErrUnknownClause)
	refused(t, tl, l.add(record.KindAttest, "vv/dg", &agreement.Attest{Agreement: id, Party: "dd", Clause: "core", From: "2020-01-01", To: "2020-01-02", Date: "2020-01-02"}), agreement.ErrNotInvited)
	refused(t, tl, l.add(record.KindAttest, "vv/dg", &agreement.Attest{Agreement: id, Party: "aa", Clause: "core", From: "2020-01-01", To: "2020-01-03", Date: "2020-01-02"}), agreement.ErrMalformed)
	refused(t, tl, l.add(record.KindStatement, "aa/fm", &agreement.Statement{Title: "x", Text: agreement.Digest(nil), Opened: "2020-01-01"}), agreement.ErrMalformed)

	// Authentication: a wrong key, a forged signature, another log, a
	// private record, two signers.
	s, _ := record.Sign(&record.Record{Kind: record.KindAgreementSign, Origin: origin, By: []record.Handle{"bb/fm"}, Time: 1},
		&agreement.Sign{Agreement: id, Party: "bb", Date: "2020-01-01"}, key("bb/president"))
	refused(t, tl, agreement.Entry{Signed: s, Index: 100, Time: day}, agreement.ErrWrongKey)
	s = l.signed(record.KindAgreementSign, "bb/fm", &agreement.Sign{Agreement: id, Party: "bb", Date: "2020-01-01"})
	s.Sigs[0].Sig[5] ^= 1
	refused(t, tl, agreement.Entry{Signed: s, Index: 100, Time: day}, agreement.ErrBadSignature)
	refused(t, tl, agreement.Entry{Signed: s, Index: 100, Time: day}, record.ErrBadSignature)
	s, _ = record.Sign(&record.Record{Kind: record.KindAgreementSign, Origin: "other.example/log", By: []record.Handle{"bb/fm"}, Time: 1},
		&agreement.Sign{Agreement: id, Party: "bb", Date: "2020-01-01"}, key("bb/fm"))
	refused(t, tl, agreement.Entry{Signed: s, Index: 100, Time: day}, agreement.ErrWrongLog)
	s, _ = record.Sign(&record.Record{Kind: record.KindAgreementSign, Origin: origin, By: []record.Handle{"bb/fm"}, Time: 1, Salt: make([]byte, record.SaltSize)},
		&agreement.Sign{Agreement: id, Party: "bb", Date: "2020-01-01"}, key("bb/fm"))
	refused(t, tl, agreement.Entry{Signed: s, Index: 100, Time: day}, agreement.ErrPrivate)
	s, _ = record.Sign(&record.Record{Kind: record.KindAgreementSign, Origin: origin, By: []record.Handle{"bb/fm", "bb/president"}, Time: 1},
		&agreement.Sign{Agreement: id, Party: "bb", Date: "2020-01-01"}, key("bb/fm"), key("bb/president"))
	refused(t, tl, agreement.Entry{Signed: s, Index: 100, Time: day}, agreement.ErrMalformed)

	// The directory can withdraw an office's authority.
	l2 := &log{t: t}
	e = l2.add(record.KindAgreement, "dep/sg", threeParties())
	tl2, err := agreement.New(fakeDir{denied: map[record.Handle]bool{"bb/president": true}}, e)
	if !errors.Is(err, agreement.ErrNotAuthorised) || tl2 != nil {
		t.Fatalf("registration naming an unauthorised signer: %v", err)
	}

	// Re-signing after a withdrawal.
	mustApply(t, tl, l.add(record.KindAgreementWithdraw, "aa/fm", &agreement.Withdraw{Agreement: id, Party: "aa", Date: "2021-01-01"}))
	refused(t, tl, l.add(record.KindAgreementSign, "aa/fm", &agreement.Sign{Agreement: id, Party: "aa", Date: "2020-06-01"}), agreement.ErrBadDate)
	mustApply(t, tl, l.add(record.KindAgreementSign, "aa/fm", &agreement.Sign{Agreement: id, Party: "aa", Date: "2021-01-01"}))
	if got := tl.PartiesAt("2021-01-01"); len(got) != 1 || got[0] != "aa" {
		t.Fatalf("parties after re-signing: %v", got)
	}
}

// Every single-byte change of an agreement record is refused, and New
// never panics on it.
func TestMangledAgreement(t *testing.T) {
	l := &log{t: t}
	e := l.add(record.KindAgreement, "dep/sg", threeParties())
	good := e.Signed.Marshal()
	for i := range good {
		m := bytes.Clone(good)
		m[i] ^= 0x01
		s, _, err := record.Parse(m)
		if err != nil {
			continue
		}
		if _, err := agreement.New(fakeDir{}, agreement.Entry{Signed: s, Index: 0, Time: day}); err == nil {
			t.Errorf("byte %d changed, agreement accepted", i)
		}
	}
}

func TestBodyChecks(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(b *agreement.Agreement)
	}{
		{"bad name", func(b *agreement.Agreement) { b.Name = "Test" }},
		{"empty title", func(b *agreement.Agreement) { b.Title = "" }},
		{"short digest", func(b *agreement.Agreement) { b.Text = b.Text[:31] }},
		{"no parties", func(b *agreement.Agreement) { b.Parties = nil }},
		{"party twice", func(b *agreement.Agreement) {
			b.Parties[1].House = "aa"
			b.Parties[1].Signers = []record.Handle{"aa/x"}
		}},
		{"signer of another house", func(b *agreement.Agreement) { b.Parties[0].Signers = []record.Handle{"bb/fm"} }},
		{"no signer", func(b *agreement.Agreement) { b.Parties[0].Signers = nil }},
		{"need too many", func(b *agreement.Agreement) { b.Force.Need = 4 }},
		{"keep above need", func(b *agreement.Agreement) { b.Force.Keep = 3 }},
		{"verifier twice", func(b *agreement.Agreement) { b.Verifiers = []record.Handle{"vv/dg", "vv/dg"} }},
		{"clause twice", func(b *agreement.Agreement) { b.Clauses[1].ID = "core" }},
		{"sunset before start", func(b *agreement.Agreement) { b.Clauses[1].Until = "2020-03-01" }},
		{"bad date", func(b *agreement.Agreement) { b.Clauses[1].From = "2020-02-30" }},
		{"trigger by non-verifier", func(b *agreement.Agreement) { b.Clauses[1].EndOn.By = "aa/fm" }},
		{"trigger on unknown clause", func(b *agreement.Agreement) { b.Clauses[1].EndOn.Clause = "zz" }},
		{"trigger of non-party", func(b *agreement.Agreement) { b.Clauses[1].EndOn.Of = "zz" }},
		{"expect every 0", func(b *agreement.Agreement) { b.Clauses[0].Attest.Every = 0 }},
		{"expect by non-verifier", func(b *agreement.Agreement) { b.Clauses[0].Attest.By = []record.Handle{"aa/fm"} }},
	} {
		b := threeParties()
		if err := b.Check(); err != nil {
			t.Fatal(err)
		}
		c.change(b)
		if err := b.Check(); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func TestDates(t *testing.T) {
	for _, s := range []string{"2015-07-14", "2016-02-29", "0001-01-01", "9999-12-31"} {
		if _, err := agreement.ParseDate(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"", "2015-02-29", "2015-7-14", "15-07-14", "2015-07-14T00:00", "0000-01-01", "2015/07/14", "+015-07-14", "２015-07-14", "2015-13-01", "2015-00-10"} {
		if _, err := agreement.ParseDate(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if d := agreement.Date("2020-02-28").AddDays(2); d != "2020-03-01" {
		t.Errorf("AddDays: %s", d)
	}
	if d := agreement.DateOfMillis(time.Date(2018, 5, 8, 23, 59, 0, 0, time.UTC).UnixMilli()); d != "2018-05-08" {
		t.Errorf("DateOfMillis: %s", d)
	}
}

func TestStatementRoll(t *testing.T) {
	l := &log{t: t}
	open := l.add(record.KindStatement, "ex/convener", &agreement.Statement{Title: "A statement", Text: agreement.Digest([]byte("s")), Opened: "2025-12-01", Closes: "2025-12-31"})
	roll, err := agreement.OpenStatement(fakeDir{}, open)
	if err != nil {
		t.Fatal(err)
	}
	sid := open.Signed.ID()
	dec15 := time.Date(2025, 12, 15, 0, 0, 0, 0, time.UTC).UnixMilli()
	cosign := func(by record.Handle, index uint64, at int64) agreement.Entry {
		return agreement.Entry{Signed: l.signed(record.KindCosign, by, &agreement.Cosign{Statement: sid}), Index: index, Time: at}
	}
	try := func(e agreement.Entry, reason error) {
		t.Helper()
		err := roll.Apply(e)
		if reason == nil && err != nil || reason != nil && !errors.Is(err, reason) {
			t.Fatalf("got %v, want %v", err, reason)
		}
	}
	try(cosign("ex/a", 5, dec15), nil)
	try(cosign("ex/b", 9, dec15), nil)
	try(cosign("ex/a", 10, dec15), agreement.ErrAlreadyCosigned)
	try(cosign("ex/c", 11, day), agreement.ErrClosed)
	try(cosign("ex/c", 3, dec15), agreement.ErrOutOfOrder)
	try(agreement.Entry{Signed: l.signed(record.KindCosign, "ex/c", &agreement.Cosign{Statement: record.ID{9}}), Index: 12, Time: dec15}, agreement.ErrWrongAgreement)
	try(agreement.Entry{Signed: l.signed(record.KindAttest, "ex/c", &agreement.Cosign{Statement: sid}), Index: 12, Time: dec15}, agreement.ErrMalformed)
	if roll.Count() != 2 || len(roll.SignatoriesAt(9)) != 1 || len(roll.SignatoriesAt(10)) != 2 || len(roll.SignatoriesAt(0)) != 0 {
		t.Fatalf("roll: %+v", roll.Signatories())
	}
}
