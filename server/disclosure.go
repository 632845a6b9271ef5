package server

import (
	"fmt"
	"net/http"

	"pouch.dev/directory"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// Disclosures are public records signed by a letter's author, or by a
// holder of a "disclose" grant from the author scoped to the pouch the
// letter travelled in (or unscoped). The revealed sections must match the
// commitments of the author's signed header inside, and that header must be
// signed with a key that held the author's office.
//
// SPEC: spec/api.md#disclosure
func init() {
	RegisterKind(record.KindDisclosure, KindRules{
		Check: func(d *directory.Directory, s *record.Signed, r *record.Record, pos directory.Pos) error {
			v, err := letter.VerifyDisclosure(s.Marshal())
			if err != nil {
				return &apiError{status: http.StatusBadRequest, err: err}
			}
			author := v.Header.Header.From
			if e, ok := d.KeyOwner(v.Header.Author()); !ok || e.Handle != author {
				return &apiError{status: http.StatusForbidden, err: fmt.Errorf("the letter header inside is not signed by a key of %s", author)}
			}
			if v.IsAuthor() {
				return nil
			}
			var ids []record.ID
			if v.Pouch != nil {
				ids = append(ids, *v.Pouch)
			}
			if _, err := d.MayDisclose(v.Discloser, author, ids, pos); err != nil {
				return fmt.Errorf("%s may not disclose a letter of %s: %w", v.Discloser, author, err)
			}
			return nil
		},
		Refs: func(r *record.Record) []record.ID {
			var d letter.Disclosure
			if r.DecodeBody(&d) == nil && d.Pouch != nil {
				return []record.ID{*d.Pouch}
			}
			return nil
		},
	})
}
