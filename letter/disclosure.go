package letter

import (
	"crypto"
	"errors"
	"fmt"

	"pouch.dev/record"
)

// A Disclosure is the body of a disclosure record: chosen sections of a
// letter, with the author's signed header they are checked against. It is
// a public record signed by the author or by a holder of a "disclose"
// grant from the author.
//
// SPEC: spec/letter.md#disclosure
type Disclosure struct {
	Header   []byte     `cbor:"header"`          // the author's signed letter header
	Pouch    *record.ID `cbor:"pouch,omitempty"` // the pouch the letter travelled in, to scope grants
	Sections []Revealed `cbor:"sections"`
}

// A Revealed section is a section with its index and salt, so anyone can
// recompute its commitment.
type Revealed struct {
	Index uint64 `cbor:"index" json:"index"`
	Title string `cbor:"title" json:"title"`
	Text  string `cbor:"text" json:"text"`
	Salt  []byte `cbor:"salt" json:"salt"`
}

// ErrNotDisclosure is returned for a record that is not a disclosure.
var ErrNotDisclosure = errors.New("not a disclosure")

// Disclose signs a public disclosure of the sections at indexes of an
// opened letter, by discloser (the author, or a holder of a disclose grant).
func Disclose(o *Opened, indexes []int, discloser record.Handle, key crypto.Signer, pouch *record.ID, t int64, origin string) (*record.Signed, error) {
	if len(indexes) == 0 {
		return nil, errors.New("disclose: no sections chosen")
	}
	d := &Disclosure{Header: o.Header.Signed.Record, Pouch: pouch}
	d.Header = o.Header.Signed.Marshal()
	for i, ix := range indexes {
		if ix < 0 || ix >= len(o.Sections) {
			return nil, fmt.Errorf("disclose: no section %d (the letter has %d, numbered from 0)", ix, len(o.Sections))
		}
		if i > 0 && ix <= indexes[i-1] {
			return nil, errors.New("disclose: section numbers must be increasing and distinct")
		}
		s := o.Sections[ix]
		d.Sections = append(d.Sections, Revealed{Index: uint64(ix), Title: s.Title, Text: s.Text, Salt: s.Salt})
	}
	return record.Sign(&record.Record{Kind: record.KindDisclosure, Origin: origin, By: []record.Handle{discloser}, Time: t}, d, key)
}

// A VerifiedDisclosure is a disclosure whose sections match the author's
// signed header.
type VerifiedDisclosure struct {
	Signed      *record.Signed
	Record      *record.Record
	Discloser   record.Handle
	Pouch       *record.ID
	Header      *SignedHeader
	Sections    []Revealed
	Undisclosed int // how many sections of the letter stay hidden
}

// VerifyDisclosure checks a signed disclosure: its signature, the author's
// signature on the header inside, and that every revealed section matches
// its commitment. Whether the discloser may disclose (the author, or a
// disclose grant) is the directory's business; IsAuthor tells the first.
//
// SPEC: spec/letter.md#disclosure
func VerifyDisclosure(b []byte) (*VerifiedDisclosure, error) {
	s, r, err := record.Verify(b)
	if err != nil {
		return nil, fmt.Errorf("disclosure: %w", err)
	}
	if r.Kind != record.KindDisclosure {
		return nil, fmt.Errorf("%w: a %s record", ErrNotDisclosure, r.Kind)
	}
	if len(r.By) != 1 || r.Private() {
		return nil, fmt.Errorf("%w: a disclosure is public and has one signer", ErrMalformedLetter)
	}
	var d Disclosure
	if err := r.DecodeBody(&d); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedLetter, err)
	}
	h, err := VerifyHeader(d.Header)
	if err != nil {
		return nil, fmt.Errorf("disclosure: %w", err)
	}
	if len(d.Sections) == 0 {
		return nil, fmt.Errorf("%w: a disclosure reveals no section", ErrMalformedLetter)
	}
	for i, rv := range d.Sections {
		if i > 0 && rv.Index <= d.Sections[i-1].Index {
			return nil, fmt.Errorf("%w: disclosed sections not in increasing order", ErrMalformedLetter)
		}
		if rv.Index >= uint64(len(h.Header.Sections)) {
			return nil, fmt.Errorf("%w: section %d of a letter of %d sections", ErrMalformedLetter, rv.Index, len(h.Header.Sections))
		}
		c, err := Commit(int(rv.Index), &Section{Title: rv.Title, Text: rv.Text, Salt: rv.Salt})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformedLetter, err)
		}
		if c != h.Header.Sections[rv.Index] {
			return nil, fmt.Errorf("disclosed section %d (%q): %w", rv.Index, rv.Title, ErrCommitment)
		}
	}
	return &VerifiedDisclosure{
		Signed: s, Record: r, Discloser: r.By[0], Pouch: d.Pouch, Header: h,
		Sections: d.Sections, Undisclosed: len(h.Header.Sections) - len(d.Sections),
	}, nil
}

// IsAuthor reports whether the disclosure is signed by the letter's author
// with the key that signed the header.
func (v *VerifiedDisclosure) IsAuthor() bool {
	return v.Discloser == v.Header.Header.From && v.Signed.KeyOf(0).Equal(v.Header.Author())
}
