package agreement

import (
	"fmt"
	"strings"

	"pouch.dev/record"
)

// A Timeline is the history of one agreement: its registration and every
// accepted action on it, in log order. It answers the agreement's status
// at any date (Status) and says whether a new action is allowed (Check)
// before the action is logged.
//
// A Timeline is not safe for concurrent use.
type Timeline struct {
	dir        Directory
	id         record.ID
	rec        *record.Record
	body       *Agreement
	registered Entry

	parties   map[string]*party // by house
	order     []*party          // in the agreement's order
	clauses   map[string]*Clause
	verifiers map[record.Handle]bool

	seen     map[record.ID]uint64 // accepted records and their log index
	next     uint64               // the index after the last record considered
	actions  []*Action
	rejected []*Refusal

	ix *index // derived, built on first use and then kept current by Apply
}

type party struct {
	Party
	signers map[record.Handle]bool
	terms   []*Term
}

func (p *party) last() *Term {
	if len(p.terms) == 0 {
		return nil
	}
	return p.terms[len(p.terms)-1]
}

// A Term is one period in which a house is a party: from the day of its
// signature to the effective day of its withdrawal (excluded), or open.
type Term struct {
	From     Date          `json:"from"`
	Until    Date          `json:"until,omitempty"`
	SignedBy record.Handle `json:"signed_by"`
	Sign     record.ID     `json:"sign"`
	// WithdrawnBy and Withdraw are set once a withdrawal is logged.
	WithdrawnBy record.Handle `json:"withdrawn_by,omitempty"`
	Withdraw    *record.ID    `json:"withdraw,omitempty"`
}

// Covers reports whether day d falls in the term.
func (t *Term) Covers(d Date) bool { return t.From <= d && (t.Until == "" || d < t.Until) }

// An Action is an accepted action on an agreement: exactly one of Sign,
// Withdraw and Attest is set.
type Action struct {
	ID       record.ID     `json:"id"`
	Kind     record.Kind   `json:"kind"`
	By       record.Handle `json:"by"`
	Index    uint64        `json:"index"`
	Time     int64         `json:"time"` // sequencing time, Unix ms
	Sign     *Sign         `json:"sign,omitempty"`
	Withdraw *Withdraw     `json:"withdraw,omitempty"`
	Attest   *Attest       `json:"attest,omitempty"`
}

// Date returns the day the action takes effect or speaks of: the date in
// its body.
func (a *Action) Date() Date {
	switch {
	case a.Sign != nil:
		return a.Sign.Date
	case a.Withdraw != nil:
		return a.Withdraw.Date
	case a.Attest != nil:
		return a.Attest.Date
	}
	return ""
}

// New starts the timeline of the agreement registered by e. It returns a
// *Refusal if e is not a valid agreement record.
//
// SPEC: spec/agreement.md#registration
func New(dir Directory, e Entry) (*Timeline, error) {
	r, id, err := open(dir, e, "", record.KindAgreement)
	if err != nil {
		return nil, err
	}
	ref := refuser(r, id, e)
	var b Agreement
	if err := decodeBody(r, &b); err != nil {
		return nil, ref(ErrMalformed, "", err)
	}
	for _, p := range b.Parties {
		for _, h := range p.Signers {
			if !dir.Authorised(h, p.House, e.Index) {
				return nil, ref(ErrNotAuthorised, fmt.Sprintf("the directory does not authorise %s to act for %s at log index %d; name offices that the house has admitted", h, p.House, e.Index), nil)
			}
		}
	}
	t := &Timeline{
		dir: dir, id: id, rec: r, body: &b, registered: e,
		parties:   map[string]*party{},
		clauses:   map[string]*Clause{},
		verifiers: map[record.Handle]bool{},
		seen:      map[record.ID]uint64{id: e.Index},
		next:      e.Index + 1,
	}
	for _, p := range b.Parties {
		ps := &party{Party: p, signers: map[record.Handle]bool{}}
		for _, h := range p.Signers {
			ps.signers[h] = true
		}
		t.parties[p.House] = ps
		t.order = append(t.order, ps)
	}
	for i := range b.Clauses {
		t.clauses[b.Clauses[i].ID] = &b.Clauses[i]
	}
	for _, h := range b.Verifiers {
		t.verifiers[h] = true
	}
	return t, nil
}

