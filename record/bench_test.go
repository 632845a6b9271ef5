package record

import (
	"crypto/ed25519"
	"fmt"
	"testing"
)

// benchSigned returns a signed private record of about the size of a
// custody record or a pouch's tag (288 bytes), as the log's benchmarks use.
func benchSigned(b *testing.B) []byte {
	_, key, _ := ed25519.GenerateKey(nil)
	r := &Record{Kind: KindCosign, By: []Handle{"ir/president"}, Time: Now(), Salt: NewSalt()}
	s, err := Sign(r, map[string]any{"statement": fmt.Sprintf("%064d", 1)}, key)
	if err != nil {
		b.Fatal(err)
	}
	return s.Marshal()
}

// BenchmarkParse measures the strict decoding of a signed record and its
// record, with the canonical-encoding checks, without signatures.
func BenchmarkParse(b *testing.B) {
	enc := benchSigned(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is BenchmarkParse plus the Ed25519 verification.
func BenchmarkVerify(b *testing.B) {
	enc := benchSigned(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Verify(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEd25519Verify is the signature check alone, the floor of
// BenchmarkVerify.
func BenchmarkEd25519Verify(b *testing.B) {
	enc := benchSigned(b)
	s, r, _ := Parse(enc)
	msg := SignedMessage(r.Kind, s.Record)
	for b.Loop() {
		if !ed25519.Verify(s.Sigs[0].Key, msg, s.Sigs[0].Sig) {
			b.Fatal("bad signature")
		}
	}
}

// BenchmarkLeafData measures the encoding of a leaf, which the sequencer
// does for every leaf it hashes: LeafData, and the generic encoder it
// replaces.
func BenchmarkLeafData(b *testing.B) {
	l := Leaf{Kind: KindCosign, ID: ID{1, 2, 3}, Time: 1612792800000, Private: true}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			LeafData(l)
		}
	})
	b.Run("generic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Marshal(l); err != nil {
				b.Fatal(err)
			}
		}
	})
}
