package record

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// An ed25519Case is one verification: a public key, a message and a
// signature, from a published vector file.
type ed25519Case struct {
	name          string
	pub, msg, sig []byte
}

// stdVerify is crypto/ed25519's verdict, the reference: it panics on a key
// that is not 32 bytes, which VerifyEd25519 calls invalid.
func stdVerify(pub, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(pub, msg, sig)
}

func gunzipFile(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "ed25519", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// ed25519VectorFiles loads every vector file in testdata/ed25519 (see its
// README.md for where each comes from), each with the number of cases it
// must hold, so that a truncated or missing file fails the test.
func ed25519VectorFiles(t testing.TB) map[string][]ed25519Case {
	out := map[string][]ed25519Case{}

	// C2SP's ed25519vectors: every combination of small-order and
	// non-canonical A and R, cofactored and cofactorless equations.
	var cctv []struct{ A, R, S, M string }
	if err := json.Unmarshal(gunzipFile(t, "ed25519vectors.json.gz"), &cctv); err != nil {
		t.Fatal(err)
	}
	for i, v := range cctv {
		out["ed25519vectors"] = append(out["ed25519vectors"], ed25519Case{fmt.Sprintf("ed25519vectors/%d", i),
			unhex(t, v.A), []byte(v.M), append(unhex(t, v.R), unhex(t, v.S)...)})
	}

	// Wycheproof's eddsa_test.json (Ed25519 groups only).
	var wp struct {
		TestGroups []struct {
			Key   struct{ Curve, Pk string }
			Tests []struct {
				TcID     int `json:"tcId"`
				Msg, Sig string
				Result   string
				Comment  string
				Flags    []string
			}
		}
	}
	if err := json.Unmarshal(gunzipFile(t, "eddsa_test.json.gz"), &wp); err != nil {
		t.Fatal(err)
	}
	for _, g := range wp.TestGroups {
		if g.Key.Curve != "edwards25519" {
			t.Fatalf("wycheproof: unexpected curve %q", g.Key.Curve)
		}
		for _, c := range g.Tests {
			out["wycheproof"] = append(out["wycheproof"], ed25519Case{fmt.Sprintf("wycheproof/tc%d", c.TcID),
				unhex(t, g.Key.Pk), unhex(t, c.Msg), unhex(t, c.Sig)})
		}
	}

	// "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko), the
	// ed25519-speccheck cases.
	var sc []struct{ Message, PubKey, Signature string }
	var raw []map[string]string
	if err := json.Unmarshal(gunzipFile(t, "speccheck_cases.json.gz"), &raw); err != nil {
		t.Fatal(err)
	}
	for _, m := range raw {
		sc = append(sc, struct{ Message, PubKey, Signature string }{m["message"], m["pub_key"], m["signature"]})
	}
	for i, v := range sc {
		out["speccheck"] = append(out["speccheck"], ed25519Case{fmt.Sprintf("speccheck/%d", i),
			unhex(t, v.PubKey), unhex(t, v.Message), unhex(t, v.Signature)})
	}

	// ZIP 215's cases: small-order keys and R with non-canonical
	// encodings, message "Zcash".
	var zip [][2]string
	if err := json.Unmarshal(gunzipFile(t, "zip215.json.gz"), &zip); err != nil {
		t.Fatal(err)
	}
	for i, v := range zip {
		out["zip215"] = append(out["zip215"], ed25519Case{fmt.Sprintf("zip215/%d", i),
			unhex(t, v[0]), []byte("Zcash"), unhex(t, v[1])})
	}

	// sign.input from the Ed25519 authors (a selection, as Go's
	// crypto/ed25519 ships it): valid signatures of messages of every
	// length up to 1023 bytes.
	sc2 := bufio.NewScanner(bytes.NewReader(gunzipFile(t, "sign.input.gz")))
	sc2.Buffer(nil, 1<<20)
	for i := 0; sc2.Scan(); i++ {
		f := strings.Split(sc2.Text(), ":")
		if len(f) != 5 {
			t.Fatalf("sign.input line %d: %d fields", i+1, len(f))
		}
		sig := unhex(t, f[3])
		out["sign.input"] = append(out["sign.input"], ed25519Case{fmt.Sprintf("sign.input/%d", i+1),
			unhex(t, f[1]), unhex(t, f[2]), sig[:ed25519.SignatureSize]})
	}

	want := map[string]int{"ed25519vectors": 768, "wycheproof": 145, "speccheck": 12, "zip215": 196, "sign.input": 128}
	for name, n := range want {
		if len(out[name]) != n {
			t.Fatalf("%s: %d vectors, want %d", name, len(out[name]), n)
		}
	}
	return out
}

// forgetKeys empties the cache of keys.
func forgetKeys() {
	keyCache.Lock()
	clear(keyCache.m)
	keyCache.tables = 0
	keyCache.Unlock()
}

// heatKey gives pub's cache entry its table at once, as tableAfter valid
// signatures would, and reports whether it has one (false if pub is not a
// point).
func heatKey(pub []byte) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	k := cachedKey(pub)
	if k == nil {
		return false
	}
	k.buildTable(pub)
	return k.table.Load() != nil
}

