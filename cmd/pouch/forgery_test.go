package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// forgeLetter makes, in a home of its own, a principal that calls itself
// ir/leader and seals a letter to the addressee's real public keys
// (exported from addressee's home and imported). It returns the forged
// .pouch file's path.
func forgeLetter(t *testing.T, dir string, addressee map[string]string, to string) string {
	t.Helper()
	forger := offEnv(filepath.Join(dir, "forger"))
	offMust(t, forger, "init", "ir/leader")
	pub := filepath.Join(dir, "addressee.pub")
	if err := os.WriteFile(pub, []byte(offMust(t, addressee, "key", "export", "--as", to, "--public")), 0o644); err != nil {
		t.Fatal(err)
	}
	offMust(t, forger, "key", "import", pub)
	md := filepath.Join(dir, "forged.md")
	os.WriteFile(md, []byte("# To the President\n\n## Orders\n\nSend the gold to the bearer.\n"), 0o644)
	forged := filepath.Join(dir, "forged.pouch")
	offMust(t, forger, "seal", "--as", "ir/leader", "--to", to, "-o", forged, md)
	return forged
}

// TestForgeryUnknownKey: a letter signed by a key the addressee's home
// neither imported nor can prove in a log is refused by open and verify,
// with a hint, and opens only with --unverified, marked so.
func TestForgeryUnknownKey(t *testing.T) {
	dir := t.TempDir()
	president := offEnv(filepath.Join(dir, "president"))
	offMust(t, president, "init", "ru/president")
	forged := forgeLetter(t, dir, president, "ru/president")

	for _, args := range [][]string{{"open", forged}, {"verify", forged}, {"open", "--json", forged}, {"verify", "--json", forged}} {
		out, errs, code := offRun(t, president, args...)
		if code != 1 {
			t.Errorf("%v: exit %d, want 1\n%s%s", args, code, out, errs)
		}
		if !strings.Contains(errs, "ir/leader") || !strings.Contains(errs, "pouch: hint: ") || !strings.Contains(errs, "pouch key import") {
			t.Errorf("%v: no error naming the unknown signer with a hint:\n%s", args, errs)
		}
		if strings.Contains(out, "gold") || strings.Contains(out, "verified\":true") || strings.Contains(out, "ok: ") {
			t.Errorf("%v: printed %q", args, out)
		}
		if args[1] == "--json" {
			if e := failure(t, out); e.Code != "unknown-signer" || e.Exit != 1 {
				t.Errorf("%v: error %+v, want code unknown-signer, exit 1", args, e)
			}
		}
	}

	out, errs, code := offRun(t, president, "open", "--unverified", forged)
	if code != 0 {
		t.Fatalf("open --unverified: exit %d\n%s", code, errs)
	}
	if !strings.Contains(out, "Send the gold to the bearer.") {
		t.Fatalf("open --unverified does not show the letter:\n%s", out)
	}
	if strings.Contains(out, "ok: letter verified") {
		t.Fatalf("open --unverified says verified:\n%s", out)
	}
	// Every line that names who wrote or sealed it is marked.
	for _, line := range strings.Split(out, "\n") {
		if (strings.HasPrefix(line, "from ") || strings.HasPrefix(line, "written ")) && !strings.Contains(line, "UNVERIFIED") {
			t.Errorf("unmarked line: %q\n%s", line, out)
		}
	}
	if !strings.Contains(out, "UNVERIFIED: signed by a key this home neither imported nor can prove") {
		t.Fatalf("no UNVERIFIED banner:\n%s", out)
	}
}
