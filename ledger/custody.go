package ledger

import (
	"fmt"
	"slices"

	"pouch.dev/directory"
	"pouch.dev/letter"
	"pouch.dev/line"
	"pouch.dev/record"
)

// This file is the custody rule, once: the server runs CheckCustody before
// it sequences a custody record, the verifying client runs it on every
// custody record of a chain at the place the log holds it, and a verifier
// without the log runs CheckRoute, the part that needs no directory.
//
// SPEC: spec/letter.md#custody-chain, spec/directory.md#custody,
// spec/api.md#custody, spec/line.md#custody, spec/evidence.md#events

// MayTakeNext reports whether by may take p's next custody at pos: the next
// envoy of the route or a holder of a carry grant from it, or, for the
// delivery, the addressee or a holder of a receive grant from it. Grants
// are judged at pos, and must cover the sender and p's thread.
//
// SPEC: spec/directory.md#custody
func MayTakeNext(d *directory.Directory, p *Pouch, by record.Handle, pos Pos) (Hop, error) {
	as, delivery := p.Next()
	if as == "" {
		return Hop{}, &directory.RouteError{Pouch: p.ID, By: by, Reason: directory.ErrDelivered}
	}
	// A refused pouch is returned, and one past its deadline awaits only
	// its non-delivery (spec/evidence.md#events).
	if err := open(p, record.KindCustody, pos); err != nil {
		return Hop{}, err
	}
	if _, err := d.KeyAt(by, pos.Index); err != nil {
		return Hop{}, err
	}
	var g *directory.GrantEntry
	var err error
	if delivery {
		g, err = d.MayReceive(by, as, p.Tag.From, p.ThreadIDs(), pos)
	} else {
		g, err = d.MayCarry(by, as, p.Tag.From, p.ThreadIDs(), pos)
	}
	if err == nil {
		return Hop{By: by, As: as, Delivery: delivery, Grant: g}, nil
	}
	if ge, ok := err.(*directory.GrantError); ok && ge.Reason != directory.ErrNoGrant {
		// A grant exists but does not serve now: say which and why.
		return Hop{}, err
	}
	return Hop{}, notOnRoute(p, by, as, delivery)
}

func notOnRoute(p *Pouch, by, as record.Handle, delivery bool) error {
	var detail string
	k := len(p.Custody)
	switch {
	case delivery:
		detail = fmt.Sprintf("only %s or its receive delegates may take delivery, and %s holds no receive grant from it", as, by)
	case by == p.Tag.To || slices.Contains(p.Tag.Via[k:], by):
		detail = fmt.Sprintf("it must pass %s first (envoy %d of %d)", as, k+1, len(p.Tag.Via))
	default:
		detail = fmt.Sprintf("the next holder is %s (envoy %d of %d)", as, k+1, len(p.Tag.Via))
	}
	return &directory.RouteError{Pouch: p.ID, By: by, Reason: directory.ErrNotOnRoute, Detail: detail}
}

// CheckCustody checks custody record sc as p's next custody at pos: the
// signer's key holds its office (d.Check), the signer may take the pouch
// next (MayTakeNext), and the record's own statements fit (checkMarks). A
// record that cites a secure line (over_line) is checked against the call
// record it cites, as the log holds it (cited; nil if the log holds none
// with that ID).
//
// SPEC: spec/api.md#custody
func CheckCustody(d *directory.Directory, p *Pouch, sc *letter.SignedCustody, pos Pos, cited *Cited) (Hop, error) {
	if err := d.Check(sc.Signed, sc.Record, pos); err != nil {
		return Hop{}, err
	}
	by, c := sc.Holder(), sc.Custody
	if c.Pouch != p.ID {
		return Hop{}, fmt.Errorf("%w: the custody record names pouch %s, not %s", ErrUnknownPouch, c.Pouch.Short(), p.ID.Short())
	}
	hop, err := MayTakeNext(d, p, by, pos)
	if err != nil {
		return Hop{}, err
	}
	if err := checkMarks(p, c, by, hop.As, hop.Delivery); err != nil {
		return Hop{}, err
	}
	// SPEC: spec/evidence.md#acceptance
	if hop.Delivery && p.Tag.Consent && p.Accepted == nil {
		return Hop{}, fmt.Errorf("%w: pouch %s asks for consent: its delivery waits for its addressee's side to accept it (pouch accept)", ErrConsent, p.ID.Short())
	}
	if err := CheckOverLine(c, by, cited, pos); err != nil {
		return Hop{}, err
	}
	return hop, nil
}

