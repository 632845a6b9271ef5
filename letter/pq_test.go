package letter_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"filippo.io/age"

	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/letter/lettertest"
	"pouch.dev/record"
)

// pqWorld seals a letter from ir/leader to ru/president, also readable by
// ru/duma-chair, and returns the .pouch file and the cast.
func pqWorld(t *testing.T) (file []byte, leader, president, duma *keys.Principal) {
	t.Helper()
	var ps []*keys.Principal
	for _, h := range []record.Handle{"ir/leader", "ru/president", "ru/duma-chair"} {
		p, err := keys.Generate(h)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	leader, president, duma = ps[0], ps[1], ps[2]
	ss, err := letter.ParseMarkdown([]byte("# To the President\n\n## Relations\n\nStrong and strategic.\n"))
	if err != nil {
		t.Fatal(err)
	}
	var payload bytes.Buffer
	s, err := letter.Seal(&payload, &letter.SealRequest{Author: leader, To: president.Public(), Readers: []*keys.Public{duma.Public()}, Sections: ss})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := letter.WriteFile(&b, &letter.FileHead{Tag: s.Tag.Signed.Marshal()}, &payload, uint64(payload.Len())); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), leader, president, duma
}

func openAs(b []byte, me *keys.Principal) (*letter.Opened, error) {
	f, err := letter.ReadFile(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return letter.OpenPouch(f, me, nil)
}

// verifyFile checks a .pouch file as a verifier who cannot open it does:
// the recipients, then the payload's digest.
func verifyFile(b []byte) error {
	f, err := letter.ReadFile(bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.CheckRecipients(); err != nil {
		return err
	}
	return f.Finish()
}

// A payload that wraps its file key to a classical X25519 recipient besides
// the hybrid ones is a downgrade: opening it, with a pouch or from the
// payload alone, and verifying it are refused, naming what was found.
// The same letter sealed again to the hybrid recipients alone opens.
func TestClassicalStanzaRefused(t *testing.T) {
	file, leader, president, duma := pqWorld(t)
	x, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	hybrids := []age.Recipient{leader.Recipient(), president.Recipient(), duma.Recipient()}

	good, err := lettertest.Reseal(file, president, leader.Signing, hybrids...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openAs(good.File, president); err != nil {
		t.Fatalf("resealed to hybrid recipients only: %v", err)
	}
	if err := verifyFile(good.File); err != nil {
		t.Fatalf("verifying the hybrid-only pouch: %v", err)
	}

	bad, err := lettertest.Reseal(file, president, leader.Signing, append(hybrids, x.Recipient())...)
	if err != nil {
		t.Fatal(err)
	}
	// The downgrade would open: the classical identity unwraps the file key.
	if _, err := age.Decrypt(bytes.NewReader(bad.Payload), x); err != nil {
		t.Fatalf("the classical recipient cannot open the payload, so the test proves nothing: %v", err)
	}
	for _, me := range []*keys.Principal{president, duma, leader} {
		_, err := openAs(bad.File, me)
		var se *letter.StanzaError
		if !errors.Is(err, letter.ErrNotPostQuantum) || !errors.As(err, &se) {
			t.Fatalf("%s opened a downgraded pouch: %v", me.Handle, err)
		}
		if want := "the payload also wraps its file key to a classical X25519 recipient: a downgrade"; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("message %q does not start with %q", err, want)
		}
		if len(se.Types) != 4 || se.Types[3] != "X25519" {
			t.Errorf("stanza types %q", se.Types)
		}
	}
	if _, err := letter.Open(bytes.NewReader(bad.Payload), president, nil); !errors.Is(err, letter.ErrNotPostQuantum) {
		t.Fatalf("Open of the payload alone: %v", err)
	}
	if err := verifyFile(bad.File); !errors.Is(err, letter.ErrNotPostQuantum) {
		t.Fatalf("verifying a downgraded pouch: %v", err)
	}
	if err := letter.CheckRecipients(bytes.NewReader(bad.Payload)); !errors.Is(err, letter.ErrNotPostQuantum) {
		t.Fatalf("CheckRecipients: %v", err)
	}

	// Classical recipients alone.
	only, err := lettertest.Reseal(file, president, leader.Signing, x.Recipient(), x.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	err = letter.CheckRecipients(bytes.NewReader(only.Payload))
	if want := "the payload wraps its file key to 2 classical X25519 recipients, not to hybrid"; !errors.Is(err, letter.ErrNotPostQuantum) || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("classical only: %v", err)
	}
}

// A payload that is not an age file is malformed, not a downgrade.
func TestCheckRecipientsNotAge(t *testing.T) {
	for _, p := range []string{"", "payload", "age-encryption.org/v1\n-> X25519\n"} {
		err := letter.CheckRecipients(strings.NewReader(p))
		if !errors.Is(err, letter.ErrMalformedLetter) || errors.Is(err, letter.ErrNotPostQuantum) {
			t.Errorf("%q: %v", p, err)
		}
	}
}
