package directory

import (
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
