package ledger

import (
	"fmt"
	"slices"

	"pouch.dev/directory"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// This file holds the rules of a pouch's events besides custody, once:
// acceptance (consent), refusal, access and non-delivery. The server runs
// CheckEvent before it sequences one, at the record's place and time of
// sequencing; the verifying client runs it on every event it proves, at
// the place the log holds it; an evidence bundle is checked with it
// offline.
//
// SPEC: spec/evidence.md#events

// CheckEvent checks pouch event e as p's next event at pos, with the
// directory d as of pos, and returns what it does; the caller applies it
// (p.Apply) once the log holds it.
//
// SPEC: spec/evidence.md#events
func CheckEvent(d *directory.Directory, p *Pouch, e *letter.Event, pos Pos) (Event, error) {
	if err := d.Check(e.Signed, e.Record, pos); err != nil {
		return Event{}, err
	}
	if e.Pouch() != p.ID {
		return Event{}, fmt.Errorf("%w: the %s record names pouch %s, not %s", ErrUnknownPouch, e.Kind(), e.Pouch().Short(), p.ID.Short())
	}
	ev := Event{ID: e.ID(), Kind: e.Kind(), Pos: pos, By: e.By()}
	var err error
	switch e.Kind() {
	case record.KindAcceptance:
		ev.Grant, err = checkAcceptance(d, p, e, pos)
	case record.KindRefusal:
		ev.Reason = string(e.Refusal.Reason)
		ev.Grant, err = checkRefusal(d, p, e, pos)
	case record.KindAccess:
		ev.Grant, err = checkAccess(d, p, e, pos)
	case record.KindNonDelivery:
		ev.Reason = string(e.NonDelivery.Reason)
		err = checkNonDelivery(d, p, e, pos)
	default:
		err = fmt.Errorf("%w: a %s record", letter.ErrNotEvent, e.Kind())
	}
	if err != nil {
		return Event{}, err
	}
	return ev, nil
}

// open checks that p may still have an event of kind what at pos: it was
// neither refused nor reported not delivered, and, undelivered, has not
// passed its deadline.
func open(p *Pouch, what record.Kind, pos Pos) error {
	if e, ok := p.Closed(); ok {
		if e.Kind == record.KindRefusal {
			return fmt.Errorf("%w: pouch %s was refused by %s at log index %d (%s) and returned to its sender: no %s follows",
				ErrClosed, p.ID.Short(), e.By, e.Pos.Index, e.Reason, what)
		}
		return fmt.Errorf("%w: the non-delivery of pouch %s was logged at index %d (%s): no %s follows",
			ErrClosed, p.ID.Short(), e.Pos.Index, e.Reason, what)
	}
	if p.Overdue(pos.Time) {
		dl, _ := p.Tag.Deadline()
		return fmt.Errorf("%w: pouch %s was to be delivered by %s and was not: no %s follows, only its non-delivery",
			ErrOverdue, p.ID.Short(), dl.Format("2006-01-02T15:04:05.000Z"), what)
	}
	return nil
}

// AddresseeSide checks that by may act for p's addressee at pos, as an
// acceptance, refusal or access record signed by by and naming onBehalf
// says: by is the addressee (and names no one), or holds a receive grant
// from the addressee valid at pos whose scope covers the sender and p's
// thread, and names the addressee in onBehalf. It returns the grant a
// delegate relies on.
//
// SPEC: spec/evidence.md#the-addressees-side
func AddresseeSide(d *directory.Directory, p *Pouch, by, onBehalf record.Handle, what record.Kind, pos Pos) (*directory.GrantEntry, error) {
	to := p.Tag.To
	if by == to {
		if onBehalf != "" {
			return nil, fmt.Errorf("%w: %s signs its %s of pouch %s for itself, not on behalf of %s", ErrOnBehalf, by, what, p.ID.Short(), onBehalf)
		}
		return nil, nil
	}
	g, err := d.MayReceive(by, to, p.Tag.From, p.ThreadIDs(), pos)
	if err != nil {
		if ge, ok := err.(*directory.GrantError); ok && ge.Reason != directory.ErrNoGrant {
			// A grant exists but does not serve now: say which and why.
			return nil, err
		}
		role := "holds no receive grant from it"
		switch {
		case by == p.Tag.From:
			role = "is its sender"
		case slices.Contains(p.Tag.Via, by):
			role = "is an envoy, who carries it"
		}
		return nil, fmt.Errorf("%w: %s may not sign %s of pouch %s: only its addressee %s or a receive delegate of it may, and %s %s",
			ErrNotAddressee, by, article(what), p.ID.Short(), to, by, role)
	}
	if onBehalf != to {
		return nil, fmt.Errorf("%w: %s stands in for %s, so its %s must say on_behalf %s", ErrOnBehalf, by, to, what, to)
	}
	return g, nil
}

// SPEC: spec/evidence.md#acceptance
func checkAcceptance(d *directory.Directory, p *Pouch, e *letter.Event, pos Pos) (*directory.GrantEntry, error) {
	if !p.Tag.Consent {
		return nil, fmt.Errorf("%w: pouch %s asks for no consent: it is delivered without an acceptance", ErrConsent, p.ID.Short())
	}
	if p.Delivered() {
		return nil, &directory.RouteError{Pouch: p.ID, By: e.By(), Reason: directory.ErrDelivered}
	}
	if err := open(p, record.KindAcceptance, pos); err != nil {
		return nil, err
	}
	if a := p.Accepted; a != nil {
		return nil, fmt.Errorf("%w: pouch %s was accepted already, by %s at log index %d", ErrConsent, p.ID.Short(), a.By, a.Pos.Index)
	}
	return AddresseeSide(d, p, e.By(), e.OnBehalf(), record.KindAcceptance, pos)
}

// SPEC: spec/evidence.md#refusal
func checkRefusal(d *directory.Directory, p *Pouch, e *letter.Event, pos Pos) (*directory.GrantEntry, error) {
	if p.Delivered() {
		return nil, &directory.RouteError{Pouch: p.ID, By: e.By(), Reason: directory.ErrDelivered}
	}
	if err := open(p, record.KindRefusal, pos); err != nil {
		return nil, err
	}
	g, err := AddresseeSide(d, p, e.By(), e.OnBehalf(), record.KindRefusal, pos)
	if err != nil {
		return nil, err
	}
	if a := p.Accepted; a != nil {
		return nil, fmt.Errorf("%w: pouch %s was accepted by %s at log index %d: it awaits its delivery and is no longer refused",
			ErrConsent, p.ID.Short(), a.By, a.Pos.Index)
	}
	return g, nil
}

// SPEC: spec/evidence.md#access
func checkAccess(d *directory.Directory, p *Pouch, e *letter.Event, pos Pos) (*directory.GrantEntry, error) {
	if err := open(p, record.KindAccess, pos); err != nil {
		return nil, err
	}
	g, err := AddresseeSide(d, p, e.By(), e.OnBehalf(), record.KindAccess, pos)
	if err != nil {
		return nil, err
	}
	if p.Tag.Consent && p.Accepted == nil {
		return nil, fmt.Errorf("%w: pouch %s asks for consent: its addressee's side accepts it (pouch accept) before it takes the payload",
			ErrConsent, p.ID.Short())
	}
	if a, ok := p.AccessedBy(e.By()); ok {
		return nil, fmt.Errorf("%w: %s logged its access to pouch %s at index %d", ErrAccessLogged, e.By(), p.ID.Short(), a.Pos.Index)
	}
	return g, nil
}

// SPEC: spec/evidence.md#non-delivery
func checkNonDelivery(d *directory.Directory, p *Pouch, e *letter.Event, pos Pos) error {
	if e.By() != directory.EvidenceHandle {
		return fmt.Errorf("%w: a non-delivery is signed by the deployment's office %s, not %s", directory.ErrNotAuthorised, directory.EvidenceHandle, e.By())
	}
	dl, ok := p.Tag.Deadline()
	if !ok {
		return fmt.Errorf("%w: pouch %s has no deadline, so no non-delivery", ErrNotOverdue, p.ID.Short())
	}
	if n := len(p.Custody); n > 0 && p.Custody[n-1].Hop.Delivery {
		del := p.Custody[n-1]
		return fmt.Errorf("%w: pouch %s was delivered by %s at log index %d, before its deadline %s: no non-delivery follows",
			directory.ErrDelivered, p.ID.Short(), del.Hop.By, del.Pos.Index, dl.Format("2006-01-02T15:04:05.000Z"))
	}
	if pos.Time.Before(dl) {
		return fmt.Errorf("%w: pouch %s is to be delivered by %s, and the log's time is %s", ErrNotOverdue, p.ID.Short(),
			dl.Format("2006-01-02T15:04:05.000Z"), pos.Time.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	if nd := p.NonDelivery; nd != nil {
		return fmt.Errorf("%w: the non-delivery of pouch %s was logged at index %d", ErrClosed, p.ID.Short(), nd.Pos.Index)
	}
	want := NonDeliveryFor(d, p, pos)
	got := e.NonDelivery
	if got.Reason != want.Reason || got.Holder != want.Holder || got.Next != want.Next || !sameID(got.Refusal, want.Refusal) {
		return fmt.Errorf("%w: the non-delivery of pouch %s says %s (held by %s, awaiting %s); its records say %s (held by %s, awaiting %s)",
			ErrNonDeliveryReason, p.ID.Short(), got.Reason, got.Holder, got.Next, want.Reason, want.Holder, want.Next)
	}
	return nil
}

// article returns kind with its indefinite article, for messages.
func article(k record.Kind) string {
	if k == record.KindAcceptance || k == record.KindAccess {
		return "an " + string(k)
	}
	return "a " + string(k)
}

func sameID(a, b *record.ID) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// NonDeliveryFor returns the body of p's non-delivery at pos, as p's
// records give it: who held the pouch, which route position it awaited,
// and the first reason that holds of
//
//   - refused: the addressee's side refused it;
//   - key-revoked: the office it awaited held no key at pos;
//   - not-accepted: it asks for consent and no acceptance came;
//   - not-taken: it has envoys, and the first never took it;
//   - stuck: an envoy holds it, and the next never took it;
//   - not-delivered: its last holder before the addressee holds it.
//
// p must be undelivered.
//
// SPEC: spec/evidence.md#non-delivery-reasons
func NonDeliveryFor(d *directory.Directory, p *Pouch, pos Pos) *letter.NonDelivery {
	next, _ := p.Next()
	nd := &letter.NonDelivery{Pouch: p.ID, Holder: p.Holder(), Next: next}
	k := len(p.Custody)
	_, keyErr := d.KeyAt(next, pos.Index)
	switch {
	case p.Refused != nil:
		id := p.Refused.ID
		nd.Reason, nd.Refusal = letter.NonDeliveryRefused, &id
	case keyErr != nil:
		nd.Reason = letter.NonDeliveryKeyRevoked
	case p.Tag.Consent && p.Accepted == nil:
		nd.Reason = letter.NonDeliveryNotAccepted
	case k == 0 && len(p.Tag.Via) > 0:
		nd.Reason = letter.NonDeliveryNotTaken
	case k < len(p.Tag.Via):
		nd.Reason = letter.NonDeliveryStuck
	default:
		nd.Reason = letter.NonDeliveryNotDelivered
	}
	return nd
}

// MayFetch says whether h may be given the sealed payload of p, as the
// server gives it: side reports whether h stands on the addressee's side
// (the addressee, or a receive delegate of it). The sender and the envoys,
// who carry sealed bytes they cannot read, may always have it; the
// addressee's side, of a pouch whose tag asks for access (or consent),
// once h's access record is logged. Whether h is a party at all is the
// caller's question.
//
// SPEC: spec/evidence.md#access
func MayFetch(p *Pouch, h record.Handle, side bool) error {
	if !side || !p.Tag.NeedsAccess() {
		return nil
	}
	if _, ok := p.AccessedBy(h); ok {
		return nil
	}
	if p.Tag.Consent && p.Accepted == nil {
		return fmt.Errorf("%w: pouch %s asks for consent: accept it (pouch accept), then log your access, before you take its payload", ErrAccessRequired, p.ID.Short())
	}
	return fmt.Errorf("%w: the sender of pouch %s asks for proof of access: log your access record first (pouch open does)", ErrAccessRequired, p.ID.Short())
}
