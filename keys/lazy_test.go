package keys

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"filippo.io/age"
)

// A lazy principal answers for its public keys without loading, loads once
// on the first signature or unwrap, and then signs and opens as the
// principal itself.
func TestLazyLoadsOnFirstUse(t *testing.T) {
	p, _ := Generate("ir/leader")
	loads := 0
	lp, err := Lazy(p.Public(), func() (*Principal, error) { loads++; return p, nil })
	if err != nil {
		t.Fatal(err)
	}
	if !lp.Public().Equal(p.Public()) || lp.Recipient().String() != p.Recipient().String() || loads != 0 {
		t.Fatalf("public keys: loads=%d", loads)
	}
	if err := lp.Ready(); err != nil || loads != 1 {
		t.Fatalf("Ready: %v, loads=%d", err, loads)
	}
	msg := []byte("pouch.dev/v1/test\x00hello")
	sig, err := lp.Signing.Sign(nil, msg, crypto.Hash(0))
	if err != nil || !ed25519.Verify(p.SigningPublic(), msg, sig) || loads != 1 {
		t.Fatalf("sign: %v, loads=%d", err, loads)
	}
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, p.Recipient())
	io.WriteString(w, "sealed")
	w.Close()
	r, err := age.Decrypt(&buf, lp.Sealing)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(r); string(b) != "sealed" || loads != 1 {
		t.Fatalf("unwrap: %q, loads=%d", b, loads)
	}
	if _, _, err := lp.InMemory(); err != nil || lp.Ready() != nil || loads != 1 {
		t.Fatalf("InMemory: %v, loads=%d", err, loads)
	}
}

// A load that fails fails every later use, without loading again; one that
// returns other keys than the public file's is refused.
func TestLazyRefusals(t *testing.T) {
	p, _ := Generate("ir/leader")
	errLocked := errors.New("locked")
	loads := 0
	lp, _ := Lazy(p.Public(), func() (*Principal, error) { loads++; return nil, errLocked })
	for range 2 {
		if _, err := lp.Signing.Sign(nil, []byte("m"), crypto.Hash(0)); !errors.Is(err, errLocked) {
			t.Fatalf("sign after a failed load: %v", err)
		}
	}
	if loads != 1 {
		t.Fatalf("%d loads, want 1", loads)
	}
	other, _ := Generate("ir/leader")
	lp, _ = Lazy(p.Public(), func() (*Principal, error) { return other, nil })
	if _, err := lp.Signing.Sign(nil, []byte("m"), crypto.Hash(0)); !errors.Is(err, ErrConflict) {
		t.Fatalf("other keys: %v", err)
	}
	// A failed load is never "not sealed to you".
	lp, _ = Lazy(p.Public(), func() (*Principal, error) { return nil, age.ErrIncorrectIdentity })
	if _, err := lp.Sealing.Unwrap(nil); err == nil || errors.Is(err, age.ErrIncorrectIdentity) {
		t.Fatalf("unwrap after a failed load: %v", err)
	}
}

// Home.Lazy reads the public file now and asks for the passphrase only on
// first use.
func TestHomeLazy(t *testing.T) {
	h := &Home{Dir: filepath.Join(t.TempDir(), "home"), ScryptLogN: testLogN}
	p, _ := Generate("ru/president")
	if err := h.Save(p, "pw"); err != nil {
		t.Fatal(err)
	}
	asked := 0
	lp, err := h.Lazy("ru/president", func() (string, error) { asked++; return "pw", nil })
	if err != nil || asked != 0 || !lp.Public().Equal(p.Public()) {
		t.Fatalf("Lazy: %v, asked %d", err, asked)
	}
	if _, err := lp.Signing.Sign(nil, []byte("m"), crypto.Hash(0)); err != nil || asked != 1 {
		t.Fatalf("sign: %v, asked %d", err, asked)
	}
	wrong, _ := h.Lazy("ru/president", func() (string, error) { return "nope", nil })
	if _, err := wrong.Signing.Sign(nil, []byte("m"), crypto.Hash(0)); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := h.Lazy("ru/nobody", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown principal: %v", err)
	}
}

// Keys held elsewhere cannot be written to a key file or exported.
func TestNotInMemory(t *testing.T) {
	p, _ := Generate("ir/speaker")
	elsewhere := &Principal{Handle: p.Handle, Signing: remoteSigner{p.SigningPublic()}, Sealing: p.Sealing}
	if _, err := elsewhere.MarshalKeyFile(); !errors.Is(err, ErrNotInMemory) {
		t.Fatalf("MarshalKeyFile: %v", err)
	}
	if _, err := elsewhere.Encrypt("pw", testLogN); !errors.Is(err, ErrNotInMemory) {
		t.Fatalf("Encrypt: %v", err)
	}
}

type remoteSigner struct{ pub ed25519.PublicKey }

func (s remoteSigner) Public() crypto.PublicKey { return s.pub }
func (s remoteSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("remote")
}
