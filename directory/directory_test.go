package directory

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"pouch.dev/record"
)

type principal struct {
	h   record.Handle
	key ed25519.PrivateKey
	rcp string
}

type world struct {
	t    *testing.T
	d    *Directory
	idx  uint64
	now  time.Time
	regs map[string]ed25519.PrivateKey
	ps   map[record.Handle]*principal
	// applied lists the records applied, in order.
	applied []applied
}

func newWorld(t *testing.T, mode Mode) *world {
	return &world{t: t, d: New(Config{Mode: mode}), now: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		regs: map[string]ed25519.PrivateKey{}, ps: map[record.Handle]*principal{}}
}

func newKey() ed25519.PrivateKey {
	_, k, _ := ed25519.GenerateKey(nil)
	return k
}

func (w *world) sign(kind record.Kind, private bool, body any, by []record.Handle, keys ...ed25519.PrivateKey) (*record.Signed, *record.Record) {
	r := &record.Record{Kind: kind, By: by, Time: w.now.UnixMilli()}
	if private {
		r.Salt = record.NewSalt()
	}
	signers := make([]crypto.Signer, len(keys))
	for i, k := range keys {
		signers[i] = k
	}
	s, err := record.Sign(r, body, signers...)
	if err != nil {
		w.t.Fatal(err)
	}
	_, rec, err := record.Verify(s.Marshal())
	if err != nil {
		w.t.Fatal(err)
	}
	return s, rec
}

// apply appends a record at the next index; it returns the error.
func (w *world) apply(s *record.Signed, r *record.Record) error {
	err := w.d.Apply(s, r, w.pos())
	if err == nil {
		w.applied = append(w.applied, applied{s, r, w.pos()})
		w.idx++
	}
	return err
}

// applied is a record a world applied, at its place.
type applied struct {
	s   *record.Signed
	r   *record.Record
	pos Pos
}

func (w *world) pos() Pos { return Pos{Index: w.idx, Time: w.now} }

func (w *world) must(s *record.Signed, r *record.Record) record.ID {
	w.t.Helper()
	if err := w.apply(s, r); err != nil {
		w.t.Fatal(err)
	}
	return s.ID()
}

func (w *world) house(name string) {
	w.t.Helper()
	k := newKey()
	w.regs[name] = k
	s, r := w.sign(record.KindHouse, false, &House{House: name, Registrar: k.Public().(ed25519.PublicKey)}, []record.Handle{Registrar(name)}, k)
	w.must(s, r)
}

func (w *world) admit(h record.Handle) *principal {
	w.t.Helper()
	id, _ := age.GenerateHybridIdentity()
	p := &principal{h: h, key: newKey(), rcp: id.Recipient().String()}
	s, r := w.sign(record.KindAdmit, false, &Admit{Handle: h, Key: p.key.Public().(ed25519.PublicKey), Recipient: p.rcp},
		[]record.Handle{Registrar(h.House())}, w.regs[h.House()])
	w.must(s, r)
	w.ps[h] = p
	return p
}

func (w *world) grant(from, to record.Handle, g Grant) record.ID {
	w.t.Helper()
	g.To = to
	s, r := w.sign(record.KindGrant, true, &g, []record.Handle{from}, w.ps[from].key)
	return w.must(s, r)
}

