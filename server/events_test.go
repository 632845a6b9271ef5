package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/keys"
	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
)

// A clock tests move.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// deployment is a correspondence API over a SQLite file that a test stops
// and starts again, as a process that restarts.
type deployment struct {
	t     *testing.T
	path  string
	clock *clock
	// ahead is how far the store's clock, which gives records their time
	// of sequencing, runs ahead of the server's.
	ahead time.Duration
	opt   server.CorrOptions
	st    *sqlite.Store
	corr  *server.Correspondence
	hs    *httptest.Server
	cl    *client.Client
}

func (d *deployment) start() {
	d.t.Helper()
	st, err := sqlite.Open(d.path, sqlite.WithClock(func() time.Time { return d.clock.Now().Add(d.ahead) }))
	if err != nil {
		d.t.Fatal(err)
	}
	opt := d.opt
	opt.Store, opt.Now = st, d.clock.Now
	corr, err := server.NewCorrespondence(context.Background(), opt)
	if err != nil {
		st.Close()
		d.t.Fatal(err)
	}
	mux := http.NewServeMux()
	corr.Register(mux)
	d.st, d.corr, d.hs = st, corr, httptest.NewServer(mux)
	d.cl = client.New(d.hs.URL)
	d.cl.Origin, d.cl.Now = opt.Origin, d.clock.Now
}

func (d *deployment) stop() {
	d.hs.Close()
	d.st.Close()
}

// sendWithDeadline seals a letter from from to to and submits it, with a
// deadline of deadline from now.
func (d *deployment) sendWithDeadline(from, to *keys.Principal, deadline time.Duration) (record.ID, error) {
	var b bytes.Buffer
	sealed, err := letter.Seal(&b, &letter.SealRequest{Author: from, To: to.Public(), Sections: []letter.Section{{Title: "A proposal", Text: "Talks."}},
		Time: d.clock.Now().UnixMilli(), Origin: d.opt.Origin, DeliverBy: d.clock.Now().Add(deadline).UnixMilli()})
	if err != nil {
		return record.ID{}, err
	}
	_, err = d.cl.SubmitPouch(context.Background(), sealed.Tag.Signed, b.Bytes())
	return sealed.Tag.PouchID(), err
}

// cast founds the house of each of hs (countersigned by op, unless nil)
// and admits a principal of new keys to it.
func (d *deployment) cast(op *client.Identity, hs ...record.Handle) map[record.Handle]*keys.Principal {
	d.t.Helper()
	ctx := context.Background()
	ps := map[record.Handle]*keys.Principal{}
	for _, h := range hs {
		_, rk, _ := ed25519.GenerateKey(nil)
		reg := client.Registrar(h.House(), rk)
		if _, err := d.cl.FoundHouse(ctx, h.House(), "", reg, op); err != nil {
			d.t.Fatal(err)
		}
		p, err := keys.Generate(h)
		if err != nil {
			d.t.Fatal(err)
		}
		if _, err := d.cl.Admit(ctx, reg, h, p.SigningPublic(), p.Recipient().String(), ""); err != nil {
			d.t.Fatal(err)
		}
		ps[h] = p
	}
	return ps
}

