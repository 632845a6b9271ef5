package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"pouch.dev/client"
	"pouch.dev/internal/scenario"
	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// TestReaderWorkflow is the reader's workflow end to end through the
// CLI, with a home for each person — the operator, the sender ir/leader,
// the envoy ir/speaker, the addressee ru/president — against a real pouch
// serve in operator mode: the houses requested and approved, the offices
// admitted, the letter sent, taken and delivered, opened by its ID, then
// fetched and verified with the server stopped. A tampered byte, a
// forgery by someone else calling themselves ir/leader, and proofs
// grafted onto the forgery are refused; short IDs resolve only when they
// are unique and readable.
func TestReaderWorkflow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real pouch serve")
	}
	bin := buildPouch(t)
	dir := t.TempDir()
	opHome := filepath.Join(dir, "operator")
	srv, got := startProc(t, bin, []*regexp.Regexp{servingRE}, "serve", "--data", filepath.Join(opHome, "server"), "--listen", "127.0.0.1:0")
	url := got[0]
	home := func(name string) map[string]string {
		env := offEnv(filepath.Join(dir, name))
		env["POUCH_SERVER"] = url
		return env
	}
	operator, leader, speaker, president := home("operator"), home("leader"), home("speaker"), home("president")
	offMust(t, leader, "init", "ir/leader")
	offMust(t, speaker, "init", "ir/speaker")
	offMust(t, president, "init", "ru/president")

	// The founders ask, the operator approves.
	irReq, ruReq := filepath.Join(dir, "ir.req"), filepath.Join(dir, "ru.req")
	offMust(t, leader, "house", "ir", "--name", "Islamic Republic of Iran", "--request", "-o", irReq)
	offMust(t, president, "house", "ru", "--name", "Russian Federation", "--request", "-o", ruReq)
	offMust(t, operator, "house", "approve", "--yes", irReq)
	offMust(t, operator, "house", "approve", "--yes", ruReq)

	// Iran's registrar (in the Leader's home) admits the Leader and the
	// Speaker, whose public keys it imports; Russia's admits the President.
	pub := func(env map[string]string, as, name string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(offMust(t, env, "key", "export", "--as", as, "--public")), 0o644)
		return p
	}
	offMust(t, leader, "key", "import", pub(speaker, "ir/speaker", "speaker.pub"))
	offMust(t, leader, "admit", "ir/leader", "--holder", "Ali Khamenei")
	offMust(t, leader, "admit", "ir/speaker", "--holder", "Mohammad Bagher Ghalibaf")
	offMust(t, president, "admit", "ru/president", "--holder", "Vladimir Putin")

	md := filepath.Join(dir, "letter.md")
	os.WriteFile(md, []byte(offLetter), 0o644)
	out := offMust(t, leader, "send", "--as", "ir/leader", "--to", "ru/president", "--via", "ir/speaker", "--json", md)
	var sent struct {
		ID record.ID `json:"id"`
	}
	result(t, out, &sent)
	id := sent.ID
	short := id.Short()
	if out := offMust(t, speaker, "inbox", "--awaiting"); !strings.Contains(out, short) {
		t.Fatalf("the Speaker's inbox:\n%s", out)
	}
	if _, said := offSay(t, speaker, "take", short); !strings.Contains(said, "ir/speaker holds pouch "+short) {
		t.Fatalf("take:\n%s", said)
	}
	if _, said := offSay(t, president, "deliver", id.String()[:8]); !strings.Contains(said, "ru/president signed delivery of pouch "+short) {
		t.Fatalf("deliver:\n%s", said)
	}

	// The addressee opens it by its ID: proven from the log. He never
	// imported the Leader's key: the log proves it.
	out = offMust(t, president, "open", short)
	for _, want := range []string{"strong and strategic", "ok: letter verified", "custody  2. ru/president signed delivery from ir/speaker", "state    delivered"} {
		if !strings.Contains(out, want) {
			t.Fatalf("open %s lacks %q:\n%s", short, want, out)
		}
	}
	if strings.Contains(out, "UNVERIFIED") {
		t.Fatalf("open by ID:\n%s", out)
	}
	// The envoy carries it and cannot open it.
	if _, errs, code := offRun(t, speaker, "open", short); code != 1 || !strings.Contains(errs, "not sealed to ir/speaker") {
		t.Fatalf("the envoy opens it: exit %d\n%s", code, errs)
	}

	// The file, with its proofs.
	file := filepath.Join(dir, "leader.pouch")
	if out := offMust(t, president, "fetch", short, "-o", file); !strings.Contains(out, "fetched pouch "+id.String()) {
		t.Fatalf("fetch:\n%s", out)
	}
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}

	// Sealed offline by the Leader, handed to the server later: no envoy.
	offMust(t, leader, "key", "import", pub(president, "ru/president", "president.pub"))
	offline := filepath.Join(dir, "offline.pouch")
	offMust(t, leader, "seal", "--as", "ir/leader", "--to", "ru/president", "-o", offline, md)
	direct, said := offSay(t, leader, "submit", offline)
	if _, err := record.ParseID(direct); err != nil || !regexp.MustCompile(`submitted pouch [0-9a-f]{12} from ir/leader to ru/president`).MatchString(said) {
		t.Fatalf("submit: %q\n%s", direct, said)
	}
	if out := offMust(t, president, "open", direct[:10]); !strings.Contains(out, "strong and strategic") {
		t.Fatalf("open the submitted pouch:\n%s", out)
	}

	// A forgery: someone else calls themselves ir/leader and seals to the
	// President. The server refuses it; offline, the President's home
	// refuses it, and shows it only with --unverified.
	forged := forgeLetter(t, dir, president, "ru/president")
	if _, errs, code := offRun(t, home("forger"), "submit", forged); code != 1 || !strings.Contains(errs, "ir/leader") {
		t.Fatalf("the server took the forgery: exit %d\n%s", code, errs)
	}

	// Short IDs: unique (above), too short, not readable by the caller,
	// ambiguous.
	if _, errs, code := offRun(t, speaker, "take", id.String()[:7]); code != 2 || !strings.Contains(errs, "8 to 64 hex digits") {
		t.Fatalf("7 digits: exit %d\n%s", code, errs)
	}
	if _, errs, code := offRun(t, speaker, "fetch", direct[:8], "-o", filepath.Join(dir, "x.pouch")); code != 1 ||
		!strings.Contains(errs, "no record you may read") || !strings.Contains(errs, "hint: ") {
		t.Fatalf("a pouch the envoy is no party to: exit %d\n%s", code, errs)
	}
	ph := &keys.Home{Dir: president["POUCH_HOME"]}
	pres, err := ph.Load("ru/president", "pw")
	if err != nil {
		t.Fatal(err)
	}
	c, err := (&clientFlags{server: &url}).client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a, b, err := scenario.CollidingGrants("ru/president", pres.Signing, "ir/speaker", c.Origin, record.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*record.Signed{a, b} {
		if _, err := c.Submit(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	_, errs, code := offRun(t, president, "revoke", "grant", a.ID().String()[:8])
	if code != 2 || !strings.Contains(errs, "ambiguous ID prefix") || !strings.Contains(errs, a.ID().String()) ||
		!strings.Contains(errs, b.ID().String()) || !strings.Contains(errs, "hint: give more of its digits") {
		t.Fatalf("an ambiguous prefix: exit %d\n%s", code, errs)
	}
	if _, said := offSay(t, president, "revoke", "grant", a.ID().String()[:12]); !strings.Contains(said, "revoked") {
		t.Fatalf("revoke by a longer prefix:\n%s", said)
	}

	// The server stops; the file verifies with what the President's home
	// holds: the log key it pinned when it first talked to the server.
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	if _, errs, code := offRun(t, president, "inbox"); code != 1 || !strings.Contains(errs, "cannot reach the server") {
		t.Fatalf("the server still answers: exit %d\n%s", code, errs)
	}
	out = offMust(t, president, "verify", file)
	for _, want := range []string{"ok: tag, payload and custody verified, every record proven in the log", "state    delivered",
		"custody  2. ru/president signed delivery from ir/speaker", "proofs checked against the log"} {
		if !strings.Contains(out, want) {
			t.Fatalf("verify offline lacks %q:\n%s", want, out)
		}
	}
	if out := offMust(t, president, "open", file); !strings.Contains(out, "strong and strategic") || !strings.Contains(out, "ok: letter verified") {
		t.Fatalf("open the file offline:\n%s", out)
	}
	// A home that holds no key for the log, and has not imported the
	// Leader's, cannot verify it; given the log's key, it can.
	stranger := home("stranger")
	if _, errs, code := offRun(t, stranger, "verify", file); code != 1 || !strings.Contains(errs, "neither imported nor can prove: ir/leader") ||
		!strings.Contains(errs, "hint: the file carries proofs from the log "+c.Origin+": give its key (--log-key") {
		t.Fatalf("verify without the log's key: exit %d\n%s", code, errs)
	}
	logKeys, err := client.KeptLogKeys(filepath.Join(president["POUCH_HOME"], "logs"), c.Origin)
	if err != nil || len(logKeys) != 1 {
		t.Fatalf("the President's home holds %v for the log: %v", logKeys, err)
	}
	offMust(t, stranger, "verify", "--log-key", logKeys[0], file)

	// Any byte changed in the file: refused.
	for i := 0; i < len(orig); i += 1 + len(orig)/150 {
		bad := bytes.Clone(orig)
		bad[i] ^= 0x01
		p := filepath.Join(dir, "tampered.pouch")
		os.WriteFile(p, bad, 0o644)
		if out, errs, code := offRun(t, president, "verify", p); code != 1 || out != "" {
			t.Fatalf("byte %d of %d changed: verify exit %d\n%s%s", i, len(orig), code, out, errs)
		}
	}
	tampered := bytes.Clone(orig)
	tampered[len(tampered)-30] ^= 0x01
	tp := filepath.Join(dir, "tampered.pouch")
	os.WriteFile(tp, tampered, 0o644)
	if out, errs, code := offRun(t, president, "open", tp); code != 1 || out != "" || !strings.Contains(errs, "payload does not match the tag") {
		t.Fatalf("open a tampered file: exit %d\n%s%s", code, out, errs)
	}

	// The forgery offline: refused by open and verify, though the
	// President's home holds the log's key; shown only with --unverified.
	for _, verb := range []string{"open", "verify"} {
		if out, errs, code := offRun(t, president, verb, forged); code != 1 || out != "" || !strings.Contains(errs, "neither imported nor can prove: ir/leader") ||
			!strings.Contains(errs, "hint: ") {
			t.Fatalf("%s the forgery: exit %d\n%s%s", verb, code, out, errs)
		}
	}
	if out := offMust(t, president, "open", "--unverified", forged); !strings.Contains(out, "from     ir/leader  [UNVERIFIED]") {
		t.Fatalf("open --unverified:\n%s", out)
	}
	// The real letter's proofs grafted onto the forgery prove nothing of
	// it: they name other records.
	rf, err := letter.ReadFile(bytes.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	rf.Close()
	ff, err := os.ReadFile(forged)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := letter.ReadFile(bytes.NewReader(ff))
	if err != nil {
		t.Fatal(err)
	}
	head := *fl.Head
	head.Records, head.Proofs = rf.Head.Records, rf.Head.Proofs
	var grafted bytes.Buffer
	if err := letter.WriteFile(&grafted, &head, fl.Payload, fl.Tag.Tag.Size); err != nil {
		t.Fatal(err)
	}
	gp := filepath.Join(dir, "grafted.pouch")
	os.WriteFile(gp, grafted.Bytes(), 0o644)
	for _, verb := range []string{"open", "verify"} {
		if out, errs, code := offRun(t, president, verb, gp); code != 1 || out != "" || !strings.Contains(errs, "which the file does not carry") {
			t.Fatalf("%s with grafted proofs: exit %d\n%s%s", verb, code, out, errs)
		}
	}
}
