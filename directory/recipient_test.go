package directory

import (
	"crypto/sha256"
	"errors"
	"testing"

	"filippo.io/age"
)

// TestAcceptedRecipientsChangeNoVerdict checks that remembering accepted
// recipients changes no verdict: a recipient accepted once is accepted
// again, and strings that differ from it by one character, or a classical
// recipient, are still refused after it is remembered.
func TestAcceptedRecipientsChangeNoVerdict(t *testing.T) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	good := id.Recipient().String()
	for range 2 {
		if err := checkRecipient(good); err != nil {
			t.Fatalf("checkRecipient(hybrid) = %v", err)
		}
	}
	sum := sha256Of(good)
	if !acceptedRecipients.has(sum) {
		t.Fatal("an accepted recipient is not remembered")
	}
	// One character changed breaks the bech32 checksum.
	b := []byte(good)
	b[len(b)-3] ^= 1
	if err := checkRecipient(string(b)); err == nil {
		t.Fatal("a recipient with a character changed was accepted after the original was remembered")
	}
	if acceptedRecipients.has(sha256Of(string(b))) {
		t.Fatal("a refused recipient was remembered")
	}
	x, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := checkRecipient(x.Recipient().String()); !errors.Is(err, ErrClassicalRecipient) {
			t.Fatalf("checkRecipient(X25519) = %v, want ErrClassicalRecipient", err)
		}
	}
}

// TestAcceptedRecipientsBounded checks that the set empties when full
// instead of growing.
func TestAcceptedRecipientsBounded(t *testing.T) {
	rs := recipientSet{m: make(map[[32]byte]struct{})}
	for i := range maxAcceptedRecipients + 10 {
		var s [32]byte
		s[0], s[1], s[2] = byte(i), byte(i>>8), byte(i>>16)
		rs.add(s)
	}
	if n := len(rs.m); n > maxAcceptedRecipients || n != 10 {
		t.Fatalf("after %d adds the set holds %d, want 10 (emptied once full)", maxAcceptedRecipients+10, n)
	}
}

// BenchmarkCheckRecipient compares a hybrid recipient's first check (its
// parse) with a check of one already accepted.
func BenchmarkCheckRecipient(b *testing.B) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		b.Fatal(err)
	}
	s := id.Recipient().String()
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			if err := parseRecipient(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("accepted", func(b *testing.B) {
		if err := checkRecipient(s); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := checkRecipient(s); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func sha256Of(s string) [32]byte { return sha256.Sum256([]byte(s)) }
