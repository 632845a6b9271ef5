package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// offEnv is the environment of the offline CLI tests: a home of its own,
// a passphrase, and a cheap scrypt work factor.
func offEnv(home string) map[string]string {
	return map[string]string{"POUCH_HOME": home, "POUCH_PASSPHRASE": "pw", "POUCH_SCRYPT_LOG_N": "8"}
}

// offRun runs one pouch command line and returns its output and status.
func offRun(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx := &cmdContext{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}
	code = runMain(ctx, args)
	return out.String(), errb.String(), code
}

// offSay runs a command that must succeed, and returns what it said on
// standard error: a verb that makes a record says there what it did, and
// prints only the record's ID on standard output.
func offSay(t *testing.T, env map[string]string, args ...string) (id, said string) {
	t.Helper()
	out, errs, code := offRun(t, env, args...)
	if code != 0 {
		t.Fatalf("pouch %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return strings.TrimSpace(out), errs
}

func offMust(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, errs, code := offRun(t, env, args...)
	if code != 0 {
		t.Fatalf("pouch %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}

const offLetter = `# To the President of the Russian Federation

Your Excellency,

## Relations

The relations between our two countries are strong and strategic.

## Confidential

The rest of this letter is for you alone.
`

// offWorld makes a home with the cast of scene 1 and a sealed letter.
func offWorld(t *testing.T) (env map[string]string, dir, pouchPath string) {
	dir = t.TempDir()
	env = offEnv(filepath.Join(dir, "home"))
	for _, h := range []string{"ir/leader", "ir/speaker", "ru/president", "ru/duma-chair"} {
		offMust(t, env, "init", h)
	}
	md := filepath.Join(dir, "letter.md")
	os.WriteFile(md, []byte(offLetter), 0o644)
	pouchPath = filepath.Join(dir, "letter.pouch")
	out, errs, code := offRun(t, env, "seal", "--as", "ir/leader", "--to", "ru/president", "--via", "ir/speaker",
		"--reader", "ru/duma-chair", "-o", pouchPath, md)
	if code != 0 || !strings.Contains(errs, "sealed to [ir/leader ru/duma-chair ru/president]") {
		t.Fatalf("seal: exit %d, said: %s", code, errs)
	}
	// Standard output holds the pouch's ID alone, for scripts.
	if _, err := record.ParseID(strings.TrimSpace(out)); err != nil {
		t.Fatalf("seal printed %q, not a pouch ID", out)
	}
	return env, dir, pouchPath
}

func TestOfflineSealOpen(t *testing.T) {
	env, dir, p := offWorld(t)
	for _, as := range []string{"ru/president", "ru/duma-chair", "ir/leader"} {
		out := offMust(t, env, "open", "--as", as, p)
		if !strings.Contains(out, "strong and strategic") || !strings.Contains(out, "ok: letter verified") {
			t.Fatalf("open as %s:\n%s", as, out)
		}
	}
	out := offMust(t, env, "inspect", "--json", p)
	var d pouchJSON
	result(t, out, &d)
	if d.From != "ir/leader" || d.To != "ru/president" || len(d.Via) != 1 || d.Next != "ir/speaker" {
		t.Fatalf("inspect: %+v", d)
	}
	if strings.Contains(out, "strategic") {
		t.Fatal("inspect shows the letter")
	}
	offMust(t, env, "verify", p)

	// Writing a pouch to a terminal is refused; -o is required then.
	_, errs, code := offRun(t, env, "seal", "--as", "ir/leader", filepath.Join(dir, "letter.md"))
	if code != 2 || !strings.Contains(errs, "--to is required") {
		t.Fatalf("seal without --to: %d %s", code, errs)
	}
}

// docs/scenario.md, "What must fail": each fails offline with a message that
// names the problem, and changes nothing.
func TestOfflineMustFail(t *testing.T) {
	env, dir, p := offWorld(t)
	orig, _ := os.ReadFile(p)
	snapshot := func() string {
		var b strings.Builder
		filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				c, _ := os.ReadFile(path)
				b.WriteString(path + "\x00" + string(c) + "\x00")
			}
			return nil
		})
		return b.String()
	}
	saveDir := filepath.Join(dir, "saved")
	os.Mkdir(saveDir, 0o755)

	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tampered := bytes.Clone(orig)
	tampered[len(tampered)-30] ^= 0x01
	tamperedPath := write("tampered.pouch", tampered)

	// A forged tag: the same tag bytes with one signature byte changed.
	f, err := letter.ReadFile(bytes.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	forgedTag := *f.Tag.Signed
	forgedTag.Sigs = []record.Sig{f.Tag.Signed.Sigs[0]}
	forgedTag.Sigs[0].Sig = bytes.Clone(forgedTag.Sigs[0].Sig)
	forgedTag.Sigs[0].Sig[5] ^= 0x80
	var forged bytes.Buffer
	letter.WriteFile(&forged, &letter.FileHead{Tag: forgedTag.Marshal()}, f.Payload, f.Tag.Tag.Size)
	forgedPath := write("forged.pouch", forged.Bytes())

	// A tag signed by another key in the Leader's name.
	mallory, _ := keys.Generate("ir/leader")
	f, _ = letter.ReadFile(bytes.NewReader(orig))
	impostor, err := letter.SignTag(f.Tag.Tag, mallory.Signing, record.NewSalt(), 1, "")
	if err != nil {
		t.Fatal(err)
	}
	var imp bytes.Buffer
	letter.WriteFile(&imp, &letter.FileHead{Tag: impostor.Marshal()}, f.Payload, f.Tag.Tag.Size)
	impostorPath := write("impostor.pouch", imp.Bytes())

	// A disclosure whose section does not match its commitment.
	h := &keys.Home{Dir: env["POUCH_HOME"]}
	president, err := h.Load("ru/president", "pw")
	if err != nil {
		t.Fatal(err)
	}
	f, _ = letter.ReadFile(bytes.NewReader(orig))
	o, err := letter.OpenPouch(f, president, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Sections[1].Text = "The relations between our two countries are merely tactical."
	badDisc, err := letter.Disclose(o, []int{1}, "ru/president", president.Signing, nil, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	badDiscPath := write("disclosure.rec", badDisc.Marshal())

	before := snapshot()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"envoy opens", []string{"open", "--as", "ir/speaker", "--save", saveDir, p},
			"this pouch is not sealed to ir/speaker (it is addressed to ru/president; you are on its route as a carrier)"},
		{"tampered byte, verify", []string{"verify", tamperedPath}, "payload does not match the tag"},
		{"tampered byte, open", []string{"open", "--as", "ru/president", "--save", saveDir, tamperedPath}, "payload does not match the tag"},
		{"tampered byte, inspect --payload", []string{"inspect", "--payload", "-o", filepath.Join(saveDir, "x.age"), tamperedPath}, "payload does not match the tag"},
		{"forged signature", []string{"verify", forgedPath}, "signature of ir/leader: signature does not verify"},
		{"forged signature, open", []string{"open", "--as", "ru/president", forgedPath}, "signature does not verify"},
		{"impostor key", []string{"verify", impostorPath}, "signed by a key that is not the one known for its signer"},
		{"disclosure not matching", []string{"verify", badDiscPath}, "section does not match its commitment in the signed header"},
	}
	for _, c := range cases {
		out, errs, code := offRun(t, env, c.args...)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1\nstderr: %s", c.name, code, errs)
		}
		if !strings.Contains(errs, c.want) {
			t.Errorf("%s: stderr %q does not name the problem (%q)", c.name, errs, c.want)
		}
		if out != "" {
			t.Errorf("%s: printed %q", c.name, out)
		}
	}
	if snapshot() != before {
		t.Error("a failed command changed files")
	}
}

func TestOfflineCustody(t *testing.T) {
	env, dir, p := offWorld(t)
	h := &keys.Home{Dir: env["POUCH_HOME"]}
	take := func(src, dst string, by record.Handle, from record.Handle, delivered bool, onBehalf record.Handle) {
		t.Helper()
		k, err := h.Load(by, "pw")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(src)
		f, err := letter.ReadFile(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		c, err := letter.SignCustody(&letter.Custody{Pouch: f.Tag.PouchID(), From: from, Delivered: delivered, OnBehalf: onBehalf}, by, k.Signing, record.NewSalt(), record.Now(), "")
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := letter.Rewrite(&out, f, c); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(dst, out.Bytes(), 0o644)
	}
	p1 := filepath.Join(dir, "1.pouch")
	p2 := filepath.Join(dir, "2.pouch")
	take(p, p1, "ir/speaker", "ir/leader", false, "")
	take(p1, p2, "ru/duma-chair", "ir/speaker", true, "ru/president")
	out := offMust(t, env, "verify", p2)
	for _, want := range []string{"ir/speaker took custody from ir/leader", "ru/duma-chair signed delivery on behalf of ru/president", "state    delivered", "not checked offline"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
	// The President signs delivery while the Speaker never took custody.
	bad := filepath.Join(dir, "bad.pouch")
	take(p, bad, "ru/president", "ir/leader", true, "")
	_, errs, code := offRun(t, env, "verify", bad)
	if code != 1 || !strings.Contains(errs, "ru/president is not on the route") || !strings.Contains(errs, "it must pass ir/speaker first (envoy 1 of 1)") {
		t.Fatalf("off-route custody: %d %s", code, errs)
	}
}

// A pouch made by "pouch seal" opens with stock age and the identity from
// "pouch key export --age": with the age library, and with the age command
// built from its module.
func TestOfflineAgeInterop(t *testing.T) {
	env, dir, p := offWorld(t)
	idText := offMust(t, env, "key", "export", "--as", "ru/duma-chair", "--age")
	idPath := filepath.Join(dir, "duma-chair.key")
	os.WriteFile(idPath, []byte(idText), 0o600)
	payloadPath := filepath.Join(dir, "payload.age")
	offMust(t, env, "inspect", "--payload", "-o", payloadPath, p)

	ids, err := age.ParseIdentities(strings.NewReader(idText))
	if err != nil {
		t.Fatal(err)
	}
	pf, _ := os.Open(payloadPath)
	defer pf.Close()
	r, err := age.Decrypt(pf, ids...)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(r)
	if !bytes.Contains(plain, []byte("strong and strategic")) {
		t.Fatal("age.Decrypt: the letter is not in the plaintext")
	}

	if testing.Short() {
		t.Skip("building the age command: skipped in -short")
	}
	ageBin := filepath.Join(t.TempDir(), "age")
	build := exec.Command("go", "build", "-o", ageBin, "filippo.io/age/cmd/age")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the age command (a tool in go.mod): %v\n%s", err, out)
	}
	cmd := exec.Command(ageBin, "-d", "-i", idPath, payloadPath)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("age -d -i: %v", err)
	}
	if !bytes.Contains(out, []byte("strong and strategic")) {
		t.Fatal("age -d: the letter is not in the plaintext")
	}
	// The plaintext's first item is the payload head: the signed header
	// and the sections.
	br := bufio.NewReader(bytes.NewReader(out))
	if c, _ := br.ReadByte(); c != 0xa2 {
		t.Fatalf("plaintext starts with %#x, want a CBOR map of two pairs", c)
	}
}

func TestOfflineKeys(t *testing.T) {
	dir := t.TempDir()
	a, b := offEnv(filepath.Join(dir, "a")), offEnv(filepath.Join(dir, "b"))
	offMust(t, a, "init", "ru/president")
	offMust(t, b, "init", "ir/leader")
	pub := offMust(t, a, "key", "export", "--public")
	pubPath := filepath.Join(dir, "ru-president.pub")
	os.WriteFile(pubPath, []byte(pub), 0o644)
	if out := offMust(t, b, "key", "import", pubPath); !strings.Contains(out, "imported ru/president") {
		t.Fatalf("import: %s", out)
	}
	// The Leader seals to the President with only his public keys.
	md := filepath.Join(dir, "l.md")
	os.WriteFile(md, []byte(offLetter), 0o644)
	sealed := filepath.Join(dir, "l.pouch")
	offMust(t, b, "seal", "--to", "ru/president", "-o", sealed, md)
	// The President opens it once he holds the Leader's public keys:
	// before, the letter is from a key anyone could have made.
	if _, errs, code := offRun(t, a, "open", sealed); code != 1 || !strings.Contains(errs, "neither imported nor can prove: ir/leader") {
		t.Fatalf("open before importing the sender's key: exit %d\n%s", code, errs)
	}
	leaderPub := filepath.Join(dir, "ir-leader.pub")
	os.WriteFile(leaderPub, []byte(offMust(t, b, "key", "export", "--public")), 0o644)
	offMust(t, a, "key", "import", leaderPub)
	if out := offMust(t, a, "open", sealed); !strings.Contains(out, "strong and strategic") || !strings.Contains(out, "ok: letter verified") {
		t.Fatalf("open: %s", out)
	}
	// Other keys under a known handle are refused.
	c := offEnv(filepath.Join(dir, "c"))
	offMust(t, c, "init", "ru/president")
	other := filepath.Join(dir, "other.pub")
	os.WriteFile(other, []byte(offMust(t, c, "key", "export")), 0o644)
	if _, errs, code := offRun(t, b, "key", "import", other); code != 1 || !strings.Contains(errs, "conflicting public keys") {
		t.Fatalf("conflicting import: %d %s", code, errs)
	}
	// A second init of the same handle changes nothing.
	if _, errs, code := offRun(t, a, "init", "ru/president"); code != 1 || !strings.Contains(errs, "already exists") {
		t.Fatalf("second init: %d %s", code, errs)
	}
	// Without a passphrase and without a terminal, a clear error.
	noPass := offEnv(filepath.Join(dir, "a"))
	delete(noPass, "POUCH_PASSPHRASE")
	if _, errs, code := offRun(t, noPass, "key", "export", "--age"); code != 1 || !strings.Contains(errs, "POUCH_PASSPHRASE") {
		t.Fatalf("no passphrase: %d %s", code, errs)
	}
	// Every verb's help has an example.
	for _, v := range []string{"init", "key", "seal", "open", "verify", "inspect"} {
		out := offMust(t, a, "help", v)
		if !strings.Contains(out, "Example") {
			t.Errorf("pouch help %s has no example", v)
		}
	}
}
