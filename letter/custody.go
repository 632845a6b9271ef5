package letter

import (
	"crypto"
	"errors"
	"fmt"

	"pouch.dev/record"
)

// A Custody is the body of a custody record: "I now hold pouch P, received
// from X". It is a private record signed by the new holder. The last one of
// a pouch, the delivery receipt, has Delivered set and is signed by the
// addressee or by a receive delegate.
//
// SPEC: spec/letter.md#custody
type Custody struct {
	Pouch     record.ID     `cbor:"pouch"`               // the tag record's ID
	From      record.Handle `cbor:"from"`                // the previous holder
	Delivered bool          `cbor:"delivered,omitempty"` // the final hand-over, to the addressee's side
	// OnBehalf names the route position the signer stands in for when it
	// is not that position itself: the addressee, for a receive delegate
	// signing delivery; an envoy, for a carry delegate.
	OnBehalf record.Handle `cbor:"on_behalf,omitempty"`
	OverLine *record.ID    `cbor:"over_line,omitempty"` // the secure line's call record, for a hand-over on a line
}

func (c *Custody) check() error {
	if _, err := record.ParseHandle(string(c.From)); err != nil {
		return fmt.Errorf("%w: custody: from: %v", ErrMalformedLetter, err)
	}
	if c.OnBehalf != "" {
		if _, err := record.ParseHandle(string(c.OnBehalf)); err != nil {
			return fmt.Errorf("%w: custody: on_behalf: %v", ErrMalformedLetter, err)
		}
	}
	return nil
}

// SignCustody signs c as a private custody record by holder.
func SignCustody(c *Custody, holder record.Handle, key crypto.Signer, salt []byte, t int64, origin string) (*record.Signed, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if holder == c.From {
		return nil, fmt.Errorf("%w: custody: %s hands a pouch to itself", ErrMalformedLetter, holder)
	}
	return record.Sign(&record.Record{Kind: record.KindCustody, Origin: origin, By: []record.Handle{holder}, Time: t, Salt: salt}, c, key)
}

// A SignedCustody is a verified custody record.
type SignedCustody struct {
	Signed  *record.Signed
	Record  *record.Record
	Custody *Custody
}

// Holder returns the principal who signed: the new holder.
func (s *SignedCustody) Holder() record.Handle { return s.Record.By[0] }

// ErrNotCustody is returned for a record that is not a custody record.
var ErrNotCustody = errors.New("not a custody record")

// VerifyCustody parses signed custody bytes and checks the signature and
// the body.
func VerifyCustody(b []byte) (*SignedCustody, error) {
	s, r, err := record.Verify(b)
	if err != nil {
		return nil, fmt.Errorf("custody record: %w", err)
	}
	if r.Kind != record.KindCustody {
		return nil, fmt.Errorf("%w: a %s record", ErrNotCustody, r.Kind)
	}
	if len(r.By) != 1 || !r.Private() {
		return nil, fmt.Errorf("%w: a custody record is private and has one signer", ErrMalformedLetter)
	}
	var c Custody
	if err := r.DecodeBody(&c); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedLetter, err)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	if c.From == r.By[0] {
		return nil, fmt.Errorf("%w: custody: %s hands a pouch to itself", ErrMalformedLetter, c.From)
	}
	return &SignedCustody{Signed: s, Record: r, Custody: &c}, nil
}

// A Hop is one custody step checked against the route.
type Hop struct {
	By       record.Handle `json:"by"`       // who signed
	As       record.Handle `json:"as"`       // the route position: an envoy, or the addressee
	Delivery bool          `json:"delivery"` // the final hand-over
}

// A HopQuery asks whether a principal who is not itself the route position
// may stand in for it: a carry delegate of an envoy, or a receive delegate
// of the addressee. It is also the place to check the signer's key.
type HopQuery struct {
	Index   int           // the custody record's position in the chain
	By      record.Handle // the signer
	As      record.Handle // the route position it claims
	Custody *SignedCustody
}

