package client_test

// The hostile-server suite: a real pouch server behind a proxy that lies
// (package internal/liar) in every way the trust model names, and, for
// each lie, a client that synced before it. Every verb that relies on the
// lying answer must refuse with an error that matches the sentinel naming
// the lie and says what it is, and nothing may be sealed, signed, sent or
// kept because of it: the records the real server holds, the requests
// that write through the proxy and the View the client keeps on disk are
// compared before and after. Where it matters, the truth is then told and
// the same client succeeds, so that the refusal is the lie's doing.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"pouch.dev/agreement"
	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/internal/liar"
	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/tlog"
)

// A world is a lying server with a small cast: houses ir, ru and un; the
// sender ir/leader, ir/fm, the addressee ru/amb, its receive delegate
// ru/aide (for letters from ir/leader only), ru/consul, the envoy un/envoy
// and un/sg; pouch p1 from ir/leader to ru/amb via un/envoy awaiting the
// envoy, and p2 likewise, already taken by the envoy, awaiting delivery.
type world struct {
	t     *testing.T
	ctx   context.Context
	srv   *liar.Server
	setup *client.Client // talks to the real server, behind no proxy

	regs     map[string]*client.Identity
	ids      map[record.Handle]*client.Identity
	admitted map[record.Handle][]*api.Accepted
	grant    record.ID // ru/amb's receive grant to ru/aide, for letters from ir/leader
	p1, p2   record.ID
	accord   record.ID // the agreement, once registered

	// policy, with a witness, is what the victims anchor on; without
	// one, the log's key.
	policy *tlog.Policy
	maxAge time.Duration
	clock  struct {
		sync.Mutex
		now func() time.Time
	}
}

func newWorld(t *testing.T, opt liar.Options) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	w := &world{t: t, ctx: ctx, srv: liar.Start(t, opt),
		regs: map[string]*client.Identity{}, ids: map[record.Handle]*client.Identity{}, admitted: map[record.Handle][]*api.Accepted{}}
	w.clock.now = time.Now
	if opt.Witness {
		p, err := tlog.KOfN(w.srv.VerifierKey, []string{w.srv.WitnessKey}, 1)
		if err != nil {
			t.Fatal(err)
		}
		w.policy = p
	}
	// The world is built through the real server by a client anchored on
	// the log's key alone: it checks no witness, so that a lie about time
	// in the log is for the victims to find.
	w.setup = client.New(w.srv.Honest)
	w.setup.Origin = w.srv.Origin
	w.setup.Trust = &client.Trust{LogKey: w.srv.VerifierKey}

	for _, h := range []string{"ir", "ru", "un"} {
		_, k, _ := ed25519.GenerateKey(nil)
		reg := client.Registrar(h, k)
		if _, err := w.setup.FoundHouse(ctx, h, "house "+h, reg, nil); err != nil {
			t.Fatal(err)
		}
		w.regs[h] = reg
	}
	for _, h := range []record.Handle{"ir/leader", "ir/fm", "ru/amb", "ru/aide", "ru/consul", "un/envoy", "un/sg"} {
		w.admit(h)
	}
	a, err := w.setup.Grant(ctx, w.id("ru/amb"), &directory.Grant{To: "ru/aide", Abilities: []directory.Ability{directory.Receive},
		Counterparts: []record.Handle{"ir/leader"}, Purpose: "reads the leader's letters"}, false)
	if err != nil {
		t.Fatal(err)
	}
	w.grant = a.ID
	w.p1 = w.send(w.setup, "ir/leader", "ru/amb", "un/envoy", "first")
	w.p2 = w.send(w.setup, "ir/leader", "ru/amb", "un/envoy", "second")
	if _, err := w.setup.Take(ctx, w.id("un/envoy"), w.p2, ""); err != nil {
		t.Fatal(err)
	}
	w.settle()
	return w
}

func (w *world) id(h record.Handle) *client.Identity {
	p := w.ids[h]
	if p == nil {
		w.t.Fatalf("no %s in the cast", h)
	}
	return p
}

