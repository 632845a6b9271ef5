package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/internal/httpsig"
	"pouch.dev/internal/pgtest"
	"pouch.dev/keys"
	"pouch.dev/line"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store"
	"pouch.dev/store/postgres"
	"pouch.dev/tlog"
)

// A replicaSet is n pouch servers (server.Start), each with its own
// handle on one PostgreSQL test database and its own loopback port, as n
// pouch serve processes over one database are.
type replicaSet struct {
	url     []string
	st      []*postgres.Store
	nodes   []*server.Node
	clients []*client.Client
	vkey    string
}

func startPGReplicas(t *testing.T, n int) *replicaSet {
	t.Helper()
	dsn := pgtest.DB(t)
	skey, vkey, err := tlog.GenerateKey(agOrigin)
	if err != nil {
		t.Fatal(err)
	}
	rs := &replicaSet{vkey: vkey}
	ctx := context.Background()
	for range n {
		st, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		adv := "http://" + ln.Addr().String()
		node, err := server.Start(ctx, server.Options{Store: st, Origin: agOrigin, Key: skey,
			Directory: directory.Config{Mode: directory.ModeOpen}, Advertise: adv})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewUnstartedServer(node.Server)
		hs.Listener.Close()
		hs.Listener = ln
		hs.Start()
		t.Cleanup(func() { hs.Close(); node.Close() })
		cl := client.New(adv)
		cl.Origin = agOrigin
		rs.url = append(rs.url, adv)
		rs.st = append(rs.st, st)
		rs.nodes = append(rs.nodes, node)
		rs.clients = append(rs.clients, cl)
	}
	return rs
}

func (rs *replicaSet) pair(i, j int) *conflictPair {
	return &conflictPair{st: rs.st[i], a: rs.clients[i], b: rs.clients[j]}
}

// TestConflictsPostgres: conflicting records sent at once to two
// replicas over one PostgreSQL database: never both accepted.
func TestConflictsPostgres(t *testing.T) {
	runConflicts(t, func(t *testing.T) *conflictPair { return startPGReplicas(t, 2).pair(0, 1) })
}

