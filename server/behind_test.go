package server_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/internal/testkeys"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
)

// openBehindPair returns two servers over one store that do not follow
// the log (server.NewCorrespondenceBehind): what one appends reaches the
// other's directory and agreements only when a record it judges finds it
// in the log, as between two servers sharing a database whose follower
// lags. Their requests are made one after the other: SQLite serves one
// process, and its group commit is the store's only for one.
func openBehindPair(t *testing.T) *conflictPair {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var cls []*client.Client
	for range 2 {
		c, err := server.NewCorrespondenceBehind(context.Background(), server.CorrOptions{Store: st, Origin: agOrigin, Directory: directory.Config{Mode: directory.ModeOpen}})
		if err != nil {
			t.Fatal(err)
		}
		_, cl := serveCorr(t, c, agOrigin)
		cls = append(cls, cl)
	}
	return &conflictPair{st: st, a: cls[0], b: cls[1]}
}

// TestServerBehind: a server whose directory is behind the log neither
// refuses what the log now allows (it catches up and judges again) nor
// accepts what the log now forbids (its check at the record's index finds
// the directory or agreement record it missed).
func TestServerBehind(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Run("directory", func(t *testing.T) {
		p := openBehindPair(t)
		ps := people(t, p, "us/president", "ir/president", "ch/amb-tehran")
		// b never saw the admits: it catches up and accepts.
		q := &conflictPair{st: p.st, a: p.b, b: p.a}
		id := sendVia(t, q, ps["us/president"], ps["ir/president"], "ch/amb-tehran")
		// a revokes the sender's key; b, which knows it, must refuse.
		reg := client.Registrar("us", testkeys.Key("us/registrar"))
		if _, err := p.a.RevokeKey(ctx, reg, "us/president", ps["us/president"].SigningPublic(), "compromised"); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		sealed, err := letter.Seal(&buf, &letter.SealRequest{Author: ps["us/president"], To: ps["ir/president"].Public(),
			Sections: []letter.Section{{Title: "After", Text: "the revocation"}}, Origin: agOrigin})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.b.SubmitPouch(ctx, sealed.Tag.Signed, buf.Bytes()); !errors.Is(err, directory.ErrKeyRevoked) {
			t.Fatalf("a tag signed with a key revoked through the other server: %v, want %v", err, directory.ErrKeyRevoked)
		}
		if _, err := p.st.Get(ctx, sealed.Tag.PouchID()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the refused tag is in the store: %v", err)
		}
		// The hop taken through a, then again through b.
		hop := &letter.Custody{Pouch: id, From: "us/president"}
		if _, err := p.a.Submit(ctx, custody(t, ps["ch/amb-tehran"], hop)); err != nil {
			t.Fatal(err)
		}
		if _, err := p.b.Submit(ctx, custody(t, ps["ch/amb-tehran"], hop)); err == nil {
			t.Fatal("the same hop was taken twice, once through each server")
		}
		if cs := custodyOf(t, p, id); len(cs) != 1 {
			t.Fatalf("the store holds %d custody records of the pouch, want 1", len(cs))
		}
	})
	t.Run("agreement", func(t *testing.T) {
		p := openBehindPair(t)
		sc := setupWith(t, p.a)
		for _, st := range sc.JCPOA {
			if _, err := p.a.Submit(ctx, st.Signed); err != nil {
				t.Fatalf("%s: %v", st.Say, err)
			}
		}
		id := sc.JCPOA[0].Signed.ID()
		day := agreement.Date("2021-01-10")
		sign := func(by record.Handle) *record.Signed {
			sg, err := record.Sign(&record.Record{Kind: record.KindAgreementSign, Origin: agOrigin, By: []record.Handle{by}, Time: time.Now().UnixMilli()},
				&agreement.Sign{Agreement: id, Party: "us", Date: day}, testkeys.Key(by))
			if err != nil {
				t.Fatal(err)
			}
			return sg
		}
		// b has not seen the agreement's records: it catches up, and the
		// withdrawal that scene ends with lets us sign again.
		if _, err := p.b.Submit(ctx, sign("us/president")); err != nil {
			t.Fatalf("signing through the server behind: %v", err)
		}
		// a has not seen b's signature: its check finds it.
		if _, err := p.a.Submit(ctx, sign("us/secretary-of-state")); !errors.Is(err, agreement.ErrAlreadySigned) {
			t.Fatalf("a second signature of the party through the other server: %v, want %v", err, agreement.ErrAlreadySigned)
		}
	})
}
