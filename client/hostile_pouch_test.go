package client_test

// The hostile-server suite, continued: lies about pouches and what hangs
// on them — grants out of scope, payloads, custody listings, proofs, a
// line's peer. See hostile_test.go.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/internal/liar"
	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/line"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// presentDelegate returns the lies that present to as a receive delegate
// of ru/amb for every letter, under grant g, in the server's answers to
// whom to seal to and which grants stand.
func presentDelegate(as *client.Identity, g record.ID) []*liar.Lie {
	return []*liar.Lie{
		liar.JSON("seal", liar.GET("/v1/directory/seal"), func(r *http.Request, v *api.SealView) {
			v.Readers = append(v.Readers, api.ReaderView{Handle: as.Handle, Key: as.SigningPublic(), Recipient: as.Recipient().String(), Role: "delegate", Grant: &g})
		}),
		liar.JSON("grants", liar.GET("/v1/directory/grants/"), func(r *http.Request, v *[]api.GrantView) {
			for i := range *v {
				if (*v)[i].ID == g {
					(*v)[i].Counterparts, (*v)[i].NotAfter, (*v)[i].RevokedAt = nil, nil, nil
				}
			}
		}),
	}
}

// chainRefuses checks that the addressee's and the sender's chain checks
// of pouch, and the addressee's delivery, refuse the custody record
// custody with want, and that nothing is signed or kept.
func (w *world) chainRefuses(t *testing.T, dir string, pouch, custody record.ID, sender record.Handle, want error) {
	t.Helper()
	w.nothingChanges(t, dir, func() {
		for _, as := range []record.Handle{"ru/amb", sender} {
			_, err := w.victim(dir).Chain(w.ctx, w.id(as), pouch)
			refused(t, "chain as "+string(as), err, client.ErrRulesBroken, "custody record "+custody.Short())
			refused(t, "chain as "+string(as), err, want)
		}
		_, err := w.victim(dir).Deliver(w.ctx, w.id("ru/amb"), pouch)
		refused(t, "deliver", err, want, "custody record "+custody.Short())
	})
}

// delivered lists custody record id, a delivery by by for ru/amb, as the
// last of pouch's custody. The server derives a pouch's custody from the
// log, so it may list the record already: it is then listed once.
func delivered(pouch, id record.ID, by record.Handle, at time.Time) *liar.Lie {
	return listCustody("listed", pouch, func(hs []api.HopView) []api.HopView {
		if slices.ContainsFunc(hs, func(h api.HopView) bool { return h.ID == id }) {
			return hs
		}
		return append(hs, api.HopView{ID: id, By: by, As: "ru/amb", Delivery: true, Time: at})
	})
}

