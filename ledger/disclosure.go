package ledger

import (
	"fmt"

	"pouch.dev/directory"
	"pouch.dev/letter"
)

// CheckDisclosure checks the authority behind a verified disclosure v at
// pos: the header inside is signed with a key that was admitted for its
// author's office, and the discloser is the author or holds a disclose
// grant from the author valid at pos whose scope covers the letter as its
// header describes it (its letter ID, its thread). Anyone can replay this
// from public records: the disclosure and the directory. The disclosure's
// sections were checked against the header by letter.VerifyDisclosure.
//
// SPEC: spec/api.md#disclosure
func CheckDisclosure(d *directory.Directory, v *letter.VerifiedDisclosure, pos Pos) error {
	if err := d.Check(v.Signed, v.Record, pos); err != nil {
		return err
	}
	h := v.Header.Header
	if e, ok := d.KeyOwner(v.Header.Author()); !ok || e.Handle != h.From || e.Admitted.Index >= pos.Index {
		return fmt.Errorf("%w: the letter header inside is not signed by a key of %s", ErrDisclosure, h.From)
	}
	if v.IsAuthor() {
		return nil
	}
	if _, err := d.MayDisclose(v.Discloser, h.From, h.ID[:], h.Thread, pos); err != nil {
		return fmt.Errorf("%s may not disclose a letter of %s: %w", v.Discloser, h.From, err)
	}
	return nil
}
