package server

import (
	"fmt"

	"pouch.dev/directory"
	"pouch.dev/record"
)

// This file is the one place where the server reads the bodies of the
// correspondence kinds (tag, custody, publish). It adapts them to what the
// authorisation rules of package directory need.

// TagBody is the body of a tag record: a pouch's outer tag, signed by the
// sender (the record's only signer). It is what carriers and the server
// see of a pouch.
//
// SPEC: spec/api.md#tag
type TagBody struct {
	To      record.Handle   `cbor:"to"`
	Via     []record.Handle `cbor:"via,omitempty"`
	Payload []byte          `cbor:"payload"`          // SHA-256 of the sealed payload (the age file)
	Letter  *record.ID      `cbor:"letter,omitempty"` // the letter header's record ID, inside the payload
	Thread  *record.ID      `cbor:"thread,omitempty"` // the first pouch of the thread
	ReplyTo *record.ID      `cbor:"reply-to,omitempty"`
	Readers []record.Handle `cbor:"readers,omitempty"` // extra principals the payload is sealed to, as the sender declares
}

// CustodyBody is the body of a custody record, signed by the new holder:
// "I now hold pouch P, received from X". A delivery is the last one,
// signed by the addressee or by a receive delegate on its behalf.
//
// SPEC: spec/api.md#custody
type CustodyBody struct {
	Pouch    record.ID     `cbor:"pouch"`
	From     record.Handle `cbor:"from"`
	Delivery bool          `cbor:"delivery,omitempty"`
	OnBehalf record.Handle `cbor:"on-behalf,omitempty"` // the addressee, when a delegate signs delivery
}

// PublishBody is the body of a publish record: a party makes one of its
// private records public.
//
// SPEC: spec/api.md#publish
type PublishBody struct {
	Record record.ID `cbor:"record"`
}

// MaxVia is the longest route of envoys.
const MaxVia = 16

func parseTag(r *record.Record) (*TagBody, error) {
	var b TagBody
	if err := r.DecodeBody(&b); err != nil {
		return nil, err
	}
	if len(r.By) != 1 {
		return nil, fmt.Errorf("a tag is signed by its sender alone")
	}
	if !r.Private() {
		return nil, fmt.Errorf("a tag must be private (carry a salt)")
	}
	if !b.To.Valid() {
		return nil, fmt.Errorf("tag: bad addressee %q", b.To)
	}
	if len(b.Via) > MaxVia {
		return nil, fmt.Errorf("tag: route of %d envoys (limit %d)", len(b.Via), MaxVia)
	}
	seen := map[record.Handle]bool{r.By[0]: true, b.To: true}
	for _, h := range b.Via {
		if !h.Valid() {
			return nil, fmt.Errorf("tag: bad envoy %q", h)
		}
		if seen[h] {
			return nil, fmt.Errorf("tag: %s appears twice on the route (sender, envoys, addressee)", h)
		}
		seen[h] = true
	}
	for _, h := range b.Readers {
		if !h.Valid() {
			return nil, fmt.Errorf("tag: bad reader %q", h)
		}
	}
	if len(b.Payload) != 32 {
		return nil, fmt.Errorf("tag: payload hash of %d bytes, want SHA-256", len(b.Payload))
	}
	return &b, nil
}

func parseCustody(r *record.Record) (*CustodyBody, error) {
	var b CustodyBody
	if err := r.DecodeBody(&b); err != nil {
		return nil, err
	}
	if len(r.By) != 1 {
		return nil, fmt.Errorf("a custody record is signed by its new holder alone")
	}
	if !b.From.Valid() {
		return nil, fmt.Errorf("custody: bad from %q", b.From)
	}
	if b.OnBehalf != "" && !b.Delivery {
		return nil, fmt.Errorf("custody: on-behalf is only for a delivery")
	}
	return &b, nil
}

func parsePublish(r *record.Record) (*PublishBody, error) {
	var b PublishBody
	if err := r.DecodeBody(&b); err != nil {
		return nil, err
	}
	if r.Private() {
		return nil, fmt.Errorf("a publish record is public (no salt)")
	}
	return &b, nil
}

// route returns the directory's view of a pouch's route.
func (p *pouchState) route() directory.Route {
	ids := []record.ID{p.ID}
	if p.Tag.Thread != nil {
		ids = append(ids, *p.Tag.Thread)
	}
	return directory.Route{Pouch: p.ID, From: p.From, To: p.Tag.To, Via: p.Tag.Via, IDs: ids}
}