// TestDeadlineSurvivesRestart: a pouch whose deadline passes while the
// server is down gets its non-delivery when the server starts again, its
// watch rebuilt from the log; once reported, it is watched no more, and a
// restart does not report it twice.
func TestDeadlineSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	ev, err := keys.Generate(directory.EvidenceHandle)
	if err != nil {
		t.Fatal(err)
	}
	_, opk, _ := ed25519.GenerateKey(nil)
	d := &deployment{t: t, path: filepath.Join(t.TempDir(), "pouch.db"), clock: &clock{t: time.Date(2020, 8, 14, 9, 0, 0, 0, time.UTC)},
		opt: server.CorrOptions{Origin: "pouch.test/deadlines", Evidence: ev, OperatorKey: opk,
			Directory: directory.Config{Mode: directory.ModeOperator, Operator: opk.Public().(ed25519.PublicKey)}}}
	d.start()
	op := client.Operator(opk)
	ps := d.cast(op, "us/president", "ir/president")
	pouch, err := d.sendWithDeadline(ps["us/president"], ps["ir/president"], time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n := d.corr.Watching(); n != 1 {
		t.Fatalf("watching %d pouches, want 1", n)
	}
	if n, err := d.corr.Sweep(ctx); n != 0 || err != nil {
		t.Fatalf("a sweep before the deadline logged %d: %v", n, err)
	}
	d.stop()

	// The deadline passes while the server is down.
	d.clock.add(2 * time.Hour)
	d.start()
	if n := d.corr.Watching(); n != 1 {
		t.Fatalf("after the restart, watching %d pouches, want 1", n)
	}
	if n, err := d.corr.Sweep(ctx); n != 1 || err != nil {
		t.Fatalf("the sweep after the restart logged %d: %v", n, err)
	}
	nds, err := d.st.List(ctx, store.Query{Kinds: []record.Kind{record.KindNonDelivery}, Limit: 10})
	if err != nil || len(nds) != 1 {
		t.Fatalf("non-delivery records: %d, %v", len(nds), err)
	}
	e, err := letter.VerifyEvent(nds[0].Signed)
	if err != nil {
		t.Fatal(err)
	}
	if e.By() != directory.EvidenceHandle || e.NonDelivery.Pouch != pouch || e.NonDelivery.Reason != letter.NonDeliveryNotDelivered ||
		e.NonDelivery.Holder != "us/president" || e.NonDelivery.Next != "ir/president" || !slicesContain(nds[0].Parties, "us/president") {
		t.Fatalf("the non-delivery: by %s, %+v, parties %v", e.By(), e.NonDelivery, nds[0].Parties)
	}
	if n := d.corr.Watching(); n != 0 {
		t.Fatalf("watching %d pouches after the report, want 0", n)
	}
	d.stop()
	d.start()
	if n := d.corr.Watching(); n != 0 {
		t.Fatalf("after a second restart, watching %d pouches, want 0", n)
	}
	if n, err := d.corr.Sweep(ctx); n != 0 || err != nil {
		t.Fatalf("the sweep after the second restart logged %d: %v", n, err)
	}

	// A new evidence key: the operator admits it (a new holder of the
	// office), and deadlines go on.
	ev2, err := keys.Generate(directory.EvidenceHandle)
	if err != nil {
		t.Fatal(err)
	}
	d.stop()
	d.opt.Evidence = ev2
	d.start()
	if _, err := d.sendWithDeadline(ps["us/president"], ps["ir/president"], time.Hour); err != nil {
		t.Fatalf("a deadline after the evidence key changed: %v", err)
	}
	// Without the operator's key, a server whose evidence key the office
	// does not hold takes no deadline.
	d.stop()
	d.opt.Evidence, d.opt.OperatorKey = ev, nil
	d.start()
	defer d.stop()
	if _, err := d.sendWithDeadline(ps["us/president"], ps["ir/president"], time.Hour); !errors.Is(err, directory.ErrNotAuthorised) {
		t.Fatalf("a deadline on a server that cannot report it: %v, want ErrNotAuthorised", err)
	}
}