// Replay builds the timeline of an agreement from its records in log
// order: entries[0] registers it, the rest act on it. Actions that the
// rules refuse are skipped and listed by Rejected, so that everyone who
// replays the same log derives the same status, whatever the server
// accepted. Replay fails only if entries[0] is not a valid agreement.
//
// SPEC: spec/agreement.md#replay
func Replay(dir Directory, entries []Entry) (*Timeline, error) {
	if len(entries) == 0 {
		return nil, &Refusal{Reason: ErrMalformed, Detail: "no records: an agreement's history starts with its agreement record"}
	}
	t, err := New(dir, entries[0])
	if err != nil {
		return nil, err
	}
	for _, e := range entries[1:] {
		if err := t.Apply(e); err != nil {
			t.rejected = append(t.rejected, err.(*Refusal))
		}
		if e.Index >= t.next {
			t.next = e.Index + 1
		}
	}
	return t, nil
}

// ID returns the agreement's record ID.
func (t *Timeline) ID() record.ID { return t.id }

// Agreement returns the agreement's body. The caller must not change it.
func (t *Timeline) Agreement() *Agreement { return t.body }

// Depositary returns the office that registered the agreement.
func (t *Timeline) Depositary() record.Handle { return t.rec.Signer() }

// Registered returns the agreement record's log entry.
func (t *Timeline) Registered() Entry { return t.registered }

// Actions returns the accepted actions in log order.
func (t *Timeline) Actions() []*Action { return t.actions }

// Rejected returns the refusals met by Replay, in log order.
func (t *Timeline) Rejected() []*Refusal { return t.rejected }

// Terms returns the terms of house as a party, oldest first.
func (t *Timeline) Terms(house string) []*Term {
	if p := t.parties[house]; p != nil {
		return p.terms
	}
	return nil
}

// Check reports whether the action e would be accepted next, without
// changing t. The error is a *Refusal.
func (t *Timeline) Check(e Entry) error {
	_, err := t.prepare(e)
	return err
}

// Apply checks the action e and, if it is accepted, adds it to t. On
// refusal t is unchanged and the error is a *Refusal.
func (t *Timeline) Apply(e Entry) error {
	commit, err := t.prepare(e)
	if err != nil {
		return err
	}
	commit()
	return nil
}