func TestFoundAdmitRotateRevoke(t *testing.T) {
	w := newWorld(t, ModeOpen)
	w.house("ir")
	// Second claim of the same house is refused.
	k := newKey()
	s, r := w.sign(record.KindHouse, false, &House{House: "ir", Registrar: k.Public().(ed25519.PublicKey)}, []record.Handle{"ir/registrar"}, k)
	if err := w.apply(s, r); !errors.Is(err, ErrHouseTaken) {
		t.Fatalf("second claim: %v", err)
	}
	// Admitting in a house one is not registrar of.
	w.house("ru")
	id, _ := age.GenerateHybridIdentity()
	s, r = w.sign(record.KindAdmit, false, &Admit{Handle: "ru/president", Key: newKey().Public().(ed25519.PublicKey), Recipient: id.Recipient().String()},
		[]record.Handle{"ir/registrar"}, w.regs["ir"])
	if err := w.apply(s, r); !errors.Is(err, ErrNotAuthorised) {
		t.Fatalf("admit in foreign house: %v", err)
	}

	p1 := w.admit("ir/president")
	i1 := w.idx
	if err := w.d.CheckKey("ir/president", p1.key.Public().(ed25519.PublicKey), i1); err != nil {
		t.Fatal(err)
	}
	old := p1.key
	w.idx++                       // another record
	p2 := w.admit("ir/president") // a new holder
	i2 := w.idx
	if k, err := w.d.KeyAt("ir/president", i1); err != nil || !k.Key.Equal(old.Public()) {
		t.Fatalf("KeyAt before rotation: %v %v", k, err)
	}
	if k, err := w.d.KeyAt("ir/president", i2); err != nil || !k.Key.Equal(p2.key.Public()) {
		t.Fatalf("KeyAt after rotation: %v %v", k, err)
	}
	err := w.d.CheckKey("ir/president", old.Public().(ed25519.PublicKey), i2)
	if !errors.Is(err, ErrKeyNotCurrent) || !strings.Contains(err.Error(), "new holder") {
		t.Fatalf("old key after rotation: %v", err)
	}
	// Revoke p2 by the registrar.
	s, r = w.sign(record.KindKeyRevoke, false, &KeyRevoke{Handle: "ir/president", Key: p2.key.Public().(ed25519.PublicKey)}, []record.Handle{"ir/registrar"}, w.regs["ir"])
	w.must(s, r)
	rev := w.idx - 1
	err = w.d.CheckKey("ir/president", p2.key.Public().(ed25519.PublicKey), w.idx)
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Reason != ErrKeyRevoked || ke.Index != rev {
		t.Fatalf("revoked key: %v", err)
	}
	if !strings.Contains(err.Error(), "was revoked at log index") {
		t.Fatalf("message: %v", err)
	}
	// A record signed by the revoked key is refused.
	s, r = w.sign(record.KindTag, true, map[string]int{"x": 1}, []record.Handle{"ir/president"}, p2.key)
	if err := w.apply(s, r); !errors.Is(err, ErrKeyRevoked) {
		t.Fatalf("record by revoked key: %v", err)
	}
	// Unknown principal.
	s, r = w.sign(record.KindTag, true, map[string]int{"x": 1}, []record.Handle{"ir/nobody"}, newKey())
	if err := w.apply(s, r); !errors.Is(err, ErrUnknownPrincipal) {
		t.Fatalf("unknown principal: %v", err)
	}
}

func TestOperatorMode(t *testing.T) {
	op := newKey()
	w := newWorld(t, ModeOperator)
	w.d = New(Config{Mode: ModeOperator, Operator: op.Public().(ed25519.PublicKey)})
	k := newKey()
	body := &House{House: "ir", Registrar: k.Public().(ed25519.PublicKey)}
	s, r := w.sign(record.KindHouse, false, body, []record.Handle{"ir/registrar"}, k)
	if err := w.apply(s, r); !errors.Is(err, ErrNotAuthorised) || !strings.Contains(err.Error(), "operator") {
		t.Fatalf("house without operator: %v", err)
	}
	s, r = w.sign(record.KindHouse, false, body, []record.Handle{"ir/registrar", OperatorHandle}, k, newKey())
	if err := w.apply(s, r); !errors.Is(err, ErrNotAuthorised) {
		t.Fatalf("house with wrong operator key: %v", err)
	}
	s, r = w.sign(record.KindHouse, false, body, []record.Handle{"ir/registrar", OperatorHandle}, k, op)
	if err := w.apply(s, r); err != nil {
		t.Fatal(err)
	}
}