// CheckRoute checks custody record sc as p's next custody against the
// route alone, without the directory: what a verifier holding only the
// pouch can check (spec/letter.md#custody-chain, rules 1 to 6). A stand-in
// naming the position it stands for passes here; whether it held a grant
// is the directory's question (CheckCustody), so the Hop has no Grant.
//
// SPEC: spec/letter.md#custody-chain
func CheckRoute(p *Pouch, sc *letter.SignedCustody) (Hop, error) {
	by, c := sc.Holder(), sc.Custody
	if c.Pouch != p.ID {
		return Hop{}, fmt.Errorf("%w: the custody record names pouch %s, not %s", ErrUnknownPouch, c.Pouch.Short(), p.ID.Short())
	}
	as, delivery := p.Next()
	if as == "" {
		return Hop{}, &directory.RouteError{Pouch: p.ID, By: by, Reason: directory.ErrDelivered}
	}
	if by != as && c.OnBehalf != as {
		return Hop{}, notOnRoute(p, by, as, delivery)
	}
	if err := checkMarks(p, c, by, as, delivery); err != nil {
		return Hop{}, err
	}
	return Hop{By: by, As: as, Delivery: delivery}, nil
}

// checkMarks checks what a custody record by by, taking route position as,
// says of itself: the previous holder, the delivery mark, and on_behalf.
func checkMarks(p *Pouch, c *letter.Custody, by, as record.Handle, delivery bool) error {
	if prev := p.Holder(); c.From != prev {
		return fmt.Errorf("%w: custody of pouch %s: %s says it received it from %s, but %s holds it; name %s as the one you received it from",
			ErrWrongHolder, p.ID.Short(), by, c.From, prev, prev)
	}
	switch {
	case delivery && !c.Delivered:
		return fmt.Errorf("%w: the next custody of pouch %s is its delivery to %s: sign a delivery (pouch deliver)", ErrDeliveryMark, p.ID.Short(), p.Tag.To)
	case !delivery && c.Delivered:
		return fmt.Errorf("%w: pouch %s cannot be delivered yet: %s (%s) carries it next", ErrDeliveryMark, p.ID.Short(), as, p.role(as, false))
	case by != as && c.OnBehalf != as:
		return fmt.Errorf("%w: %s stands in for %s, so the record must say on_behalf %s", ErrOnBehalf, by, as, as)
	case by == as && c.OnBehalf != "" && c.OnBehalf != by:
		return fmt.Errorf("%w: %s takes custody for itself, not on behalf of %s", ErrOnBehalf, by, c.OnBehalf)
	}
	return nil
}

// A Cited record is one that a record refers to, as the log holds it: a
// call record that a custody record's over_line names.
type Cited struct {
	ID   record.ID
	Kind record.Kind
	Pos  Pos
	// Call is the verified call record (line.CheckCall), nil if the
	// record is not a well-formed one.
	Call *line.Call
}

// CheckOverLine checks a custody record's over_line: it must name a call
// record already in the log (cited, logged before pos), between the signer
// and the one it received the pouch from, that lists the pouch as handed
// over by that one. A record with no over_line passes.
//
// SPEC: spec/line.md#custody
func CheckOverLine(c *letter.Custody, by record.Handle, cited *Cited, pos Pos) error {
	if c.OverLine == nil {
		return nil
	}
	id := *c.OverLine
	switch {
	case cited == nil || cited.ID != id || cited.Pos.Index >= pos.Index:
		return fmt.Errorf("%w: custody of pouch %s cites line %s, which is not in the log before it; submit the call record first (pouch line does)",
			ErrOverLine, c.Pouch.Short(), id.Short())
	case cited.Kind != record.KindLine || cited.Call == nil:
		return fmt.Errorf("%w: custody of pouch %s cites line %s, which is a %s record, not a call record", ErrOverLine, c.Pouch.Short(), id.Short(), cited.Kind)
	}
	parts := cited.Call.Body.Participants
	if !slices.Contains(parts, by) || !slices.Contains(parts, c.From) {
		return fmt.Errorf("%w: custody of pouch %s by %s from %s cites a line between %s and %s", ErrOverLine, c.Pouch.Short(), by, c.From, parts[0], parts[1])
	}
	for _, h := range cited.Call.Body.Pouches {
		if len(h.ID) == len(record.ID{}) && record.ID(h.ID) == c.Pouch && h.From == c.From {
			return nil
		}
	}
	return fmt.Errorf("%w: custody of pouch %s cites line %s, on which %s handed over no such pouch", ErrOverLine, c.Pouch.Short(), id.Short(), c.From)
}

// RouteChain checks the chain of custody records chain of the pouch whose
// tag is st against the route alone (CheckRoute, record after record), as
// a verifier without the log does, and returns the pouch after it; the
// steps' places are unknown (zero). Stand-ins pass with their grants
// unchecked: their Hops have no Grant.
//
// SPEC: spec/letter.md#custody-chain
func RouteChain(st *letter.SignedTag, chain []*letter.SignedCustody) (*Pouch, error) {
	p := NewPouch(st, Pos{})
	for i, sc := range chain {
		h, err := CheckRoute(p, sc)
		if err != nil {
			return p, fmt.Errorf("custody record %d, signed by %s: %w", i+1, sc.Holder(), err)
		}
		p.Accept(sc.Signed.ID(), Pos{}, h)
	}
	return p, nil
}