// SPEC: spec/agreement.md#actions
func (t *Timeline) prepare(e Entry) (func(), error) {
	r, id, err := open(t.dir, e, t.rec.Origin, record.KindAgreementSign, record.KindAgreementWithdraw, record.KindAttest)
	if err != nil {
		return nil, err
	}
	ref := refuser(r, id, e)
	if at, ok := t.seen[id]; ok {
		return nil, ref(ErrReplayed, fmt.Sprintf("record %s is already in the log at index %d", id.Short(), at), nil)
	}
	if e.Index < t.next {
		return nil, ref(ErrOutOfOrder, fmt.Sprintf("log index %d comes before index %d, already applied", e.Index, t.next-1), nil)
	}
	signer := r.By[0]
	a := &Action{ID: id, Kind: r.Kind, By: signer, Index: e.Index, Time: e.Time}
	today := e.Date()
	agreementOf := func(got record.ID) error {
		if got != t.id {
			return ref(ErrWrongAgreement, fmt.Sprintf("it names agreement %s, not %s (%s)", got.Short(), t.id.Short(), t.body.Name), nil)
		}
		return nil
	}
	mayActFor := func(p *party, verb string) error {
		if !p.signers[signer] {
			return ref(ErrNotAuthorised, fmt.Sprintf("%s may not %s for %s: the agreement names %s", signer, verb, p.House, handles(p.Signers)), nil)
		}
		if !t.dir.Authorised(signer, p.House, e.Index) {
			return ref(ErrNotAuthorised, fmt.Sprintf("the directory does not authorise %s to act for %s at log index %d", signer, p.House, e.Index), nil)
		}
		return nil
	}
	var commit func()
	switch r.Kind {
	case record.KindAgreementSign:
		// SPEC: spec/agreement.md#agreement-sign
		var b Sign
		if err := decodeBody(r, &b); err != nil {
			return nil, ref(ErrMalformed, "", err)
		}
		if err := agreementOf(b.Agreement); err != nil {
			return nil, err
		}
		p := t.parties[b.Party]
		if p == nil {
			return nil, ref(ErrNotInvited, fmt.Sprintf("%s is not invited to %s (invited: %s)", b.Party, t.body.Name, t.invited()), nil)
		}
		if err := mayActFor(p, "sign"); err != nil {
			return nil, err
		}
		if b.Date > today {
			return nil, ref(ErrBadDate, fmt.Sprintf("signature dated %s, after the day it was logged (%s): a signature cannot be dated in the future", b.Date, today), nil)
		}
		if last := p.last(); last != nil {
			if last.Withdraw == nil {
				return nil, ref(ErrAlreadySigned, fmt.Sprintf("%s already signed %s on %s (by %s, record %s); it must withdraw before it can sign again", p.House, t.body.Name, last.From, last.SignedBy, last.Sign.Short()), nil)
			}
			if b.Date < last.Until {
				return nil, ref(ErrBadDate, fmt.Sprintf("%s signs again on %s, before its withdrawal took effect on %s", p.House, b.Date, last.Until), nil)
			}
		}
		a.Sign = &b
		commit = func() { p.terms = append(p.terms, &Term{From: b.Date, SignedBy: signer, Sign: id}) }
	case record.KindAgreementWithdraw:
		// SPEC: spec/agreement.md#agreement-withdraw
		var b Withdraw
		if err := decodeBody(r, &b); err != nil {
			return nil, ref(ErrMalformed, "", err)
		}
		if err := agreementOf(b.Agreement); err != nil {
			return nil, err
		}
		p := t.parties[b.Party]
		if p == nil {
			return nil, ref(ErrNotParty, fmt.Sprintf("%s is not a party to %s: it was never invited", b.Party, t.body.Name), nil)
		}
		last := p.last()
		if last == nil {
			return nil, ref(ErrNotParty, fmt.Sprintf("%s is not a party to %s: it never signed", p.House, t.body.Name), nil)
		}
		if last.Withdraw != nil {
			return nil, ref(ErrNotParty, fmt.Sprintf("%s is not a party to %s: it already withdrew, effective %s (record %s)", p.House, t.body.Name, last.Until, last.Withdraw.Short()), nil)
		}
		if err := mayActFor(p, "withdraw"); err != nil {
			return nil, err
		}
		if b.Date <= last.From {
			return nil, ref(ErrBadDate, fmt.Sprintf("withdrawal effective %s, not after %s's signature on %s", b.Date, p.House, last.From), nil)
		}
		a.Withdraw = &b
		commit = func() {
			last.Until, last.WithdrawnBy = b.Date, signer
			wid := id
			last.Withdraw = &wid
		}
	case record.KindAttest:
		// SPEC: spec/agreement.md#attest
		var b Attest
		if err := decodeBody(r, &b); err != nil {
			return nil, ref(ErrMalformed, "", err)
		}
		if err := agreementOf(b.Agreement); err != nil {
			return nil, err
		}
		if !t.verifiers[signer] {
			names := "none"
			if len(t.body.Verifiers) > 0 {
				names = handles(t.body.Verifiers)
			}
			return nil, ref(ErrNotVerifier, fmt.Sprintf("%s is not a named verifier of %s (verifiers: %s)", signer, t.body.Name, names), nil)
		}
		if t.parties[b.Party] == nil {
			return nil, ref(ErrNotInvited, fmt.Sprintf("%s is not invited to %s (invited: %s)", b.Party, t.body.Name, t.invited()), nil)
		}
		if t.clauses[b.Clause] == nil {
			return nil, ref(ErrUnknownClause, fmt.Sprintf("%s has no clause %q", t.body.Name, b.Clause), nil)
		}
		if b.Date > today {
			return nil, ref(ErrBadDate, fmt.Sprintf("attestation dated %s, after the day it was logged (%s)", b.Date, today), nil)
		}
		a.Attest = &b
		commit = func() {}
	}
	return func() {
		commit()
		t.seen[id] = e.Index
		t.actions = append(t.actions, a)
		t.next = e.Index + 1
		if t.ix != nil {
			t.ix.update(t, a)
		}
	}, nil
}