// tableVerdict is the table path's verdict on one input, its table built
// for it.
func tableVerdict(pub, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	t := negTable(pub)
	if t == nil {
		return false
	}
	return verifyTable(t, pub, msg, sig)
}

// TestVerifyEd25519Vectors: VerifyEd25519 reaches crypto/ed25519's
// verdict on every published edge case, with its key cache cold and warm,
// and curve25519-voi's plain (uncached) verification with the same options
// does too. Each file must have both accepted and rejected cases, so that
// a verifier that always says yes or always no cannot pass by agreeing on
// only one kind.
func TestVerifyEd25519Vectors(t *testing.T) {
	files := ed25519VectorFiles(t)
	for name, cases := range files {
		var accepted, hot int
		for _, c := range cases {
			want := stdVerify(c.pub, c.msg, c.sig)
			if want {
				accepted++
			}
			forgetKeys()
			if got := VerifyEd25519(c.pub, c.msg, c.sig); got != want {
				t.Errorf("%s: VerifyEd25519 (cold cache) = %v, crypto/ed25519 = %v", c.name, got, want)
			}
			if got := VerifyEd25519(c.pub, c.msg, c.sig); got != want {
				t.Errorf("%s: VerifyEd25519 (warm cache) = %v, crypto/ed25519 = %v", c.name, got, want)
			}
			if heatKey(c.pub) {
				hot++
				if got := VerifyEd25519(c.pub, c.msg, c.sig); got != want {
					t.Errorf("%s: VerifyEd25519 (key's table built) = %v, crypto/ed25519 = %v", c.name, got, want)
				}
			}
			if len(c.pub) == ed25519.PublicKeySize {
				if got := voi.VerifyWithOptions(c.pub, c.msg, c.sig, stdlibOptions); got != want {
					t.Errorf("%s: curve25519-voi VerifyWithOptions = %v, crypto/ed25519 = %v", c.name, got, want)
				}
			}
		}
		t.Logf("%s: %d cases, %d accepted by crypto/ed25519, %d also checked through the key's table, no disagreement", name, len(cases), accepted, hot)
		if hot < accepted {
			t.Errorf("%s: only %d cases went through the table path, fewer than the %d accepted", name, hot, accepted)
		}
		if name != "sign.input" && (accepted == 0 || accepted == len(cases)) {
			t.Errorf("%s: crypto/ed25519 accepted %d of %d: the file should hold both outcomes", name, accepted, len(cases))
		}
		if name == "sign.input" && accepted != len(cases) {
			t.Errorf("sign.input: crypto/ed25519 accepted %d of %d valid signatures", accepted, len(cases))
		}
	}
	// The cases "Taming the many EdDSAs" lists by number: crypto/ed25519
	// accepts small-order A and R (0-3) and a non-reduced A hashed as given
	// (11), and refuses the cofactored-only cases (4, 5), S ≥ ℓ (6, 7) and
	// non-canonical R (8, 9) and a reduced A (10).
	wantSC := []bool{true, true, true, true, false, false, false, false, false, false, false, true}
	for i, c := range files["speccheck"] {
		if got := VerifyEd25519(c.pub, c.msg, c.sig); got != wantSC[i] {
			t.Errorf("speccheck case %d: VerifyEd25519 = %v, want %v", i, got, wantSC[i])
		}
	}
}

