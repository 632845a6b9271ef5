package ledger

import (
	"fmt"
	"time"

	"pouch.dev/directory"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// A Pos is a record's place in the log: its leaf index and its time of
// sequencing, which the leaf commits to. Every rule is judged at a Pos.
type Pos = directory.Pos

// A Pouch is what the rules know of one pouch: its tag, where the log
// holds it, the custody records accepted so far, in order, and its other
// events (spec/evidence.md#events).
type Pouch struct {
	ID      record.ID // the tag record's ID
	Tag     *letter.Tag
	Pos     Pos
	Custody []Step
	// Accepted is the acceptance, once logged; Refused the refusal;
	// NonDelivery the non-delivery. Accessed lists the access records, in
	// log order.
	Accepted    *Event
	Refused     *Event
	NonDelivery *Event
	Accessed    []Event
}

// An Event is one accepted pouch event other than custody: an acceptance,
// a refusal, an access or a non-delivery.
type Event struct {
	ID   record.ID
	Kind record.Kind
	Pos  Pos
	By   record.Handle
	// Grant is the receive grant a delegate relied on, once checked
	// against the directory; nil when the addressee (or the deployment)
	// signed.
	Grant *directory.GrantEntry
	// Reason is a refusal's or a non-delivery's reason code.
	Reason string
}

// A Step is one accepted custody record of a pouch.
type Step struct {
	ID  record.ID
	Pos Pos
	Hop Hop
}

// A Hop is what one custody record did: who took the pouch, for which
// route position, and whether it was the delivery.
type Hop struct {
	By       record.Handle // who signed
	As       record.Handle // the route position: an envoy, or the addressee for the delivery
	Delivery bool
	// Grant is the carry or receive grant a stand-in relied upon, once
	// checked against the directory (CheckCustody); nil when By is As or
	// when only the route was checked (CheckRoute).
	Grant *directory.GrantEntry
}

// NewPouch returns the rules' view of the pouch whose verified tag is st,
// sequenced at pos, with no custody yet.
func NewPouch(st *letter.SignedTag, pos Pos) *Pouch {
	return &Pouch{ID: st.PouchID(), Tag: st.Tag, Pos: pos}
}

// ThreadIDs returns the IDs that scope grants for p: its own ID and, for a
// reply, its thread's.
func (p *Pouch) ThreadIDs() []record.ID {
	ids := []record.ID{p.ID}
	if p.Tag.Thread != nil {
		ids = append(ids, *p.Tag.Thread)
	}
	return ids
}

// Delivered reports whether p's custody ends with its delivery.
func (p *Pouch) Delivered() bool {
	n := len(p.Custody)
	return n > 0 && p.Custody[n-1].Hop.Delivery
}

// Holder returns who holds p now: the sender before the first custody
// record, then the last signer.
func (p *Pouch) Holder() record.Handle {
	if n := len(p.Custody); n > 0 {
		return p.Custody[n-1].Hop.By
	}
	return p.Tag.From
}

// Next returns the route position that takes p next (the next envoy, or
// the addressee for the delivery), and whether that is the delivery; ""
// once p is delivered.
func (p *Pouch) Next() (as record.Handle, delivery bool) {
	if p.Delivered() {
		return "", false
	}
	if k := len(p.Custody); k < len(p.Tag.Via) {
		return p.Tag.Via[k], false
	}
	return p.Tag.To, true
}

// Accept appends an accepted custody record to p.
func (p *Pouch) Accept(id record.ID, pos Pos, h Hop) {
	p.Custody = append(p.Custody, Step{ID: id, Pos: pos, Hop: h})
}

// Clone returns a copy of p whose custody and events can grow apart from
// p's.
func (p *Pouch) Clone() *Pouch {
	q := *p
	q.Custody = append([]Step(nil), p.Custody...)
	q.Accessed = append([]Event(nil), p.Accessed...)
	return &q
}

// Apply records an accepted event of p (CheckEvent).
func (p *Pouch) Apply(e Event) {
	switch e.Kind {
	case record.KindAcceptance:
		p.Accepted = &e
	case record.KindRefusal:
		p.Refused = &e
	case record.KindNonDelivery:
		p.NonDelivery = &e
	case record.KindAccess:
		p.Accessed = append(p.Accessed, e)
	}
}

// Closed reports whether nothing but a non-delivery may follow in p: it
// was refused, or its non-delivery is logged. The event is returned.
func (p *Pouch) Closed() (*Event, bool) {
	if p.NonDelivery != nil {
		return p.NonDelivery, true
	}
	return p.Refused, p.Refused != nil
}

// Overdue reports whether p, undelivered, has passed its deadline at t.
func (p *Pouch) Overdue(t time.Time) bool {
	dl, ok := p.Tag.Deadline()
	return ok && !p.Delivered() && !t.Before(dl)
}

// AccessedBy returns h's access record of p, if it logged one.
func (p *Pouch) AccessedBy(h record.Handle) (*Event, bool) {
	for i := range p.Accessed {
		if p.Accessed[i].By == h {
			return &p.Accessed[i], true
		}
	}
	return nil, false
}

// role says which route position as is, for messages.
func (p *Pouch) role(as record.Handle, delivery bool) string {
	if delivery {
		return "the addressee, " + string(as)
	}
	k := len(p.Custody)
	return fmt.Sprintf("envoy %d of %d, %s", k+1, len(p.Tag.Via), as)
}