// admit admits a holder of office h with fresh keys (a rotation if h has
// one) and returns them.
func (w *world) admit(h record.Handle) *client.Identity {
	w.t.Helper()
	p, err := keys.Generate(h)
	if err != nil {
		w.t.Fatal(err)
	}
	a, err := w.setup.Admit(w.ctx, w.regs[h.House()], h, p.SigningPublic(), p.Recipient().String(), "holder of "+string(h))
	if err != nil {
		w.t.Fatal(err)
	}
	w.ids[h] = p
	w.admitted[h] = append(w.admitted[h], a)
	return p
}

// send sends a letter through c and returns its pouch.
func (w *world) send(c *client.Client, from, to, via record.Handle, title string) record.ID {
	w.t.Helper()
	l := &client.Letter{To: to, Sections: []letter.Section{{Title: title, Text: "the text of the " + title + " letter"}}}
	if via != "" {
		l.Via = []record.Handle{via}
	}
	s, err := c.Send(w.ctx, w.id(from), l, nil)
	if err != nil {
		w.t.Fatalf("%s sends to %s: %v", from, to, err)
	}
	return s.Pouch
}

// sign signs a record of kind by by, as the clients do.
func (w *world) sign(kind record.Kind, by *client.Identity, private bool, body any) *record.Signed {
	w.t.Helper()
	r := &record.Record{Kind: kind, Origin: w.srv.Origin, By: []record.Handle{by.Handle}, Time: time.Now().UnixMilli()}
	if private {
		r.Salt = record.NewSalt()
	}
	s, err := record.Sign(r, body, by.Signing)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// submit submits a signed record to the real server.
func (w *world) submit(s *record.Signed) *api.Accepted {
	w.t.Helper()
	a, err := w.setup.Submit(w.ctx, s)
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

// settle waits until the log's published checkpoint covers every record
// the real server holds.
func (w *world) settle() []byte { return w.srv.Checkpoint() }

// now is the victims' clock.
func (w *world) now() time.Time {
	w.clock.Lock()
	f := w.clock.now
	w.clock.Unlock()
	return f()
}

func (w *world) setClock(t time.Time) {
	w.clock.Lock()
	w.clock.now = func() time.Time { return t }
	w.clock.Unlock()
}

// victim returns a client of the lying server that keeps its View in dir,
// as the command line does: each command a new client, the View on disk.
func (w *world) victim(dir string) *client.Client {
	c := client.New(w.srv.URL)
	c.Origin = w.srv.Origin
	c.Now = w.now
	c.Trust = &client.Trust{Dir: dir}
	if w.policy != nil {
		c.Trust.Policy, c.Trust.MaxAge = w.policy, w.maxAge
	} else {
		c.Trust.LogKey = w.srv.VerifierKey
	}
	return c
}

// synced returns n folders, each holding the View of a client that synced
// with the honest server as nobody and as each principal of the cast, and
// the checkpoint they hold.
func (w *world) synced(n int) ([]string, []byte) {
	w.t.Helper()
	var dirs []string
	var note []byte
	for range n {
		dir := w.t.TempDir()
		note = w.catchUp(dir)
		dirs = append(dirs, dir)
	}
	return dirs, note
}

// catchUp has a client keeping its View in dir catch up with the log as
// it is, as nobody and as each principal of the cast, and returns the
// checkpoint it holds.
func (w *world) catchUp(dir string) []byte {
	w.t.Helper()
	w.settle()
	c := w.victim(dir)
	as := []*client.Identity{nil}
	for _, h := range slices.Sorted(maps.Keys(w.ids)) {
		as = append(as, w.ids[h])
	}
	var note []byte
	for _, id := range as {
		v, err := c.View(w.ctx, id)
		if err != nil {
			w.t.Fatalf("catching up with the honest log: %v", err)
		}
		note, _ = v.Checkpoint()
	}
	return note
}

// A verb is one thing a client does that relies on the server's answers.
type verb struct {
	name string
	do   func(ctx context.Context, c *client.Client) error
}

// verbs are the client's verbs, each as a principal of the world would
// use it: every one of them catches up with the log first.
func (w *world) verbs() []verb {
	leader, amb, envoy := w.id("ir/leader"), w.id("ru/amb"), w.id("un/envoy")
	letterTo := func() *client.Letter {
		return &client.Letter{To: "ru/amb", Via: []record.Handle{"un/envoy"}, Sections: []letter.Section{{Title: "after the lie", Text: "must not be sealed"}}}
	}
	return []verb{
		{"view", func(ctx context.Context, c *client.Client) error { _, err := c.View(ctx, nil); return err }},
		{"send", func(ctx context.Context, c *client.Client) error {
			_, err := c.Send(ctx, leader, letterTo(), nil)
			return err
		}},
		{"seal", func(ctx context.Context, c *client.Client) error {
			_, err := c.Seal(ctx, leader, letterTo(), nil)
			return err
		}},
		{"reply", func(ctx context.Context, c *client.Client) error {
			_, err := c.Reply(ctx, amb, w.p2, &client.Letter{Sections: []letter.Section{{Title: "re", Text: "must not be sealed"}}}, nil)
			return err
		}},
		{"take", func(ctx context.Context, c *client.Client) error { _, err := c.Take(ctx, envoy, w.p1, ""); return err }},
		{"deliver", func(ctx context.Context, c *client.Client) error { _, err := c.Deliver(ctx, amb, w.p2); return err }},
		{"open", func(ctx context.Context, c *client.Client) error {
			o, _, err := c.Open(ctx, amb, w.p2)
			if err != nil && o != nil {
				w.t.Errorf("open: refused (%v) but returned the letter", err)
			}
			return err
		}},
		{"chain", func(ctx context.Context, c *client.Client) error { _, err := c.Chain(ctx, amb, w.p2); return err }},
		{"prove", func(ctx context.Context, c *client.Client) error {
			_, err := c.Prove(ctx, w.p2, record.KindTag, amb)
			return err
		}},
		{"line", func(ctx context.Context, c *client.Client) error {
			_, err := c.LineDirectory(leader).CurrentKey(ctx, "ru/amb")
			return err
		}},
		{"agreement status", func(ctx context.Context, c *client.Client) error {
			v, err := c.View(ctx, nil)
			if err != nil {
				return err
			}
			if w.accord != (record.ID{}) {
				w.t.Errorf("agreement status: the client reports agreement %s %v in 2022", w.accord.Short(), v.Agreements().Agreement(w.accord).Status("2022-01-01"))
			}
			return nil
		}},
	}
}

// everyVerbRefuses runs every verb with a client keeping its View in dir
// and checks that each refuses with want, saying says, and that nothing
// was written, sealed or kept. It returns the first verb's error.
func (w *world) everyVerbRefuses(t *testing.T, dir string, want error, says ...string) error {
	t.Helper()
	var first error
	w.nothingChanges(t, dir, func() {
		for i, v := range w.verbs() {
			err := v.do(w.ctx, w.victim(dir))
			refused(t, v.name, err, want, says...)
			if i == 0 {
				first = err
			}
		}
	})
	return first
}

// refused checks that err matches want and says every one of says.
func refused(t *testing.T, what string, err, want error, says ...string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want an error matching %q", what, err, want)
		return
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: the error %q does not say %q", what, err, s)
		}
	}
}

