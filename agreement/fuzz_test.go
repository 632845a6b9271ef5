package agreement_test

import (
	"bytes"
	"testing"

	"pouch.dev/agreement"
	"pouch.dev/record"
)

// FuzzBodies decodes arbitrary bytes as each body kind: a body that
// decodes re-encodes to the same bytes, and checking it never panics.
func FuzzBodies(f *testing.F) {
	id := record.ID{7}
	for _, b := range []any{
		threeParties(),
		&agreement.Sign{Agreement: id, Party: "aa", Date: "2015-07-14"},
		&agreement.Withdraw{Agreement: id, Party: "us", Date: "2018-05-08"},
		&agreement.Attest{Agreement: id, Party: "ir", Clause: "nuclear", From: "2016-01-16", To: "2017-08-31", Date: "2017-08-31", Note: "n"},
		&agreement.Statement{Title: "t", Text: agreement.Digest(nil), Opened: "2017-09-13", Closes: "2017-12-31"},
		&agreement.Cosign{Statement: id},
	} {
		enc, err := record.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, v := range []interface {
			Check() error
		}{&agreement.Agreement{}, &agreement.Sign{}, &agreement.Withdraw{}, &agreement.Attest{}, &agreement.Statement{}, &agreement.Cosign{}} {
			if err := record.Unmarshal(in, v); err != nil {
				continue
			}
			v.Check()
			again, err := record.Marshal(v)
			if err != nil || !bytes.Equal(again, in) {
				t.Fatalf("%T: accepted %x, re-encodes to %x (%v)", v, in, again, err)
			}
		}
	})
}
