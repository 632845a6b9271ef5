package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"pouch.dev/keys"
	"pouch.dev/letter/lettertest"
	"pouch.dev/record"
)

// A pouch whose payload also wraps its file key to a classical X25519
// recipient is refused by pouch verify and pouch open, with the downgrade
// named and a hint, and nothing printed; the same letter sealed again to
// the hybrid recipients alone opens.
func TestOfflineClassicalStanzaRefused(t *testing.T) {
	env, dir, p := offWorld(t)
	h := &keys.Home{Dir: env["POUCH_HOME"]}
	cast := map[record.Handle]*keys.Principal{}
	var hybrids []age.Recipient
	for _, hd := range []record.Handle{"ir/leader", "ru/duma-chair", "ru/president"} {
		k, err := h.Load(hd, "pw")
		if err != nil {
			t.Fatal(err)
		}
		cast[hd] = k
		hybrids = append(hybrids, k.Recipient())
	}
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	reseal := func(name string, rs ...age.Recipient) string {
		t.Helper()
		r, err := lettertest.Reseal(orig, cast["ru/president"], cast["ir/leader"].Signing, rs...)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, r.File, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := reseal("hybrid.pouch", hybrids...)
	if out := offMust(t, env, "open", "--as", "ru/president", good); !strings.Contains(out, "strong and strategic") {
		t.Fatalf("the hybrid-only pouch:\n%s", out)
	}
	x, _ := age.GenerateX25519Identity()
	bad := reseal("downgraded.pouch", append(hybrids, x.Recipient())...)
	for _, args := range [][]string{
		{"verify", bad},
		{"open", "--as", "ru/president", bad},
		{"open", "--as", "ru/duma-chair", bad},
	} {
		out, errs, code := offRun(t, env, args...)
		if code != 1 || out != "" {
			t.Errorf("pouch %s: exit %d, stdout %q", strings.Join(args, " "), code, out)
		}
		if !strings.Contains(errs, "the payload also wraps its file key to a classical X25519 recipient: a downgrade") ||
			!strings.Contains(errs, "pouch: hint: do not rely on this letter's secrecy") {
			t.Errorf("pouch %s: stderr does not name the downgrade:\n%s", strings.Join(args, " "), errs)
		}
	}
}
