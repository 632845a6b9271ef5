package agreement_test

import (
	"crypto/ed25519"
	"fmt"
	"sync"
	"testing"

	"pouch.dev/agreement"
	"pouch.dev/record"
)

// The performance goals of spec/agreement.md#performance, measured side by
// side with their baselines:
//
//	go test -run '^$' -bench . -benchtime 2s -cpu 1 ./agreement/
//
// BENCHMARKS.md records the figures.

const (
	benchParties = 200
	benchActions = 10000
	benchCosigns = 1000
)

var big struct {
	once    sync.Once
	entries []agreement.Entry
	err     error
}

// bigAgreement is an agreement with 200 parties and 10,000 actions: 200
// signatures, 40 withdrawals, 20 signatures again, and quarterly
// attestations by two verifiers of every party on the core clause.
func bigAgreement(tb testing.TB) []agreement.Entry {
	big.once.Do(func() {
		l := &log{t: &testing.T{}}
		b := &agreement.Agreement{
			Name: "big", Title: "An agreement with 200 parties", Text: agreement.Digest([]byte("big")),
			Force:     agreement.Force{Need: 100, Keep: 50},
			Verifiers: []record.Handle{"va/dg", "vb/dg"},
			Clauses: []agreement.Clause{
				{ID: "core", Title: "Core", Attest: &agreement.Expect{By: []record.Handle{"va/dg", "vb/dg"}, Every: 120}},
				{ID: "temp", Title: "Temporary", From: "2012-01-01", Until: "2016-01-01", EndOn: &agreement.Trigger{By: "va/dg", Of: "p000", Clause: "cond"}},
				{ID: "cond", Title: "Condition", StartOn: &agreement.Trigger{By: "va/dg", Of: "p000", Clause: "cond"}},
			},
		}
		house := func(i int) string { return fmt.Sprintf("p%03d", i) }
		for i := range benchParties {
			b.Parties = append(b.Parties, agreement.Party{House: house(i), Signers: []record.Handle{record.Handle(house(i) + "/fm")}})
		}
		id := l.add(record.KindAgreement, "dep/sg", b).Signed.ID()
		start := agreement.Date("2010-01-01")
		for i := range benchParties {
			l.add(record.KindAgreementSign, record.Handle(house(i)+"/fm"), &agreement.Sign{Agreement: id, Party: house(i), Date: start.AddDays(i)})
		}
		for i := range 40 {
			l.add(record.KindAgreementWithdraw, record.Handle(house(i*5)+"/fm"), &agreement.Withdraw{Agreement: id, Party: house(i * 5), Date: agreement.Date("2015-01-01").AddDays(i * 7)})
		}
		for i := range 20 {
			l.add(record.KindAgreementSign, record.Handle(house(i*10)+"/fm"), &agreement.Sign{Agreement: id, Party: house(i * 10), Date: agreement.Date("2017-01-01").AddDays(i * 7)})
		}
		for q := 0; len(l.entries) < benchActions+1; q++ {
			from := agreement.Date("2011-01-01").AddDays(91 * q)
			to := from.AddDays(90)
			for i := 0; i < benchParties && len(l.entries) < benchActions+1; i++ {
				for _, v := range []record.Handle{"va/dg", "vb/dg"} {
					if len(l.entries) < benchActions+1 {
						l.add(record.KindAttest, v, &agreement.Attest{Agreement: id, Party: house(i), Clause: "core", From: from, To: to, Date: to.AddDays(1 + i%20)})
					}
				}
			}
		}
		big.entries = l.entries
	})
	if big.err != nil {
		tb.Fatal(big.err)
	}
	return big.entries
}

func replayBig(tb testing.TB, checked bool) *agreement.Timeline {
	es := bigAgreement(tb)
	if checked {
		es = append([]agreement.Entry(nil), es...)
		for i := range es {
			es[i].SigsChecked = true
		}
	}
	tl, err := agreement.Replay(fakeDir{}, es)
	if err != nil {
		tb.Fatal(err)
	}
	if n := len(tl.Rejected()); n != 0 {
		tb.Fatalf("%d actions rejected, first: %v", n, tl.Rejected()[0])
	}
	if n := len(tl.Actions()); n != benchActions {
		tb.Fatalf("%d actions, want %d", n, benchActions)
	}
	return tl
}

var benchDates = []agreement.Date{"2009-06-01", "2010-05-01", "2012-03-04", "2014-12-31", "2015-06-01", "2016-02-29", "2017-04-01", "2019-01-01", "2022-07-14", "2025-01-01"}

