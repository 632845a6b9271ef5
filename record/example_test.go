package record_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"pouch.dev/record"
)

// A record is signed once, travels as deterministic CBOR, and verifies
// anywhere: its signature is over the kind's own context string and the
// record's bytes, so that a changed byte, or the same bytes presented as
// another kind, fails.
func Example() {
	_, key, _ := ed25519.GenerateKey(nil)
	r := &record.Record{Kind: record.KindStatement, Origin: "pouch.example/log", By: []record.Handle{"experts/convener"}, Time: 1612785600000}
	s, err := record.Sign(r, map[string]any{"title": "Experts' statement on the JCPOA"}, key)
	if err != nil {
		panic(err)
	}
	b := s.Marshal()

	// Anyone verifies it with the key the record carries; whether that is
	// the key of experts/convener is the directory's business.
	s2, r2, err := record.Verify(b)
	if err != nil {
		panic(err)
	}
	fmt.Println(r2.Kind, r2.By[0], r2.Private(), s2.ID() == s.ID())

	// Any changed byte of the signed part is refused.
	b[len(b)-3] ^= 1
	_, _, err = record.Verify(b)
	fmt.Println(errors.Is(err, record.ErrBadSignature))
	// Output:
	// statement experts/convener false true
	// true
}