func (t *Timeline) invited() string {
	hs := make([]string, len(t.order))
	for i, p := range t.order {
		hs[i] = p.House
	}
	return strings.Join(hs, ", ")
}

func handles(hs []record.Handle) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = string(h)
	}
	return strings.Join(s, ", ")
}

// refuser returns a constructor of refusals of the record r.
func refuser(r *record.Record, id record.ID, e Entry) func(reason error, detail string, cause error) *Refusal {
	return func(reason error, detail string, cause error) *Refusal {
		if detail == "" {
			detail = reason.Error()
		}
		return &Refusal{ID: id, Kind: r.Kind, By: r.Signer(), Index: e.Index, Reason: reason, Detail: detail, Cause: cause}
	}
}

// open decodes e's record and authenticates it: one of kinds, public, one
// signer, for the log origin (if not empty), its signature valid and made
// with the signer's key at e's log index.
//
// SPEC: spec/agreement.md#common
func open(dir Directory, e Entry, origin string, kinds ...record.Kind) (*record.Record, record.ID, *Refusal) {
	if e.Signed == nil {
		return nil, record.ID{}, &Refusal{Index: e.Index, Reason: ErrMalformed, Detail: "no record"}
	}
	id := e.Signed.ID()
	r, err := e.Signed.Open()
	if err != nil {
		return nil, id, &Refusal{ID: id, Index: e.Index, Reason: ErrMalformed, Detail: "cannot decode the record", Cause: err}
	}
	ref := refuser(r, id, e)
	ok := false
	for _, k := range kinds {
		ok = ok || r.Kind == k
	}
	if !ok {
		return nil, id, ref(ErrMalformed, fmt.Sprintf("a %s record where %s was expected", r.Kind, kindList(kinds)), nil)
	}
	if len(r.By) != 1 || len(e.Signed.Sigs) != 1 {
		return nil, id, ref(ErrMalformed, fmt.Sprintf("%d signers and %d signatures: %s records have exactly one signer", len(r.By), len(e.Signed.Sigs), r.Kind), nil)
	}
	if r.Private() {
		return nil, id, ref(ErrPrivate, "the record carries a salt; "+ErrPrivate.Error(), nil)
	}
	if origin != "" && r.Origin != origin {
		return nil, id, ref(ErrWrongLog, fmt.Sprintf("it names log %q, the agreement is in %q", r.Origin, origin), nil)
	}
	if !e.SigsChecked {
		if err := e.Signed.VerifySigs(r); err != nil {
			return nil, id, ref(ErrBadSignature, "", err)
		}
	}
	if err := dir.CheckKey(r.By[0], e.Signed.Sigs[0].Key, e.Index); err != nil {
		return nil, id, ref(ErrWrongKey, fmt.Sprintf("not signed with a key of %s valid at log index %d", r.By[0], e.Index), err)
	}
	return r, id, nil
}

func kindList(ks []record.Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, " or ")
}
