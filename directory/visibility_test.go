package directory

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"filippo.io/age"
	"pouch.dev/record"
)

// House, admit and key-revoke records with a salt are refused, and change
// nothing: a private revocation would leave every client but its signer
// sealing to the revoked key. Grants may be private.
func TestDirectoryRecordsArePublic(t *testing.T) {
	w := newWorld(t, ModeOpen)
	k := newKey()
	s, r := w.sign(record.KindHouse, true, &House{House: "ir", Registrar: k.Public().(ed25519.PublicKey)}, []record.Handle{"ir/registrar"}, k)
	refusedPrivate(t, w, s, r)
	if _, ok := w.d.House("ir"); ok {
		t.Fatal("a private house record founded the house")
	}

	w.house("ir")
	id, _ := age.GenerateHybridIdentity()
	key := newKey()
	s, r = w.sign(record.KindAdmit, true, &Admit{Handle: "ir/fm", Key: key.Public().(ed25519.PublicKey), Recipient: id.Recipient().String()},
		[]record.Handle{"ir/registrar"}, w.regs["ir"])
	refusedPrivate(t, w, s, r)
	if _, err := w.d.KeyAt("ir/fm", w.idx); !errors.Is(err, ErrUnknownPrincipal) {
		t.Fatalf("after a private admit, ir/fm: %v", err)
	}

	p := w.admit("ir/fm")
	s, r = w.sign(record.KindKeyRevoke, true, &KeyRevoke{Handle: "ir/fm", Key: p.key.Public().(ed25519.PublicKey)}, []record.Handle{"ir/registrar"}, w.regs["ir"])
	refusedPrivate(t, w, s, r)
	if err := w.d.CheckKey("ir/fm", p.key.Public().(ed25519.PublicKey), w.idx); err != nil {
		t.Fatalf("a private key-revoke revoked the key: %v", err)
	}

	w.admit("ir/aide")
	w.grant("ir/fm", "ir/aide", Grant{Abilities: []Ability{Receive}}) // private, and allowed
}

func refusedPrivate(t *testing.T, w *world, s *record.Signed, r *record.Record) {
	t.Helper()
	err := w.apply(s, r)
	if !errors.Is(err, ErrMalformedBody) || !strings.Contains(err.Error(), "a "+string(r.Kind)+" record is public") {
		t.Fatalf("a private %s record: %v", r.Kind, err)
	}
}