// BenchmarkStatus is the status of the 200-party, 10,000-action agreement
// at a date, from its timeline (goal: under 5 ms).
func BenchmarkStatus(b *testing.B) {
	tl := replayBig(b, true)
	tl.Status("2000-01-01") // build the index
	i := 0
	for b.Loop() {
		st := tl.Status(benchDates[i%len(benchDates)])
		if st.Agreement.IsZero() {
			b.Fatal("no status")
		}
		i++
	}
}

// BenchmarkReplayTrusted rebuilds the timeline from records whose
// signatures the caller checked when it stored them, then answers one
// status: what a server pays after a restart.
func BenchmarkReplayTrusted(b *testing.B) {
	for b.Loop() {
		tl := replayBig(b, true)
		tl.Status("2019-01-01")
	}
}

// BenchmarkReplayVerify replays and verifies every signature, then answers
// one status: what a client that trusts nobody pays.
func BenchmarkReplayVerify(b *testing.B) {
	for b.Loop() {
		tl := replayBig(b, false)
		tl.Status("2019-01-01")
	}
}

var statement struct {
	once    sync.Once
	entries []agreement.Entry
}

func bigStatement(tb testing.TB) []agreement.Entry {
	statement.once.Do(func() {
		l := &log{t: &testing.T{}}
		id := l.add(record.KindStatement, "ex/convener", &agreement.Statement{Title: "A statement", Text: agreement.Digest([]byte("s")), Opened: "2025-12-01"}).Signed.ID()
		for i := range benchCosigns {
			l.add(record.KindCosign, record.Handle(fmt.Sprintf("ex/expert-%04d", i)), &agreement.Cosign{Statement: id})
		}
		statement.entries = l.entries
	})
	return statement.entries
}

// BenchmarkStatementVerify verifies a statement with 1,000 co-signatures:
// decoding, signatures, keys, duplicates (goal: under 100 ms on one core).
func BenchmarkStatementVerify(b *testing.B) {
	es := bigStatement(b)
	for b.Loop() {
		r, err := agreement.ReplayStatement(fakeDir{}, es)
		if err != nil || r.Count() != benchCosigns {
			b.Fatalf("%v, %d co-signatures", err, r.Count())
		}
	}
}

// BenchmarkEd25519Verify1000 is the baseline of BenchmarkStatementVerify:
// 1,000 bare Ed25519 verifications of messages of the same size.
func BenchmarkEd25519Verify1000(b *testing.B) {
	es := bigStatement(b)
	type sig struct {
		key       ed25519.PublicKey
		msg, sigb []byte
	}
	sigs := make([]sig, 0, len(es)-1)
	for _, e := range es[1:] {
		sigs = append(sigs, sig{e.Signed.Sigs[0].Key, record.SignedMessage(record.KindCosign, e.Signed.Record), e.Signed.Sigs[0].Sig})
	}
	for b.Loop() {
		for _, s := range sigs {
			if !ed25519.Verify(s.key, s.msg, s.sigb) {
				b.Fatal("bad signature")
			}
		}
	}
}

// TestBenchScenarios checks the benchmarks' inputs are what they claim,
// so a benchmark never measures a run of refusals.
func TestBenchScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("signs 11,000 records")
	}
	tl := replayBig(t, true)
	st := tl.Status("2016-01-01")
	if len(st.Parties) != benchParties || st.PartiesInForce != benchParties-40 || !st.InForce {
		t.Fatalf("big agreement in 2016: %d parties in force, in force %v", st.PartiesInForce, st.InForce)
	}
	if tl.Status("2018-01-01").PartiesInForce != benchParties-20 {
		t.Fatalf("big agreement in 2018: %d parties", tl.Status("2018-01-01").PartiesInForce)
	}
	r, err := agreement.ReplayStatement(fakeDir{}, bigStatement(t))
	if err != nil || r.Count() != benchCosigns {
		t.Fatalf("%v, %d co-signatures", err, r.Count())
	}
}

// BenchmarkApplyThenStatus is what a server pays per new action on the
// 10,000-action agreement when it answers a status right after: check and
// apply one more attestation (signature verified), then a status, which
// rebuilds the index.
func BenchmarkApplyThenStatus(b *testing.B) {
	tl := replayBig(b, true)
	l := &log{t: &testing.T{}}
	l.entries = make([]agreement.Entry, benchActions+1) // next index
	id := tl.ID()
	d := agreement.Date("2025-01-01")
	for b.Loop() {
		b.StopTimer()
		e := l.add(record.KindAttest, "va/dg", &agreement.Attest{Agreement: id, Party: "p001", Clause: "core", From: d, To: d, Date: d})
		b.StartTimer()
		if err := tl.Apply(e); err != nil {
			b.Fatal(err)
		}
		tl.Status("2019-01-01")
	}
}
