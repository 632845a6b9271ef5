package record

import (
	"crypto/ed25519"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// VerifyEd25519 reports whether sig is a valid Ed25519 signature of msg by
// the public key pub. Every Ed25519 verification in pouch goes through it.
//
// Its verdict is crypto/ed25519.Verify's on every input: the same rules
// (cofactorless verification, S below the group order, R compared as
// bytes, non-canonical and small-order A accepted as crypto/ed25519
// accepts them). It runs on curve25519-voi with VerifyOptionsStdLib, whose
// precomputed tables verify in about 60 % of crypto/ed25519's time on this
// project's machines, and keeps the expanded form of recently used public
// keys in a bounded cache (ed25519CacheSize keys), since pouch verifies
// many signatures from few signers. The differential tests in
// ed25519_test.go hold the two to the same verdict on the published
// edge-case vectors and on fuzzed inputs.
//
// Unlike crypto/ed25519.Verify, which panics, it returns false for a key
// that is not 32 bytes long (and, like it, for a signature that is not 64).
//
// SPEC: spec/records.md#signature-verification
func VerifyEd25519(pub, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	k := expandedKey(pub)
	if k == nil {
		// Not a point on the curve: crypto/ed25519 refuses it too.
		return false
	}
	return voi.VerifyExpandedWithOptions(k, msg, sig, stdlibOptions)
}

// stdlibOptions selects crypto/ed25519's rules in curve25519-voi.
var stdlibOptions = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// ed25519CacheSize bounds the cache of expanded public keys: about 1.5 KiB
// each, so at most about 6 MiB. A key missing from the cache costs its
// expansion, a few microseconds, on top of a verification.
const ed25519CacheSize = 4096

// keyCache maps a public key to its expanded form. When full, an arbitrary
// entry (Go's map iteration starts at a random place) makes room: a flood
// of new keys costs each of them its expansion and nothing more.
var keyCache = struct {
	sync.RWMutex
	m map[[32]byte]*voi.ExpandedPublicKey
}{m: make(map[[32]byte]*voi.ExpandedPublicKey, ed25519CacheSize)}

// expandedKey returns pub's expanded form, from the cache or computed and
// cached, or nil if pub is not the encoding of a point.
func expandedKey(pub []byte) *voi.ExpandedPublicKey {
	k := [32]byte(pub)
	keyCache.RLock()
	e := keyCache.m[k]
	keyCache.RUnlock()
	if e != nil {
		return e
	}
	e, err := voi.NewExpandedPublicKey(pub)
	if err != nil {
		return nil
	}
	keyCache.Lock()
	if len(keyCache.m) >= ed25519CacheSize {
		for old := range keyCache.m {
			delete(keyCache.m, old)
			break
		}
	}
	keyCache.m[k] = e
	keyCache.Unlock()
	return e
}
