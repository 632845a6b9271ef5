package tlog

import (
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// TestNewNoteVerifier: the verifier that goes through record.VerifyEd25519
// has x/mod's name and key hash, accepts what x/mod's accepts, and refuses
// a note changed by one byte, a signature changed by one bit, and a key
// that is not a verifier key.
func TestNewNoteVerifier(t *testing.T) {
	skey, vkey, err := GenerateKey("pouch.test/log")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := note.Sign(&note.Note{Text: "pouch.test/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := NewNoteVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	theirs, _ := note.NewVerifier(vkey)
	if ours.Name() != theirs.Name() || ours.KeyHash() != theirs.KeyHash() {
		t.Fatalf("name/hash %s/%08x, x/mod says %s/%08x", ours.Name(), ours.KeyHash(), theirs.Name(), theirs.KeyHash())
	}
	if _, err := note.Open(msg, note.VerifierList(ours)); err != nil {
		t.Fatalf("a signed note does not verify: %v", err)
	}
	bad := append([]byte{}, msg...)
	bad[3] ^= 1
	if _, err := note.Open(bad, note.VerifierList(ours)); err == nil {
		t.Fatal("a changed note verifies")
	}
	sig := signer.Sign
	text := []byte("pouch.test/log\n1\n")
	s, _ := sig(text)
	s[10] ^= 0x40
	if ours.Verify(text, s) || theirs.Verify(text, s) {
		t.Fatal("a changed signature verifies")
	}
	if _, err := NewNoteVerifier("pouch.test/log+00000000+AQ=="); err == nil {
		t.Fatal("a malformed key is accepted")
	}
}