// A HopCheck answers HopQuery, usually from the directory and its grants
// as of the record's place in the log. It returns nil to allow the hop.
// A nil HopCheck allows no stand-ins: only the route's own principals.
type HopCheck func(q HopQuery) error

// A ChainState is the outcome of checking a chain of custody.
type ChainState struct {
	Hops      []Hop
	Delivered bool
	Holder    record.Handle // who holds the pouch now
	Next      record.Handle // the next route position, if not delivered
}

// A RouteError says why a custody record does not fit the pouch's route.
type RouteError struct {
	Index  int // the custody record's position in the chain
	By     record.Handle
	Reason string
	Err    error // a HopCheck's answer, if any
}

func (e *RouteError) Error() string {
	s := fmt.Sprintf("custody record %d, signed by %s: %s", e.Index+1, e.By, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns ErrRoute and the HopCheck's error.
func (e *RouteError) Unwrap() []error { return []error{ErrRoute, e.Err} }

// ErrRoute is wrapped by every RouteError.
var ErrRoute = errors.New("custody does not follow the route")

// CheckChain checks a chain of custody records against the pouch's tag.
// Each record must name the pouch and the previous holder (the sender for
// the first), and be signed by the next position of the route — the envoys
// of via in order, then the addressee — or by a stand-in that allow
// accepts, naming the position it stands for in on_behalf. Only the last
// position's record is, and must be, a delivery; nothing follows it.
//
// A prefix of a route is a valid chain: the pouch is in transit.
// CheckChain is pure: grants and keys are allow's business.
//
// SPEC: spec/letter.md#custody-chain
func CheckChain(tag *SignedTag, chain []*SignedCustody, allow HopCheck) (*ChainState, error) {
	t := tag.Tag
	id := tag.PouchID()
	st := &ChainState{Holder: t.From}
	for i, c := range chain {
		by := c.Holder()
		fail := func(format string, a ...any) (*ChainState, error) {
			return nil, &RouteError{Index: i, By: by, Reason: fmt.Sprintf(format, a...)}
		}
		if c.Custody.Pouch != id {
			return fail("it names pouch %s, not %s", c.Custody.Pouch.Short(), id.Short())
		}
		if st.Delivered {
			return fail("the pouch was already delivered")
		}
		if i > len(t.Via) {
			return fail("the route has no more positions")
		}
		if c.Custody.From != st.Holder {
			return fail("it says it received the pouch from %s, but %s held it", c.Custody.From, st.Holder)
		}
		delivery := i == len(t.Via)
		as := t.To
		if !delivery {
			as = t.Via[i]
		}
		role := fmt.Sprintf("envoy %d of %d, %s", i+1, len(t.Via), as)
		if delivery {
			role = "the addressee, " + string(as)
		}
		switch {
		case by == as && c.Custody.OnBehalf != "":
			return fail("on_behalf %s, but the signer is the route position itself", c.Custody.OnBehalf)
		case by != as && c.Custody.OnBehalf != as:
			return fail("not on the route: the next position is %s", role)
		case c.Custody.Delivered != delivery && delivery:
			return fail("the hand-over to the addressee's side must be marked delivered")
		case c.Custody.Delivered != delivery:
			return fail("marked delivered, but it is %s who carries it next", role)
		case by != as && allow == nil:
			return fail("signs on behalf of %s, and no grant was checked (verify against the log for delegations)", as)
		}
		if allow != nil {
			// For the route's own principal, allow still checks its key.
			if err := allow(HopQuery{Index: i, By: by, As: as, Custody: c}); err != nil {
				reason := "not accepted"
				if by != as {
					reason = "may not stand in for " + string(as)
				}
				return nil, &RouteError{Index: i, By: by, Reason: reason, Err: err}
			}
		}
		st.Hops = append(st.Hops, Hop{By: by, As: as, Delivery: delivery})
		st.Holder = by
		st.Delivered = delivery
	}
	if !st.Delivered {
		if n := len(st.Hops); n < len(t.Via) {
			st.Next = t.Via[n]
		} else {
			st.Next = t.To
		}
	}
	return st, nil
}