// nothingChanges runs f and checks that meanwhile the real server was
// sent nothing to write and holds no more records, and that the View kept
// in dir did not change.
func (w *world) nothingChanges(t *testing.T, dir string, f func()) {
	t.Helper()
	size, writes, kept := w.srv.Size(), w.srv.Writes(), files(t, dir)
	f()
	if n := w.srv.Size(); n != size {
		t.Errorf("the real server holds %d records, %d before the lie", n, size)
	}
	if n := w.srv.Writes(); n != writes {
		t.Errorf("%d requests to write reached the server because of the lie", n-writes)
	}
	after := files(t, dir)
	for p, b := range kept {
		if !bytes.Equal(after[p], b) {
			t.Errorf("the client's kept %s changed because of the lie", filepath.Base(p))
		}
	}
	if len(after) != len(kept) {
		t.Errorf("the client keeps %d files, %d before the lie", len(after), len(kept))
	}
}

// files returns the files a client keeps in dir (lock files aside).
func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".lock") {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("the client keeps nothing in %s", dir)
	}
	return out
}

// truthful checks that, the lie stopped, a client keeping its View in dir
// catches up, and returns its View.
func (w *world) truthful(t *testing.T, dir string) *client.View {
	t.Helper()
	w.srv.Truth()
	w.settle()
	v, err := w.victim(dir).View(w.ctx, nil)
	if err != nil {
		t.Fatalf("told the truth, the client still refuses: %v", err)
	}
	return v
}

