package directory

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"pouch.dev/record"
)

// The fingerprint is OpenSSH's: this key and fingerprint are from
// ssh-keygen -t ed25519 and ssh-keygen -l.
func TestKeyFingerprint(t *testing.T) {
	k, _ := base64.StdEncoding.DecodeString("/BHwk8ty5T253EEb+uPN19XNjMNnyx+f+yv8zKst1Z8=")
	if got, want := KeyFingerprint(k), "SHA256:vkFy3atfVbbh0KiwFX2BnMObkX8zHYlkfxiBGwyshmQ"; got != want {
		t.Fatalf("fingerprint %s, want %s", got, want)
	}
}

// A founding request round-trips through its PEM text, is countersigned by
// the operator, and the record founds the house in operator mode; the
// request alone does not.
func TestFoundingRequest(t *testing.T) {
	op, reg := newKey(), newKey()
	q, err := NewFoundingRequest("ir", "Islamic Republic of Iran", reg, "pouch.example/log", 1612785600000)
	if err != nil {
		t.Fatal(err)
	}
	text := q.Marshal()
	if !bytes.Contains(text, []byte("-----BEGIN POUCH HOUSE REQUEST-----\n")) || !bytes.Contains(text, []byte("registrar: "+KeyFingerprint(reg.Public().(ed25519.PublicKey)))) {
		t.Fatalf("request text:\n%s", text)
	}
	p, err := ParseFoundingRequest(text)
	if err != nil {
		t.Fatal(err)
	}
	if p.House.House != "ir" || p.House.Name != "Islamic Republic of Iran" || !bytes.Equal(p.House.Registrar, reg.Public().(ed25519.PublicKey)) ||
		p.Record.Origin != "pouch.example/log" || !bytes.Equal(p.Signed.Marshal(), q.Signed.Marshal()) {
		t.Fatalf("parsed %+v", p)
	}

	w := newWorld(t, ModeOperator)
	w.d = New(Config{Mode: ModeOperator, Operator: op.Public().(ed25519.PublicKey)})
	if _, _, err := record.Verify(p.Signed.Marshal()); !errors.Is(err, record.ErrMissingSig) {
		t.Fatalf("the request itself, not countersigned: %v", err)
	}
	// Countersigned with another key: refused, as the server refuses it.
	s, err := p.Countersign(newKey())
	if err != nil {
		t.Fatal(err)
	}
	_, r, _ := record.Verify(s.Marshal())
	if err := w.apply(s, r); !errors.Is(err, ErrNotAuthorised) {
		t.Fatalf("countersigned by another operator key: %v", err)
	}
	s, err = p.Countersign(op)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Signed.Sigs) != 1 {
		t.Fatal("Countersign changed the request")
	}
	_, r, err = record.Verify(s.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.apply(s, r); err != nil {
		t.Fatalf("countersigned request: %v", err)
	}
	if _, err := ParseFoundingRequest(pemOf(s)); !errors.Is(err, ErrNotFoundingRequest) || !strings.Contains(err.Error(), "countersigned already") {
		t.Fatalf("a countersigned record as a request: %v", err)
	}
}

func pemOf(s *record.Signed) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: FoundingRequestType, Bytes: s.Marshal()})
}

// Wrong, tampered and foreign input is refused with the sentinel that
// names the problem.
func TestFoundingRequestRefused(t *testing.T) {
	reg := newKey()
	q, err := NewFoundingRequest("ir", "Iran", reg, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(r *record.Record, body any, keys ...ed25519.PrivateKey) *record.Signed {
		t.Helper()
		b, err := record.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r.V, r.Body = record.Version, b
		rec, err := record.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		s := &record.Signed{Record: rec}
		for _, k := range keys {
			s.AddSignature(k)
		}
		return s
	}
	pub := reg.Public().(ed25519.PublicKey)
	two := []record.Handle{"ir/registrar", OperatorHandle}
	// The house name changed in the signed record, signature kept.
	renamed := *q.Signed
	renamed.Record = bytes.Replace(q.Signed.Record, []byte("Iran"), []byte("Irak"), 1)
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrNotFoundingRequest},
		{"a key file", []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"), ErrNotFoundingRequest},
		{"trailing data", append(q.Marshal(), "more"...), ErrNotFoundingRequest},
		{"not a record", pem.EncodeToMemory(&pem.Block{Type: FoundingRequestType, Bytes: []byte{0xa0}}), ErrNotFoundingRequest},
		{"another kind", pemOf(sign(&record.Record{Kind: record.KindAdmit, By: two, Time: 1}, &Admit{Handle: "ir/x", Key: pub, Recipient: "x"}, reg)), ErrNotFoundingRequest},
		{"no operator named", pemOf(sign(&record.Record{Kind: record.KindHouse, By: two[:1], Time: 1}, &House{House: "ir", Registrar: pub}, reg)), ErrNotFoundingRequest},
		{"unsigned", pemOf(sign(&record.Record{Kind: record.KindHouse, By: two, Time: 1}, &House{House: "ir", Registrar: pub})), ErrNotFoundingRequest},
		{"signed as another house's registrar", pemOf(sign(&record.Record{Kind: record.KindHouse, By: []record.Handle{"ru/registrar", OperatorHandle}, Time: 1}, &House{House: "ir", Registrar: pub}, reg)), ErrNotAuthorised},
		{"signed by another key", pemOf(sign(&record.Record{Kind: record.KindHouse, By: two, Time: 1}, &House{House: "ir", Registrar: pub}, newKey())), ErrNotAuthorised},
		{"the reserved house", pemOf(sign(&record.Record{Kind: record.KindHouse, By: []record.Handle{"pouch/registrar", OperatorHandle}, Time: 1}, &House{House: "pouch", Registrar: pub}, reg)), ErrMalformedBody},
		{"tampered", pemOf(&renamed), record.ErrBadSignature},
	}
	for _, c := range cases {
		if _, err := ParseFoundingRequest(c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Every single-byte change of the signed record is refused.
	b := q.Signed.Marshal()
	for i := range b {
		m := bytes.Clone(b)
		m[i] ^= 0x01
		if _, err := ParseFoundingRequest(pem.EncodeToMemory(&pem.Block{Type: FoundingRequestType, Bytes: m})); err == nil {
			t.Fatalf("byte %d changed: accepted", i)
		}
	}
}
