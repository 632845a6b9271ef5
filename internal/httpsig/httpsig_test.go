package httpsig

import (
	"crypto/ed25519"
	"errors"
	"net/http/httptest"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	now := time.Now()
	r := httptest.NewRequest("GET", "/v1/inbox?follow=1", nil)
	Sign(r, "ru/president", key, now)
	s, err := Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID != "ru/president" {
		t.Fatal(s.KeyID)
	}
	if err := s.Verify(r, pub); err != nil {
		t.Fatal(err)
	}
	var rp Replay
	if err := rp.Check(s, now); err != nil {
		t.Fatal(err)
	}
	if err := rp.Check(s, now); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	// Another path with the same headers fails.
	r2 := httptest.NewRequest("GET", "/v1/inbox?follow=0", nil)
	r2.Header = r.Header
	if err := s.Verify(r2, pub); !errors.Is(err, ErrBadSig) {
		t.Fatalf("other query: %v", err)
	}
	old, _ := Parse(r)
	if err := new(Replay).Check(old, now.Add(10*time.Minute)); !errors.Is(err, ErrStale) {
		t.Fatalf("stale: %v", err)
	}
	r.Header.Set("Signature", "pouch=:AAAA:")
	if _, err := Parse(r); !errors.Is(err, ErrMalform) {
		t.Fatalf("malformed: %v", err)
	}
}
