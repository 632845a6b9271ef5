package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"strings"
	"testing"

	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/line"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store/sqlite"
)

// lineCast founds ir, ru and us on s and admits ir/fm, ru/president and
// us/president with fresh keys.
func lineCast(t *testing.T, s *agServer) map[record.Handle]*client.Identity {
	t.Helper()
	ctx := context.Background()
	cast := map[record.Handle]*client.Identity{}
	for _, h := range []record.Handle{"ir/fm", "ru/president", "us/president"} {
		_, rk, _ := ed25519.GenerateKey(nil)
		reg := client.Registrar(h.House(), rk)
		if _, err := s.cl.FoundHouse(ctx, h.House(), h.House(), reg, nil); err != nil {
			t.Fatal(err)
		}
		p, err := keys.Generate(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.cl.Admit(ctx, reg, h, p.SigningPublic(), p.Recipient().String(), ""); err != nil {
			t.Fatal(err)
		}
		cast[h] = p
	}
	return cast
}

// callRecord signs, with both keys, a call record of a and b (a < b) on
// which from handed over pouches.
func callRecord(t *testing.T, a, b *client.Identity, from record.Handle, pouches ...record.ID) *record.Signed {
	t.Helper()
	body := &line.CallBody{Participants: []record.Handle{a.Handle, b.Handle}, Start: 1000, End: 2000,
		Binding: bytes.Repeat([]byte{0xbb}, line.BindingSize), Bytes: []uint64{10, 20}}
	for _, p := range pouches {
		body.Pouches = append(body.Pouches, line.Handover{ID: p[:], From: from})
	}
	s, err := record.Sign(&record.Record{Kind: record.KindLine, Origin: agOrigin, By: body.Participants, Time: 2000, Salt: record.NewSalt()},
		body, a.Signing, b.Signing)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A custody record's over_line must name a logged call record between its
// signer and the one who handed the pouch over, listing the pouch.
func TestCustodyOverLine(t *testing.T) {
	s := startAgServer(t, t.TempDir())
	cast := lineCast(t, s)
	fm, pres, us := cast["ir/fm"], cast["ru/president"], cast["us/president"]
	ctx := context.Background()
	sent, err := s.cl.Send(ctx, fm, &client.Letter{To: "ru/president", Sections: []letter.Section{{Title: "Message", Text: "From President Rouhani."}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pouch := sent.Pouch

	// A call record with one signature is refused.
	half := callRecord(t, fm, pres, "ir/fm", pouch)
	half.Sigs = half.Sigs[:1]
	if _, err := s.cl.Submit(ctx, half); err == nil || !strings.Contains(err.Error(), "signature missing") {
		t.Fatalf("a call record with a signature missing: %v", err)
	}

	other := callRecord(t, fm, us, "ir/fm", pouch)  // another pair
	empty := callRecord(t, fm, pres, "ir/fm")       // the pouch not handed over
	good := callRecord(t, fm, pres, "ir/fm", pouch) // the real thing
	unlogged := callRecord(t, fm, pres, "ir/fm", pouch)
	for _, c := range []*record.Signed{other, empty, good} {
		if _, err := s.cl.Submit(ctx, c); err != nil {
			t.Fatalf("call record: %v", err)
		}
	}
	for _, tc := range []struct {
		call *record.Signed
		want string
	}{
		{unlogged, "not in the log"},
		{other, "cites a line between ir/fm and us/president"},
		{empty, "handed over no such pouch"},
	} {
		_, err := s.cl.Deliver(ctx, pres, pouch, client.OverLine(tc.call.ID()))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, client.ErrForbidden) {
			t.Errorf("delivery over line %s: got %v, want a refusal saying %q", tc.call.ID().Short(), err, tc.want)
		}
	}
	// A custody record citing another kind of record is refused too.
	if _, err := s.cl.Deliver(ctx, pres, pouch, client.OverLine(pouch)); err == nil || !strings.Contains(err.Error(), "not a call record") {
		t.Errorf("delivery over a tag: %v", err)
	}
	a, err := s.cl.Deliver(ctx, pres, pouch, client.OverLine(good.ID()))
	if err != nil {
		t.Fatalf("delivery over the line it came on: %v", err)
	}
	v, err := s.cl.Record(ctx, a.ID, pres)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := letter.VerifyCustody(v.Signed)
	if err != nil || sc.Custody.OverLine == nil || *sc.Custody.OverLine != good.ID() {
		t.Fatalf("the receipt does not cite the line: %v", err)
	}
	// The call record is readable by its participants only.
	if _, err := s.cl.Record(ctx, good.ID(), us); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("us/president reads the call record of ir/fm and ru/president: %v", err)
	}
	if _, err := s.cl.Record(ctx, good.ID(), fm); err != nil {
		t.Errorf("ir/fm cannot read its own call record: %v", err)
	}
}

// The correspondence API serves the relay at /v1/line and answers the
// relay's directory question from its own directory.
func TestLineRelayMounted(t *testing.T) {
	dir := t.TempDir()
	s := startAgServer(t, dir)
	cast := lineCast(t, s)
	resp, err := http.Get(s.hs.URL + "/v1/line")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/line without a line request: %d, want the relay's 400 or 401", resp.StatusCode)
	}

	st, err := sqlite.Open(dir + "/pouch.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	corr, err := server.NewCorrespondence(context.Background(), server.CorrOptions{Store: st, Directory: directory.Config{Mode: directory.ModeOpen}, Origin: agOrigin})
	if err != nil {
		t.Fatal(err)
	}
	var d line.Directory = corr
	k, err := d.CurrentKey(context.Background(), "ru/president")
	if err != nil || !k.Equal(cast["ru/president"].SigningPublic()) {
		t.Errorf("CurrentKey(ru/president) = %x, %v", k, err)
	}
	if _, err := d.CurrentKey(context.Background(), "ru/nobody"); !errors.Is(err, line.ErrUnknownPrincipal) {
		t.Errorf("CurrentKey(ru/nobody): %v, want ErrUnknownPrincipal", err)
	}
}
