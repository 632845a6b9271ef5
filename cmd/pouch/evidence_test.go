package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pouch.dev/internal/scenario"
	"pouch.dev/record"
)

// TestEvidenceCLI drives the verbs of negative evidence and consent
// against an in-process server: a letter sent with a deadline and asking
// for consent, not opened before consent, refused with its reason and back
// in the sender's inbox; its evidence bundle written and verified with no
// network, with the log's key pinned or with the witness policy; a bundle
// with a changed byte refused; and a letter accepted, opened (its access
// logged) and delivered.
func TestEvidenceCLI(t *testing.T) {
	dir := t.TempDir()
	w, err := scenario.Start(context.Background(), scenario.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	env := offEnv(filepath.Join(dir, "home"))
	env["POUCH_SERVER"] = w.URL
	cast := []string{"us/secretary-of-state", "ir/fm", "ch/amb-tehran"}
	for _, h := range cast {
		offMust(t, env, "init", h)
	}
	for _, h := range []string{"us", "ir", "ch"} {
		offMust(t, env, "house", h)
	}
	for _, h := range cast {
		offMust(t, env, "admit", h)
	}
	md := filepath.Join(dir, "embargo.md")
	os.WriteFile(md, []byte(offLetter), 0o600)
	send := func(args ...string) string {
		t.Helper()
		out := offMust(t, env, append([]string{"send", "--as", "us/secretary-of-state", "--to", "ir/fm", "--via", "ch/amb-tehran", "--json"}, append(args, md)...)...)
		var sent struct {
			ID record.ID `json:"id"`
		}
		result(t, out, &sent)
		return sent.ID.String()
	}
	_, errs, code := offRun(t, env, "send", "--as", "us/secretary-of-state", "--to", "ir/fm", "--deliver-by", "yesterday", md)
	if code != 2 || !strings.Contains(errs, "--deliver-by") {
		t.Fatalf("send --deliver-by yesterday: exit %d\n%s", code, errs)
	}
	id := send("--deliver-by", "168h", "--consent")
	offMust(t, env, "take", "--as", "ch/amb-tehran", id)
	if out := offMust(t, env, "inbox", "--as", "ir/fm"); !strings.Contains(out, "awaits the consent of ir/fm") {
		t.Fatalf("the addressee's inbox:\n%s", out)
	}
	_, errs, code = offRun(t, env, "open", "--as", "ir/fm", id)
	if code != 1 || !strings.Contains(errs, "accept") {
		t.Fatalf("open before consent: exit %d\n%s", code, errs)
	}
	_, errs, code = offRun(t, env, "refuse", "--as", "ir/fm", "--reason", "bored", id)
	if code != 2 || !strings.Contains(errs, "declined") {
		t.Fatalf("refuse --reason bored: exit %d\n%s", code, errs)
	}
	_, errs, code = offRun(t, env, "refuse", "--as", "ch/amb-tehran", "--reason", "declined", id)
	if code != 1 || !strings.Contains(errs, "is an envoy, who carries it") {
		t.Fatalf("refusal by the envoy: exit %d\n%s", code, errs)
	}
	if _, said := offSay(t, env, "refuse", "--as", "ir/fm", "--reason", "declined", "--text", "Tehran firmly rejects Washington's plans", id[:12]); !strings.Contains(said, "refused pouch "+id[:12]+", reason declined") {
		t.Fatalf("refuse:\n%s", said)
	}
	if out := offMust(t, env, "inbox", "--as", "us/secretary-of-state"); !strings.Contains(out, "refused (declined), returned to its sender") {
		t.Fatalf("the sender's inbox:\n%s", out)
	}

	// The evidence, and its check with no network: the server is not
	// asked (POUCH_SERVER points nowhere).
	ev := filepath.Join(dir, "embargo.evidence")
	if out := offMust(t, env, "evidence", "--as", "us/secretary-of-state", id, "-o", ev); !strings.Contains(out, "3 events") {
		t.Fatalf("evidence:\n%s", out)
	}
	off := map[string]string{}
	for k, v := range env {
		off[k] = v
	}
	off["POUCH_SERVER"] = "http://127.0.0.1:1"
	out := offMust(t, off, "verify", ev)
	for _, want := range []string{"evidence of pouch " + id, "outcome   refused (declined)", "refusal by ir/fm (declined): Tehran firmly rejects", "custody by ch/amb-tehran", "ok: every record proven"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify does not say %q:\n%s", want, out)
		}
	}
	pol := filepath.Join(dir, "policy.txt")
	os.WriteFile(pol, w.Policy.Marshal(), 0o600)
	out = offMust(t, off, "verify", "--policy", pol, "--json", ev)
	var vj struct {
		Outcome string `json:"outcome"`
		Events  []struct {
			Kind      string  `json:"kind"`
			NotBefore *string `json:"not_before"`
			NotAfter  *string `json:"not_after"`
		} `json:"events"`
	}
	result(t, out, &vj)
	if vj.Outcome != "refused" || len(vj.Events) != 3 || vj.Events[2].Kind != "refusal" || vj.Events[2].NotAfter == nil {
		t.Fatalf("verify --policy --json:\n%s", out)
	}
	b, _ := os.ReadFile(ev)
	b[len(b)/2] ^= 1
	bad := filepath.Join(dir, "bad.evidence")
	os.WriteFile(bad, b, 0o600)
	if _, errs, code := offRun(t, off, "verify", bad); code != 1 {
		t.Fatalf("verify of a changed bundle: exit %d\n%s", code, errs)
	}

	// Consent given: the addressee opens it (its access logged), then signs
	// its delivery.
	id2 := send("--consent")
	offMust(t, env, "take", "--as", "ch/amb-tehran", id2)
	_, errs, code = offRun(t, env, "deliver", "--as", "ir/fm", id2)
	if code != 1 || !strings.Contains(errs, "consent") {
		t.Fatalf("deliver before consent: exit %d\n%s", code, errs)
	}
	if _, said := offSay(t, env, "accept", "--as", "ir/fm", id2); !strings.Contains(said, "accepted pouch "+id2[:12]) {
		t.Fatalf("accept:\n%s", said)
	}
	if out := offMust(t, env, "open", "--as", "ir/fm", id2); !strings.Contains(out, "strong and strategic") {
		t.Fatalf("open after consent:\n%s", out)
	}
	offMust(t, env, "deliver", "--as", "ir/fm", id2)
	out = offMust(t, env, "evidence", "--as", "us/secretary-of-state", id2, "-o", filepath.Join(dir, "accepted.evidence"))
	if !strings.Contains(out, "5 events") {
		t.Fatalf("evidence of the accepted letter:\n%s", out)
	}
	out = offMust(t, off, "verify", filepath.Join(dir, "accepted.evidence"))
	for _, want := range []string{"outcome   delivered", "acceptance by ir/fm", "access by ir/fm", "delivery by ir/fm"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify of the accepted letter does not say %q:\n%s", want, out)
		}
	}
}
