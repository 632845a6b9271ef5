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