// TestReplicasOneLog: letters sent through three replicas land in one
// log: one replica sequences, every replica serves the same checkpoints,
// each checkpoint is consistent with the later ones (proved by another
// replica than the one that served it), and every acknowledged letter is
// in the log at the index it was given.
func TestReplicasOneLog(t *testing.T) {
	rs := startPGReplicas(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ps := people(t, rs.pair(0, 1), "us/president", "ir/president", "ir/fm")
	v, err := tlog.NewNoteVerifier(rs.vkey)
	if err != nil {
		t.Fatal(err)
	}

	type cp struct {
		size uint64
		root []byte
	}
	var cps []cp
	var acked []api.Accepted
	senders := []*keys.Principal{ps["us/president"], ps["ir/fm"]}
	for i := range 30 {
		via := i % 3
		id := sendVia(t, rs.pair(via, via), senders[i%2], ps["ir/president"])
		e, err := rs.st[(via+1)%3].Get(ctx, id)
		if err != nil {
			t.Fatalf("letter %d, acknowledged by replica %d, is not in the store as another replica reads it: %v", i, via, err)
		}
		acked = append(acked, api.Accepted{ID: id, Index: e.Index})
		// The checkpoint that covers it, as a third replica serves it.
		b, n, err := rs.nodes[(via+2)%3].Log.WaitCheckpoint(ctx, e.Index+1)
		if err != nil {
			t.Fatalf("replica %d serves no checkpoint covering index %d: %v", (via+2)%3, e.Index, err)
		}
		nt, err := note.Open(b, note.VerifierList(v))
		if err != nil {
			t.Fatalf("checkpoint of size %d: %v", n, err)
		}
		_, size, root, err := tlog.ParseCheckpointBody(nt.Text)
		if err != nil || size != n {
			t.Fatalf("checkpoint %q: %v", nt.Text, err)
		}
		cps = append(cps, cp{size, root})
	}

	leaders := 0
	for _, n := range rs.nodes {
		if n.Log.Leading() {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d replicas sequence, want 1", leaders)
	}
	last := cps[len(cps)-1]
	for i, n := range rs.nodes {
		b, size, err := n.Log.WaitCheckpoint(ctx, last.size)
		if err != nil {
			t.Fatal(err)
		}
		nt, err := note.Open(b, note.VerifierList(v))
		if err != nil {
			t.Fatal(err)
		}
		_, _, root, _ := tlog.ParseCheckpointBody(nt.Text)
		if size == last.size && !bytes.Equal(root, last.root) {
			t.Fatalf("replica %d serves another tree of size %d: a fork", i, size)
		}
	}
	for i, a := range cps {
		for j := i + 1; j < len(cps); j++ {
			b := cps[j]
			p, err := rs.nodes[j%3].Log.Consistency(ctx, a.size, b.size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, a.size, b.size, p, a.root, b.root); err != nil {
				t.Fatalf("checkpoints %d and %d are not one log: %v", a.size, b.size, err)
			}
		}
	}
	for _, a := range acked {
		e, err := rs.st[0].GetByIndex(ctx, a.Index)
		if err != nil || e.ID != a.ID {
			t.Fatalf("index %d holds %v, want letter %s: %v", a.Index, e, a.ID.Short(), err)
		}
	}
}

// TestReplicasShareNonces: a signed request used at one replica is
// refused as a replay at another.
func TestReplicasShareNonces(t *testing.T) {
	rs := startPGReplicas(t, 2)
	ps := people(t, rs.pair(0, 1), "ir/president")
	pr := ps["ir/president"]
	req := func(base string) *http.Request {
		r, err := http.NewRequest("GET", base+"/v1/inbox", nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := req(rs.url[0])
	if err := httpsig.Sign(first, agOrigin, string(pr.Handle), pr.Signing, time.Now()); err != nil {
		t.Fatal(err)
	}
	do := func(r *http.Request) int {
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := do(first); code != http.StatusOK {
		t.Fatalf("first use: %d", code)
	}
	replay := req(rs.url[1])
	replay.Header = first.Header.Clone()
	if code := do(replay); code != http.StatusUnauthorized {
		t.Fatalf("the same signed request at another replica: %d, want 401 (a replay)", code)
	}
}

// TestReplicasInboxStream: an inbox stream open at one replica wakes when
// a letter to its principal arrives through another.
func TestReplicasInboxStream(t *testing.T) {
	rs := startPGReplicas(t, 2)
	ps := people(t, rs.pair(0, 1), "us/president", "ir/president")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan record.ID, 8)
	ready := make(chan struct{})
	failed := make(chan error, 1)
	go func() {
		// Replica 1 learns of the principal when it follows the log's
		// directory records, a moment after replica 0 admitted it.
		for ctx.Err() == nil {
			err := rs.clients[1].Follow(ctx, ps["ir/president"], func(items []api.InboxItem) error {
				select {
				case <-ready:
					for _, it := range items {
						got <- it.ID
					}
				default:
					close(ready)
				}
				return nil
			})
			select {
			case <-ready:
				failed <- err
				return
			default:
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	select {
	case <-ready:
	case err := <-failed:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no inbox stream at replica 1")
	}
	id := sendVia(t, rs.pair(0, 0), ps["us/president"], ps["ir/president"])
	select {
	case g := <-got:
		if g != id {
			t.Fatalf("the stream at replica 1 sent pouch %s, want %s", g.Short(), id.Short())
		}
	case <-ctx.Done():
		t.Fatal("the stream at replica 1 did not wake for a letter sent through replica 0")
	}
}

// TestReplicasLine: the two ends of a secure line reach different
// replicas; the line opens, carries text both ways, and its call record
// is logged.
func TestReplicasLine(t *testing.T) {
	rs := startPGReplicas(t, 2)
	ps := people(t, rs.pair(0, 1), "us/president", "ir/president")
	us, ir := ps["us/president"], ps["ir/president"]
	dir := &line.MapDirectory{Keys: map[record.Handle]ed25519.PublicKey{
		us.Handle: us.SigningPublic(), ir.Handle: ir.SigningPublic(),
	}}
	cfg := func(p *keys.Principal) line.Config {
		return line.Config{Self: p.Handle, Key: p.Signing.(ed25519.PrivateKey), Directory: dir, Origin: agOrigin}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type res struct {
		l   *line.Line
		err error
	}
	ca, cb := make(chan res, 1), make(chan res, 1)
	go func() { l, err := line.Dial(ctx, rs.url[0]+"/v1/line", ir.Handle, cfg(us)); ca <- res{l, err} }()
	time.Sleep(200 * time.Millisecond) // us waits at replica 0 first
	go func() { l, err := line.Dial(ctx, rs.url[1]+"/v1/line", us.Handle, cfg(ir)); cb <- res{l, err} }()
	a, b := <-ca, <-cb
	if a.err != nil || b.err != nil {
		t.Fatalf("dial across replicas: %v / %v", a.err, b.err)
	}
	if err := a.l.Send("Geneva, Tuesday."); err != nil {
		t.Fatal(err)
	}
	m, err := b.l.Receive(ctx)
	if err != nil || m.Text != "Geneva, Tuesday." {
		t.Fatalf("received %+v, %v", m, err)
	}
	if err := b.l.Send("Agreed."); err != nil {
		t.Fatal(err)
	}
	if m, err := a.l.Receive(ctx); err != nil || m.Text != "Agreed." {
		t.Fatalf("received %+v, %v", m, err)
	}
	errs := make(chan error, 2)
	var recs [2]*record.Signed
	go func() { var err error; recs[0], err = a.l.Hangup(ctx); errs <- err }()
	go func() { var err error; recs[1], err = b.l.Hangup(ctx); errs <- err }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rs.clients[1].Submit(ctx, recs[0]); err != nil && !errors.Is(err, client.ErrReplay) {
		t.Fatalf("logging the call record: %v", err)
	}
	if _, err := rs.st[0].Get(ctx, recs[0].ID()); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
}
