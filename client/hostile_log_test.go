package client_test

// The hostile-server suite, continued: lies about the log itself — its
// checkpoints (forked, rolled back, uncosigned, stale), its entries, and
// the times it stamps on them. See hostile_test.go.

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/internal/liar"
	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// splitView checks that err carries both checkpoints: old, the one the
// client held, and new, the one served.
func splitView(t *testing.T, err error, old, new []byte) {
	t.Helper()
	var sv *tlog.SplitViewError
	if !errors.As(err, &sv) {
		t.Fatalf("%v is not a *tlog.SplitViewError", err)
	}
	if !bytes.Equal(sv.Old, old) {
		t.Errorf("the error holds as the client's checkpoint\n%s\nnot the one it held\n%s", sv.Old, old)
	}
	if !bytes.Equal(sv.New, new) {
		t.Errorf("the error holds as the server's checkpoint\n%s\nnot the one served\n%s", sv.New, new)
	}
}

// event adds a record to the log: ru/amb grants ru/consul to carry.
func (w *world) event() uint64 {
	w.t.Helper()
	a, err := w.setup.Grant(w.ctx, w.id("ru/amb"), &directory.Grant{To: "ru/consul", Abilities: []directory.Ability{directory.Carry}}, false)
	if err != nil {
		w.t.Fatal(err)
	}
	w.settle()
	return a.Index
}

func (w *world) size() uint64 {
	_, n := w.srv.Log.Checkpoint()
	return n
}

func (w *world) witnessName() string {
	name, _, _ := strings.Cut(w.srv.WitnessKey, "+")
	return name
}

// The operator signs a checkpoint of the size the client holds over other
// leaves (a second log with the log's key over a store of its own).
func testForkSameSize(t *testing.T) {
	w := newWorld(t, liar.Options{})
	dirs, held := w.synced(1)
	fork := w.srv.Fork(int(w.size()))
	note, _ := fork.Checkpoint()
	w.srv.Tell(liar.Checkpoint("fork", note))
	err := w.everyVerbRefuses(t, dirs[0], tlog.ErrFork, "forked", fmt.Sprintf("held size %d, got size %d", w.size(), w.size()))
	splitView(t, err, held, note)
	w.truthful(t, dirs[0])
}

// The operator shows a larger tree, with its entries, that does not
// extend the one the client holds.
func testForkLarger(t *testing.T) {
	w := newWorld(t, liar.Options{})
	dirs, held := w.synced(1)
	fork := w.srv.Fork(int(w.size()) + 3)
	note, _ := fork.Checkpoint()
	w.srv.Tell(liar.ServeLog("fork", fork))
	err := w.everyVerbRefuses(t, dirs[0], tlog.ErrFork, "forked", "do not hash to the checkpoint's root")
	splitView(t, err, held, note)
	w.truthful(t, dirs[0])
}