// lastPouch returns the payload of the last pouch submitted through the
// proxy.
func (w *world) lastPouch(t *testing.T) []byte {
	t.Helper()
	ps := w.srv.Pouches()
	if len(ps) == 0 {
		t.Fatal("no pouch was submitted through the proxy")
	}
	var sub api.PouchSubmission
	if err := record.Unmarshal(ps[len(ps)-1], &sub); err != nil {
		t.Fatal(err)
	}
	return sub.Payload
}

// sealedTo checks the age header of payload: one stanza for each of want,
// each of whom can unwrap the file key, and none of not can.
func sealedTo(t *testing.T, payload []byte, want []*client.Identity, not ...*client.Identity) {
	t.Helper()
	var c stanzaCounter
	age.Decrypt(bytes.NewReader(payload), &c)
	if c.n != len(want) {
		t.Errorf("the payload has %d recipient stanzas, want %d", c.n, len(want))
	}
	for _, id := range want {
		if _, err := age.Decrypt(bytes.NewReader(payload), id.Sealing); err != nil {
			t.Errorf("the payload is not sealed to %s: %v", id.Handle, err)
		}
	}
	for _, id := range not {
		if _, err := age.Decrypt(bytes.NewReader(payload), id.Sealing); err == nil {
			t.Errorf("the payload is sealed to %s's key %x", id.Handle, id.SigningPublic()[:6])
		}
	}
}

// A stanzaCounter is an age identity that counts a header's stanzas and
// unwraps nothing.
type stanzaCounter struct{ n int }

func (c *stanzaCounter) Unwrap(ss []*age.Stanza) ([]byte, error) {
	c.n = len(ss)
	return nil, age.ErrIncorrectIdentity
}

// sequenceCustody has the operator sequence a custody record of pouch by
// by, which the rules refuse, readable by parties, and returns its ID.
func (w *world) sequenceCustody(by *client.Identity, pouch record.ID, from, onBehalf record.Handle, parties ...record.Handle) record.ID {
	w.t.Helper()
	s, err := letter.SignCustody(&letter.Custody{Pouch: pouch, From: from, Delivered: true, OnBehalf: onBehalf},
		by.Handle, by.Signing, record.NewSalt(), time.Now().UnixMilli(), w.srv.Origin)
	if err != nil {
		w.t.Fatal(err)
	}
	w.srv.Sequence(&store.Entry{ID: s.ID(), Kind: record.KindCustody, Signed: s.Marshal(), Parties: append(parties, by.Handle), Refs: []record.ID{pouch}})
	return s.ID()
}

// listCustody rewrites the server's list of pouch's custody records.
func listCustody(name string, pouch record.ID, f func([]api.HopView) []api.HopView) *liar.Lie {
	return liar.JSON(name, liar.GET("/v1/pouches/"+pouch.String()), func(r *http.Request, v *api.PouchView) {
		v.Custody = f(v.Custody)
		v.Delivered = len(v.Custody) > 0 && v.Custody[len(v.Custody)-1].Delivery
	})
}

