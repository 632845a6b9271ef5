package record

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"
)

type testBody struct {
	Pouch ID     `cbor:"pouch"`
	From  Handle `cbor:"from"`
	Note  string `cbor:"note,omitempty"`
}

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
}

func TestSignVerifyRoundTrip(t *testing.T) {
	k := testKey(1)
	s, err := Sign(&Record{Kind: KindCustody, Origin: "pouch.test/log", By: []Handle{"ir/speaker"}, Time: 1613000000000, Salt: bytes.Repeat([]byte{7}, SaltSize)},
		testBody{From: "ir/leader"}, k)
	if err != nil {
		t.Fatal(err)
	}
	b := s.Marshal()
	s2, r, err := Verify(b)
	if err != nil {
		t.Fatal(err)
	}
	if s2.ID() != s.ID() || r.Signer() != "ir/speaker" || !r.Private() {
		t.Fatalf("round trip changed the record: %+v", r)
	}
	var body testBody
	if err := r.DecodeBody(&body); err != nil || body.From != "ir/leader" {
		t.Fatalf("body: %v %+v", err, body)
	}
	if !bytes.Equal(s2.Marshal(), b) {
		t.Fatal("re-encoding differs")
	}
}

// Every single-byte change of a signed record is rejected.
func TestMangledRecordsRejected(t *testing.T) {
	s, err := Sign(&Record{Kind: KindGrant, By: []Handle{"ru/president"}, Time: 1}, testBody{From: "ir/leader", Note: "receive"}, testKey(2))
	if err != nil {
		t.Fatal(err)
	}
	b := s.Marshal()
	for i := range b {
		for _, delta := range []byte{1, 0x80} {
			m := bytes.Clone(b)
			m[i] ^= delta
			if _, _, err := Verify(m); err == nil {
				t.Errorf("byte %d ^ %#x accepted", i, delta)
			}
		}
	}
}

func TestSignatureContextSeparatesKinds(t *testing.T) {
	k := testKey(3)
	s, _ := Sign(&Record{Kind: KindCustody, By: []Handle{"ir/speaker"}, Time: 1}, testBody{}, k)
	// The same bytes signed as a custody record do not verify as a grant.
	if ed25519.Verify(k.Public().(ed25519.PublicKey), SignedMessage(KindGrant, s.Record), s.Sigs[0].Sig) {
		t.Fatal("custody signature verifies under the grant context")
	}
}

func TestMissingAndExtraSignatures(t *testing.T) {
	a, b := testKey(4), testKey(5)
	s, err := Sign(&Record{Kind: KindLine, By: []Handle{"ir/fm", "ru/president"}, Time: 1}, testBody{}, a, b)
	if err != nil {
		t.Fatal(err)
	}
	one := &Signed{Record: s.Record, Sigs: s.Sigs[:1]}
	if _, _, err := Verify(one.Marshal()); !errors.Is(err, ErrMissingSig) {
		t.Fatalf("one signature of two: got %v, want ErrMissingSig", err)
	}
	swapped := &Signed{Record: s.Record, Sigs: []Sig{s.Sigs[1], s.Sigs[0]}}
	if _, _, err := Verify(swapped.Marshal()); err != nil {
		// Keys are checked against signers by the directory; the
		// signatures themselves are valid in any order.
		t.Fatalf("swapped signatures: %v", err)
	}
}

func TestNonCanonicalRejected(t *testing.T) {
	// An empty salt must be absent, not an empty byte string.
	r := Record{V: 1, Kind: KindTag, By: []Handle{"ir/leader"}, Time: 1, Salt: []byte{}, Body: []byte{0xa0}}
	type loose struct {
		V    uint64   `cbor:"v"`
		Kind Kind     `cbor:"kind"`
		By   []Handle `cbor:"by"`
		Time int64    `cbor:"time"`
		Salt []byte   `cbor:"salt"`
		Body []byte   `cbor:"body"`
	}
	b, _ := Marshal(loose{r.V, r.Kind, r.By, r.Time, r.Salt, nil})
	var got Record
	if err := Unmarshal(b, &got); err == nil {
		t.Fatal("non-canonical record accepted")
	}
}

func TestHandles(t *testing.T) {
	for _, ok := range []string{"ru/president", "ir/speaker-aide", "experts/e-01", "iaea/dg"} {
		if _, err := ParseHandle(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "ru", "ru/", "/x", "RU/president", "ru/pres ident", "ru/-x", "a/b/c", "ru/x-"} {
		if _, err := ParseHandle(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLeaf(t *testing.T) {
	want := Leaf{Kind: KindCustody, ID: ID{1, 2, 3}, Time: 1612792800000, Private: true}
	b := LeafData(want)
	l, err := ParseLeaf(b)
	if err != nil || l != want {
		t.Fatalf("%v %+v", err, l)
	}
	if !l.Sequenced().Equal(time.UnixMilli(1612792800000)) {
		t.Fatalf("sequenced at %v", l.Sequenced())
	}
	// [kind, id, time, private]: 1 + 8 + 34 + 9 + 1 bytes for a custody record.
	if len(b) != 53 {
		t.Fatalf("leaf of %d bytes: %x", len(b), b)
	}
	// Every field is committed: changing one changes the bytes.
	for _, o := range []Leaf{
		{Kind: KindTag, ID: want.ID, Time: want.Time, Private: true},
		{Kind: KindCustody, ID: ID{9}, Time: want.Time, Private: true},
		{Kind: KindCustody, ID: want.ID, Time: want.Time + 1, Private: true},
		{Kind: KindCustody, ID: want.ID, Time: want.Time},
	} {
		if bytes.Equal(LeafData(o), b) {
			t.Errorf("%+v encodes as %+v", o, want)
		}
	}
	for _, bad := range []Leaf{{Kind: "nope", ID: want.ID}, {Kind: KindTag, ID: want.ID, Time: -1}} {
		if _, err := ParseLeaf(LeafData(bad)); err == nil {
			t.Errorf("%+v parsed", bad)
		}
	}
	// A leaf of the first format, [kind, id], is refused.
	old, _ := Marshal([]any{string(KindCustody), want.ID[:]})
	if _, err := ParseLeaf(old); err == nil {
		t.Error("a two-element leaf parsed")
	}
}
