package letter

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"pouch.dev/record"
)

// A Tag is the body of a pouch's outer tag: a private record signed by the
// sender, and all that a carrier sees of the pouch. The pouch's ID, which
// custody records name, is the tag record's ID (record.Signed.ID).
//
// The claimed time of sealing is the record's time.
//
// Version 2 of the tag added the sender's requests for evidence: a
// deadline for delivery (DeliverBy), consent before delivery (Consent),
// and a logged access record before the addressee's side takes the
// payload (Access, implied by Consent). A tag without its version (the
// first format) is refused.
//
// SPEC: spec/letter.md#tag
type Tag struct {
	V       uint64          `cbor:"v,omitempty"`      // the tag's format version, TagVersion (required; omitempty only so that a tag without one is named as such)
	ID      ID              `cbor:"id"`               // the letter's ID, as in its header
	From    record.Handle   `cbor:"from"`             // the sender, the letter's author
	To      record.Handle   `cbor:"to"`               // the addressee
	Via     []record.Handle `cbor:"via,omitempty"`    // the envoys, in order
	Thread  *record.ID      `cbor:"thread,omitempty"` // as in the header
	Payload [32]byte        `cbor:"payload"`          // SHA-256 of the sealed payload
	Size    uint64          `cbor:"size"`             // the payload's length in bytes
	// DeliverBy is the deadline for delivery, Unix milliseconds: a pouch
	// not delivered by then gets a non-delivery record
	// (spec/evidence.md#non-delivery). 0: none.
	DeliverBy int64 `cbor:"deliver_by,omitempty"`
	// Consent asks the addressee's side to accept the pouch (an
	// acceptance record) before it may be delivered or its payload read.
	Consent bool `cbor:"consent,omitempty"`
	// Access asks the addressee's side to log an access record before the
	// server gives it the payload; Consent implies it.
	Access bool `cbor:"access,omitempty"`
}

// TagVersion is the tag format this package writes and reads.
const TagVersion = 2

// Deadline returns the tag's deadline for delivery, if it has one.
func (t *Tag) Deadline() (time.Time, bool) {
	if t.DeliverBy == 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(t.DeliverBy).UTC(), true
}

// NeedsAccess reports whether the addressee's side must log an access
// record before it is given the payload: the sender asked for it, or for
// consent.
func (t *Tag) NeedsAccess() bool { return t.Access || t.Consent }

// ErrNotTag is returned for a record that is not a pouch tag.
var ErrNotTag = errors.New("not a pouch tag")

func (t *Tag) check() error {
	if t.V != TagVersion {
		if t.V == 0 {
			return fmt.Errorf("%w: a tag without a version (the first tag format, before deadlines and consent); this pouch reads version %d tags: seal the pouch again", record.ErrUnknownVersion, TagVersion)
		}
		return fmt.Errorf("%w: tag version %d (this pouch reads version %d)", record.ErrUnknownVersion, t.V, TagVersion)
	}
	if t.DeliverBy < 0 {
		return fmt.Errorf("%w: tag: deliver_by %d is before 1970", ErrMalformedLetter, t.DeliverBy)
	}
	if t.Consent && t.Access {
		return fmt.Errorf("%w: tag: consent implies access; set one of them", ErrMalformedLetter)
	}
	for _, x := range []record.Handle{t.From, t.To} {
		if _, err := record.ParseHandle(string(x)); err != nil {
			return fmt.Errorf("%w: tag: %v", ErrMalformedLetter, err)
		}
	}
	if len(t.Via) > record.MaxVia {
		return fmt.Errorf("tag names %d envoys: %w (limit %d)", len(t.Via), record.ErrTooLarge, record.MaxVia)
	}
	for _, v := range t.Via {
		if _, err := record.ParseHandle(string(v)); err != nil {
			return fmt.Errorf("%w: tag: envoy: %v", ErrMalformedLetter, err)
		}
		if v == t.To || v == t.From {
			return fmt.Errorf("%w: tag: %s is on the route twice", ErrMalformedLetter, v)
		}
	}
	for i := range t.Via {
		if slices.Contains(t.Via[:i], t.Via[i]) {
			return fmt.Errorf("%w: tag: envoy %s named twice", ErrMalformedLetter, t.Via[i])
		}
	}
	if t.From == t.To {
		return fmt.Errorf("%w: tag: a letter from %s to itself", ErrMalformedLetter, t.From)
	}
	if t.Size > record.MaxPayloadSize {
		return fmt.Errorf("payload of %d bytes: %w (limit %d)", t.Size, record.ErrTooLarge, record.MaxPayloadSize)
	}
	return nil
}