// TestVerifyEd25519Mutations flips every bit of a valid signature, key and
// message in turn: crypto/ed25519 and VerifyEd25519 agree on each (all but
// a few of them invalid), and on wrong lengths.
func TestVerifyEd25519Mutations(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := SignedMessage(KindCosign, []byte("a record"))
	sig := ed25519.Sign(priv, msg)
	if !VerifyEd25519(pub, msg, sig) {
		t.Fatal("a valid signature does not verify")
	}
	check := func(what string, p, m, s []byte) {
		t.Helper()
		want := stdVerify(p, m, s)
		if got := VerifyEd25519(p, m, s); got != want {
			t.Fatalf("%s: VerifyEd25519 = %v, crypto/ed25519 = %v", what, got, want)
		}
		if got := tableVerdict(p, m, s); got != want {
			t.Fatalf("%s: the table path = %v, crypto/ed25519 = %v", what, got, want)
		}
	}
	var rejected int
	for i := range 8 * len(sig) {
		s := bytes.Clone(sig)
		s[i/8] ^= 1 << (i % 8)
		check(fmt.Sprintf("signature bit %d", i), pub, msg, s)
		if !VerifyEd25519(pub, msg, s) {
			rejected++
		}
	}
	for i := range 8 * len(pub) {
		p := bytes.Clone(pub)
		p[i/8] ^= 1 << (i % 8)
		check(fmt.Sprintf("key bit %d", i), p, msg, sig)
	}
	for i := range 8 * len(msg) {
		m := bytes.Clone(msg)
		m[i/8] ^= 1 << (i % 8)
		check(fmt.Sprintf("message bit %d", i), pub, m, sig)
	}
	if rejected < 8*len(sig)-8 {
		t.Fatalf("only %d of %d one-bit changes of a signature rejected", rejected, 8*len(sig))
	}
	check("short key", pub[:31], msg, sig)
	check("long key", append(bytes.Clone(pub), 0), msg, sig)
	check("short signature", pub, msg, sig[:63])
	check("long signature", pub, msg, append(bytes.Clone(sig), 0))
	check("empty", nil, nil, nil)
}

