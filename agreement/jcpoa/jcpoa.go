// Package jcpoa builds the agreements and statement of pouch's reference
// scenario (scenes 4, 5 and 6 of docs/scenario.md) as signed records, so that
// `pouch demo`, the server's tests and this package's tests play the same
// history:
//
//   - the Joint Comprehensive Plan of Action, registered by the EU High
//     Representative with seven invited parties (ir, us, uk, fr, ru, cn,
//     de), signed on 2015-07-14, with clauses on Iran's nuclear
//     commitments, sanctions relief and the UN arms embargo (sunset
//     2020-10-18); the IAEA Director General and the Russian Foreign
//     Minister attest Iran's implementation; the United States withdraws
//     effective 2018-05-08;
//   - the statement of more than 80 non-proliferation experts in support
//     of the JCPOA, co-signed by each of them;
//   - the long-term strategic cooperation deal between Iran and Russia,
//     registered as a draft that nobody has signed yet.
//
// Dates that the articles behind the scenario do not give (the day of
// Lavrov's attestation and of the experts' statement, the IAEA's report
// days) are illustrative; Illustrative says which.
//
// Build takes the signing keys from the caller, so the demo signs with the
// keys of the principals it admitted, and tests with deterministic ones
// (package internal/testkeys).
package jcpoa

import (
	"crypto/ed25519"
	"fmt"

	"pouch.dev/agreement"
	"pouch.dev/record"
)

// Offices and dates of the scenario.
const (
	Depositary      record.Handle = "eu/hr"            // High Representative of the EU, coordinator of the Joint Commission
	StatementOpener record.Handle = "experts/convener" // who opens the experts' statement
	Experts                       = 85                 // co-signatories of the experts' statement

	Signed      agreement.Date = "2015-07-14" // the JCPOA is signed in Vienna
	Adoption    agreement.Date = "2015-10-18" // Adoption Day
	Implemented agreement.Date = "2016-01-16" // Implementation Day: the IAEA verifies Iran's steps
	USWithdraws agreement.Date = "2018-05-08"
	EmbargoEnds agreement.Date = "2020-10-18" // UNSCR 2231, Annex B: five years after Adoption Day
	Sochi       agreement.Date = "2017-09-13" // Lavrov's attestation and the experts' statement (illustrative)
)

// Illustrative lists the scenario's dates that the articles do not give.
var Illustrative = []string{
	"2017-09-13: the day of Lavrov's attestation in Sochi and of the experts' statement (the article says \"Wednesday\")",
	"2016-11-09, 2017-08-31, 2018-08-30 and 2019-05-31: the IAEA's verification reports",
	"2020-09-22: the day the Iran–Russia draft is registered",
}

// Clause IDs of the JCPOA.
const (
	ClauseNuclear = "nuclear"
	ClauseRelief  = "sanctions-relief"
	ClauseEmbargo = "arms-embargo"
	ClauseBroader = "broader-conclusion"
)

// The JCPOA's parties and the offices that sign for them.
var Parties = []agreement.Party{
	{House: "ir", Signers: []record.Handle{"ir/president", "ir/fm"}},
	{House: "us", Signers: []record.Handle{"us/president", "us/secretary-of-state"}},
	{House: "uk", Signers: []record.Handle{"uk/fm"}},
	{House: "fr", Signers: []record.Handle{"fr/fm"}},
	{House: "ru", Signers: []record.Handle{"ru/president", "ru/fm"}},
	{House: "cn", Signers: []record.Handle{"cn/fm"}},
	{House: "de", Signers: []record.Handle{"de/fm"}},
}

// who signed in Vienna for each party
var vienna = map[string]record.Handle{
	"ir": "ir/fm", "us": "us/secretary-of-state", "uk": "uk/fm", "fr": "fr/fm",
	"ru": "ru/fm", "cn": "cn/fm", "de": "de/fm",
}

// Expert returns the handle of the i-th expert co-signatory, from 1.
func Expert(i int) record.Handle { return record.Handle(fmt.Sprintf("experts/expert-%02d", i)) }

// Principals lists every office the scenario signs with, including those
// of the must-fail cases, so that a demo can admit them first.
func Principals() []record.Handle {
	hs := []record.Handle{Depositary, "iaea/dg", "ir/speaker", StatementOpener}
	for _, p := range Parties {
		hs = append(hs, p.Signers...)
	}
	for i := 1; i <= Experts; i++ {
		hs = append(hs, Expert(i))
	}
	return hs
}

// A Step is one record to log, with a line for people.
type Step struct {
	Say    string
	Signed *record.Signed
}

// A Bad is an action the rules must refuse, and why.
type Bad struct {
	Say    string
	Signed *record.Signed
	Reason error // the agreement.Err value it must be refused with
}

// A Scenario is the records of scenes 4, 5 and 6, each list in log order.
type Scenario struct {
	JCPOA     []Step // the agreement, then its actions
	Statement []Step // the statement, then its co-signatures
	Deal      []Step // the draft deal
	// BadJCPOA must each be refused when offered after JCPOA.
	BadJCPOA []Bad
	// BadStatement must each be refused when offered after Statement.
	BadStatement []Bad
}

