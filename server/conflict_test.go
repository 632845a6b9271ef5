package server_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/internal/testkeys"
	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
)

// A conflictPair is two endpoints of the correspondence API over one
// store, of log agOrigin in open mode: two servers sharing a database, or,
// for SQLite, whose file serves one process, one server reached twice.
// Conflicting records sent at once, one through each, must not both
// stand (runConflicts).
type conflictPair struct {
	st   store.Store
	a, b *client.Client
}

// openSQLitePair is the SQLite conflictPair: one server over one file.
func openSQLitePair(t *testing.T) *conflictPair {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c, err := server.NewCorrespondence(context.Background(), server.CorrOptions{Store: st, Origin: agOrigin, Directory: directory.Config{Mode: directory.ModeOpen}})
	if err != nil {
		t.Fatal(err)
	}
	hs, a := serveCorr(t, c, agOrigin)
	b := client.New(hs.URL)
	b.Origin = agOrigin
	return &conflictPair{st: st, a: a, b: b}
}

// TestConflictsSQLite: the records the rules say cannot both stand, sent
// at once, are never both accepted (runConflicts).
func TestConflictsSQLite(t *testing.T) { runConflicts(t, openSQLitePair) }

// conflictRounds is how many times each conflict is raced.
const conflictRounds = 8

// runConflicts races, conflictRounds times each, two records that cannot
// both stand, one through each endpoint of a pair: two custody records
// taking the same hop of a pouch; a delivery by a receive delegate and the
// revocation of its grant; two signatures of one party to an agreement.
func runConflicts(t *testing.T, open func(t *testing.T) *conflictPair) {
	t.Run("SameHop", func(t *testing.T) { testSameHop(t, open(t)) })
	t.Run("DeliveryUnderRevokedGrant", func(t *testing.T) { testDeliveryRevoked(t, open(t)) })
	t.Run("SignTwice", func(t *testing.T) { testSignTwice(t, open(t)) })
}

// both submits x through a and y through b at once and returns their
// outcomes.
func both(ctx context.Context, p *conflictPair, x, y *record.Signed) (ax, ay *record.ID, idx [2]uint64, errs [2]error) {
	var wg sync.WaitGroup
	for i, s := range []*record.Signed{x, y} {
		cl := p.a
		if i == 1 {
			cl = p.b
		}
		wg.Go(func() {
			a, err := cl.Submit(ctx, s)
			errs[i] = err
			if err == nil {
				idx[i] = a.Index
			}
		})
	}
	wg.Wait()
	if errs[0] == nil {
		id := x.ID()
		ax = &id
	}
	if errs[1] == nil {
		id := y.ID()
		ay = &id
	}
	return ax, ay, idx, errs
}

// refusedByRule fails t unless err is a rule's refusal (4xx), not a
// failure of the server.
func refusedByRule(t *testing.T, what string, err error) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status < 400 || ce.Status >= 500 {
		t.Errorf("%s: %v, want a rule's refusal (4xx)", what, err)
	}
}

