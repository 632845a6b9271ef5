package directory

import (
	"bytes"
	"testing"

	"pouch.dev/record"
)

// FuzzApply feeds arbitrary bodies of every directory kind, signed by a
// registrar and by an admitted principal, to a directory: it must never
// panic, and a refused record must change nothing.
func FuzzApply(f *testing.F) {
	for _, b := range [][]byte{
		mustMarshal(&Grant{To: "ir/speaker", Abilities: []Ability{Receive}}),
		mustMarshal(&Admit{Handle: "ir/x", Key: make([]byte, 32), Recipient: "age1x"}),
		mustMarshal(&KeyRevoke{Handle: "ir/leader", Key: make([]byte, 32)}),
		mustMarshal(&GrantRevoke{}),
		mustMarshal(&House{House: "ru", Registrar: make([]byte, 32)}),
		{0xa0}, {0xff},
	} {
		f.Add(b, uint8(0))
	}
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		w := newWorld(t, ModeOpen)
		w.house("ir")
		leader := w.admit("ir/leader")
		w.admit("ir/speaker")
		kinds := []record.Kind{record.KindHouse, record.KindAdmit, record.KindKeyRevoke, record.KindGrant, record.KindGrantRevoke}
		k := kinds[int(which)%len(kinds)]
		by, key := record.Handle("ir/leader"), leader.key
		if which&8 != 0 {
			by, key = "ir/registrar", w.regs["ir"]
		}
		if record.Wellformed(body) != nil {
			return
		}
		r := &record.Record{Kind: k, By: []record.Handle{by}, Time: 1, Body: body}
		s, err := record.Sign(r, nil, key)
		if err != nil {
			return
		}
		_, rec, err := record.Verify(s.Marshal())
		if err != nil {
			return
		}
		before := len(w.d.houses) + len(w.d.byKey) + len(w.d.grants)
		if err := w.d.Apply(s, rec, w.pos()); err != nil {
			if after := len(w.d.houses) + len(w.d.byKey) + len(w.d.grants); after != before {
				t.Fatalf("refused record changed the directory: %v", err)
			}
		}
	})
}

func mustMarshal(v any) []byte {
	b, err := record.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzParseFoundingRequest feeds arbitrary text to ParseFoundingRequest,
// which an operator runs on requests that come by mail: it must not
// panic, and a request it accepts must read back the same from its own
// encoding.
func FuzzParseFoundingRequest(f *testing.F) {
	q, err := NewFoundingRequest("ir", "Islamic Republic of Iran", newKey(), "pouch.example/log", 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(q.Marshal())
	f.Add([]byte("-----BEGIN POUCH HOUSE REQUEST-----\noA==\n-----END POUCH HOUSE REQUEST-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseFoundingRequest(b)
		if err != nil {
			return
		}
		again, err := ParseFoundingRequest(q.Marshal())
		if err != nil {
			t.Fatalf("an accepted request does not parse again: %v", err)
		}
		if !bytes.Equal(again.Signed.Marshal(), q.Signed.Marshal()) {
			t.Fatal("an accepted request reads back differently")
		}
	})
}
