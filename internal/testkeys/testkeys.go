// Package testkeys gives tests deterministic Ed25519 keys for offices, and
// a fixed directory of them. It is imported by tests only: production
// code signs with keys made by package keys.
package testkeys

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"pouch.dev/record"
)

// Key returns a deterministic key for office h: the Ed25519 key whose seed
// is SHA-256("pouch.dev/test-key/" || h). It has the signature of the key
// function jcpoa.Build takes.
func Key(h record.Handle) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("pouch.dev/test-key/" + string(h)))
	return ed25519.NewKeyFromSeed(seed[:])
}

// A Directory is a fixed directory: each office in it holds one key from
// the start of the log, and acts for its own house. It implements
// agreement.Directory.
type Directory map[record.Handle]ed25519.PublicKey

// NewDirectory returns the Directory of hs, each with its Key.
func NewDirectory(hs ...record.Handle) Directory {
	d := Directory{}
	for _, h := range hs {
		d[h] = Key(h).Public().(ed25519.PublicKey)
	}
	return d
}

// CheckKey implements agreement.KeyChecker.
func (d Directory) CheckKey(h record.Handle, key []byte, index uint64) error {
	k, ok := d[h]
	if !ok {
		return fmt.Errorf("%s is not in the directory", h)
	}
	if !k.Equal(ed25519.PublicKey(key)) {
		return fmt.Errorf("key is not the current key of %s", h)
	}
	return nil
}

// Authorised implements agreement.Directory: an office acts for its house.
func (d Directory) Authorised(h record.Handle, house string, index uint64) bool {
	_, ok := d[h]
	return ok && h.House() == house
}