// withhold returns a lie that leaves the record at index out of the pages
// of GET /v1/log/records.
func withhold(name string, index uint64) *liar.Lie {
	return liar.Records(name, func(r *http.Request, p *api.RecordsPage) {
		p.Records = slices.DeleteFunc(p.Records, func(rv api.RecordView) bool { return rv.Index == index })
	})
}

func TestHostileServer(t *testing.T) {
	t.Run("directory answers", testDirectoryAnswers)
	t.Run("directory record withheld", testDirectoryWithheld)
	t.Run("directory record altered", testDirectoryAltered)
	t.Run("directory record sequenced as private", testDirectoryPrivate)
	t.Run("withdrawal withheld", testWithdrawalWithheld)
	t.Run("withdrawal sequenced as private", testWithdrawalPrivate)
	t.Run("grant for another sender", testGrantScope)
	t.Run("revoked grant", testGrantRevoked)
	t.Run("expired grant", testGrantExpired)
	t.Run("fork of the same size", testForkSameSize)
	t.Run("fork larger than the tree held", testForkLarger)
	t.Run("fork with a witness", testForkWitnessed)
	t.Run("rollback", testRollback)
	t.Run("replica a moment behind", testReplicaBehind)
	t.Run("uncosigned checkpoint", testUncosigned)
	t.Run("uncosigned checkpoint behind the client's record", testBehindUncosigned)
	t.Run("stale checkpoint", testStale)
	t.Run("another pouch's payload", testPayloadSwap)
	t.Run("line peer's key", testLinePeer)
	t.Run("times in JSON", testJSONTimes)
	t.Run("leaf time after the witnesses' bound", testLeafTimeLate)
	t.Run("leaf time before the witnesses' bound", testLeafTimeEarly)
	t.Run("tampered entry bundle", testTamperedEntries)
	t.Run("custody record not in the log", testCustodyNotInLog)
	t.Run("custody chain out of order", testCustodyOrder)
	t.Run("pouch events", testEvents)
	t.Run("proofs and anchors", testProofs)
	t.Run("answers to submissions", testAccepted)
}

