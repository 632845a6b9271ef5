package server

import (
	"net/http"

	"pouch.dev/directory"
	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// Disclosures are public records signed by a letter's author, or by a
// holder of a "disclose" grant from the author whose scope covers the
// letter as its signed header describes it (package ledger). The revealed
// sections must match the commitments of the author's signed header
// inside, and that header must be signed with a key of the author's office.
//
// SPEC: spec/api.md#disclosure
func init() {
	RegisterKind(record.KindDisclosure, KindRules{
		Verify: func(s *record.Signed, r *record.Record) (any, error) {
			v, err := letter.VerifyDisclosure(s.Marshal())
			if err != nil {
				return nil, &apiError{status: http.StatusBadRequest, err: err}
			}
			return v, nil
		},
		Check: func(d *directory.Directory, v any, pos directory.Pos) error {
			return ledger.CheckDisclosure(d, v.(*letter.VerifiedDisclosure), pos)
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
