package httpsig

import (
	"crypto/ed25519"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const (
	originA = "pouch.localhost/log-a1"
	originB = "pouch.localhost/log-b2"
)

func TestSignVerify(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	now := time.Now()
	r := httptest.NewRequest("GET", "/v1/inbox?follow=1", nil)
	if err := Sign(r, originA, "ru/president", key, now); err != nil {
		t.Fatal(err)
	}
	s, err := Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID != "ru/president" || s.Origin != originA {
		t.Fatal(s.KeyID, s.Origin)
	}
	if err := s.Verify(r, originA, pub); err != nil {
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
	if err := s.Verify(r2, originA, pub); !errors.Is(err, ErrBadSig) {
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

// TestOrigin: a request signed for one log is refused by another, whether
// it is sent as signed (ErrWrongOrigin) or with its Pouch-Origin header
// rewritten to the other log's (the signature covers it: ErrBadSig); a
// request without the header, or with two, does not parse.
func TestOrigin(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	r := httptest.NewRequest("GET", "/v1/records/ab?x=1", nil)
	if err := Sign(r, originA, "ir/leader", key, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Header.Get("Signature-Input"), `"pouch-origin"`) {
		t.Fatalf("the signature does not cover pouch-origin: %s", r.Header.Get("Signature-Input"))
	}
	s, err := Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(r, originB, pub); !errors.Is(err, ErrWrongOrigin) || !strings.Contains(err.Error(), originA) {
		t.Fatalf("signed for A, verified at B: %v", err)
	}
	r.Header.Set(OriginHeader, originB)
	s, err = Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(r, originB, pub); !errors.Is(err, ErrBadSig) {
		t.Fatalf("signed for A, header rewritten to B: %v", err)
	}
	r.Header.Del(OriginHeader)
	if _, err := Parse(r); !errors.Is(err, ErrMalform) {
		t.Fatalf("no Pouch-Origin header: %v", err)
	}
	r.Header.Add(OriginHeader, originA)
	r.Header.Add(OriginHeader, originA)
	if _, err := Parse(r); !errors.Is(err, ErrMalform) {
		t.Fatalf("two Pouch-Origin headers: %v", err)
	}
	for _, o := range []string{"", "a b", "a\x7f", strings.Repeat("o", MaxOrigin+1)} {
		if err := Sign(httptest.NewRequest("GET", "/", nil), o, "ir/leader", key, time.Now()); !errors.Is(err, ErrMalform) {
			t.Errorf("signing for origin %q: %v", o, err)
		}
	}
}

// TestBase pins the signature base: RFC 9421 section 2.5, the covered
// components in order, then the signature parameters.
func TestBase(t *testing.T) {
	r := httptest.NewRequest("GET", "/v1/inbox?limit=5", nil)
	params := components + `;created=1700000000;nonce="00";keyid="ru/president";alg="ed25519";tag="pouch.dev/v1/request"`
	want := `"@method": GET
"@path": /v1/inbox
"@query": ?limit=5
"pouch-origin": pouch.localhost/log-a1
"@signature-params": ("@method" "@path" "@query" "pouch-origin");created=1700000000;nonce="00";keyid="ru/president";alg="ed25519";tag="pouch.dev/v1/request"`
	if got := string(base(r, originA, params)); got != want {
		t.Fatalf("signature base:\n%s\nwant:\n%s", got, want)
	}
}
