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
	g := w.grant("ir/fm", "ir/aide", Grant{Abilities: []Ability{Receive}}) // private, and allowed
	// Its revocation is public even so: a private one would leave every
	// client but the grant's parties sealing to the delegate.
	s, r = w.sign(record.KindGrantRevoke, true, &GrantRevoke{Grant: g}, []record.Handle{"ir/fm"}, w.ps["ir/fm"].key)
	refusedPrivate(t, w, s, r)
	if ge, ok := w.d.Grant(g); !ok || ge.Revoked != nil {
		t.Fatalf("a private grant-revoke revoked the grant: %+v", ge)
	}
	s, r = w.sign(record.KindGrantRevoke, false, &GrantRevoke{Grant: g}, []record.Handle{"ir/fm"}, w.ps["ir/fm"].key)
	w.must(s, r)

	// A client's directory, which cannot read the private grant, takes
	// its public revocation all the same; a server's refuses a revocation
	// of a grant it does not hold.
	full := New(Config{Mode: ModeOpen})
	partial := New(Config{Mode: ModeOpen, Partial: true})
	revoke, rr := w.sign(record.KindGrantRevoke, false, &GrantRevoke{Grant: record.ID{7}}, []record.Handle{"ir/fm"}, w.ps["ir/fm"].key)
	for _, d := range []*Directory{full, partial} {
		// The same directory as w's, without the grant.
		for _, e := range w.applied {
			if e.r.Kind == record.KindGrant || e.r.Kind == record.KindGrantRevoke {
				continue
			}
			if err := d.Apply(e.s, e.r, e.pos); err != nil && !strings.Contains(err.Error(), "is public") {
				t.Fatal(err)
			}
		}
	}
	if err := full.Apply(revoke, rr, w.pos()); !errors.Is(err, ErrNoGrant) {
		t.Fatalf("a full directory revoking a grant it does not hold: %v", err)
	}
	if err := partial.Apply(revoke, rr, w.pos()); err != nil {
		t.Fatalf("a partial directory: %v", err)
	}
}

func refusedPrivate(t *testing.T, w *world, s *record.Signed, r *record.Record) {
	t.Helper()
	err := w.apply(s, r)
	if !errors.Is(err, ErrMalformedBody) || !strings.Contains(err.Error(), "a "+string(r.Kind)+" record is public") {
		t.Fatalf("a private %s record: %v", r.Kind, err)
	}
}
