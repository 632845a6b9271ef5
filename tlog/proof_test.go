package tlog

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	tproof "github.com/transparency-dev/formats/proof"
)

// proofFixture returns a log of 13 entries, its verifier, and the
// tlog-proof of entry 6 with the entry in its extra data.
func proofFixture(t *testing.T) (*Verifier, *Proof, [][]byte) {
	t.Helper()
	l, st := newTestLog(t)
	entries := appendN(t, st, 0, 13)
	ctx := context.Background()
	if _, err := l.Integrate(ctx); err != nil {
		t.Fatal(err)
	}
	cp, size := l.Checkpoint()
	hashes, err := l.Inclusion(ctx, 6, size)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(l.VerifierKey(), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return v, &Proof{Index: 6, Hashes: hashes, Checkpoint: cp, Extra: entries[6]}, entries
}

func TestProofRoundTrip(t *testing.T) {
	v, p, entries := proofFixture(t)
	b := p.Marshal()
	if !bytes.HasPrefix(b, []byte(ProofHeader+"\nextra ")) {
		t.Fatalf("tlog-proof text:\n%s", b)
	}
	q, err := ParseProof(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(q.Marshal(), b) || q.Index != 6 || !bytes.Equal(q.Extra, entries[6]) {
		t.Fatalf("round trip: %+v", q)
	}
	cp, err := q.Verify(v, q.Extra)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 13 {
		t.Fatalf("checkpoint of size %d", cp.Size)
	}
	// transparency-dev/formats reads what pouch writes, as the same proof.
	var tp tproof.TLogProof
	if err := tp.Unmarshal(b); err != nil || tp.Index != 6 || !bytes.Equal(tp.Checkpoint, p.Checkpoint) || len(tp.Hashes) != len(p.Hashes) {
		t.Fatalf("formats reads %+v, %v", tp, err)
	}
	// Another entry at that index, or the entry at another index, is
	// refused.
	if _, err := q.Verify(v, entries[5]); !errors.Is(err, ErrBadProof) {
		t.Fatalf("another entry: %v", err)
	}
	q.Index = 5
	if _, err := q.Verify(v, entries[6]); !errors.Is(err, ErrBadProof) {
		t.Fatalf("another index: %v", err)
	}
	// A checkpoint signed by another log is refused.
	other, _ := newTestLog(t)
	ov, _ := NewVerifier(other.VerifierKey(), nil, 0)
	if _, err := p.Verify(ov, p.Extra); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("another log's key: %v", err)
	}
}

// Every byte of a proof's text changed: either the parser refuses it, or
// it parses to a proof that no longer verifies; none verifies as the
// original.
func TestProofMangled(t *testing.T) {
	v, p, _ := proofFixture(t)
	b := p.Marshal()
	for i := range b {
		for _, x := range []byte{0x01, 0x20, 0x80} {
			m := bytes.Clone(b)
			m[i] ^= x
			q, err := ParseProof(m)
			if err != nil {
				if !errors.Is(err, ErrMalformedProof) {
					t.Fatalf("byte %d ^ %#x: %v", i, x, err)
				}
				continue
			}
			if _, err := q.Verify(v, q.Extra); err == nil && bytes.Equal(q.Extra, p.Extra) && q.Index == p.Index {
				t.Fatalf("byte %d ^ %#x: a changed proof verifies:\n%s", i, x, m)
			}
		}
	}
}

func TestParseProofStrict(t *testing.T) {
	_, p, _ := proofFixture(t)
	good := string(p.Marshal())
	for name, s := range map[string]string{
		"leading zero":         strings.Replace(good, "index 6\n", "index 06\n", 1),
		"carriage return":      strings.Replace(good, "index 6\n", "index 6\r\n", 1),
		"no final newline":     strings.TrimSuffix(good, "\n"),
		"trailing line":        good + "\n",
		"other header":         strings.Replace(good, "@v1", "@v2", 1),
		"index past the tree":  strings.Replace(good, "index 6\n", "index 13\n", 1),
		"short hash":           strings.Replace(good, "\n\n", "\nAAAA\n\n", 1),
		"no checkpoint":        good[:strings.Index(good, "\n\n")+2],
		"not a checkpoint":     good[:strings.Index(good, "\n\n")+2] + "pouch.test/log\nx\n",
		"non-canonical base64": strings.Replace(good, "=\n", "\n", 1),
	} {
		if _, err := ParseProof([]byte(s)); !errors.Is(err, ErrMalformedProof) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A proof whose checkpoint's signature line differs only in a padding
// bit of its base64 (the same signature, another text) is refused: no
// byte of a proof changes and it still verifies.
func TestProofNonCanonicalSignature(t *testing.T) {
	v, p, _ := proofFixture(t)
	good := string(p.Marshal())
	// The log's signature line, the last: "— NAME BASE64=", a 68-byte
	// key hash and signature, whose last base64 character before the
	// padding carries 2 unused bits.
	end := strings.LastIndex(good, "=\n")
	if end < 0 || end < strings.LastIndex(good, "\n— ") {
		t.Fatalf("no padded signature line at the end of:\n%s", good)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	bad := good[:end-1] + string(alphabet[strings.IndexByte(alphabet, good[end-1])^1]) + good[end:]
	q, err := ParseProof([]byte(bad))
	if err == nil {
		_, err = q.Verify(v, q.Extra)
	}
	if err == nil {
		t.Fatal("a proof whose checkpoint's signature is in non-canonical base64 verifies")
	}
}

func FuzzParseProof(f *testing.F) {
	f.Add([]byte("c2sp.org/tlog-proof@v1\nindex 0\n\no\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— o AAAA\n"))
	f.Add([]byte("c2sp.org/tlog-proof@v1\nextra AQID\nindex 3\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\no\n9\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProof(b)
		if err != nil {
			return
		}
		if again := p.Marshal(); !bytes.Equal(again, b) {
			t.Fatalf("proof %q re-encodes as %q", b, again)
		}
	})
}
