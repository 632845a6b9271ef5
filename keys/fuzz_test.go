package keys

import (
	"crypto/ed25519"
	"testing"
)

func FuzzParsePublic(f *testing.F) {
	p, _ := Generate("ru/president")
	f.Add(p.Public().Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParsePublic(b)
		if err != nil {
			return
		}
		again, err := ParsePublic(q.Marshal())
		if err != nil || !again.Equal(q) {
			t.Fatalf("accepted public file does not survive re-encoding: %v", err)
		}
	})
}

func FuzzParseKeyFile(f *testing.F) {
	p, _ := Generate("ir/leader")
	f.Add(mustKeyFile(f, p))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseKeyFile(b)
		if err != nil {
			return
		}
		again, err := ParseKeyFile(mustKeyFile(t, q))
		if err != nil || !again.Public().Equal(q.Public()) || !again.Signing.(ed25519.PrivateKey).Equal(q.Signing) {
			t.Fatalf("accepted key file does not survive re-encoding: %v", err)
		}
	})
}