// TestVerifyEd25519CacheBounded: the cache of expanded keys never holds
// more than ed25519CacheSize keys, and a key evicted and seen again
// verifies as before.
func TestVerifyEd25519CacheBounded(t *testing.T) {
	forgetKeys()
	msg := []byte("m")
	pub0, priv0, _ := ed25519.GenerateKey(nil)
	sig0 := ed25519.Sign(priv0, msg)
	if !VerifyEd25519(pub0, msg, sig0) {
		t.Fatal("valid signature refused")
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	var seed [32]byte
	for range ed25519CacheSize + 100 {
		for i := range seed {
			seed[i] = byte(rnd.Uint32())
		}
		pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
		if VerifyEd25519(pub, msg, sig0) {
			t.Fatal("a signature verified under another key")
		}
	}
	keyCache.RLock()
	n := len(keyCache.m)
	keyCache.RUnlock()
	if n > ed25519CacheSize {
		t.Fatalf("cache holds %d keys, bound %d", n, ed25519CacheSize)
	}
	if !VerifyEd25519(pub0, msg, sig0) || VerifyEd25519(pub0, []byte("n"), sig0) {
		t.Fatal("verdicts changed after eviction")
	}
}

// TestVerifyEd25519Table: a key gets its table once tableAfter signatures
// have verified under it, not before and not for invalid ones, and then
// verifies through it with crypto/ed25519's verdicts.
func TestVerifyEd25519Table(t *testing.T) {
	forgetKeys()
	pub, priv, _ := ed25519.GenerateKey(nil)
	hasTable := func() bool { return cachedKey(pub).table.Load() != nil }
	bad := ed25519.Sign(priv, []byte("x"))
	for range 3 * tableAfter {
		if VerifyEd25519(pub, []byte("y"), bad) {
			t.Fatal("a signature verified for another message")
		}
	}
	if hasTable() {
		t.Fatal("invalid signatures earned the key a table")
	}
	for i := range tableAfter {
		if hasTable() {
			t.Fatalf("table built after %d valid signatures, want %d", i, tableAfter)
		}
		m := fmt.Appendf(nil, "m%d", i)
		if !VerifyEd25519(pub, m, ed25519.Sign(priv, m)) {
			t.Fatal("valid signature refused")
		}
	}
	if !hasTable() {
		t.Fatalf("no table after %d valid signatures", tableAfter)
	}
	for i := range 64 {
		m := fmt.Appendf(nil, "n%d", i)
		sig := ed25519.Sign(priv, m)
		if i%2 == 1 {
			sig[i%64] ^= 1 << (i % 8)
		}
		if got, want := VerifyEd25519(pub, m, sig), stdVerify(pub, m, sig); got != want || got != (i%2 == 0) {
			t.Fatalf("signature %d through the table: %v, crypto/ed25519 %v", i, got, want)
		}
	}
}

// TestVerifyEd25519TablesBounded: at most ed25519TableCacheSize keys have
// a table, the count stays true as tables are dropped and keys evicted,
// and a key whose table was dropped still verifies.
func TestVerifyEd25519TablesBounded(t *testing.T) {
	forgetKeys()
	msg := []byte("m")
	rnd := rand.New(rand.NewPCG(3, 4))
	var seed [32]byte
	type kp struct {
		pub ed25519.PublicKey
		sig []byte
	}
	var keys []kp
	for range ed25519TableCacheSize + 40 {
		for i := range seed {
			seed[i] = byte(rnd.Uint32())
		}
		priv := ed25519.NewKeyFromSeed(seed[:])
		pub := priv.Public().(ed25519.PublicKey)
		if !heatKey(pub) {
			t.Fatal("no table built")
		}
		keys = append(keys, kp{pub, ed25519.Sign(priv, msg)})
	}
	count := func() (n int) {
		keyCache.RLock()
		defer keyCache.RUnlock()
		for _, k := range keyCache.m {
			if k.table.Load() != nil {
				n++
			}
		}
		if n != keyCache.tables {
			t.Fatalf("%d keys have a table, the count says %d", n, keyCache.tables)
		}
		return n
	}
	if n := count(); n != ed25519TableCacheSize {
		t.Fatalf("%d keys have a table, want the bound %d", n, ed25519TableCacheSize)
	}
	for _, k := range keys {
		if !VerifyEd25519(k.pub, msg, k.sig) || VerifyEd25519(k.pub, []byte("n"), k.sig) {
			t.Fatal("wrong verdict after tables were dropped")
		}
	}
	// Evict keys with tables by filling the cache with others.
	for range ed25519CacheSize {
		for i := range seed {
			seed[i] = byte(rnd.Uint32())
		}
		cachedKey(ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey))
	}
	if n := count(); n >= ed25519TableCacheSize {
		t.Fatalf("%d keys still have a table after most were evicted", n)
	}
}

