package letter

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"pouch.dev/record"
)

// A Header is the body of a letter record: the author's signed statement of
// what the letter is, to whom, and what its sections and attachments are.
// It travels inside the sealed payload and, later, inside disclosures.
//
// The claimed time of writing is the record's time.
//
// SPEC: spec/letter.md#header
type Header struct {
	ID          ID              `cbor:"id"`
	Thread      *record.ID      `cbor:"thread,omitempty"` // the pouch ID of the conversation's first pouch
	From        record.Handle   `cbor:"from"`             // the author; the record's signer
	To          record.Handle   `cbor:"to"`               // the addressee
	Readers     []record.Handle `cbor:"readers"`          // every principal the payload is sealed to, sorted
	Sections    []Commitment    `cbor:"sections"`
	Attachments []AttachmentRef `cbor:"attachments,omitempty"`
}

// An AttachmentRef commits to one attachment: its name, size and SHA-256.
type AttachmentRef struct {
	Name   string `cbor:"name" json:"name"`
	Size   uint64 `cbor:"size" json:"size"`
	SHA256 []byte `cbor:"sha256" json:"sha256"`
}

// Errors a verifier branches on.
var (
	ErrNotLetter       = errors.New("not a letter header")
	ErrHeaderMismatch  = errors.New("the letter header does not match its pouch")
	ErrCommitment      = errors.New("section does not match its commitment in the signed header")
	ErrAttachment      = errors.New("attachment does not match its commitment in the signed header")
	ErrMalformedLetter = errors.New("malformed letter")
)

func (h *Header) check() error {
	for _, x := range []record.Handle{h.From, h.To} {
		if _, err := record.ParseHandle(string(x)); err != nil {
			return fmt.Errorf("%w: header: %v", ErrMalformedLetter, err)
		}
	}
	if len(h.Readers) == 0 || len(h.Readers) > record.MaxReaders {
		return fmt.Errorf("%w: header names %d readers (want 1 to %d)", ErrMalformedLetter, len(h.Readers), record.MaxReaders)
	}
	for i, r := range h.Readers {
		if _, err := record.ParseHandle(string(r)); err != nil {
			return fmt.Errorf("%w: header: reader: %v", ErrMalformedLetter, err)
		}
		if i > 0 && h.Readers[i-1] >= r {
			return fmt.Errorf("%w: header: readers not sorted and unique", ErrMalformedLetter)
		}
	}
	if !slices.Contains(h.Readers, h.To) || !slices.Contains(h.Readers, h.From) {
		return fmt.Errorf("%w: header: the addressee and the author must be readers", ErrMalformedLetter)
	}
	if len(h.Sections) == 0 || len(h.Sections) > record.MaxSections {
		return fmt.Errorf("%w: header commits to %d sections (want 1 to %d)", ErrMalformedLetter, len(h.Sections), record.MaxSections)
	}
	if len(h.Attachments) > record.MaxAttachments {
		return fmt.Errorf("%w: %d attachments (limit %d)", record.ErrTooLarge, len(h.Attachments), record.MaxAttachments)
	}
	var total uint64
	for i, a := range h.Attachments {
		if err := checkAttachmentName(a.Name); err != nil {
			return fmt.Errorf("%w: attachment %d: %v", ErrMalformedLetter, i, err)
		}
		if len(a.SHA256) != 32 {
			return fmt.Errorf("%w: attachment %d: digest of %d bytes", ErrMalformedLetter, i, len(a.SHA256))
		}
		total += a.Size
		if a.Size > record.MaxAttachmentsSize || total > record.MaxAttachmentsSize {
			return fmt.Errorf("attachments of %d bytes or more: %w (limit %d)", total, record.ErrTooLarge, record.MaxAttachmentsSize)
		}
	}
	return nil
}

// checkAttachmentName accepts a plain file name: no path, no control
// characters, not "." or "..".
func checkAttachmentName(n string) error {
	switch {
	case n == "" || n == "." || n == "..":
		return fmt.Errorf("name %q not allowed", n)
	case len(n) > record.MaxAttachmentNameLen:
		return fmt.Errorf("name of %d bytes (limit %d)", len(n), record.MaxAttachmentNameLen)
	case !utf8.ValidString(n):
		return errors.New("name not valid UTF-8")
	}
	for _, c := range n {
		if c < 0x20 || c == 0x7f || c == '/' || c == '\\' {
			return fmt.Errorf("name %q: character %q not allowed", n, c)
		}
	}
	return nil
}

// SignHeader signs h as a letter record by its author, with claimed time t
// (Unix milliseconds) and log origin origin (may be empty).
func SignHeader(h *Header, author crypto.Signer, t int64, origin string) (*record.Signed, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	return record.Sign(&record.Record{Kind: record.KindLetter, Origin: origin, By: []record.Handle{h.From}, Time: t}, h, author)
}

// A SignedHeader is a verified letter header.
type SignedHeader struct {
	Signed *record.Signed
	Record *record.Record
	Header *Header
}

// Author returns the key that signed the header.
func (s *SignedHeader) Author() ed25519.PublicKey { return s.Signed.KeyOf(0) }

// VerifyHeader parses signed letter header bytes, checks the signature and
// the body, and that the signer is the header's "from".
func VerifyHeader(b []byte) (*SignedHeader, error) {
	s, r, err := record.Verify(b)
	if err != nil {
		return nil, fmt.Errorf("letter header: %w", err)
	}
	if r.Kind != record.KindLetter {
		return nil, fmt.Errorf("%w: a %s record", ErrNotLetter, r.Kind)
	}
	if len(r.By) != 1 {
		return nil, fmt.Errorf("%w: letter header signed by %d principals, want 1", ErrMalformedLetter, len(r.By))
	}
	var h Header
	if err := r.DecodeBody(&h); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedLetter, err)
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	if h.From != r.By[0] {
		return nil, fmt.Errorf("%w: header from %s but signed by %s", ErrMalformedLetter, h.From, r.By[0])
	}
	return &SignedHeader{Signed: s, Record: r, Header: &h}, nil
}

// CheckSections checks sections against the header's commitments: the same
// number, each matching.
func (h *Header) CheckSections(ss []Section) error {
	if len(ss) != len(h.Sections) {
		return fmt.Errorf("%w: %d sections for %d commitments", ErrCommitment, len(ss), len(h.Sections))
	}
	for i := range ss {
		c, err := Commit(i, &ss[i])
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformedLetter, err)
		}
		if !bytes.Equal(c[:], h.Sections[i][:]) {
			return fmt.Errorf("section %d (%q): %w", i, ss[i].Title, ErrCommitment)
		}
	}
	return nil
}