// TestDeadlineJudgedAtSequencing: a tag whose deadline is after the
// server's clock but not after its time of sequencing (the store's clock,
// which the log's leaf commits to) is refused, as every verifier would
// judge it, on POST /v1/pouches and in a batch.
func TestDeadlineJudgedAtSequencing(t *testing.T) {
	ctx := context.Background()
	ev, err := keys.Generate(directory.EvidenceHandle)
	if err != nil {
		t.Fatal(err)
	}
	d := &deployment{t: t, path: filepath.Join(t.TempDir(), "pouch.db"), clock: &clock{t: time.Date(2020, 8, 14, 9, 0, 0, 0, time.UTC)},
		ahead: time.Hour, opt: server.CorrOptions{Origin: "pouch.test/late", Evidence: ev, Directory: directory.Config{Mode: directory.ModeOpen}}}
	d.start()
	defer d.stop()
	ps := d.cast(nil, "us/president", "ir/president")
	if _, err := d.sendWithDeadline(ps["us/president"], ps["ir/president"], 30*time.Minute); !errors.Is(err, ledger.ErrOverdue) {
		t.Fatalf("a deadline before the time of sequencing: %v, want ErrOverdue", err)
	}
	var b bytes.Buffer
	late, err := letter.Seal(&b, &letter.SealRequest{Author: ps["us/president"], To: ps["ir/president"].Public(), Sections: []letter.Section{{Title: "Late", Text: "x"}},
		Time: d.clock.Now().UnixMilli(), Origin: d.opt.Origin, DeliverBy: d.clock.Now().Add(30 * time.Minute).UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	var b2 bytes.Buffer
	fine, err := letter.Seal(&b2, &letter.SealRequest{Author: ps["us/president"], To: ps["ir/president"].Public(), Sections: []letter.Section{{Title: "In time", Text: "y"}},
		Time: d.clock.Now().UnixMilli(), Origin: d.opt.Origin, DeliverBy: d.clock.Now().Add(2 * time.Hour).UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.cl.SubmitPouches(ctx, []api.PouchSubmission{{Tag: late.Tag.Signed.Marshal(), Payload: b.Bytes()}, {Tag: fine.Tag.Signed.Marshal(), Payload: b2.Bytes()}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != http.StatusForbidden || res[0].Error == nil || res[0].Error.Code != "overdue" || res[1].Status != http.StatusCreated {
		t.Fatalf("the batch: %+v %+v", res[0], res[1])
	}
}

func slicesContain(hs []record.Handle, h record.Handle) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

// TestEvidenceOfficeCannotPublish: a tag with a deadline names the
// evidence office among its stored parties, so that the deadline watcher
// finds it by index; that makes the office no party of the pouch, and its
// key (which the server holds) cannot publish the tag. The sender can.
func TestEvidenceOfficeCannotPublish(t *testing.T) {
	ctx := context.Background()
	ev, err := keys.Generate(directory.EvidenceHandle)
	if err != nil {
		t.Fatal(err)
	}
	_, opk, _ := ed25519.GenerateKey(nil)
	d := &deployment{t: t, path: filepath.Join(t.TempDir(), "pouch.db"), clock: &clock{t: time.Date(2020, 8, 14, 9, 0, 0, 0, time.UTC)},
		opt: server.CorrOptions{Origin: "pouch.test/deadline-publish", Evidence: ev, OperatorKey: opk,
			Directory: directory.Config{Mode: directory.ModeOperator, Operator: opk.Public().(ed25519.PublicKey)}}}
	d.start()
	defer d.stop()
	op := client.Operator(opk)
	ps := d.cast(op, "us/president", "ir/president")
	pouch, err := d.sendWithDeadline(ps["us/president"], ps["ir/president"], time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := d.st.Get(ctx, pouch)
	if err != nil {
		t.Fatal(err)
	}
	if !slicesContain(tag.Parties, directory.EvidenceHandle) {
		t.Fatalf("the tag's stored parties %v do not name the evidence office: the watcher would not find it", tag.Parties)
	}
	before, err := d.st.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.cl.Publish(ctx, ev, pouch); !errors.Is(err, ledger.ErrNotParty) {
		t.Fatalf("the evidence office published a pouch's tag: %v, want %v", err, ledger.ErrNotParty)
	}
	after, err := d.st.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size != before.Size {
		t.Fatalf("the refused publish changed the log: %d leaves, then %d", before.Size, after.Size)
	}
	if _, err := d.cl.Publish(ctx, ps["us/president"], pouch); err != nil {
		t.Fatalf("the sender publishing its tag: %v", err)
	}
}