func TestGrantsAndRoute(t *testing.T) {
	w := newWorld(t, ModeOpen)
	w.house("ir")
	w.house("ru")
	for _, h := range []record.Handle{"ir/leader", "ir/speaker", "ru/president", "ru/duma-chair", "ru/fm", "ir/fm"} {
		w.admit(h)
	}
	until := w.now.Add(30 * 24 * time.Hour)
	gid := w.grant("ru/president", "ru/duma-chair", Grant{Abilities: []Ability{Receive}, Counterparts: []record.Handle{"ir/leader"}, NotAfter: until.UnixMilli()})

	rs, err := w.d.SealTo("ru/president", "ir/leader", nil, w.pos())
	if err != nil || len(rs) != 2 || rs[1].Handle != "ru/duma-chair" || rs[1].Grant.ID != gid {
		t.Fatalf("SealTo: %+v %v", rs, err)
	}
	// Another sender: no delegate.
	if rs, _ := w.d.SealTo("ru/president", "ir/fm", nil, w.pos()); len(rs) != 1 {
		t.Fatalf("SealTo other sender: %+v", rs)
	}

	pouch := record.ID{1, 2, 3}
	ids := []record.ID{pouch}
	// Who may stand in for whom (the route itself is package ledger's).
	if _, err := w.d.MayCarry("ru/duma-chair", "ir/speaker", "ir/leader", ids, w.pos()); !errors.Is(err, ErrNoGrant) {
		t.Fatalf("carry without a grant: %v", err)
	}
	if g, err := w.d.MayCarry("ir/speaker", "ir/speaker", "ir/leader", ids, w.pos()); err != nil || g != nil {
		t.Fatalf("an envoy for itself: %v %v", g, err)
	}
	if _, err := w.d.MayReceive("ru/fm", "ru/president", "ir/leader", ids, w.pos()); !errors.Is(err, ErrNoGrant) {
		t.Fatalf("non-delegate receive: %v", err)
	}
	g, err := w.d.MayReceive("ru/duma-chair", "ru/president", "ir/leader", ids, w.pos())
	if err != nil || g.ID != gid {
		t.Fatalf("delegate receive: %+v %v", g, err)
	}
	if _, err := w.d.MayReceive("ru/duma-chair", "ru/president", "ir/fm", ids, w.pos()); !errors.Is(err, ErrGrantScope) {
		t.Fatalf("delegate receive from another sender: %v", err)
	}

	// After expiry the delegate is no longer sealed to and may not deliver.
	w.now = until.Add(time.Minute)
	if rs, _ := w.d.SealTo("ru/president", "ir/leader", nil, w.pos()); len(rs) != 1 {
		t.Fatalf("SealTo after expiry: %+v", rs)
	}
	_, err = w.d.MayReceive("ru/duma-chair", "ru/president", "ir/leader", ids, w.pos())
	if !errors.Is(err, ErrGrantExpired) || !strings.Contains(err.Error(), "expired at "+until.Format(time.RFC3339)) {
		t.Fatalf("expired: %v", err)
	}

	// A disclose grant is judged by the letter's own header: its letter
	// ID, or its thread for a reply.
	w.now = time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)
	letterA, letterB := make([]byte, record.LetterIDSize), make([]byte, record.LetterIDSize)
	letterA[0], letterB[0] = 'a', 'b'
	gl := w.grant("ir/leader", "ir/speaker", Grant{Abilities: []Ability{Disclose}, Letter: letterA})
	if _, err := w.d.MayDisclose("ir/speaker", "ir/leader", letterA, nil, w.pos()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.d.MayDisclose("ir/speaker", "ir/leader", letterB, &pouch, w.pos()); !errors.Is(err, ErrGrantScope) {
		t.Fatalf("another letter: %v", err)
	}
	w.idx++
	s, r := w.sign(record.KindGrantRevoke, false, &GrantRevoke{Grant: gl}, []record.Handle{"ir/leader"}, w.ps["ir/leader"].key)
	w.must(s, r)

	// Revocation.
	// Revocation.
	g2 := w.grant("ir/leader", "ir/speaker", Grant{Abilities: []Ability{Disclose}, Thread: &pouch})
	if _, err := w.d.MayDisclose("ir/speaker", "ir/leader", letterB, &pouch, w.pos()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.d.MayDisclose("ir/speaker", "ir/leader", letterB, &record.ID{9}, w.pos()); !errors.Is(err, ErrGrantScope) {
		t.Fatalf("other thread: %v", err)
	}
	if _, err := w.d.MayDisclose("ir/speaker", "ir/leader", letterB, nil, w.pos()); !errors.Is(err, ErrGrantScope) {
		t.Fatalf("a thread's first letter under a grant for the thread's replies: %v", err)
	}
	s, r = w.sign(record.KindGrantRevoke, false, &GrantRevoke{Grant: g2}, []record.Handle{"ir/speaker"}, w.ps["ir/speaker"].key)
	if err := w.apply(s, r); !errors.Is(err, ErrNotAuthorised) {
		t.Fatalf("revoke by grantee: %v", err)
	}
	w.idx++ // another record
	s, r = w.sign(record.KindGrantRevoke, false, &GrantRevoke{Grant: g2}, []record.Handle{"ir/leader"}, w.ps["ir/leader"].key)
	w.must(s, r)
	if _, err := w.d.MayDisclose("ir/speaker", "ir/leader", letterB, &pouch, w.pos()); !errors.Is(err, ErrGrantRevoked) {
		t.Fatalf("revoked grant: %v", err)
	}
	// Before the revocation, it was valid: history is kept.
	if _, err := w.d.MayDisclose("ir/speaker", "ir/leader", letterB, &pouch, Pos{Index: w.idx - 2, Time: w.now}); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
}

func TestMalformedBodies(t *testing.T) {
	w := newWorld(t, ModeOpen)
	w.house("ir")
	w.admit("ir/leader")
	cases := []struct {
		kind record.Kind
		body any
		by   record.Handle
	}{
		{record.KindGrant, &Grant{To: "ir/leader"}, "ir/leader"},
		{record.KindGrant, &Grant{To: "ir/x", Abilities: []Ability{"read"}}, "ir/leader"},
		{record.KindGrant, &Grant{To: "ir/x", Abilities: []Ability{Receive}, NotBefore: 5, NotAfter: 4}, "ir/leader"},
		{record.KindAdmit, &Admit{Handle: "ir/registrar", Key: make([]byte, 32), Recipient: "x"}, "ir/registrar"},
		{record.KindAdmit, map[string]string{"handle": "ir/x", "bogus": "y"}, "ir/registrar"},
	}
	for i, c := range cases {
		key := w.ps["ir/leader"].key
		if c.by == "ir/registrar" {
			key = w.regs["ir"]
		}
		s, r := w.sign(c.kind, false, c.body, []record.Handle{c.by}, key)
		if err := w.apply(s, r); err == nil {
			t.Errorf("case %d: accepted", i)
		}
	}
}

// TestGenesis: a directory with no founding rule of its own learns it from
// the log's genesis record, which must be the first record, signed by the
// operator key it names, for the log it names; nothing else may be first,
// and no second genesis is accepted.
func TestGenesis(t *testing.T) {
	const origin = "pouch.example/log"
	op := newKey()
	parse := func(s *record.Signed) *record.Record {
		_, r, err := record.Verify(s.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	w := newWorld(t, ModeOperator)
	w.d = New(Config{})
	k := newKey()
	house := &House{House: "ir", Registrar: k.Public().(ed25519.PublicKey)}
	s, r := w.sign(record.KindHouse, false, house, []record.Handle{"ir/registrar"}, k)
	if err := w.d.Check(s, r, w.pos()); !errors.Is(err, ErrGenesis) {
		t.Fatalf("a house record first: %v, want ErrGenesis", err)
	}
	// Signed by another key than the one it names.
	named := &Genesis{Origin: origin, Founding: "open", Operator: op.Public().(ed25519.PublicKey)}
	s, r = w.sign(record.KindGenesis, false, named, []record.Handle{OperatorHandle}, newKey())
	r.Origin = origin
	if err := w.d.Check(s, r, w.pos()); !errors.Is(err, ErrGenesis) {
		t.Fatalf("a genesis record whose key is not the operator key it names: %v, want ErrGenesis", err)
	}
	// Another origin in the record than in the body.
	b := &Genesis{Origin: origin, Founding: "open", Operator: op.Public().(ed25519.PublicKey)}
	s, r = w.sign(record.KindGenesis, false, b, []record.Handle{OperatorHandle}, op)
	if err := w.d.Check(s, r, w.pos()); !errors.Is(err, ErrGenesis) {
		t.Fatalf("a genesis record naming no origin in the record: %v, want ErrGenesis", err)
	}
	g, err := GenesisRecord(origin, ModeOpen, op, w.now.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.apply(g, parse(g)); err != nil {
		t.Fatal(err)
	}
	if e, ok := w.d.Genesis(); !ok || e.Genesis.Origin != origin || w.d.Config().Mode != ModeOpen {
		t.Fatalf("after genesis: %+v, mode %v", e, w.d.Config().Mode)
	}
	g2, _ := GenesisRecord(origin, ModeOpen, op, w.now.UnixMilli()+1)
	if err := w.apply(g2, parse(g2)); !errors.Is(err, ErrGenesis) {
		t.Fatalf("a second genesis record: %v, want ErrGenesis", err)
	}
	w.house("ir") // open mode: the registrar alone founds a house
	if _, ok := w.d.House("ir"); !ok {
		t.Fatal("no house after open-mode founding")
	}
	// A record for another log is refused, whatever its kind; one naming
	// this log, or none, passes.
	other := newKey()
	for _, o := range []string{"pouch.example/another-log", origin, ""} {
		s, r := w.sign(record.KindHouse, false, &House{House: "ru", Registrar: other.Public().(ed25519.PublicKey)}, []record.Handle{"ru/registrar"}, other)
		r.Origin = o
		err := w.d.Check(s, r, w.pos())
		if want := o != origin && o != ""; want != errors.Is(err, ErrWrongLog) || !want && err != nil {
			t.Errorf("a house record naming log %q: %v", o, err)
		}
	}

	// A directory that expects operator mode refuses a genesis of open mode.
	w2 := newWorld(t, ModeOperator)
	w2.d = New(Config{Mode: ModeOperator, Operator: op.Public().(ed25519.PublicKey)})
	if err := w2.apply(g, parse(g)); !errors.Is(err, ErrGenesis) || !strings.Contains(err.Error(), "open mode") {
		t.Fatalf("genesis of another mode than expected: %v", err)
	}
	g3, _ := GenesisRecord(origin, ModeOperator, op, w.now.UnixMilli())
	if err := w2.apply(g3, parse(g3)); err != nil {
		t.Fatal(err)
	}
}

// An admit naming a classical X25519 recipient is refused, and changes
// nothing: the same office is then admitted with a hybrid recipient.
func TestAdmitClassicalRecipientRefused(t *testing.T) {
	w := newWorld(t, ModeOpen)
	w.house("ru")
	key := newKey()
	classical, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	body := &Admit{Handle: "ru/president", Key: key.Public().(ed25519.PublicKey), Recipient: classical.Recipient().String()}
	s, r := w.sign(record.KindAdmit, false, body, []record.Handle{Registrar("ru")}, w.regs["ru"])
	err = w.apply(s, r)
	if !errors.Is(err, ErrClassicalRecipient) || !errors.Is(err, ErrMalformedBody) {
		t.Fatalf("admit with an X25519 recipient: %v", err)
	}
	if !strings.Contains(err.Error(), "age1pq1") || !strings.Contains(err.Error(), "pouch init") {
		t.Errorf("the refusal does not say what to do: %v", err)
	}
	if _, err := w.d.KeyAt("ru/president", w.idx); !errors.Is(err, ErrUnknownPrincipal) {
		t.Fatalf("the refused admit changed the directory: %v", err)
	}
	hybrid, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	body.Recipient = hybrid.Recipient().String()
	s, r = w.sign(record.KindAdmit, false, body, []record.Handle{Registrar("ru")}, w.regs["ru"])
	if err := w.apply(s, r); err != nil {
		t.Fatalf("admit with a hybrid recipient: %v", err)
	}
}

// TestReplay: Replay judges every rule again but the recipient's parse.
// A world's records replayed into a fresh directory give the same state;
// an admit whose recipient Apply refuses is taken by Replay (its bytes are
// trusted to have passed Apply before) and still refused by Apply after
// it; an admit signed by the wrong registrar is refused by Replay too.
func TestReplay(t *testing.T) {
	w := newWorld(t, ModeOpen)
	w.house("ru")
	w.house("ir")
	key := newKey()
	hybrid, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	body := &Admit{Handle: "ru/president", Key: key.Public().(ed25519.PublicKey), Recipient: hybrid.Recipient().String()}
	s, r := w.sign(record.KindAdmit, false, body, []record.Handle{Registrar("ru")}, w.regs["ru"])
	if err := w.apply(s, r); err != nil {
		t.Fatal(err)
	}
	d := New(w.d.Config())
	for _, a := range w.applied {
		if err := d.Replay(a.s, a.r, a.pos); err != nil {
			t.Fatalf("replaying the %s record at %d: %v", a.r.Kind, a.pos.Index, err)
		}
	}
	if _, err := d.KeyAt("ru/president", w.idx); err != nil {
		t.Fatalf("the replayed directory lost ru/president: %v", err)
	}

	classical, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	bad := &Admit{Handle: "ru/fm", Key: newKey().Public().(ed25519.PublicKey), Recipient: classical.Recipient().String()}
	bs, br := w.sign(record.KindAdmit, false, bad, []record.Handle{Registrar("ru")}, w.regs["ru"])
	if err := w.d.Apply(bs, br, w.pos()); !errors.Is(err, ErrClassicalRecipient) {
		t.Fatalf("Apply of a classical recipient: %v, want ErrClassicalRecipient", err)
	}
	if err := d.Replay(bs, br, w.pos()); err != nil {
		t.Fatalf("Replay parsed the recipient again: %v", err)
	}
	bad2 := &Admit{Handle: "ru/dm", Key: newKey().Public().(ed25519.PublicKey), Recipient: classical.Recipient().String()}
	bs, br = w.sign(record.KindAdmit, false, bad2, []record.Handle{Registrar("ru")}, w.regs["ru"])
	if err := d.Apply(bs, br, Pos{Index: w.idx + 1, Time: w.now}); !errors.Is(err, ErrClassicalRecipient) {
		t.Fatalf("Apply after a Replay: %v, want ErrClassicalRecipient", err)
	}

	wrong := &Admit{Handle: "ru/pm", Key: newKey().Public().(ed25519.PublicKey), Recipient: hybrid.Recipient().String()}
	ws, wr := w.sign(record.KindAdmit, false, wrong, []record.Handle{Registrar("ir")}, w.regs["ir"])
	if err := d.Replay(ws, wr, Pos{Index: w.idx + 2, Time: w.now}); !errors.Is(err, ErrNotAuthorised) {
		t.Fatalf("Replay of an admit signed by another house's registrar: %v, want ErrNotAuthorised", err)
	}
}
