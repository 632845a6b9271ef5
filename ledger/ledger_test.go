package ledger

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"pouch.dev/directory"
	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/line"
	"pouch.dev/record"
)

// world is a directory built from real signed records, applied in log
// order, and the principals' keys.
type world struct {
	t    *testing.T
	d    *directory.Directory
	idx  uint64
	now  time.Time
	regs map[string]ed25519.PrivateKey
	ps   map[record.Handle]*keys.Principal
	op   ed25519.PrivateKey // the operator's key, of the genesis record
}

// newWorld founds a log in open mode (its genesis at index 0), has the
// operator admit the deployment's evidence office, and founds the houses
// of handles and admits each.
func newWorld(t *testing.T, handles ...record.Handle) *world {
	w := &world{t: t, d: directory.New(directory.Config{}), now: time.Date(2021, 2, 1, 0, 0, 0, 0, time.UTC),
		regs: map[string]ed25519.PrivateKey{}, ps: map[record.Handle]*keys.Principal{}}
	_, op, _ := ed25519.GenerateKey(nil)
	w.op = op
	g, err := directory.GenesisRecord("pouch.example/ledger", directory.ModeOpen, op, w.now.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	_, gr, _ := record.Verify(g.Marshal())
	if err := w.d.Apply(g, gr, w.pos()); err != nil {
		t.Fatal(err)
	}
	w.idx++
	ev, err := keys.Generate(directory.EvidenceHandle)
	if err != nil {
		t.Fatal(err)
	}
	w.ps[directory.EvidenceHandle] = ev
	w.apply(record.KindAdmit, false, &directory.Admit{Handle: directory.EvidenceHandle, Key: ev.SigningPublic(), Recipient: ev.Recipient().String()},
		directory.OperatorHandle, op)
	for _, h := range handles {
		if _, ok := w.regs[h.House()]; !ok {
			_, k, _ := ed25519.GenerateKey(nil)
			w.regs[h.House()] = k
			w.apply(record.KindHouse, false, &directory.House{House: h.House(), Registrar: k.Public().(ed25519.PublicKey)}, directory.Registrar(h.House()), k)
		}
		p, err := keys.Generate(h)
		if err != nil {
			t.Fatal(err)
		}
		w.ps[h] = p
		w.apply(record.KindAdmit, false, &directory.Admit{Handle: h, Key: p.SigningPublic(), Recipient: p.Recipient().String()}, directory.Registrar(h.House()), w.regs[h.House()])
	}
	return w
}

func (w *world) pos() Pos { return Pos{Index: w.idx, Time: w.now} }

// apply signs and applies a directory record at the next index.
func (w *world) apply(k record.Kind, private bool, body any, by record.Handle, key crypto.Signer) record.ID {
	w.t.Helper()
	r := &record.Record{Kind: k, By: []record.Handle{by}, Time: w.now.UnixMilli()}
	if private {
		r.Salt = record.NewSalt()
	}
	s, err := record.Sign(r, body, key)
	if err != nil {
		w.t.Fatal(err)
	}
	_, rec, err := record.Verify(s.Marshal())
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.d.Apply(s, rec, w.pos()); err != nil {
		w.t.Fatal(err)
	}
	w.idx++
	return s.ID()
}

func (w *world) grant(from, to record.Handle, g directory.Grant) record.ID {
	g.To = to
	return w.apply(record.KindGrant, false, &g, from, w.ps[from].Signing)
}

// pouch signs a tag from from to to via via and returns the rules' view
// of it, sequenced now.
func (w *world) pouch(from, to record.Handle, via ...record.Handle) *Pouch {
	w.t.Helper()
	return w.pouchTag(&letter.Tag{From: from, To: to, Via: via, Size: 1})
}

// pouchTag signs tag by its sender and returns the rules' view of it,
// sequenced now.
func (w *world) pouchTag(tag *letter.Tag) *Pouch {
	w.t.Helper()
	from := tag.From
	s, err := letter.SignTag(tag, w.ps[from].Signing, record.NewSalt(), w.now.UnixMilli(), "")
	if err != nil {
		w.t.Fatal(err)
	}
	st, err := letter.VerifyTag(s.Marshal())
	if err != nil {
		w.t.Fatal(err)
	}
	if err := CheckTag(w.d, st, w.pos(), func(record.ID) bool { return false }); err != nil {
		w.t.Fatal(err)
	}
	p := NewPouch(st, w.pos())
	w.idx++
	return p
}

// custody signs custody of p by by.
func (w *world) custody(p *Pouch, by, from record.Handle, delivered bool, onBehalf record.Handle) *letter.SignedCustody {
	w.t.Helper()
	c := &letter.Custody{Pouch: p.ID, From: from, Delivered: delivered, OnBehalf: onBehalf}
	s, err := letter.SignCustody(c, by, w.ps[by].Signing, record.NewSalt(), w.now.UnixMilli(), "")
	if err != nil {
		w.t.Fatal(err)
	}
	sc, err := letter.VerifyCustody(s.Marshal())
	if err != nil {
		w.t.Fatal(err)
	}
	return sc
}

// take runs CheckCustody at the next index and, if it passes, accepts the
// record.
func (w *world) take(p *Pouch, sc *letter.SignedCustody, cited *Cited) (Hop, error) {
	h, err := CheckCustody(w.d, p, sc, w.pos(), cited)
	if err == nil {
		p.Accept(sc.Signed.ID(), w.pos(), h)
		w.idx++
	}
	return h, err
}

func TestCustody(t *testing.T) {
	w := newWorld(t, "ir/leader", "ir/speaker", "ir/fm", "ru/president", "ru/duma-chair", "ru/fm")
	until := w.now.Add(30 * 24 * time.Hour)
	gid := w.grant("ru/president", "ru/duma-chair", directory.Grant{Abilities: []directory.Ability{directory.Receive},
		Counterparts: []record.Handle{"ir/leader"}, NotAfter: until.UnixMilli()})
	p := w.pouch("ir/leader", "ru/president", "ir/speaker")

	// A custody record of another pouch.
	other := w.pouch("ir/leader", "ru/president", "ir/speaker")
	if _, err := w.take(p, w.custody(other, "ir/speaker", "ir/leader", false, ""), nil); !errors.Is(err, ErrUnknownPouch) {
		t.Fatalf("custody of another pouch: %v", err)
	}
	if _, err := CheckRoute(p, w.custody(other, "ir/speaker", "ir/leader", false, "")); !errors.Is(err, ErrUnknownPouch) {
		t.Fatalf("custody of another pouch, route alone: %v", err)
	}
	// Off the route, and the delegate before the envoy.
	if _, err := w.take(p, w.custody(p, "ir/fm", "ir/leader", false, ""), nil); !errors.Is(err, directory.ErrNotOnRoute) ||
		!strings.Contains(err.Error(), "the next holder is ir/speaker (envoy 1 of 1)") {
		t.Fatalf("off the route: %v", err)
	}
	if _, err := w.take(p, w.custody(p, "ru/duma-chair", "ir/leader", true, "ru/president"), nil); !errors.Is(err, directory.ErrNotOnRoute) {
		t.Fatalf("delegate before the envoy: %v", err)
	}
	// The envoy names another previous holder, or marks its custody a delivery.
	if _, err := w.take(p, w.custody(p, "ir/speaker", "ru/fm", false, ""), nil); !errors.Is(err, ErrWrongHolder) {
		t.Fatalf("wrong previous holder: %v", err)
	}
	if _, err := w.take(p, w.custody(p, "ir/speaker", "ir/leader", true, ""), nil); !errors.Is(err, ErrDeliveryMark) {
		t.Fatalf("an envoy marks its custody a delivery: %v", err)
	}
	if _, err := w.take(p, w.custody(p, "ir/speaker", "ir/leader", false, "ru/fm"), nil); !errors.Is(err, ErrOnBehalf) {
		t.Fatalf("an envoy for itself names another: %v", err)
	}
	h1, err := w.take(p, w.custody(p, "ir/speaker", "ir/leader", false, ""), nil)
	if err != nil || h1.As != "ir/speaker" || h1.Delivery || h1.Grant != nil {
		t.Fatalf("envoy: %+v %v", h1, err)
	}
	// Delivery: not marked, a stand-in without on_behalf, a non-delegate.
	if _, err := w.take(p, w.custody(p, "ru/duma-chair", "ir/speaker", false, "ru/president"), nil); !errors.Is(err, ErrDeliveryMark) {
		t.Fatalf("delivery not marked: %v", err)
	}
	if _, err := w.take(p, w.custody(p, "ru/duma-chair", "ir/speaker", true, ""), nil); !errors.Is(err, ErrOnBehalf) {
		t.Fatalf("stand-in without on_behalf: %v", err)
	}
	if _, err := w.take(p, w.custody(p, "ru/fm", "ir/speaker", true, "ru/president"), nil); !errors.Is(err, directory.ErrNotOnRoute) {
		t.Fatalf("a non-delegate delivers: %v", err)
	}
	// The grant is judged at the record's time: a moment after not-after
	// it is refused, a moment before it passes.
	late := w.custody(p, "ru/duma-chair", "ir/speaker", true, "ru/president")
	if _, err := CheckCustody(w.d, p, late, Pos{Index: w.idx, Time: until}, nil); !errors.Is(err, directory.ErrGrantExpired) {
		t.Fatalf("delivery sequenced at the grant's not-after: %v", err)
	}
	w.now = until.Add(-time.Millisecond)
	h2, err := w.take(p, late, nil)
	if err != nil || !h2.Delivery || h2.As != "ru/president" || h2.Grant == nil || h2.Grant.ID != gid {
		t.Fatalf("delegate delivery: %+v %v", h2, err)
	}
	if !p.Delivered() || p.Holder() != "ru/duma-chair" {
		t.Fatalf("after delivery: holder %s, delivered %v", p.Holder(), p.Delivered())
	}
	if _, err := w.take(p, w.custody(p, "ru/president", "ru/duma-chair", true, ""), nil); !errors.Is(err, directory.ErrDelivered) {
		t.Fatalf("after delivery: %v", err)
	}

	// The same chain, checked against the route alone: the stand-in
	// passes (its grant unchecked) and the others fail as before.
	q := &Pouch{ID: p.ID, Tag: p.Tag, Pos: p.Pos}
	for i, sc := range []*letter.SignedCustody{w.custody(p, "ir/speaker", "ir/leader", false, ""), late} {
		h, err := CheckRoute(q, sc)
		if err != nil || h.Grant != nil {
			t.Fatalf("route check of hop %d: %+v %v", i, h, err)
		}
		q.Accept(sc.Signed.ID(), Pos{}, h)
	}
	if _, err := CheckRoute(q, w.custody(q, "ru/president", "ru/duma-chair", true, "")); !errors.Is(err, directory.ErrDelivered) {
		t.Fatalf("route check after delivery: %v", err)
	}
}

func TestRevokedKey(t *testing.T) {
	w := newWorld(t, "ir/leader", "ir/speaker", "ru/president")
	p := w.pouch("ir/leader", "ru/president", "ir/speaker")
	sp := w.ps["ir/speaker"]
	w.apply(record.KindKeyRevoke, false, &directory.KeyRevoke{Handle: "ir/speaker", Key: sp.SigningPublic()}, directory.Registrar("ir"), w.regs["ir"])
	if _, err := w.take(p, w.custody(p, "ir/speaker", "ir/leader", false, ""), nil); !errors.Is(err, directory.ErrKeyRevoked) {
		t.Fatalf("custody with a revoked key: %v", err)
	}
}

func TestOverLine(t *testing.T) {
	w := newWorld(t, "ir/president", "ir/fm", "ru/president", "ru/fm")
	p := w.pouch("ir/president", "ru/president", "ir/fm")
	if _, err := w.take(p, w.custody(p, "ir/fm", "ir/president", false, ""), nil); err != nil {
		t.Fatal(err)
	}
	call := func(pouch record.ID, from record.Handle, a, b record.Handle) *Cited {
		body := &line.CallBody{Participants: []record.Handle{a, b}, Start: 1, End: 2, Binding: make([]byte, line.BindingSize), Bytes: []uint64{0, 0},
			Pouches: []line.Handover{{ID: pouch[:], From: from}}}
		s, err := record.Sign(&record.Record{Kind: record.KindLine, By: []record.Handle{a, b}, Time: 2, Salt: record.NewSalt()}, body, w.ps[a].Signing, w.ps[b].Signing)
		if err != nil {
			t.Fatal(err)
		}
		_, r, _ := record.Verify(s.Marshal())
		c, err := line.CheckCall(s, r)
		if err != nil {
			t.Fatal(err)
		}
		ct := &Cited{ID: s.ID(), Kind: record.KindLine, Pos: w.pos(), Call: c}
		w.idx++
		return ct
	}
	over := func(ct *Cited) *letter.SignedCustody {
		c := &letter.Custody{Pouch: p.ID, From: "ir/fm", Delivered: true, OverLine: &ct.ID}
		s, _ := letter.SignCustody(c, "ru/president", w.ps["ru/president"].Signing, record.NewSalt(), w.now.UnixMilli(), "")
		sc, _ := letter.VerifyCustody(s.Marshal())
		return sc
	}
	other := call(record.ID{9}, "ir/fm", "ir/fm", "ru/president")
	elsewhere := call(p.ID, "ir/fm", "ir/fm", "ru/fm")
	good := call(p.ID, "ir/fm", "ir/fm", "ru/president")
	for _, tc := range []struct {
		name  string
		cited *Cited
	}{
		{"a call record not in the log", nil},
		{"a call on which the pouch was not handed over", other},
		{"a call between others", elsewhere},
		{"a call logged after the custody record", &Cited{ID: good.ID, Kind: record.KindLine, Pos: Pos{Index: w.idx + 5}, Call: good.Call}},
		{"a record that is no call", &Cited{ID: good.ID, Kind: record.KindStatement, Pos: good.Pos}},
	} {
		ct := good
		if tc.cited != nil {
			ct = tc.cited
		}
		sc := over(ct)
		if tc.cited == nil {
			ct = nil
		}
		if _, err := CheckCustody(w.d, p, sc, w.pos(), ct); !errors.Is(err, ErrOverLine) {
			t.Errorf("%s: %v, want ErrOverLine", tc.name, err)
		}
	}
	if _, err := w.take(p, over(good), good); err != nil {
		t.Fatalf("delivery over the line: %v", err)
	}
}

func TestTag(t *testing.T) {
	w := newWorld(t, "ir/leader", "ir/speaker", "ru/president")
	tag := &letter.Tag{From: "ir/leader", To: "ru/president", Via: []record.Handle{"ir/nobody"}, Size: 1}
	s, _ := letter.SignTag(tag, w.ps["ir/leader"].Signing, record.NewSalt(), 1, "")
	st, _ := letter.VerifyTag(s.Marshal())
	if err := CheckTag(w.d, st, w.pos(), func(record.ID) bool { return true }); !errors.Is(err, directory.ErrUnknownPrincipal) {
		t.Fatalf("an envoy not in the directory: %v", err)
	}
	th := record.ID{7}
	tag = &letter.Tag{From: "ir/leader", To: "ru/president", Thread: &th, Size: 1}
	s, _ = letter.SignTag(tag, w.ps["ir/leader"].Signing, record.NewSalt(), 1, "")
	st, _ = letter.VerifyTag(s.Marshal())
	if err := CheckTag(w.d, st, w.pos(), func(record.ID) bool { return false }); !errors.Is(err, ErrThread) {
		t.Fatalf("a thread not in the log: %v", err)
	}
	if err := CheckTag(w.d, st, w.pos(), func(id record.ID) bool { return id == th }); err != nil {
		t.Fatal(err)
	}
}

func TestPublish(t *testing.T) {
	id := record.ID{1}
	if err := CheckPublish(id, []record.Handle{"ir/fm", "ru/president"}, false, "ir/fm"); err != nil {
		t.Fatal(err)
	}
	if err := CheckPublish(id, []record.Handle{"ru/president"}, false, "ir/fm"); !errors.Is(err, ErrNotParty) {
		t.Fatalf("not a party: %v", err)
	}
	if err := CheckPublish(id, []record.Handle{"ir/fm"}, true, "ir/fm"); !errors.Is(err, ErrPublished) {
		t.Fatalf("public already: %v", err)
	}
}