// TestVerifyEd25519Concurrent: many goroutines verifying under few keys,
// some signatures bad, all get crypto/ed25519's verdict (run under -race
// in CI).
func TestVerifyEd25519Concurrent(t *testing.T) {
	forgetKeys()
	type kp struct {
		pub  ed25519.PublicKey
		priv ed25519.PrivateKey
	}
	var ks []kp
	for range 4 {
		pub, priv, _ := ed25519.GenerateKey(nil)
		ks = append(ks, kp{pub, priv})
	}
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				k := ks[(g+i)%len(ks)]
				msg := fmt.Appendf(nil, "message %d %d", g, i)
				sig := ed25519.Sign(k.priv, msg)
				if i%3 == 0 {
					sig[i%64] ^= 0x10
				}
				if VerifyEd25519(k.pub, msg, sig) != (i%3 != 0) {
					errs <- fmt.Sprintf("goroutine %d, message %d: wrong verdict", g, i)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// FuzzVerifyEd25519 is the differential fuzzer: on any key, message and
// signature, VerifyEd25519 reaches crypto/ed25519's verdict. The seeds are
// every published vector, so mutations start at the edge cases; random
// inputs are almost all invalid, so the fuzzer also signs the message with
// a key derived from the input and mutates that signature's scalar and
// point in place, which keeps valid and almost-valid signatures in play.
// Run long (POUCH_LONG=1 bash .ci/run; see record/testdata/ed25519/README.md
// for the time it has run without a disagreement).
func FuzzVerifyEd25519(f *testing.F) {
	for _, cases := range ed25519VectorFiles(f) {
		for _, c := range cases {
			f.Add(c.pub, c.msg, c.sig, uint8(0), uint16(0))
		}
	}
	for i, c := range ed25519VectorFiles(f)["ed25519vectors"][:64] {
		f.Add(c.pub, c.msg, c.sig, uint8(1+2*(i%4)), uint16(i*257))
	}
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte, mode uint8, at uint16) {
		check := func(what string, p, m, s []byte) {
			want := stdVerify(p, m, s)
			if got := VerifyEd25519(p, m, s); got != want {
				t.Fatalf("%s: VerifyEd25519 = %v, crypto/ed25519 = %v\npub %x\nmsg %x\nsig %x", what, got, want, p, m, s)
			}
			if got := tableVerdict(p, m, s); got != want {
				t.Fatalf("%s: the table path = %v, crypto/ed25519 = %v\npub %x\nmsg %x\nsig %x", what, got, want, p, m, s)
			}
		}
		check("as given", pub, msg, sig)
		if mode&1 == 0 {
			return
		}
		// A valid signature by a key derived from the input, then
		// changed at one place: S, R or the key replaced by the input's
		// bytes, or one bit flipped.
		seed := sha512.Sum512(append(bytes.Clone(pub), sig...))
		priv := ed25519.NewKeyFromSeed(seed[:32])
		p := priv.Public().(ed25519.PublicKey)
		s := ed25519.Sign(priv, msg)
		check("valid", p, msg, s)
		switch mode >> 1 % 4 {
		case 0:
			s[int(at)%64] ^= 1 << (at >> 8 % 8)
		case 1:
			copy(s[32:], sig) // S from the input: often ≥ ℓ
		case 2:
			copy(s[:32], sig) // R from the input
		case 3:
			copy(p, pub) // A from the input
		}
		check("mutated", p, msg, s)
	})
}

// BenchmarkEd25519Verifiers measures, side by side in one run, a
// verification of a 288-byte signed message by crypto/ed25519,
// curve25519-voi with crypto/ed25519's rules, the same with the public key
// expanded once, the table path alone (−A's table built once), and
// VerifyEd25519 (its key cached, with its table after the first
// tableAfter verifications; and with the cache emptied before each).
func BenchmarkEd25519Verifiers(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := SignedMessage(KindCosign, make([]byte, 240))
	sig := ed25519.Sign(priv, msg)
	exp, err := voi.NewExpandedPublicKey([]byte(pub))
	if err != nil {
		b.Fatal(err)
	}
	tbl := negTable(pub)
	for _, v := range []struct {
		name string
		fn   func() bool
	}{
		{"crypto-ed25519", func() bool { return ed25519.Verify(pub, msg, sig) }},
		{"voi-stdlib", func() bool { return voi.VerifyWithOptions([]byte(pub), msg, sig, stdlibOptions) }},
		{"voi-stdlib-expanded", func() bool { return voi.VerifyExpandedWithOptions(exp, msg, sig, stdlibOptions) }},
		{"table", func() bool { return verifyTable(tbl, pub, msg, sig) }},
		{"VerifyEd25519", func() bool { return VerifyEd25519(pub, msg, sig) }},
		{"VerifyEd25519-cache-miss", func() bool { forgetKeys(); return VerifyEd25519(pub, msg, sig) }},
	} {
		b.Run(v.name, func(b *testing.B) {
			for b.Loop() {
				if !v.fn() {
					b.Fatal("valid signature refused")
				}
			}
		})
	}
}