// people founds the houses of hs in p's log and admits each of hs.
func people(t *testing.T, p *conflictPair, hs ...record.Handle) map[record.Handle]*keys.Principal {
	t.Helper()
	ctx := context.Background()
	regs := map[string]*client.Identity{}
	out := map[record.Handle]*keys.Principal{}
	for _, h := range hs {
		house := h.House()
		if regs[house] == nil {
			regs[house] = client.Registrar(house, testkeys.Key(record.Handle(house+"/registrar")))
			if _, err := p.a.FoundHouse(ctx, house, "", regs[house], nil); err != nil {
				t.Fatalf("founding %s: %v", house, err)
			}
		}
		k, err := keys.Generate(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.a.Admit(ctx, regs[house], h, k.SigningPublic(), k.Recipient().String(), ""); err != nil {
			t.Fatalf("admitting %s: %v", h, err)
		}
		out[h] = k
	}
	return out
}

// sendVia seals a letter from from to to via envoys and submits it
// through p.a.
func sendVia(t *testing.T, p *conflictPair, from, to *keys.Principal, via ...record.Handle) record.ID {
	t.Helper()
	var b bytes.Buffer
	sealed, err := letter.Seal(&b, &letter.SealRequest{Author: from, To: to.Public(), Via: via,
		Sections: []letter.Section{{Title: "Talks", Text: "Geneva, Tuesday."}}, Origin: agOrigin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.a.SubmitPouch(context.Background(), sealed.Tag.Signed, b.Bytes()); err != nil {
		t.Fatal(err)
	}
	return sealed.Tag.PouchID()
}

func custody(t *testing.T, by *keys.Principal, c *letter.Custody) *record.Signed {
	t.Helper()
	s, err := letter.SignCustody(c, by.Handle, by.Signing, record.NewSalt(), time.Now().UnixMilli(), agOrigin)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// custodyOf returns the custody records of pouch id in p's store.
func custodyOf(t *testing.T, p *conflictPair, id record.ID) []*store.Stored {
	t.Helper()
	rs, err := p.st.List(context.Background(), store.Query{Ref: &id, Kinds: []record.Kind{record.KindCustody}})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// testSameHop: an envoy's two custody records for the same hop of a
// pouch, sent at once: exactly one is accepted, and the store holds one.
func testSameHop(t *testing.T, p *conflictPair) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ps := people(t, p, "us/president", "ir/president", "ch/amb-tehran")
	for round := range conflictRounds {
		id := sendVia(t, p, ps["us/president"], ps["ir/president"], "ch/amb-tehran")
		hop := &letter.Custody{Pouch: id, From: "us/president"}
		x, y := custody(t, ps["ch/amb-tehran"], hop), custody(t, ps["ch/amb-tehran"], hop)
		ax, ay, _, errs := both(ctx, p, x, y)
		if (ax == nil) == (ay == nil) {
			t.Fatalf("round %d: both or neither of two records taking the same hop accepted: %v", round, errs)
		}
		for _, err := range errs {
			if err != nil {
				refusedByRule(t, "the second hop", err)
			}
		}
		if cs := custodyOf(t, p, id); len(cs) != 1 {
			t.Fatalf("round %d: the store holds %d custody records of the pouch, want 1", round, len(cs))
		}
	}
}

// testDeliveryRevoked: a receive delegate signs a pouch's delivery while
// the addressee revokes its grant, at once: both may stand only if the
// delivery is sequenced before the revocation.
func testDeliveryRevoked(t *testing.T, p *conflictPair) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ps := people(t, p, "us/president", "ir/president", "ir/fm")
	boss := ps["ir/president"]
	bothStood := 0
	for round := range conflictRounds {
		g, err := p.a.Grant(ctx, boss, &directory.Grant{To: "ir/fm", Abilities: []directory.Ability{directory.Receive}}, false)
		if err != nil {
			t.Fatal(err)
		}
		id := sendVia(t, p, ps["us/president"], boss)
		deliver := custody(t, ps["ir/fm"], &letter.Custody{Pouch: id, From: "us/president", Delivered: true, OnBehalf: "ir/president"})
		revoke, err := record.Sign(&record.Record{Kind: record.KindGrantRevoke, Origin: agOrigin, By: []record.Handle{"ir/president"}, Time: time.Now().UnixMilli()},
			&directory.GrantRevoke{Grant: g.ID, Reason: "recalled"}, boss.Signing)
		if err != nil {
			t.Fatal(err)
		}
		ad, ar, idx, errs := both(ctx, p, deliver, revoke)
		if ar == nil {
			t.Fatalf("round %d: the revocation was refused: %v", round, errs[1])
		}
		if ad == nil {
			refusedByRule(t, "the delivery", errs[0])
			if cs := custodyOf(t, p, id); len(cs) != 0 {
				t.Fatalf("round %d: the delivery was refused, but the store holds %d custody records", round, len(cs))
			}
			continue
		}
		bothStood++
		if idx[0] > idx[1] {
			t.Fatalf("round %d: a delivery at index %d under a grant revoked at index %d was accepted", round, idx[0], idx[1])
		}
	}
	t.Logf("%d of %d deliveries came before their grant's revocation", bothStood, conflictRounds)
}

// testSignTwice: one party signs an agreement twice at once, through two
// of its offices: exactly one signature is accepted.
func testSignTwice(t *testing.T, p *conflictPair) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sc := setupWith(t, p.a)
	for _, st := range sc.JCPOA {
		if _, err := p.a.Submit(ctx, st.Signed); err != nil {
			t.Fatalf("%s: %v", st.Say, err)
		}
	}
	id := sc.JCPOA[0].Signed.ID()
	for round := range conflictRounds {
		day := agreement.Date("2021-01-10").AddDays(2 * round)
		var signs []*record.Signed
		for _, by := range []record.Handle{"us/president", "us/secretary-of-state"} {
			sg, err := record.Sign(&record.Record{Kind: record.KindAgreementSign, Origin: agOrigin, By: []record.Handle{by}, Time: time.Now().UnixMilli()},
				&agreement.Sign{Agreement: id, Party: "us", Date: day}, testkeys.Key(by))
			if err != nil {
				t.Fatal(err)
			}
			signs = append(signs, sg)
		}
		ax, ay, _, errs := both(ctx, p, signs[0], signs[1])
		if (ax == nil) == (ay == nil) {
			t.Fatalf("round %d: both or neither of the party's two signatures accepted: %v", round, errs)
		}
		for _, err := range errs {
			if err != nil && !errors.Is(err, agreement.ErrAlreadySigned) {
				refusedByRule(t, "the second signature", err)
			}
		}
		w, err := record.Sign(&record.Record{Kind: record.KindAgreementWithdraw, Origin: agOrigin, By: []record.Handle{"us/president"}, Time: time.Now().UnixMilli()},
			&agreement.Withdraw{Agreement: id, Party: "us", Date: day.AddDays(1)}, testkeys.Key("us/president"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.b.Submit(ctx, w); err != nil {
			t.Fatalf("round %d: withdrawing: %v", round, err)
		}
	}
}
