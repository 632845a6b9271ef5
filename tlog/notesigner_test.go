package tlog

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// TestNoteSigner: the signer that signs with curve25519-voi has x/mod's
// name and key hash and makes x/mod's signatures byte for byte (Ed25519
// signing is deterministic), over many keys and messages of every length
// up to a few blocks of SHA-512, and its notes open with x/mod's verifier.
// It refuses what note.NewSigner refuses.
func TestNoteSigner(t *testing.T) {
	for k := range 20 {
		skey, vkey, err := GenerateKey(fmt.Sprintf("pouch.test/log-%d", k))
		if err != nil {
			t.Fatal(err)
		}
		ours, err := NewNoteSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := note.NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		if ours.Name() != theirs.Name() || ours.KeyHash() != theirs.KeyHash() {
			t.Fatalf("name/hash %s/%08x, x/mod says %s/%08x", ours.Name(), ours.KeyHash(), theirs.Name(), theirs.KeyHash())
		}
		for n := 0; n < 300; n += 1 + k {
			msg := bytes.Repeat([]byte{byte(n), byte(k)}, n)[:n]
			a, err := ours.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := theirs.Sign(msg)
			if !bytes.Equal(a, b) {
				t.Fatalf("key %d, %d-byte message: signature %x, crypto/ed25519 gives %x", k, n, a, b)
			}
		}
		cp, err := signCheckpoint(ours, ours.Name(), uint64(k), make([]byte, 32))
		if err != nil {
			t.Fatal(err)
		}
		v, err := note.NewVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := note.Open(cp, note.VerifierList(v)); err != nil {
			t.Fatalf("a checkpoint it signed does not open: %v\n%s", err, cp)
		}
	}
	skey, _, _ := GenerateKey("pouch.test/log")
	for _, bad := range []string{
		"",
		"pouch.test/log+00000000+AQ==",
		strings.Replace(skey, "PRIVATE+KEY", "PUBLIC+KEY", 1),
		skey[:len(skey)-4],
	} {
		if _, err := NewNoteSigner(bad); err == nil {
			t.Errorf("NewNoteSigner(%q) accepted it", bad)
		}
		if _, err := note.NewSigner(bad); err == nil {
			t.Errorf("note.NewSigner(%q) accepted it; the test's key is not bad", bad)
		}
	}
}

// BenchmarkSignCheckpoint signs a checkpoint as a round does, with
// x/mod's signer (crypto/ed25519) and with NewNoteSigner's
// (curve25519-voi), side by side.
func BenchmarkSignCheckpoint(b *testing.B) {
	skey, _, err := GenerateKey("pouch.test/log")
	if err != nil {
		b.Fatal(err)
	}
	x, _ := note.NewSigner(skey)
	v, err := NewNoteSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	root := bytes.Repeat([]byte{7}, 32)
	for _, s := range []struct {
		name string
		s    note.Signer
	}{{"signer=crypto-ed25519", x}, {"signer=voi", v}} {
		b.Run(s.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, err := signCheckpoint(s.s, "pouch.test/log", uint64(i), root); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