// ru/aide receives ru/amb's letters from ir/leader only. The server says
// it receives those from ir/fm too: ir/fm's letter is not sealed to it,
// and its delivery of that letter, which the operator sequences, is
// refused.
func testGrantScope(t *testing.T) {
	w := newWorld(t, liar.Options{})
	dirs, _ := w.synced(1)
	aide := w.id("ru/aide")
	w.srv.Tell(presentDelegate(aide, w.grant)...)
	sent, err := w.victim(dirs[0]).Send(w.ctx, w.id("ir/fm"), &client.Letter{To: "ru/amb", Sections: []letter.Section{{Title: "from the fm", Text: "not for the aide"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealedTo(t, w.lastPouch(t), []*client.Identity{w.id("ru/amb"), w.id("ir/fm")}, aide)

	id := w.sequenceCustody(aide, sent.Pouch, "ir/fm", "ru/amb", "ru/amb", "ir/fm")
	w.catchUp(dirs[0])
	w.srv.Tell(delivered(sent.Pouch, id, aide.Handle, time.Now()))
	w.chainRefuses(t, dirs[0], sent.Pouch, id, "ir/fm", directory.ErrGrantScope)
}

// ru/amb revokes ru/aide's grant. The server withholds the revocation, or
// presents the grant as current; and the operator sequences ru/aide's
// delivery of p2 after it.
func testGrantRevoked(t *testing.T) {
	w := newWorld(t, liar.Options{})
	dirs, _ := w.synced(2)
	aide := w.id("ru/aide")
	rv := w.submit(w.sign(record.KindGrantRevoke, w.id("ru/amb"), false, &directory.GrantRevoke{Grant: w.grant, Reason: "left the embassy"}))
	w.settle()
	w.srv.Tell(withhold("withhold", rv.Index))
	w.everyVerbRefuses(t, dirs[0], client.ErrWithheld, "grant-revoke record "+rv.ID.Short())
	w.srv.Truth()

	w.srv.Tell(presentDelegate(aide, w.grant)...)
	if _, err := w.victim(dirs[1]).Send(w.ctx, w.id("ir/leader"), &client.Letter{To: "ru/amb", Via: []record.Handle{"un/envoy"},
		Sections: []letter.Section{{Title: "after the revocation", Text: "not for the aide"}}}, nil); err != nil {
		t.Fatal(err)
	}
	sealedTo(t, w.lastPouch(t), []*client.Identity{w.id("ru/amb"), w.id("ir/leader")}, aide)

	id := w.sequenceCustody(aide, w.p2, "un/envoy", "ru/amb", "ru/amb", "ir/leader", "un/envoy")
	w.catchUp(dirs[1])
	w.srv.Tell(delivered(w.p2, id, aide.Handle, time.Now()))
	w.chainRefuses(t, dirs[1], w.p2, id, "ir/leader", directory.ErrGrantRevoked)
}

// ru/amb's grant to ru/consul expired an hour ago. The server presents it
// as current, and says that ru/consul's delivery of p2, which the operator
// sequences now, was sequenced while it stood.
func testGrantExpired(t *testing.T) {
	w := newWorld(t, liar.Options{})
	now := time.Now()
	g, err := w.setup.Grant(w.ctx, w.id("ru/amb"), &directory.Grant{To: "ru/consul", Abilities: []directory.Ability{directory.Receive},
		NotBefore: now.Add(-2 * time.Hour).UnixMilli(), NotAfter: now.Add(-time.Hour).UnixMilli()}, false)
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ := w.synced(1)
	consul := w.id("ru/consul")
	w.srv.Tell(presentDelegate(consul, g.ID)...)
	if _, err := w.victim(dirs[0]).Send(w.ctx, w.id("ir/leader"), &client.Letter{To: "ru/amb", Via: []record.Handle{"un/envoy"},
		Sections: []letter.Section{{Title: "after the expiry", Text: "not for the consul"}}}, nil); err != nil {
		t.Fatal(err)
	}
	sealedTo(t, w.lastPouch(t), []*client.Identity{w.id("ru/amb"), w.id("ru/aide"), w.id("ir/leader")}, consul)

	id := w.sequenceCustody(consul, w.p2, "un/envoy", "ru/amb", "ru/amb", "ir/leader", "un/envoy")
	w.catchUp(dirs[0])
	during := now.Add(-90 * time.Minute)
	w.srv.Tell(delivered(w.p2, id, consul.Handle, during), liar.Times("times", liar.GET("/v1/records/"), during))
	w.chainRefuses(t, dirs[0], w.p2, id, "ir/leader", directory.ErrGrantExpired)
	if w.srv.Told("times") == 0 {
		t.Error("the proxy told no lie about the delivery's time")
	}
}

// Asked for p2's payload, the server hands over p3's, which ru/amb can
// open too.
func testPayloadSwap(t *testing.T) {
	w := newWorld(t, liar.Options{})
	p3 := w.send(w.setup, "ir/leader", "ru/amb", "", "third")
	dirs, _ := w.synced(1)
	other, err := w.srv.Store.Payload(w.ctx, p3)
	if err != nil {
		t.Fatal(err)
	}
	if o, err := letter.Open(bytes.NewReader(other), w.id("ru/amb"), nil); err != nil || o.Sections[0].Title != "third" {
		t.Fatalf("ru/amb cannot open the payload the lie hands over: %v", err)
	}
	w.srv.Tell(&liar.Lie{Name: "payload", Match: liar.GET("/v1/records/" + w.p2.String() + "/payload"), Serve: func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/octet-stream")
		rw.Write(other)
	}})
	w.nothingChanges(t, dirs[0], func() {
		for _, as := range []record.Handle{"ru/amb", "ru/aide"} {
			o, _, err := w.victim(dirs[0]).Open(w.ctx, w.id(as), w.p2)
			refused(t, "open as "+string(as), err, client.ErrMismatch, "payload")
			refused(t, "open as "+string(as), err, letter.ErrPayload)
			if o != nil {
				t.Errorf("open as %s returned the other letter, %q", as, o.Sections[0].Title)
			}
			if err != nil && (strings.Contains(err.Error(), "third") || strings.Contains(err.Error(), p3.Short())) {
				t.Errorf("the error tells of the other letter: %v", err)
			}
			// Streamed: the .pouch file written as it comes, and the
			// letter opened as it comes.
			var file bytes.Buffer
			_, err = w.victim(dirs[0]).FetchTo(w.ctx, w.id(as), w.p2, &file)
			refused(t, "fetch as "+string(as), err, client.ErrMismatch, "payload")
			refused(t, "fetch as "+string(as), err, letter.ErrPayload)
			_, f, done, err := w.victim(dirs[0]).OpenFetched(w.ctx, w.id(as), w.p2)
			if err != nil {
				t.Fatalf("open as %s, streamed: %v", as, err)
			}
			o, err = letter.OpenPouch(f, w.id(as), nil)
			done()
			refused(t, "open as "+string(as)+", streamed", err, letter.ErrPayload)
			if o != nil {
				t.Errorf("open as %s, streamed, returned the other letter, %q", as, o.Sections[0].Title)
			}
		}
	})
	w.srv.Truth()
	o, _, err := w.victim(dirs[0]).Open(w.ctx, w.id("ru/amb"), w.p2)
	if err != nil || o.Sections[0].Title != "second" {
		t.Fatalf("told the truth, ru/amb cannot open p2: %v", err)
	}
}

// The server says ru/amb's key is its own, and answers ir/leader's call to
// ru/amb itself, with a certificate for ru/amb under that key: the TLS
// handshake fails against the key the client proved.
func testLinePeer(t *testing.T) {
	w := newWorld(t, liar.Options{})
	dirs, _ := w.synced(1)
	leader, amb := w.id("ir/leader"), w.id("ru/amb")
	mallory, err := keys.Generate("ru/amb")
	if err != nil {
		t.Fatal(err)
	}
	impostor := &liar.Lie{Name: "relay", Match: liar.GET("/v1/line"), Serve: func(rw http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(rw, r, nil)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// SPEC: spec/line.md#relay (the one text message the relay sends)
		if err := c.Write(ctx, websocket.MessageText, []byte("pouch.dev/v1/line paired")); err != nil {
			return
		}
		nc := websocket.NetConn(ctx, c, websocket.MessageBinary)
		defer nc.Close()
		l, err := line.Start(ctx, nc, leader.Handle, line.Config{Self: "ru/amb", Key: mallory.Signing, Origin: w.srv.Origin,
			Directory: line.DirectoryFunc(func(context.Context, record.Handle) (ed25519.PublicKey, error) { return leader.SigningPublic(), nil })})
		if err == nil {
			l.Abort()
		}
	}}
	w.srv.Tell(impostor, liar.JSON("principal", liar.GET("/v1/directory/principals/"), func(r *http.Request, v *api.PrincipalView) {
		kv := api.KeyView{Handle: v.Handle, Key: mallory.SigningPublic(), Recipient: mallory.Recipient().String()}
		v.Current = &kv
	}))
	dial := func(ctx context.Context, me *client.Identity, peer record.Handle) (*line.Line, error) {
		return line.Dial(ctx, w.srv.URL+"/v1/line", peer, line.Config{Self: me.Handle, Key: me.Signing, Origin: w.srv.Origin,
			Directory: w.victim(dirs[0]).LineDirectory(me)})
	}
	w.nothingChanges(t, dirs[0], func() {
		_, err := dial(w.ctx, leader, "ru/amb")
		refused(t, "line", err, line.ErrNotCurrentKey, "ru/amb")
		var pe *line.PeerError
		if !errors.As(err, &pe) || pe.Handle != "ru/amb" || !pe.Key.Equal(mallory.SigningPublic()) || !pe.Current.Equal(amb.SigningPublic()) {
			t.Errorf("the line's error does not show ru/amb's key presented and proven: %v", err)
		}
	})
	if w.srv.Told("relay") == 0 {
		t.Fatal("the impostor never answered the call")
	}

	// Told the truth, the two ends meet through the relay.
	w.srv.Truth()
	ctx, cancel := context.WithTimeout(w.ctx, 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var lines [2]*line.Line
	var errs [2]error
	for i, p := range [][2]*client.Identity{{leader, amb}, {amb, leader}} {
		wg.Go(func() { lines[i], errs[i] = dial(ctx, p[0], p[1].Handle) })
	}
	wg.Wait()
	for i, l := range lines {
		if errs[i] != nil {
			t.Fatalf("told the truth, the line fails: %v", errs[i])
		}
		l.Abort()
	}
}

// The server lists as p1's custody a record the envoy signed but the log
// does not hold: with no proof, with a made-up proof, or a record of
// another pouch.
func testCustodyNotInLog(t *testing.T) {
	w := newWorld(t, liar.Options{})
	dirs, _ := w.synced(3)
	envoy, amb := w.id("un/envoy"), w.id("ru/amb")
	s, err := letter.SignCustody(&letter.Custody{Pouch: w.p1, From: "ir/leader"}, envoy.Handle, envoy.Signing, record.NewSalt(), time.Now().UnixMilli(), w.srv.Origin)
	if err != nil {
		t.Fatal(err)
	}
	fake := s.ID()
	listed := listCustody("listed", w.p1, func(hs []api.HopView) []api.HopView {
		return append(hs, api.HopView{ID: fake, By: envoy.Handle, As: envoy.Handle, Index: w.size()})
	})
	served := &liar.Lie{Name: "record", Match: liar.GET("/v1/records/" + fake.String()), Serve: func(rw http.ResponseWriter, r *http.Request) {
		json.NewEncoder(rw).Encode(api.RecordView{ID: fake, Kind: record.KindCustody, Index: w.size(), Time: time.Now(), Signed: s.Marshal()})
	}}
	w.srv.Tell(listed, served)
	w.nothingChanges(t, dirs[0], func() {
		_, err := w.victim(dirs[0]).Chain(w.ctx, amb, w.p1)
		refused(t, "chain", err, client.ErrNotInView, "custody record "+fake.Short())
		// The envoy, whom the lie says holds p1, and the addressee, who
		// would deliver it next, sign nothing.
		_, err = w.victim(dirs[0]).Take(w.ctx, envoy, w.p1, "")
		refused(t, "take", err, client.ErrNotInView)
		_, err = w.victim(dirs[0]).Deliver(w.ctx, amb, w.p1)
		refused(t, "deliver", err, client.ErrNotInView)
	})

	// A proof for it: the audit path of the last leaf, under its ID.
	w.srv.Tell(&liar.Lie{Name: "proof", Match: func(r *http.Request) bool {
		return liar.GET("/v1/log/proof/inclusion")(r) && r.URL.Query().Get("id") == fake.String()
	}, Serve: func(rw http.ResponseWriter, r *http.Request) {
		size, err := strconv.ParseUint(r.URL.Query().Get("size"), 10, 64)
		if err != nil || size == 0 {
			http.Error(rw, "name the tree's size", http.StatusBadRequest)
			return
		}
		hs, err := w.srv.Log.Inclusion(r.Context(), size-1, size)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		leaf := record.LeafData(record.Leaf{Kind: record.KindCustody, ID: fake, Time: time.Now().UnixMilli(), Private: true})
		json.NewEncoder(rw).Encode(api.InclusionProof{Index: size - 1, Size: size, ID: fake, Kind: record.KindCustody, Leaf: leaf, Proof: hs})
	}})
	w.nothingChanges(t, dirs[1], func() {
		_, err := w.victim(dirs[1]).Chain(w.ctx, amb, w.p1)
		refused(t, "chain", err, tlog.ErrBadProof, "custody record "+fake.Short())
	})

	// p2's custody, listed as p1's.
	w.srv.Truth()
	pv, err := w.setup.Pouch(w.ctx, w.p2, amb)
	if err != nil || len(pv.Custody) != 1 {
		t.Fatalf("p2's custody: %v", err)
	}
	w.srv.Tell(listCustody("other pouch's", w.p1, func(hs []api.HopView) []api.HopView { return append(hs, pv.Custody...) }))
	w.nothingChanges(t, dirs[2], func() {
		_, err := w.victim(dirs[2]).Chain(w.ctx, amb, w.p1)
		refused(t, "chain", err, client.ErrMismatch, "custody record "+pv.Custody[0].ID.Short(), "pouch "+w.p2.Short())
		_, err = w.victim(dirs[2]).Take(w.ctx, envoy, w.p1, "")
		refused(t, "take", err, client.ErrMismatch)
	})
}

// The server lists p2's custody records in another order, one twice, or
// leaves one out.
func testCustodyOrder(t *testing.T) {
	w := newWorld(t, liar.Options{})
	if _, err := w.setup.Deliver(w.ctx, w.id("ru/amb"), w.p2); err != nil {
		t.Fatal(err)
	}
	dirs, _ := w.synced(3)
	w.srv.Tell(listCustody("reversed", w.p2, func(hs []api.HopView) []api.HopView { slices.Reverse(hs); return hs }))
	w.nothingChanges(t, dirs[0], func() {
		_, err := w.victim(dirs[0]).Chain(w.ctx, w.id("ru/amb"), w.p2)
		refused(t, "chain", err, client.ErrMismatch, "out of the chain's order")
	})
	w.srv.Truth()
	w.srv.Tell(listCustody("twice", w.p2, func(hs []api.HopView) []api.HopView { return append(hs[:1:1], hs...) }))
	w.nothingChanges(t, dirs[1], func() {
		_, err := w.victim(dirs[1]).Chain(w.ctx, w.id("ru/amb"), w.p2)
		refused(t, "chain", err, client.ErrMismatch, "out of the chain's order")
	})
	w.srv.Truth()
	// The envoy's custody left out: the delivery says p2 came from the
	// envoy, the list says the sender still held it.
	w.srv.Tell(listCustody("gap", w.p2, func(hs []api.HopView) []api.HopView { return hs[1:] }))
	w.nothingChanges(t, dirs[2], func() {
		_, err := w.victim(dirs[2]).Chain(w.ctx, w.id("ru/amb"), w.p2)
		refused(t, "chain", err, client.ErrWithheld, "says it received pouch "+w.p2.Short()+" from un/envoy", "ir/leader")
	})
	w.srv.Truth()
	ch, err := w.victim(dirs[1]).Chain(w.ctx, w.id("ru/amb"), w.p2)
	if err != nil || !ch.Delivered() || len(ch.Steps) != 2 {
		t.Fatalf("told the truth, p2's chain does not prove: %v", err)
	}
}

// listEvents returns a lie that rewrites the events the server lists for
// pouch.
func listEvents(name string, pouch record.ID, f func([]api.EventView) []api.EventView) *liar.Lie {
	return liar.JSON(name, liar.GET("/v1/pouches/"+pouch.String()), func(r *http.Request, v *api.PouchView) {
		v.Events = f(v.Events)
	})
}

// A pouch that asks for consent, accepted and delivered: the server leaves
// the acceptance out of its events, lists another pouch's acceptance as
// p1's, lists a custody record as an acceptance.
func testEvents(t *testing.T) {
	w := newWorld(t, liar.Options{})
	amb := w.id("ru/amb")
	s, err := w.setup.Send(w.ctx, w.id("ir/leader"), &client.Letter{To: "ru/amb", Consent: true,
		Sections: []letter.Section{{Title: "consent", Text: "a letter that asks for consent"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p3 := s.Pouch
	if _, err := w.setup.Accept(w.ctx, amb, p3); err != nil {
		t.Fatal(err)
	}
	if _, err := w.setup.Deliver(w.ctx, amb, p3); err != nil {
		t.Fatal(err)
	}
	w.settle()
	dirs, _ := w.synced(3)
	w.srv.Tell(listEvents("acceptance left out", p3, func(es []api.EventView) []api.EventView { return nil }))
	w.nothingChanges(t, dirs[0], func() {
		_, err := w.victim(dirs[0]).Chain(w.ctx, amb, p3)
		refused(t, "chain", err, client.ErrWithheld, "lists no acceptance")
		_, err = w.victim(dirs[0]).Evidence(w.ctx, amb, p3)
		refused(t, "evidence", err, client.ErrWithheld)
	})
	w.srv.Truth()
	pv, err := w.setup.Pouch(w.ctx, p3, amb)
	if err != nil || len(pv.Events) != 1 || pv.Events[0].Kind != record.KindAcceptance {
		t.Fatalf("p3's events: %+v %v", pv.Events, err)
	}
	w.srv.Tell(listEvents("another pouch's", w.p1, func(es []api.EventView) []api.EventView { return append(es, pv.Events...) }))
	w.nothingChanges(t, dirs[1], func() {
		_, err := w.victim(dirs[1]).Chain(w.ctx, amb, w.p1)
		refused(t, "chain", err, client.ErrMismatch, "as an event of pouch "+w.p1.Short())
	})
	w.srv.Truth()
	w.srv.Tell(listEvents("custody as an acceptance", p3, func(es []api.EventView) []api.EventView {
		return append(es, api.EventView{ID: pv.Custody[0].ID, Kind: record.KindAcceptance})
	}))
	w.nothingChanges(t, dirs[2], func() {
		_, err := w.victim(dirs[2]).Chain(w.ctx, amb, p3)
		refused(t, "chain", err, client.ErrMismatch, pv.Custody[0].ID.Short())
	})
	w.srv.Truth()
	ch, err := w.victim(dirs[1]).Chain(w.ctx, amb, p3)
	if err != nil || !ch.Delivered() || ch.Pouch.Accepted == nil {
		t.Fatalf("told the truth, p3's chain does not prove: %v", err)
	}
}

// The server names another key for its log; proves another record, or
// with a proof that does not verify; answers for a record with another.
func testProofs(t *testing.T) {
	w := newWorld(t, liar.Options{})
	dirs, _ := w.synced(4)
	_, other, err := tlog.GenerateKey(w.srv.Origin)
	if err != nil {
		t.Fatal(err)
	}
	w.srv.Tell(liar.JSON("log key", liar.GET("/v1/log"), func(r *http.Request, v *api.LogInfo) { v.Key = other }))
	w.everyVerbRefuses(t, dirs[0], client.ErrKeyChanged, other)
	// A client that pinned the key on first use holds the server to it.
	w.srv.Truth()
	pin := t.TempDir()
	tofu := func() *client.Client {
		c := client.New(w.srv.URL)
		c.Trust = &client.Trust{Dir: pin}
		return c
	}
	if _, err := tofu().View(w.ctx, nil); err != nil {
		t.Fatal(err)
	}
	w.srv.Tell(liar.JSON("log key", liar.GET("/v1/log"), func(r *http.Request, v *api.LogInfo) { v.Key = other }))
	_, err = tofu().View(w.ctx, nil)
	refused(t, "view, key pinned", err, client.ErrKeyChanged, other)
	w.srv.Truth()

	proveP2 := func(r *http.Request) bool {
		return liar.GET("/v1/log/proof/inclusion")(r) && r.URL.Query().Get("id") == w.p2.String()
	}
	amb := w.id("ru/amb")
	uses := func(t *testing.T, dir string, proof bool, want error, says ...string) {
		t.Helper()
		w.nothingChanges(t, dir, func() {
			if proof {
				_, err := w.victim(dir).Prove(w.ctx, w.p2, record.KindTag, amb)
				refused(t, "prove", err, want, says...)
			}
			o, _, err := w.victim(dir).Open(w.ctx, amb, w.p2)
			refused(t, "open", err, want, says...)
			if o != nil {
				t.Error("open returned the letter")
			}
			_, err = w.victim(dir).Chain(w.ctx, amb, w.p2)
			refused(t, "chain", err, want, says...)
			_, err = w.victim(dir).Deliver(w.ctx, amb, w.p2)
			refused(t, "deliver", err, want, says...)
		})
	}
	// p1's proof for p2.
	w.srv.Tell(&liar.Lie{Name: "other proof", Match: proveP2, Serve: func(rw http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		q.Set("id", w.p1.String())
		resp, err := http.Get(w.srv.Honest + r.URL.Path + "?" + q.Encode())
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var p api.InclusionProof
		json.NewDecoder(resp.Body).Decode(&p)
		json.NewEncoder(rw).Encode(&p)
	}})
	uses(t, dirs[1], true, client.ErrMismatch, "tag record "+w.p1.Short())
	w.srv.Truth()

	// p2's proof, one hash changed.
	w.srv.Tell(liar.JSON("bad proof", proveP2, func(r *http.Request, p *api.InclusionProof) { p.Proof[0][0] ^= 1 }))
	uses(t, dirs[2], true, tlog.ErrBadProof, "tag record "+w.p2.Short())
	w.srv.Truth()

	// p1's tag for p2's.
	w.srv.Tell(liar.JSON("other record", liar.GET("/v1/records/"+w.p2.String()), func(r *http.Request, v *api.RecordView) {
		rv, err := w.setup.Record(w.ctx, w.p1, amb)
		if err == nil {
			*v = *rv
		}
	}))
	uses(t, dirs[3], false, client.ErrMismatch, "answered record "+w.p2.Short(), "another record ("+w.p1.Short())
}

// The server accepts a record and answers with another's ID: the client
// knows the ID of what it signed.
func testAccepted(t *testing.T) {
	w := newWorld(t, liar.Options{})
	dirs, _ := w.synced(1)
	w.srv.Tell(liar.JSON("accepted", func(r *http.Request) bool { return r.Method == http.MethodPost }, func(r *http.Request, a *api.Accepted) {
		a.ID = w.p1
	}))
	c := w.victim(dirs[0])
	_, err := c.Send(w.ctx, w.id("ir/leader"), &client.Letter{To: "ru/amb", Sections: []letter.Section{{Title: "t", Text: "x"}}}, nil)
	refused(t, "send", err, client.ErrMismatch, "accepted", w.p1.Short())
	_, err = c.Take(w.ctx, w.id("un/envoy"), w.p1, "")
	refused(t, "take", err, client.ErrMismatch, "accepted", w.p1.Short())
	_, err = c.Grant(w.ctx, w.id("ru/amb"), &directory.Grant{To: "ru/consul", Abilities: []directory.Ability{directory.Carry}}, false)
	refused(t, "grant", err, client.ErrMismatch, "accepted", w.p1.Short())
	if w.srv.Told("accepted") != 3 {
		t.Errorf("the lie was told %d times, want 3", w.srv.Told("accepted"))
	}
}
