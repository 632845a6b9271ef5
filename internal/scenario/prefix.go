package scenario

import (
	"crypto"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"pouch.dev/directory"
	"pouch.dev/record"
)

// CollidingGrants signs two public carry grants from from to to whose
// IDs share their first 8 hex digits, for the tests of short IDs: an
// ambiguous prefix. It varies the grants' purpose, a birthday search of
// about 2^16 record encodings (a fraction of a second), and signs only
// the two it keeps.
func CollidingGrants(from record.Handle, key crypto.Signer, to record.Handle, origin string, claimed int64) (a, b *record.Signed, err error) {
	mk := func(i int) (*record.Record, *directory.Grant) {
		return &record.Record{Kind: record.KindGrant, By: []record.Handle{from}, Time: claimed, Origin: origin},
			&directory.Grant{To: to, Abilities: []directory.Ability{directory.Carry}, Purpose: fmt.Sprintf("test of short IDs, variant %d", i)}
	}
	seen := map[uint32]int{}
	for i := 0; i < 1<<21; i++ {
		r, g := mk(i)
		body, err := record.Marshal(g)
		if err != nil {
			return nil, nil, err
		}
		r.Body, r.V = body, record.Version
		enc, err := record.Marshal(r)
		if err != nil {
			return nil, nil, err
		}
		id := sha256.Sum256(enc)
		p := binary.BigEndian.Uint32(id[:4])
		j, ok := seen[p]
		if !ok {
			seen[p] = i
			continue
		}
		ra, ga := mk(j)
		rb, gb := mk(i)
		if a, err = record.Sign(ra, ga, key); err != nil {
			return nil, nil, err
		}
		if b, err = record.Sign(rb, gb, key); err != nil {
			return nil, nil, err
		}
		if a.ID().String()[:8] != b.ID().String()[:8] {
			return nil, nil, errors.New("scenario: colliding grants differ once signed")
		}
		return a, b, nil
	}
	return nil, nil, errors.New("scenario: no two grants with a common 8-digit ID prefix")
}
