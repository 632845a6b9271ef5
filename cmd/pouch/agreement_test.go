package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"pouch.dev/agreement/jcpoa"
	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/internal/scenario"
	"pouch.dev/internal/testkeys"
	"pouch.dev/keys"
	"pouch.dev/record"
)

// agreementWorld starts an in-process server, admits the offices of the
// JCPOA scenario with their test keys, and logs scenes 4, 5 and 6.
func agreementWorld(t *testing.T) (w *scenario.World, sc *jcpoa.Scenario) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := scenario.Start(ctx, scenario.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	regs := map[string]*client.Identity{}
	for _, h := range jcpoa.Principals() {
		admitKey(t, w.Client, regs, h, testkeys.Key(h).Public().(ed25519.PublicKey))
	}
	sc, err = jcpoa.Build(w.Client.Origin, testkeys.Key, time.Now().UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	for _, steps := range [][]jcpoa.Step{sc.JCPOA, sc.Statement, sc.Deal} {
		for _, s := range steps {
			if _, err := w.Client.Submit(ctx, s.Signed); err != nil {
				t.Fatalf("%s: %v", s.Say, err)
			}
		}
	}
	return w, sc
}

// admitKey founds h's house if needed and admits h with key.
func admitKey(t *testing.T, c *client.Client, regs map[string]*client.Identity, h record.Handle, key ed25519.PublicKey) {
	t.Helper()
	ctx := context.Background()
	reg := regs[h.House()]
	if reg == nil {
		_, rk, _ := ed25519.GenerateKey(nil)
		reg = client.Registrar(h.House(), rk)
		regs[h.House()] = reg
		if _, err := c.FoundHouse(ctx, h.House(), "", reg, nil); err != nil {
			t.Fatal(err)
		}
	}
	id, _ := age.GenerateHybridIdentity()
	if _, err := c.Admit(ctx, reg, h, key, id.Recipient().String(), ""); err != nil {
		t.Fatal(err)
	}
}

// waitIntegrated waits until the log's published size covers every
// record submitted so far.
func waitIntegrated(t *testing.T, w *scenario.World) {
	t.Helper()
	var info api.LogInfo
	for i := 0; i < 100; i++ {
		b, err := httpGet(context.Background(), w.URL+"/v1/log")
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(b, &info)
		st, _ := w.Store.State(context.Background())
		if info.Size >= st.Size {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("log not integrated: published size %d", info.Size)
}

func TestAgreementStatusCLI(t *testing.T) {
	w, sc := agreementWorld(t)
	waitIntegrated(t, w)
	env := map[string]string{"POUCH_SERVER": w.URL, "POUCH_HOME": t.TempDir()}
	id := sc.JCPOA[0].Signed.ID().String()

	out := offMust(t, env, "agreement", "status", "--at", "2019-06-01", id)
	t.Log("\n" + out)
	for _, want := range []string{
		"Joint Comprehensive Plan of Action (jcpoa) on 2019-06-01: in force since 2015-07-14",
		"Parties: 6 of 7 in force",
		"us       withdrawn effective 2018-05-08 (by us/president)",
		"every record of the agreement the log holds",
		"iaea/dg: ir complied with nuclear from 2018-08-31 to 2019-05-31",
		"ru/fm: ir complied with nuclear",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q", want)
		}
	}
	out = offMust(t, env, "agreement", "status", "--at", "2020-11-01", "--json", id)
	var js struct {
		PartiesInForce int `json:"parties_in_force"`
		Clauses        []struct{ ID, State string }
		Missing        []struct{ By string }
	}
	result(t, out, &js)
	if js.PartiesInForce != 6 || js.Clauses[2].State != "lapsed" || len(js.Missing) != 1 {
		t.Errorf("2020-11-01: %+v", js)
	}
	out = offMust(t, env, "agreement", "status", "--at", "2021-01-01", "--history", id)
	if !strings.Contains(out, "2020-10-18  clause arms-embargo lapses (sunset)") {
		t.Errorf("history:\n%s", out)
	}
	out = offMust(t, env, "agreement", "status", sc.Deal[0].Signed.ID().String())
	if !strings.Contains(out, ": not in force") || !strings.Contains(out, "Parties: 0 of 2 in force") {
		t.Errorf("draft deal:\n%s", out)
	}
	out = offMust(t, env, "statement", "show", sc.Statement[0].Signed.ID().String())
	if !strings.Contains(out, "85 co-signatures, each verified") {
		t.Errorf("statement:\n%s", out)
	}
	// The statement's ID is not an agreement.
	_, errs, code := offRun(t, env, "agreement", "status", sc.Statement[0].Signed.ID().String())
	if code != 1 || !strings.Contains(errs, "no agreement record "+sc.Statement[0].Signed.ID().Short()) {
		t.Errorf("status of a statement: exit %d, %s", code, errs)
	}
}

func TestAgreementWriteCLI(t *testing.T) {
	w, _ := agreementWorld(t)
	dir := t.TempDir()
	env := offEnv(filepath.Join(dir, "home"))
	env["POUCH_SERVER"] = w.URL
	regs := map[string]*client.Identity{}
	home := &keys.Home{Dir: env["POUCH_HOME"]}
	for _, h := range []record.Handle{"zz/fm", "yy/fm", "yy/speaker"} {
		offMust(t, env, "init", string(h))
		p, err := home.Lookup(h)
		if err != nil {
			t.Fatal(err)
		}
		admitKey(t, w.Client, regs, h, p.Ed25519)
	}
	// The command proves the directory from the published checkpoint:
	// the admissions must be in it (their appends are answered before).
	waitIntegrated(t, w)
	os.WriteFile(filepath.Join(dir, "text.txt"), []byte("The parties agree.\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "ag.json"), []byte(`{
  "name": "zz-yy", "title": "A bilateral treaty",
  "parties": [{"house": "zz", "signers": ["zz/fm"]}, {"house": "yy", "signers": ["yy/fm"]}],
  "force": {}
}`), 0o644)
	out := offMust(t, env, "agreement", "register", "--as", "zz/fm", "--json", filepath.Join(dir, "ag.json"), filepath.Join(dir, "text.txt"))
	var acc api.Accepted
	result(t, out, &acc)
	id := acc.ID.String()
	waitIntegrated(t, w)
	signed, said := offSay(t, env, "agreement", "sign", "--as", "zz/fm", "--party", "zz", "--date", "2026-01-02", id)
	if !strings.Contains(said, "zz/fm signed for zz") {
		t.Errorf("sign: %s", said)
	}
	if _, err := record.ParseID(signed); err != nil {
		t.Errorf("sign printed %q, not the record's ID", signed)
	}
	waitIntegrated(t, w)
	before, _ := w.Store.State(context.Background())
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sign", "--as", "zz/fm", "--party", "zz", id}, "zz already signed zz-yy on 2026-01-02"},
		{[]string{"sign", "--as", "yy/speaker", "--party", "yy", id}, "yy/speaker may not sign for yy: the agreement names yy/fm"},
		{[]string{"withdraw", "--as", "yy/fm", "--party", "yy", "--date", "2027-01-01", id}, "yy is not a party to zz-yy: it never signed"},
		{[]string{"attest", "--as", "yy/fm", "--party", "zz", "--clause", "x", "--from", "2026-01-01", "--to", "2026-01-02", id}, "yy/fm is not a named verifier of zz-yy"},
	} {
		_, errs, code := offRun(t, env, append([]string{"agreement"}, c.args...)...)
		if code != 1 || !strings.Contains(errs, c.want) || !strings.Contains(errs, "nothing was submitted") {
			t.Errorf("agreement %v: exit %d, %s", c.args, code, errs)
		}
	}
	if after, _ := w.Store.State(context.Background()); after.Size != before.Size {
		t.Errorf("refused actions reached the log: size %d -> %d", before.Size, after.Size)
	}
	out = offMust(t, env, "agreement", "status", "--at", "2026-06-01", id)
	if !strings.Contains(out, "not in force") || !strings.Contains(out, "Parties: 1 of 2 in force") {
		t.Errorf("status:\n%s", out)
	}
	// A statement, co-signed once.
	out = offMust(t, env, "statement", "open", "--as", "yy/fm", "--title", "A joint statement", "--json", filepath.Join(dir, "text.txt"))
	result(t, out, &acc)
	sid := acc.ID.String()
	waitIntegrated(t, w)
	offMust(t, env, "statement", "cosign", "--as", "zz/fm", sid)
	waitIntegrated(t, w)
	if _, errs, code := offRun(t, env, "statement", "cosign", "--as", "zz/fm", sid); code != 1 || !strings.Contains(errs, "zz/fm already co-signed") {
		t.Errorf("second co-signature: exit %d, %s", code, errs)
	}
	if out := offMust(t, env, "statement", "show", sid); !strings.Contains(out, "1 co-signatures") || !strings.Contains(out, "zz/fm") {
		t.Errorf("show:\n%s", out)
	}
}