// With a witness in the policy, the fork goes without the witness's
// cosignature: the witness, which cosigned the real tree, refuses it.
func testForkWitnessed(t *testing.T) {
	w := newWorld(t, liar.Options{Witness: true})
	dirs, _ := w.synced(1)
	n := w.size()
	fork := w.srv.Fork(int(n) + 3)
	note, _ := fork.Checkpoint()
	proof, err := fork.Consistency(w.ctx, n, n+3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlog.AddCheckpoint(w.ctx, http.DefaultClient, w.srv.WitnessURL, n, proof, note); !errors.Is(err, tlog.ErrWitnessRefused) {
		t.Errorf("the witness asked to cosign the fork: %v, want %v", err, tlog.ErrWitnessRefused)
	}
	w.srv.Tell(liar.ServeLog("fork", fork))
	w.everyVerbRefuses(t, dirs[0], tlog.ErrNoQuorum, "no cosignature from "+w.witnessName())
	w.truthful(t, dirs[0])
}

// The server goes back to a checkpoint older than the one the client
// holds.
func testRollback(t *testing.T) {
	w := newWorld(t, liar.Options{})
	old := w.settle()
	w.event()
	dirs, held := w.synced(1)
	live := w.victim("")
	if _, err := live.View(w.ctx, nil); err != nil {
		t.Fatal(err)
	}
	w.srv.Tell(liar.Checkpoint("rollback", old))
	err := w.everyVerbRefuses(t, dirs[0], tlog.ErrRollback, "rolled back")
	splitView(t, err, held, old)
	_, err = live.View(w.ctx, nil)
	refused(t, "view, kept in memory", err, tlog.ErrRollback, "rolled back")
	w.truthful(t, dirs[0])
}

// A replica that follows the sequencer a moment behind serves, once, the
// checkpoint before the one the client holds: the client waits for the
// replica to catch up and judges the next one, which extends its View. A
// server that keeps serving the older tree is refused (testRollback).
func testReplicaBehind(t *testing.T) {
	w := newWorld(t, liar.Options{})
	old := w.settle()
	w.event()
	dirs, _ := w.synced(1)
	var served atomic.Int32
	w.srv.Tell(&liar.Lie{
		Name:  "behind",
		Match: func(r *http.Request) bool { return liar.GET("/checkpoint")(r) && served.Add(1) == 1 },
		Serve: liar.Checkpoint("behind", old).Serve,
	})
	w.event()
	v, err := w.victim(dirs[0]).View(w.ctx, nil)
	if err != nil {
		t.Fatalf("a replica a moment behind: %v", err)
	}
	if got := w.srv.Told("behind"); got != 1 {
		t.Fatalf("the older checkpoint was served %d times, want 1", got)
	}
	if v.Size() != w.size() {
		t.Fatalf("the View holds a tree of %d, want the log's %d", v.Size(), w.size())
	}
}

// The policy requires the witness; the server serves the log's checkpoint
// without its cosignature.
func testUncosigned(t *testing.T) {
	w := newWorld(t, liar.Options{Witness: true})
	dirs, _ := w.synced(1)
	w.event()
	w.srv.Tell(w.srv.Uncosigned("uncosigned"))
	err := w.everyVerbRefuses(t, dirs[0], tlog.ErrNoQuorum, "no cosignature from "+w.witnessName())
	var qe *tlog.QuorumError
	if !errors.As(err, &qe) || !slices.Contains(qe.Missing, w.witnessName()) {
		t.Errorf("the quorum error does not name the witness %s as missing: %#v", w.witnessName(), qe)
	}
	v := w.truthful(t, dirs[0])
	if _, cp := v.Checkpoint(); !slices.Contains(cp.Cosigners, w.witnessName()) {
		t.Errorf("told the truth, the checkpoint is cosigned by %v", cp.Cosigners)
	}
}

// ru/amb's key is revoked and a new one admitted; the server keeps showing
// the checkpoint from before, whose cosignature has grown older than the
// client's maximum age. The revoked key must not be sealed to.
func testStale(t *testing.T) {
	w := newWorld(t, liar.Options{Witness: true})
	w.maxAge = time.Minute
	dirs, held := w.synced(1)
	// The revocation is cosigned at least a second later (cosignature
	// times are whole seconds).
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	revoked := w.id("ru/amb")
	w.submit(w.sign(record.KindKeyRevoke, w.regs["ru"], false, &directory.KeyRevoke{Handle: "ru/amb", Key: revoked.SigningPublic(), Reason: "lost"}))
	amb := w.admit("ru/amb")
	fresh := w.settle()
	v, err := w.policy.Verifier(w.srv.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	cp0, err0 := v.Open(held)
	cp1, err1 := v.Open(fresh)
	if err0 != nil || err1 != nil || !cp0.FreshAsOf.Before(cp1.FreshAsOf) {
		t.Fatalf("the revocation's checkpoint is not cosigned after the one held (%v, %v)", err0, err1)
	}
	// Now is one maximum age after the revocation was cosigned: the
	// checkpoint from before it is too old, the one after it is not.
	w.setClock(cp1.FreshAsOf.Add(w.maxAge))
	w.srv.Tell(liar.Checkpoint("stale", held))
	w.everyVerbRefuses(t, dirs[0], tlog.ErrStale, "stale", "no fresh cosignature from "+w.witnessName())

	// Told the truth, the same client seals to the new key.
	w.srv.Truth()
	sent, err := w.victim(dirs[0]).Send(w.ctx, w.id("ir/leader"), &client.Letter{To: "ru/amb", Via: []record.Handle{"un/envoy"},
		Sections: []letter.Section{{Title: "after the revocation", Text: "to the new key"}}}, nil)
	if err != nil {
		t.Fatalf("told the truth: %v", err)
	}
	sealedTo(t, sent.Payload, []*client.Identity{amb, w.id("ru/aide"), w.id("ir/leader")}, revoked)
}

// The server misstates in its JSON when records were sequenced; the client
// takes every time from the leaves.
func testJSONTimes(t *testing.T) {
	w := newWorld(t, liar.Options{})
	dirs, _ := w.synced(1)
	lie := time.Date(2001, 9, 9, 1, 46, 40, 0, time.UTC)
	w.srv.Tell(liar.Times("times", func(r *http.Request) bool {
		return r.Method == http.MethodGet && (strings.HasPrefix(r.URL.Path, "/v1/records/") || strings.HasPrefix(r.URL.Path, "/v1/pouches/") ||
			strings.HasPrefix(r.URL.Path, "/v1/log/records") || strings.HasPrefix(r.URL.Path, "/v1/directory/"))
	}, lie))
	sequenced := func(id record.ID) time.Time {
		t.Helper()
		e, err := w.srv.Store.Get(w.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return e.Time
	}
	w.event()
	c := w.victim(dirs[0])
	ch, err := c.Chain(w.ctx, w.id("ru/amb"), w.p2)
	if err != nil {
		t.Fatal(err)
	}
	if w.srv.Told("times") == 0 {
		t.Fatal("the proxy told no lie about times")
	}
	if got, want := ch.TagAt.Sequenced(), sequenced(w.p2); !got.Equal(want) {
		t.Errorf("the tag's time of sequencing is %v, the leaf's is %v", got, want)
	}
	if len(ch.Steps) != 1 {
		t.Fatalf("the chain of p2 has %d steps, want 1", len(ch.Steps))
	}
	for _, st := range ch.Steps {
		if got, want := st.At.Sequenced(), sequenced(st.At.ID); !got.Equal(want) {
			t.Errorf("custody %s: time of sequencing %v, the leaf's is %v", st.At.ID.Short(), got, want)
		}
	}
	v, err := c.View(w.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := v.Directory().KeyAt("ru/amb", v.Size())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.Admitted.Time, sequenced(k.ID); !got.Equal(want) {
		t.Errorf("ru/amb admitted at %v, the leaf says %v", got, want)
	}
	g, err := c.Prove(w.ctx, w.grant, record.KindGrant, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := g.Sequenced(), sequenced(w.grant); !got.Equal(want) {
		t.Errorf("the grant proven sequenced at %v, the leaf says %v", got, want)
	}
}

// The operator's store stamps leaves an hour ahead: later than the
// witness cosigned a tree holding them.
func testLeafTimeLate(t *testing.T) {
	w := newWorld(t, liar.Options{Witness: true})
	dirs, _ := w.synced(1)
	w.srv.Clock.Skew(time.Hour)
	i := w.event()
	w.everyVerbRefuses(t, dirs[0], client.ErrRulesBroken, fmt.Sprintf("leaf %d says it was sequenced at", i), "but the witnesses cosigned a tree holding it by")
}

// The operator's store stamps leaves an hour behind: earlier than the
// witness cosigned a tree without them. A client that keeps its View in
// memory and one that reads it from disk (as each command does) both
// catch it.
func testLeafTimeEarly(t *testing.T) {
	w := newWorld(t, liar.Options{Witness: true, Skew: -time.Hour})
	dirs, _ := w.synced(1)
	w.settle()
	live := w.victim("")
	if _, err := live.View(w.ctx, nil); err != nil {
		t.Fatal(err)
	}
	i := w.event()
	says := []string{fmt.Sprintf("leaf %d says it was sequenced at", i), "the witnesses cosigned a tree without it"}
	_, err := live.View(w.ctx, nil)
	refused(t, "view, kept in memory", err, client.ErrRulesBroken, says...)
	w.everyVerbRefuses(t, dirs[0], client.ErrRulesBroken, says...)
}

// The server changes a leaf in the entry bundles it serves: the leaves no
// longer hash to the checkpoint's root.
func testTamperedEntries(t *testing.T) {
	w := newWorld(t, liar.Options{})
	dirs, held := w.synced(3)
	i := w.event()
	fresh := w.settle()
	tamper := func(name string, f func(*record.Leaf)) *liar.Lie {
		return liar.Entries(name, func(first uint64, es [][]byte) [][]byte {
			for k := range es {
				if first+uint64(k) != i {
					continue
				}
				l, err := record.ParseLeaf(es[k])
				if err != nil {
					t.Errorf("leaf %d: %v", i, err)
					break
				}
				f(&l)
				es[k] = record.LeafData(l)
			}
			return es
		})
	}
	// Another record in its place.
	w.srv.Tell(tamper("other record", func(l *record.Leaf) { l.ID[0] ^= 1 }))
	err := w.everyVerbRefuses(t, dirs[0], tlog.ErrFork, "do not hash to the checkpoint's root")
	splitView(t, err, held, fresh)
	// The grant relabelled as a private tag, which no client fetches.
	w.srv.Truth()
	w.srv.Tell(tamper("relabelled", func(l *record.Leaf) { l.Kind, l.Private = record.KindTag, true }))
	err = w.everyVerbRefuses(t, dirs[1], tlog.ErrFork, "do not hash to the checkpoint's root")
	splitView(t, err, held, fresh)
	// The grant left out of the bundle.
	w.srv.Truth()
	w.srv.Tell(liar.Entries("short", func(first uint64, es [][]byte) [][]byte {
		if k := int(i - first); k >= 0 && k < len(es) {
			es = slices.Delete(es, k, k+1)
		}
		return es
	}))
	w.everyVerbRefuses(t, dirs[2], client.ErrMismatch, "entry bundle")
	w.truthful(t, dirs[2])
}

// The server answers, once, with a checkpoint from before the record the
// client just wrote and without the cosignature the policy requires (as a
// replica serves the empty tree's until it takes the lead and has it
// cosigned): the client waits for a newer one and judges that. A server
// that answers only so is refused.
func testBehindUncosigned(t *testing.T) {
	w := newWorld(t, liar.Options{Witness: true})
	dirs, held := w.synced(2)
	old := liar.Strip(held, w.srv.Origin)
	serveOld := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(old)
	}
	admit := func(c *client.Client, h record.Handle) {
		t.Helper()
		p, err := keys.Generate(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Admit(w.ctx, w.regs[h.House()], h, p.SigningPublic(), p.Recipient().String(), ""); err != nil {
			t.Fatal(err)
		}
	}

	c := w.victim(dirs[0])
	admit(c, "un/observer")
	var n atomic.Int32
	w.srv.Tell(&liar.Lie{Name: "behind once", Serve: serveOld,
		Match: func(r *http.Request) bool { return liar.GET("/checkpoint")(r) && n.Add(1) == 1 }})
	v, err := c.View(w.ctx, nil)
	if err != nil {
		t.Fatalf("a checkpoint behind the client's own record, uncosigned, then the truth: %v", err)
	}
	if w.srv.Told("behind once") != 1 {
		t.Fatalf("the lie was told %d times, want 1", w.srv.Told("behind once"))
	}
	if _, cp := v.Checkpoint(); !slices.Contains(cp.Cosigners, w.witnessName()) {
		t.Errorf("the checkpoint accepted is cosigned by %v", cp.Cosigners)
	}
	w.srv.Truth()

	c = w.victim(dirs[1])
	admit(c, "un/second")
	w.srv.Tell(&liar.Lie{Name: "behind always", Match: liar.GET("/checkpoint"), Serve: serveOld})
	_, err = c.View(w.ctx, nil)
	refused(t, "view, the checkpoint always behind and uncosigned", err, tlog.ErrNoQuorum, "no cosignature from "+w.witnessName())
}