// The server answers every directory question with its own keys: whom to
// seal to, an office's key, the grants. The client asks none of them and
// seals to the readers it proved.
func testDirectoryAnswers(t *testing.T) {
	w := newWorld(t, liar.Options{})
	dirs, _ := w.synced(1)
	mallory, err := keys.Generate("ru/amb")
	if err != nil {
		t.Fatal(err)
	}
	w.srv.Tell(
		liar.JSON("seal", liar.GET("/v1/directory/seal"), func(r *http.Request, v *api.SealView) {
			v.Readers = []api.ReaderView{{Handle: v.To, Key: mallory.SigningPublic(), Recipient: mallory.Recipient().String(), Role: "addressee"}}
		}),
		liar.JSON("principal", liar.GET("/v1/directory/principals/"), func(r *http.Request, v *api.PrincipalView) {
			kv := api.KeyView{Handle: v.Handle, Key: mallory.SigningPublic(), Recipient: mallory.Recipient().String()}
			v.Current, v.History = &kv, append(v.History, kv)
		}),
		liar.JSON("grants", liar.GET("/v1/directory/grants/"), func(r *http.Request, v *[]api.GrantView) {
			*v = append(*v, api.GrantView{From: "ru/amb", To: "ir/fm", Abilities: []directory.Ability{directory.Receive}})
		}),
	)
	// The lies are told to whoever asks.
	sv, err := client.New(w.srv.URL).SealTo(w.ctx, "ir/leader", "ru/amb", nil)
	if err != nil || len(sv.Readers) != 1 || sv.Readers[0].Recipient != mallory.Recipient().String() {
		t.Fatalf("the proxy does not lie about whom to seal to: %+v, %v", sv, err)
	}
	asked := w.srv.Asked("/v1/directory/")

	c := w.victim(dirs[0])
	sent, err := c.Send(w.ctx, w.id("ir/leader"), &client.Letter{To: "ru/amb", Via: []record.Handle{"un/envoy"},
		Sections: []letter.Section{{Title: "sealed to the proven", Text: "not to the server"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := w.srv.Asked("/v1/directory/") - asked; n != 0 {
		t.Errorf("the client asked the server's directory %d times", n)
	}
	want := []*client.Identity{w.id("ru/amb"), w.id("ru/aide"), w.id("ir/leader")}
	for _, r := range sent.Plan.Readers {
		if !slices.ContainsFunc(want, func(id *client.Identity) bool {
			return id.Handle == r.Handle && id.SigningPublic().Equal(r.Key) && id.Recipient().String() == r.Recipient
		}) {
			t.Errorf("the plan seals to %s with key %x, not a key the log holds for it", r.Handle, r.Key[:6])
		}
	}
	payload := w.lastPouch(t)
	if !bytes.Equal(payload, sent.Payload) {
		t.Error("the payload submitted is not the one sealed")
	}
	sealedTo(t, payload, want, mallory, w.id("ir/fm"))

	k, err := c.LineDirectory(w.id("ir/leader")).CurrentKey(w.ctx, "ru/amb")
	if err != nil || !k.Equal(w.id("ru/amb").SigningPublic()) {
		t.Errorf("the line's directory gives ru/amb's key as %x (%v), not the proven one", k, err)
	}
}

// A rotation of ru/aide's key, withheld from the records the server
// serves: the client would seal to the key the office no longer holds.
func testDirectoryWithheld(t *testing.T) {
	w := newWorld(t, liar.Options{})
	dirs, _ := w.synced(1)
	aide := w.admit("ru/aide")
	rot := w.admitted["ru/aide"][1]
	w.settle()
	w.srv.Tell(withhold("withhold", rot.Index))
	w.everyVerbRefuses(t, dirs[0], client.ErrWithheld, "withheld", fmt.Sprintf("admit record %s at index %d", rot.ID.Short(), rot.Index))

	v := w.truthful(t, dirs[0])
	if k, err := v.Directory().KeyAt("ru/aide", v.Size()); err != nil || !ed25519.PublicKey(k.Key).Equal(aide.SigningPublic()) {
		t.Errorf("told the truth, ru/aide's key is not the new one: %v", err)
	}
}

// The same rotation, served altered: another genuine record in its place,
// or its bytes changed.
func testDirectoryAltered(t *testing.T) {
	w := newWorld(t, liar.Options{})
	dirs, _ := w.synced(2)
	old := w.admitted["ru/aide"][0]
	w.admit("ru/aide")
	rot := w.admitted["ru/aide"][1]
	w.settle()
	oldRec, err := w.setup.Record(w.ctx, old.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.srv.Tell(liar.Records("swap", func(r *http.Request, p *api.RecordsPage) {
		for i := range p.Records {
			if p.Records[i].Index == rot.Index {
				p.Records[i].Signed = oldRec.Signed
			}
		}
	}))
	w.everyVerbRefuses(t, dirs[0], client.ErrMismatch, fmt.Sprintf("the log holds a public admit record %s there", rot.ID.Short()))

	w.srv.Truth()
	w.srv.Tell(liar.Records("flip", func(r *http.Request, p *api.RecordsPage) {
		for i := range p.Records {
			if p.Records[i].Index == rot.Index {
				b := bytes.Clone(p.Records[i].Signed)
				b[len(b)/2] ^= 1
				p.Records[i].Signed = b
			}
		}
	}))
	w.everyVerbRefuses(t, dirs[1], client.ErrMismatch, fmt.Sprintf("record at index %d", rot.Index))
	w.truthful(t, dirs[1])
}

// The registrar revokes ru/aide's key; the operator sequences the public
// key-revoke record under a private leaf, served to its signer alone. The
// client knows a key-revoke record is at that index and that it cannot
// read it: it must not go on sealing to the key.
func testDirectoryPrivate(t *testing.T) {
	w := newWorld(t, liar.Options{})
	dirs, _ := w.synced(1)
	aide := w.id("ru/aide")
	s := w.sign(record.KindKeyRevoke, w.regs["ru"], false, &directory.KeyRevoke{Handle: "ru/aide", Key: aide.SigningPublic(), Reason: "compromised"})
	sq := w.srv.Sequence(&store.Entry{ID: s.ID(), Kind: record.KindKeyRevoke, Signed: s.Marshal(), Parties: []record.Handle{"ru/registrar"}})
	w.everyVerbRefuses(t, dirs[0], client.ErrRulesBroken, fmt.Sprintf("leaf %d is a private key-revoke record (%s)", sq[0].Index, s.ID().Short()))
}

// agreement registers an agreement by un/sg between ir and ru, which both
// sign, and returns its ID.
func (w *world) agreement() record.ID {
	w.t.Helper()
	a := w.submit(w.sign(record.KindAgreement, w.id("un/sg"), false, &agreement.Agreement{
		Name: "accord", Title: "An accord between ir and ru", Text: agreement.Digest([]byte("the accord's text")),
		Parties: []agreement.Party{{House: "ir", Signers: []record.Handle{"ir/leader"}}, {House: "ru", Signers: []record.Handle{"ru/amb"}}},
	}))
	w.submit(w.sign(record.KindAgreementSign, w.id("ir/leader"), false, &agreement.Sign{Agreement: a.ID, Party: "ir", Date: "2020-01-01"}))
	w.submit(w.sign(record.KindAgreementSign, w.id("ru/amb"), false, &agreement.Sign{Agreement: a.ID, Party: "ru", Date: "2020-01-01"}))
	w.accord = a.ID
	return a.ID
}

// ru's withdrawal hidden from the records served: the agreement would look
// in force in 2022.
func testWithdrawalWithheld(t *testing.T) {
	w := newWorld(t, liar.Options{})
	id := w.agreement()
	dirs, _ := w.synced(1)
	v, err := w.victim(dirs[0]).View(w.ctx, nil)
	if err != nil || !v.Agreements().Agreement(id).InForce("2022-01-01") {
		t.Fatalf("before the withdrawal, the agreement is not in force in 2022 (%v)", err)
	}
	wd := w.submit(w.sign(record.KindAgreementWithdraw, w.id("ru/amb"), false, &agreement.Withdraw{Agreement: id, Party: "ru", Date: "2021-01-01"}))
	w.settle()
	w.srv.Tell(withhold("withhold", wd.Index))
	w.everyVerbRefuses(t, dirs[0], client.ErrWithheld, fmt.Sprintf("agreement-withdraw record %s at index %d", wd.ID.Short(), wd.Index))

	v = w.truthful(t, dirs[0])
	if v.Agreements().Agreement(id).InForce("2022-01-01") {
		t.Error("told the truth, the agreement is still in force in 2022")
	}
}

// ru's withdrawal sequenced by the operator under a private leaf: no
// client may demand it, and the agreement would look in force.
func testWithdrawalPrivate(t *testing.T) {
	w := newWorld(t, liar.Options{})
	id := w.agreement()
	dirs, _ := w.synced(1)
	s := w.sign(record.KindAgreementWithdraw, w.id("ru/amb"), false, &agreement.Withdraw{Agreement: id, Party: "ru", Date: "2021-01-01"})
	sq := w.srv.Sequence(&store.Entry{ID: s.ID(), Kind: record.KindAgreementWithdraw, Signed: s.Marshal(), Parties: []record.Handle{"ru/amb"}})
	w.everyVerbRefuses(t, dirs[0], client.ErrRulesBroken, fmt.Sprintf("leaf %d is a private agreement-withdraw record (%s)", sq[0].Index, s.ID().Short()))
}
