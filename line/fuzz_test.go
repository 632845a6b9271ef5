package line

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"pouch.dev/record"
)

func FuzzParseRequest(f *testing.F) {
	sr, _ := NewRequest(president, speaker, origin, time.Unix(1774000000, 0), exampleKey(2))
	f.Add(sr.Header())
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		r, key, err := ParseRequest(h)
		if err != nil {
			return
		}
		b, _ := record.Marshal(r)
		if len(key) != ed25519.PublicKeySize || r.From == r.To || len(b) == 0 {
			t.Fatal("accepted a request that breaks the rules")
		}
	})
}

func FuzzVerifyCall(f *testing.F) {
	body := &CallBody{Participants: []record.Handle{speaker, president}, Start: 1, End: 2,
		Binding: bytes.Repeat([]byte{1}, BindingSize), Bytes: []uint64{3, 4}}
	s, _ := proposeCall(origin, body, exampleKey(1))
	f.Add(s.Marshal())
	s.AddSignature(exampleKey(2))
	f.Add(s.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := VerifyCall(b)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Signed.Marshal(), b) || len(c.Signed.Sigs) != 2 {
			t.Fatal("accepted a call record that does not re-encode to itself, or lacks a signature")
		}
	})
}
