package client_test

import (
	"context"

	"crypto/ed25519"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/tlog"
)

const trustOrigin = "pouch.test/client-trust"

// startHonest starts an honest server in this process and returns its URL,
// its log's verifier key and the server.
func startHonest(t *testing.T) (url, vkey string, node *server.Node) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := tlog.GenerateKey(trustOrigin)
	if err != nil {
		t.Fatal(err)
	}
	node, err = server.Start(context.Background(), server.Options{Store: st, Origin: trustOrigin, Key: skey, Directory: directory.Config{Mode: directory.ModeOpen}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(node.Server)
	t.Cleanup(func() {
		hs.Close()
		node.Close()
		st.Close()
	})
	return hs.URL, vkey, node
}

// TestTrustOnFirstUse checks that a client with neither a policy nor a
// log key pins the key the server shows the first time, says so once, and
// keeps it where the next client of the same home finds it.
func TestTrustOnFirstUse(t *testing.T) {
	url, vkey, _ := startHonest(t)
	dir := t.TempDir()
	var pinned []string
	newClient := func() *client.Client {
		c := client.New(url)
		c.Trust = &client.Trust{Dir: dir, OnPin: func(origin, key string) { pinned = append(pinned, origin+" "+key) }}
		return c
	}
	ctx := context.Background()
	if _, err := newClient().View(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if len(pinned) != 1 || pinned[0] != trustOrigin+" "+vkey {
		t.Fatalf("pinned %q, want the log's key once", pinned)
	}
	if _, err := newClient().View(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if len(pinned) != 1 {
		t.Fatalf("a second client of the same home pinned again: %q", pinned)
	}
	kept, err := client.KeptLogKeys(dir, trustOrigin)
	if err != nil || len(kept) != 1 || kept[0] != vkey {
		t.Fatalf("KeptLogKeys = %q, %v; want [%s]", kept, err, vkey)
	}
}

// TestRefusalsKeepTheirRule checks that a server's refusal reaches the
// caller as the sentinel of the rule that refused it, with its code: the
// same errors.Is on either side of the wire.
func TestRefusalsKeepTheirRule(t *testing.T) {
	url, vkey, node := startHonest(t)
	ctx := context.Background()
	c := client.New(url)
	c.Origin = trustOrigin
	c.Trust = &client.Trust{LogKey: vkey}
	_, rk, _ := ed25519.GenerateKey(nil)
	reg := client.Registrar("ru", rk)

	// An office of a house not founded.
	_, key, _ := ed25519.GenerateKey(nil)
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Admit(ctx, reg, "ru/president", key.Public().(ed25519.PublicKey), id.Recipient().String(), "")
	var ce *client.Error
	if !errors.Is(err, directory.ErrUnknownHouse) || !errors.As(err, &ce) || ce.Code != "unknown-house" || ce.Status != 403 {
		t.Fatalf("admit before the house: %v (%+v), want the unknown-house rule", err, ce)
	}
	a, err := c.FoundHouse(ctx, "ru", "", reg, nil)
	if err != nil {
		t.Fatal(err)
	}

	// A replay of the house record.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, _, err := node.Log.WaitCheckpoint(wctx, a.Index+1); err != nil {
		t.Fatal(err)
	}
	stored, err := c.Record(ctx, a.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := record.Parse(stored.Signed)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Submit(ctx, s)
	if !errors.Is(err, client.ErrReplay) || !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("a replay: %v, want ErrReplay and store.ErrDuplicate", err)
	}
	if code, _ := api.CodeOf(err); code != "replay" {
		t.Fatalf("a replay's code: %q", code)
	}
}

// TestPolicyRequiresItsWitness checks that a client whose policy requires
// a witness refuses a log that has none cosign, naming the quorum.
func TestPolicyRequiresItsWitness(t *testing.T) {
	url, vkey, _ := startHonest(t)
	_, wkey, err := tlog.GenerateKey("witness.test")
	if err != nil {
		t.Fatal(err)
	}
	policy, err := tlog.KOfN(vkey, []string{wkey}, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(url)
	c.Trust = &client.Trust{Policy: policy}
	if _, err := c.View(context.Background(), nil); !errors.Is(err, tlog.ErrNoQuorum) {
		t.Fatalf("View without the witness's cosignature: %v, want tlog.ErrNoQuorum", err)
	}
	// The same log, with its key alone: accepted, and said to be unwitnessed.
	c = client.New(url)
	c.Trust = &client.Trust{LogKey: vkey}
	v, err := c.View(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Witnessing(time.Now()); got != "no witness was required (split views undetectable)" {
		t.Fatalf("Witnessing = %q", got)
	}
}