// The periods of the IAEA's verification reports after Implementation Day
// that the scenario logs as attestations (the days are illustrative): the
// JCPOA expects one at least every 365 days, and none comes after May 2019.
var iaeaReports = [][2]agreement.Date{
	{"2016-01-17", "2016-11-09"},
	{"2016-11-10", "2017-08-31"},
	{"2017-09-01", "2018-08-30"},
	{"2018-08-31", "2019-05-31"},
}

// Texts of the instruments; their SHA-256 digests are registered.
var (
	JCPOAText     = []byte("Joint Comprehensive Plan of Action, Vienna, 14 July 2015.\n")
	StatementText = []byte("We, the undersigned experts on nuclear non-proliferation, urge the United States to uphold the JCPOA.\n")
	DealText      = []byte("Long-term comprehensive agreement on strategic cooperation between the Islamic Republic of Iran and the Russian Federation (draft).\n")
)

// Build signs the scenario's records for log origin, with the key of
// each office from key, claiming time now (Unix ms) for each record.
func Build(origin string, key func(record.Handle) ed25519.PrivateKey, now int64) (*Scenario, error) {
	b := &builder{origin: origin, key: key, now: now}
	sc := &Scenario{}

	// Scene 4: the JCPOA.
	ag := agreement.Agreement{
		Name:      "jcpoa",
		Title:     "Joint Comprehensive Plan of Action",
		Text:      agreement.Digest(JCPOAText),
		Parties:   Parties,
		Force:     agreement.Force{}, // all seven; remains in force while two remain
		Verifiers: []record.Handle{"iaea/dg", "ru/fm"},
		Clauses: []agreement.Clause{
			{ID: ClauseNuclear, Title: "Iran's nuclear-related commitments (enrichment, stockpile, verification)", From: Adoption,
				Attest: &agreement.Expect{By: []record.Handle{"iaea/dg"}, Of: []string{"ir"}, Every: 365}},
			{ID: ClauseRelief, Title: "Lifting of nuclear-related sanctions on Iran",
				StartOn: &agreement.Trigger{By: "iaea/dg", Of: "ir", Clause: ClauseNuclear}},
			{ID: ClauseEmbargo, Title: "UN restrictions on arms transfers to and from Iran (UNSCR 2231, Annex B)",
				From: Implemented, Until: EmbargoEnds,
				EndOn: &agreement.Trigger{By: "iaea/dg", Of: "ir", Clause: ClauseBroader}},
			// A condition rather than an obligation: active once the IAEA attests it.
			{ID: ClauseBroader, Title: "Condition: the IAEA's Broader Conclusion that all nuclear material in Iran remains in peaceful activities",
				StartOn: &agreement.Trigger{By: "iaea/dg", Of: "ir", Clause: ClauseBroader}},
		},
	}
	agSigned, err := b.sign(record.KindAgreement, Depositary, &ag)
	if err != nil {
		return nil, err
	}
	id := agSigned.ID()
	sc.JCPOA = append(sc.JCPOA, Step{fmt.Sprintf("%s registers the JCPOA with 7 invited parties and 4 clauses", Depositary), agSigned})
	step := func(list *[]Step, say string, kind record.Kind, by record.Handle, body any) {
		if err != nil {
			return
		}
		var s *record.Signed
		s, err = b.sign(kind, by, body)
		*list = append(*list, Step{say, s})
	}
	for _, p := range Parties {
		h := vienna[p.House]
		step(&sc.JCPOA, fmt.Sprintf("%s signs for %s on %s", h, p.House, Signed), record.KindAgreementSign, h,
			&agreement.Sign{Agreement: id, Party: p.House, Date: Signed})
	}
	step(&sc.JCPOA, "iaea/dg attests that Iran completed its Implementation Day steps (2016-01-16)", record.KindAttest, "iaea/dg",
		&agreement.Attest{Agreement: id, Party: "ir", Clause: ClauseNuclear, From: Adoption, To: Implemented, Date: Implemented,
			Note: "Implementation Day verification"})
	for _, r := range iaeaReports[:2] {
		step(&sc.JCPOA, fmt.Sprintf("iaea/dg attests Iran's implementation up to %s", r[1]), record.KindAttest, "iaea/dg",
			&agreement.Attest{Agreement: id, Party: "ir", Clause: ClauseNuclear, From: r[0], To: r[1], Date: r[1],
				Note: "verification and monitoring report (illustrative date)"})
	}
	step(&sc.JCPOA, "ru/fm attests Iran's full implementation, in Sochi", record.KindAttest, "ru/fm",
		&agreement.Attest{Agreement: id, Party: "ir", Clause: ClauseNuclear, From: Implemented, To: Sochi, Date: Sochi,
			Note: "\"The Russian side stated full execution by Iran of all its obligations\" (illustrative date)"})
	step(&sc.JCPOA, "us/president withdraws the United States, effective 2018-05-08", record.KindAgreementWithdraw, "us/president",
		&agreement.Withdraw{Agreement: id, Party: "us", Date: USWithdraws})
	for _, r := range iaeaReports[2:] {
		step(&sc.JCPOA, fmt.Sprintf("iaea/dg attests Iran's implementation up to %s", r[1]), record.KindAttest, "iaea/dg",
			&agreement.Attest{Agreement: id, Party: "ir", Clause: ClauseNuclear, From: r[0], To: r[1], Date: r[1],
				Note: "verification and monitoring report (illustrative date)"})
	}

	bad := func(list *[]Bad, say string, reason error, kind record.Kind, by record.Handle, body any) {
		if err != nil {
			return
		}
		var s *record.Signed
		s, err = b.signAt(kind, by, body, b.now+1) // a new record, not a replay of one in the scenario
		*list = append(*list, Bad{say, s, reason})
	}
	bad(&sc.BadJCPOA, "ir/speaker signs for ir, though the JCPOA names only ir/president and ir/fm", agreement.ErrNotAuthorised,
		record.KindAgreementSign, "ir/speaker", &agreement.Sign{Agreement: id, Party: "ir", Date: Signed})
	bad(&sc.BadJCPOA, "ru/fm signs for ir", agreement.ErrNotAuthorised,
		record.KindAgreementSign, "ru/fm", &agreement.Sign{Agreement: id, Party: "ir", Date: Signed})
	bad(&sc.BadJCPOA, "us/president withdraws again, in 2019", agreement.ErrNotParty,
		record.KindAgreementWithdraw, "us/president", &agreement.Withdraw{Agreement: id, Party: "us", Date: "2019-01-01"})
	bad(&sc.BadJCPOA, "ru/fm signs for ru a second time", agreement.ErrAlreadySigned,
		record.KindAgreementSign, "ru/fm", &agreement.Sign{Agreement: id, Party: "ru", Date: "2016-01-16"})
	bad(&sc.BadJCPOA, "ir/fm attests Iran's own compliance, though it is not a named verifier", agreement.ErrNotVerifier,
		record.KindAttest, "ir/fm", &agreement.Attest{Agreement: id, Party: "ir", Clause: ClauseNuclear, From: Implemented, To: "2019-05-31", Date: "2019-05-31"})

	// Scene 5: the experts' statement.
	stSigned, err2 := b.sign(record.KindStatement, StatementOpener, &agreement.Statement{
		Title:  "Nuclear non-proliferation experts' statement in support of the JCPOA",
		Text:   agreement.Digest(StatementText),
		Opened: Sochi,
	})
	if err == nil {
		err = err2
	}
	if err != nil {
		return nil, err
	}
	sid := stSigned.ID()
	sc.Statement = append(sc.Statement, Step{fmt.Sprintf("%s opens the experts' statement for co-signature", StatementOpener), stSigned})
	for i := 1; i <= Experts; i++ {
		step(&sc.Statement, fmt.Sprintf("%s co-signs", Expert(i)), record.KindCosign, Expert(i), &agreement.Cosign{Statement: sid})
	}
	bad(&sc.BadStatement, string(Expert(1))+" co-signs a second time", agreement.ErrAlreadyCosigned,
		record.KindCosign, Expert(1), &agreement.Cosign{Statement: sid})

	// Scene 6: the draft Iran–Russia deal.
	step(&sc.Deal, "ir/fm registers the draft long-term strategic cooperation deal between Iran and Russia", record.KindAgreement, "ir/fm",
		&agreement.Agreement{
			Name:  "ir-ru-strategic",
			Title: "Long-term comprehensive agreement on strategic cooperation between Iran and Russia (draft)",
			Text:  agreement.Digest(DealText),
			Parties: []agreement.Party{
				{House: "ir", Signers: []record.Handle{"ir/president", "ir/fm"}},
				{House: "ru", Signers: []record.Handle{"ru/president", "ru/fm"}},
			},
		})
	if err != nil {
		return nil, err
	}
	return sc, nil
}

type builder struct {
	origin string
	key    func(record.Handle) ed25519.PrivateKey
	now    int64
}

func (b *builder) sign(kind record.Kind, by record.Handle, body any) (*record.Signed, error) {
	return b.signAt(kind, by, body, b.now)
}

func (b *builder) signAt(kind record.Kind, by record.Handle, body any, now int64) (*record.Signed, error) {
	k := b.key(by)
	if k == nil {
		return nil, fmt.Errorf("jcpoa: no key for %s", by)
	}
	s, err := record.Sign(&record.Record{Kind: kind, Origin: b.origin, By: []record.Handle{by}, Time: now}, body, k)
	if err != nil {
		return nil, fmt.Errorf("jcpoa: %s by %s: %w", kind, by, err)
	}
	return s, nil
}

// Entries numbers steps as consecutive log entries from index first,
// sequenced at time t (Unix ms).
func Entries(steps []Step, first uint64, t int64) []agreement.Entry {
	es := make([]agreement.Entry, len(steps))
	for i, s := range steps {
		es[i] = agreement.Entry{Signed: s.Signed, Index: first + uint64(i), Time: t}
	}
	return es
}
