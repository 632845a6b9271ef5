package record

import (
	"crypto/ed25519"
	"crypto/sha512"
	"crypto/subtle"
	"sync"
	"sync/atomic"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// VerifyEd25519 reports whether sig is a valid Ed25519 signature of msg by
// the public key pub. Every Ed25519 verification in pouch goes through it.
//
// Its verdict is crypto/ed25519.Verify's on every input: the same rules
// (cofactorless verification, S below the group order, R compared as
// bytes, non-canonical and small-order A accepted as crypto/ed25519
// accepts them). It runs on curve25519-voi, and keeps recently used public
// keys in a bounded cache (ed25519CacheSize keys), since pouch verifies
// many signatures from few signers:
//
//   - a key's first signatures are verified by curve25519-voi itself,
//     with VerifyOptionsStdLib and the key's expanded form (about 60 % of
//     crypto/ed25519's time on this project's machines);
//   - once tableAfter signatures have verified under a key, it gets a
//     precomputed table of multiples of −A (curve25519-voi's
//     EdwardsBasepointTable, 40 KiB, built once in about 80 µs; at most
//     ed25519TableCacheSize keys have one), and [k](−A) is computed from
//     that table as [S]B is from the base point's: the same equation,
//     each side a fixed-base multiplication, in about two thirds of the
//     time of the double-base one.
//
// The differential tests in ed25519_test.go hold both paths to
// crypto/ed25519's verdicts on the published edge-case vectors and on
// fuzzed inputs.
//
// Unlike crypto/ed25519.Verify, which panics, it returns false for a key
// that is not 32 bytes long (and, like it, for a signature that is not 64).
//
// SPEC: spec/records.md#signature-verification
func VerifyEd25519(pub, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	k := cachedKey(pub)
	if k == nil {
		// Not a point on the curve: crypto/ed25519 refuses it too.
		return false
	}
	if t := k.table.Load(); t != nil {
		return verifyTable(t, pub, msg, sig)
	}
	ok := voi.VerifyExpandedWithOptions(k.exp, msg, sig, stdlibOptions)
	if ok && k.valid.Add(1) == tableAfter {
		k.buildTable(pub)
	}
	return ok
}

// stdlibOptions selects crypto/ed25519's rules in curve25519-voi.
var stdlibOptions = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// verifyTable is crypto/ed25519's verification with −A's table t: S
// canonical, R canonical (an R that is not can never equal the encoding it
// is compared with), k = SHA-512(R ‖ pub ‖ msg) mod ℓ, and the canonical
// encoding of [S]B + [k](−A) equal to R's 32 bytes. pub and sig have the
// right lengths.
func verifyTable(t *curve.EdwardsBasepointTable, pub, msg, sig []byte) bool {
	if !scalar.ScMinimalVartime(sig[32:]) {
		return false
	}
	var r curve.CompressedEdwardsY
	if _, err := r.SetBytes(sig[:32]); err != nil || !r.IsCanonicalVartime() {
		return false
	}
	var s, k scalar.Scalar
	if _, err := s.SetBytesModOrder(sig[32:]); err != nil {
		return false
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(pub)
	h.Write(msg)
	var d [sha512.Size]byte
	if _, err := k.SetBytesModOrderWide(h.Sum(d[:0])); err != nil {
		return false
	}
	var sB, kA curve.EdwardsPoint
	sB.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, &s)
	kA.MulBasepoint(t, &k)
	sB.Add(&sB, &kA)
	var got curve.CompressedEdwardsY
	got.SetEdwardsPoint(&sB)
	return subtle.ConstantTimeCompare(got[:], sig[:32]) == 1
}

// ed25519CacheSize bounds the cache of expanded public keys: about 1.5 KiB
// each, so at most about 6 MiB. A key missing from the cache costs its
// expansion, a few microseconds, on top of a verification.
const ed25519CacheSize = 4096

// tableAfter is how many signatures must have verified under a key before
// it gets its table: a table costs about as much to build as two
// verifications save, so keys used once or twice never get one, and a
// flood of new keys costs each of them at most one build per tableAfter
// valid signatures.
const tableAfter = 16

// ed25519TableCacheSize bounds how many cached keys have a table: 40 KiB
// each, so at most 10 MiB. When it is reached, building a table drops
// another key's (which then verifies by the expanded form and earns a
// table again after tableAfter more signatures).
const ed25519TableCacheSize = 256

// A key is a public key's cached forms.
type key struct {
	exp   *voi.ExpandedPublicKey
	valid atomic.Uint32                               // signatures verified by exp while table was nil
	table atomic.Pointer[curve.EdwardsBasepointTable] // of −A, once valid reached tableAfter
}

// keyCache maps a public key to its cached forms. When full, an arbitrary
// entry (Go's map iteration starts at a random place) makes room: a flood
// of new keys costs each of them its expansion and nothing more. tables
// counts the entries with a table.
var keyCache = struct {
	sync.RWMutex
	m      map[[32]byte]*key
	tables int
}{m: make(map[[32]byte]*key, ed25519CacheSize)}

// cachedKey returns pub's cached forms, from the cache or computed and
// cached, or nil if pub is not the encoding of a point.
func cachedKey(pub []byte) *key {
	kb := [32]byte(pub)
	keyCache.RLock()
	e := keyCache.m[kb]
	keyCache.RUnlock()
	if e != nil {
		return e
	}
	exp, err := voi.NewExpandedPublicKey(pub)
	if err != nil {
		return nil
	}
	keyCache.Lock()
	defer keyCache.Unlock()
	if e := keyCache.m[kb]; e != nil {
		return e // cached meanwhile
	}
	e = &key{exp: exp}
	if len(keyCache.m) >= ed25519CacheSize {
		for old, o := range keyCache.m {
			if o.table.Swap(nil) != nil {
				keyCache.tables--
			}
			delete(keyCache.m, old)
			break
		}
	}
	keyCache.m[kb] = e
	return e
}

// buildTable gives k, pub's cached forms, its table of −A, dropping
// another key's if ed25519TableCacheSize keys have one. A key evicted from
// the cache meanwhile keeps its table until its last verification ends.
func (k *key) buildTable(pub []byte) {
	t := negTable(pub)
	if t == nil {
		return
	}
	keyCache.Lock()
	defer keyCache.Unlock()
	if keyCache.m[[32]byte(pub)] != k {
		return // evicted
	}
	if keyCache.tables >= ed25519TableCacheSize {
		for _, o := range keyCache.m {
			if o.table.Swap(nil) != nil {
				o.valid.Store(0)
				keyCache.tables--
				break
			}
		}
	}
	if k.table.Swap(t) == nil {
		keyCache.tables++
	}
}

// negTable returns the table of multiples of −A, for the key pub decoded
// as curve25519-voi's NewExpandedPublicKey decodes it, or nil if pub is
// not the encoding of a point.
func negTable(pub []byte) *curve.EdwardsBasepointTable {
	var c curve.CompressedEdwardsY
	var a curve.EdwardsPoint
	if _, err := c.SetBytes(pub); err != nil {
		return nil
	}
	if _, err := a.SetCompressedY(&c); err != nil {
		return nil
	}
	return curve.NewEdwardsBasepointTable(a.Neg(&a))
}