// Route returns the pouch's route: sender, envoys, addressee.
func (t *Tag) Route() []record.Handle {
	r := make([]record.Handle, 0, len(t.Via)+2)
	r = append(r, t.From)
	r = append(r, t.Via...)
	return append(r, t.To)
}

// SignTag signs t as a private tag record by its sender, with salt (of
// record.SaltSize bytes) and claimed time tm. t.V is set to TagVersion.
func SignTag(t *Tag, sender crypto.Signer, salt []byte, tm int64, origin string) (*record.Signed, error) {
	t.V = TagVersion
	if err := t.check(); err != nil {
		return nil, err
	}
	return record.Sign(&record.Record{Kind: record.KindTag, Origin: origin, By: []record.Handle{t.From}, Time: tm, Salt: salt}, t, sender)
}

// A SignedTag is a verified pouch tag.
type SignedTag struct {
	Signed *record.Signed
	Record *record.Record
	Tag    *Tag
}

// PouchID returns the pouch's ID, the tag record's ID.
func (s *SignedTag) PouchID() record.ID { return s.Signed.ID() }

// Sender returns the key that signed the tag.
func (s *SignedTag) Sender() ed25519.PublicKey { return s.Signed.KeyOf(0) }

// ThreadIDs returns the IDs that scope grants for this pouch: the pouch's
// own ID and, for a reply, its thread.
func (s *SignedTag) ThreadIDs() []record.ID {
	ids := []record.ID{s.PouchID()}
	if s.Tag.Thread != nil {
		ids = append(ids, *s.Tag.Thread)
	}
	return ids
}

// VerifyTag parses signed tag bytes, checks the signature and the body, and
// that the signer is the tag's "from".
func VerifyTag(b []byte) (*SignedTag, error) {
	s, r, err := record.Verify(b)
	if err != nil {
		return nil, fmt.Errorf("pouch tag: %w", err)
	}
	return checkTagRecord(s, r)
}

func checkTagRecord(s *record.Signed, r *record.Record) (*SignedTag, error) {
	if r.Kind != record.KindTag {
		return nil, fmt.Errorf("%w: a %s record", ErrNotTag, r.Kind)
	}
	if len(r.By) != 1 || !r.Private() {
		return nil, fmt.Errorf("%w: a tag is private and has one signer", ErrMalformedLetter)
	}
	var t Tag
	if err := r.DecodeBody(&t); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedLetter, err)
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	if t.From != r.By[0] {
		return nil, fmt.Errorf("%w: tag from %s but signed by %s", ErrMalformedLetter, t.From, r.By[0])
	}
	return &SignedTag{Signed: s, Record: r, Tag: &t}, nil
}

// ErrPayload is returned when a payload does not match its tag.
var ErrPayload = errors.New("payload does not match the tag")

// CheckPayload checks a payload's digest and size against the tag.
func (t *Tag) CheckPayload(digest [32]byte, size uint64) error {
	if size != t.Size {
		return fmt.Errorf("%w: %d bytes, the tag says %d", ErrPayload, size, t.Size)
	}
	if digest != t.Payload {
		return fmt.Errorf("%w: its SHA-256 differs from the tag's (a byte was changed)", ErrPayload)
	}
	return nil
}

// PayloadDigest returns the SHA-256 of a payload held in memory.
func PayloadDigest(p []byte) [32]byte { return sha256.Sum256(p) }

// CheckHeader checks that a letter's signed header agrees with the tag of
// the pouch it came in: same letter ID, author, addressee and thread, and
// the same signing key. A header that was re-sealed under another tag, to
// another addressee, fails here.
//
// SPEC: spec/letter.md#binding
func (s *SignedTag) CheckHeader(h *SignedHeader) error {
	t, hd := s.Tag, h.Header
	switch {
	case t.ID != hd.ID:
		return fmt.Errorf("%w: letter %s in a pouch tagged for letter %s", ErrHeaderMismatch, hd.ID, t.ID)
	case t.From != hd.From:
		return fmt.Errorf("%w: letter from %s in a pouch from %s", ErrHeaderMismatch, hd.From, t.From)
	case t.To != hd.To:
		return fmt.Errorf("%w: letter to %s in a pouch to %s", ErrHeaderMismatch, hd.To, t.To)
	case (t.Thread == nil) != (hd.Thread == nil) || t.Thread != nil && *t.Thread != *hd.Thread:
		return fmt.Errorf("%w: the thread differs", ErrHeaderMismatch)
	case !s.Sender().Equal(h.Author()):
		return fmt.Errorf("%w: the tag and the header are signed by different keys", ErrHeaderMismatch)
	}
	return nil
}
