package scenario

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store/sqlite"
)

// TestRebuild restarts the correspondence API on the store of a played
// scene: the directory and the pouches are rebuilt from the log.
func TestRebuild(t *testing.T) {
	dir := t.TempDir()
	w, err := Start(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	if err := Play(c, w, 1); err != nil {
		t.Fatal(err)
	}
	pouch := w.Facts["scene1.pouch"]
	origin := w.Origin
	president := w.ID("ru/president")
	w.Close()

	st, err := sqlite.Open(filepath.Join(dir, "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	corr, err := server.NewCorrespondence(c, server.CorrOptions{Store: st, Directory: directory.Config{Mode: directory.ModeOpen}, Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	corr.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	cl := client.New(hs.URL)
	cl.Origin = origin
	pv, err := cl.Pouch(c, pouch, president)
	if err != nil {
		t.Fatal(err)
	}
	if !pv.Delivered || len(pv.Custody) != 2 || pv.Custody[1].By != "ru/duma-chair" || pv.Custody[1].As != "ru/president" {
		t.Fatalf("rebuilt pouch: %+v", pv)
	}
	p, err := cl.Principal(c, "ru/president", -1)
	if err != nil || p.Current == nil || !president.SigningPublic().Equal(ed(p.Current.Key)) {
		t.Fatalf("rebuilt principal: %+v %v", p, err)
	}
	// The rebuilt directory still refuses what it refused.
	cu := &letter.Custody{Pouch: pouch, From: "ru/duma-chair"}
	s, _ := letter.SignCustody(cu, "ru/fm", w.ID("ru/fm").Signing, record.NewSalt(), time.Now().UnixMilli(), "")
	if _, err := cl.Submit(c, s); !errors.Is(err, client.ErrForbidden) || !errors.Is(err, directory.ErrDelivered) {
		t.Fatalf("custody after delivery: %v, want directory.ErrDelivered", err)
	}
}

// TestFollow streams ru/duma-chair's inbox while ir/leader sends, and
// checks that an unsigned or wrongly signed request is refused.
func TestFollow(t *testing.T) {
	w, _ := start(t)
	c := ctx(t)
	if err := Play(c, w, 1); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithCancel(c)
	defer cancel()
	got := make(chan api.InboxItem, 16)
	go w.Client.Follow(fctx, w.ID("ru/duma-chair"), func(items []api.InboxItem) error {
		for _, it := range items {
			got <- it
		}
		return nil
	})
	// The first event is the current inbox: scene 1's pouch.
	select {
	case it := <-got:
		if it.ID != w.Facts["scene1.pouch"] || it.Role != "delegate" {
			t.Fatalf("first item: %+v", it)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no inbox event")
	}
	sent, err := w.As("ir/leader").Send(c, &client.Letter{To: "ru/president", Sections: []letter.Section{{Title: "Follow", Text: "up"}}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case it := <-got:
		if it.ID != sent.Pouch || !it.Awaiting {
			t.Fatalf("streamed item: %+v", it)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the new pouch was not streamed")
	}

	// Unsigned, and signed with a key that is not the principal's.
	if _, err := w.Client.Inbox(c, nil); !errors.Is(err, client.ErrUnauthorised) {
		t.Fatalf("unsigned inbox: %v", err)
	}
	impostor := *w.ID("ru/fm")
	impostor.Handle = "ru/president"
	if _, err := w.Client.Inbox(c, &impostor); !errors.Is(err, client.ErrUnauthorised) {
		t.Fatalf("impostor inbox: %v", err)
	}
	// A third state cannot read the tag.
	if _, err := w.Client.Record(c, sent.Pouch, w.ID("us/president")); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("third state reads the tag: %v", err)
	}
}

func ed(b []byte) ed25519.PublicKey { return ed25519.PublicKey(b) }

// TestBatch submits pouches in one batch: the valid ones are committed
// together, each refusal is reported in its place, and a replay in a batch
// refuses only itself.
func TestBatch(t *testing.T) {
	w, _ := start(t)
	c := ctx(t)
	if err := Setup(c, w); err != nil {
		t.Fatal(err)
	}
	leader := w.ID("ir/leader")
	seal := func() *client.Sent {
		s, err := w.Client.Seal(c, leader, &client.Letter{To: "ru/president", Via: []record.Handle{"ir/speaker"},
			Sections: []letter.Section{{Title: "Batch", Text: "one of several"}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b, d := seal(), seal(), seal()
	tampered := append([]byte(nil), b.Payload...)
	tampered[100] ^= 1
	sub := func(s *client.Sent, payload []byte) api.PouchSubmission {
		return api.PouchSubmission{Tag: s.Sealed.Tag.Signed.Marshal(), Payload: payload}
	}
	res, err := w.Client.SubmitPouches(c, []api.PouchSubmission{sub(a, a.Payload), sub(b, tampered), sub(a, a.Payload), sub(d, d.Payload)})
	if err != nil {
		t.Fatal(err)
	}
	want := []int{201, 400, 409, 201}
	for i, r := range res {
		if r.Status != want[i] {
			t.Fatalf("result %d: %+v, want status %d", i, r, want[i])
		}
	}
	if res[0].Index+1 != res[3].Index {
		t.Fatalf("the batch's pouches are not sequenced together: %d, %d", res[0].Index, res[3].Index)
	}
	// A replay of a committed pouch, next to a new one.
	e := seal()
	res, err = w.Client.SubmitPouches(c, []api.PouchSubmission{sub(e, e.Payload), sub(a, a.Payload)})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != 201 || res[1].Status != 409 || !strings.Contains(res[1].Error.Error, "already in the log") {
		t.Fatalf("replay in a batch: %+v %+v", res[0], res[1].Error)
	}
	// The batch's pouches are in the envoy's inbox.
	items, err := w.Client.Inbox(c, w.ID("ir/speaker"))
	if err != nil || len(items) != 3 {
		t.Fatalf("envoy's inbox: %d items, %v", len(items), err)
	}
}
