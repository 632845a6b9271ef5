package main

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"pouch.dev/client"
	"pouch.dev/internal/scenario"
	"pouch.dev/record"
)

// admitForTest founds h's house on the open-mode server at url and admits
// h with signing key key, so that the server accepts records h signs.
func admitForTest(t *testing.T, url string, h record.Handle, key ed25519.PrivateKey) {
	t.Helper()
	ctx := context.Background()
	c := client.New(url)
	_, rk, _ := ed25519.GenerateKey(nil)
	reg := client.Registrar(h.House(), rk)
	if _, err := c.FoundHouse(ctx, h.House(), "", reg, nil); err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateHybridIdentity()
	if _, err := c.Admit(ctx, reg, h, key.Public().(ed25519.PublicKey), id.Recipient().String(), ""); err != nil {
		t.Fatal(err)
	}
}

// TestCorrespondenceCLI drives the correspondence verbs against an
// in-process server in operator mode: founding a house needs the
// operator's countersignature; then admit, grant, send, inbox, take,
// deliver, verify, and the refusals a person meets.
func TestCorrespondenceCLI(t *testing.T) {
	dir := t.TempDir()
	opPath := filepath.Join(dir, "operator.key")
	op, err := loadOrCreateEd25519(opPath, true)
	if err != nil {
		t.Fatal(err)
	}
	w, err := scenario.Start(context.Background(), scenario.Options{Operator: op})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	env := offEnv(filepath.Join(dir, "home"))
	env["POUCH_SERVER"] = w.URL
	for _, h := range []string{"ir/leader", "ir/speaker", "ru/president", "ru/duma-chair", "ru/fm"} {
		offMust(t, env, "init", h)
	}
	// Without the operator's countersignature, founding is refused, with a hint.
	_, errs, code := offRun(t, env, "house", "ir")
	if code != 1 || !strings.Contains(errs, "operator") || !strings.Contains(errs, "hint: on a server in operator mode") {
		t.Fatalf("house without operator key: exit %d\n%s", code, errs)
	}
	offMust(t, env, "house", "ir", "--name", "Islamic Republic of Iran", "--operator-key", opPath)
	offMust(t, env, "house", "ru", "--operator-key", opPath)
	for _, h := range []string{"ir/leader", "ir/speaker", "ru/president", "ru/duma-chair", "ru/fm"} {
		offMust(t, env, "admit", h)
	}
	offMust(t, env, "grant", "--as", "ru/president", "--to", "ru/duma-chair", "--from", "ir/leader", "--for", "720h", "receive")
	md := filepath.Join(dir, "m.md")
	os.WriteFile(md, []byte(offLetter), 0o600)
	_, errs, code = offRun(t, env, "send", "--as", "ir/leader", "--to", "ru/president", "--via", "ir/speaker", "--dry-run", md)
	if code != 0 || !strings.Contains(errs, "ru/duma-chair (delegate") {
		t.Fatalf("send --dry-run: exit %d\n%s", code, errs)
	}
	out := offMust(t, env, "send", "--as", "ir/leader", "--to", "ru/president", "--via", "ir/speaker", "--json", md)
	var sent struct {
		ID record.ID `json:"id"`
	}
	result(t, out, &sent)
	id := sent.ID.String()
	// The inbox shows a short ID, which take accepts; take names the
	// pouch it signed for by its short ID.
	short := sent.ID.Short()
	if out := offMust(t, env, "inbox", "--as", "ir/speaker", "--awaiting"); !strings.Contains(out, "* "+short+" ") || strings.Contains(out, id) {
		t.Fatalf("the envoy's inbox lacks the pouch's short ID:\n%s", out)
	}
	_, errs, code = offRun(t, env, "take", "--as", "ru/fm", id)
	if code != 1 || !strings.Contains(errs, "not a party") {
		t.Fatalf("take by ru/fm: exit %d\n%s", code, errs)
	}
	if _, said := offSay(t, env, "take", "--as", "ir/speaker", short); !strings.Contains(said, "ir/speaker holds pouch "+short) {
		t.Fatalf("take by a short ID:\n%s", said)
	}
	offMust(t, env, "deliver", "--as", "ru/duma-chair", id)
	out = offMust(t, env, "verify", "--as", "ir/leader", id)
	// Without a witness policy every line says so: no plain tick.
	if !strings.Contains(out, "delivered to ru/duma-chair for ru/president") || strings.Count(out, "  ~ ") != 3 || strings.Contains(out, "✓") ||
		!strings.Contains(out, "no witness was required") {
		t.Fatalf("verify:\n%s", out)
	}
	_, errs, code = offRun(t, env, "deliver", "--as", "ru/president", id)
	if code != 1 || !strings.Contains(errs, "already delivered") {
		t.Fatalf("second delivery: exit %d\n%s", code, errs)
	}
	offMust(t, env, "revoke", "key", "ru/fm")
	_, errs, code = offRun(t, env, "grant", "--as", "ru/fm", "--to", "ru/president", "carry")
	if code != 1 || !strings.Contains(errs, "was revoked at log index") {
		t.Fatalf("grant with a revoked key: exit %d\n%s", code, errs)
	}
}

// TestDemo runs the README's first command, pouch demo, as a user would:
// every scene and every must-fail case, every check passing.
func TestDemo(t *testing.T) {
	out, errs, code := offRun(t, map[string]string{}, "demo", "--json")
	if code != 0 {
		t.Fatalf("pouch demo: exit %d\n%s\n%s", code, out, errs)
	}
	var sum struct {
		Checks   int `json:"checks"`
		Failures int `json:"failures"`
	}
	if result(t, out, &sum); sum.Failures != 0 || sum.Checks < 25 {
		t.Fatalf("pouch demo --json:\n%s", out)
	}
}
