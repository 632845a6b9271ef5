package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/record"
)

// houseFounded reports whether house is founded on the server at url.
func houseFounded(t *testing.T, url, house string) bool {
	t.Helper()
	hs, err := client.New(url).Houses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if h.House == house {
			return true
		}
	}
	return false
}

// TestHouseRequestApprove founds houses on a real pouch serve in operator
// mode without the operator's key leaving the operator's home: the
// founder (one POUCH_HOME) writes a request, the operator (another, whose
// server folder holds operator.key) approves it, and the founder admits
// an office of the new house. A request approved with another server's
// operator key, a tampered request, a file that is not a request, a
// request for another house or another log and a second approval are
// refused, and found nothing.
func TestHouseRequestApprove(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real pouch serve")
	}
	bin := buildPouch(t)
	dir := t.TempDir()
	opHome, founderHome := filepath.Join(dir, "operator"), filepath.Join(dir, "founder")
	_, got := startProc(t, bin, []*regexp.Regexp{servingRE}, "serve", "--data", filepath.Join(opHome, "server"), "--listen", "127.0.0.1:0")
	url := got[0]
	founder, operator := offEnv(founderHome), offEnv(opHome)
	founder["POUCH_SERVER"], operator["POUCH_SERVER"] = url, url
	offMust(t, founder, "init", "ir/leader")
	offMust(t, founder, "init", "ru/president")

	// The founder's request: a PEM block on standard output, the
	// registrar key's fingerprint on standard error.
	req, errs, code := offRun(t, founder, "house", "ir", "--name", "Islamic Republic of Iran", "--request")
	if code != 0 {
		t.Fatalf("house --request: exit %d\n%s", code, errs)
	}
	q, err := directory.ParseFoundingRequest([]byte(req))
	if err != nil {
		t.Fatalf("the request does not parse: %v\n%s", err, req)
	}
	fp := directory.KeyFingerprint(q.House.Registrar)
	if !strings.Contains(req, "-----BEGIN POUCH HOUSE REQUEST-----") || !strings.Contains(errs, fp) {
		t.Fatalf("request:\n%s\nstderr:\n%s", req, errs)
	}
	irReq := filepath.Join(dir, "ir.req")
	os.WriteFile(irReq, []byte(req), 0o644)
	if _, err := os.Stat(filepath.Join(founderHome, "registrars", "ir.key.age")); err != nil {
		t.Fatalf("the registrar key is not in the founder's home: %v", err)
	}
	if _, err := os.Stat(filepath.Join(opHome, "server", "operator.key")); err != nil {
		t.Fatalf("the operator key is not in the operator's home: %v", err)
	}
	// A request founds nothing by itself.
	if _, errs, code := offRun(t, founder, "admit", "ir/leader"); code != 1 || !strings.Contains(errs, "unknown house") {
		t.Fatalf("admit before approval: exit %d\n%s", code, errs)
	}
	// Without a terminal to confirm on, approving needs --yes.
	if _, errs, code := offRun(t, operator, "house", "approve", irReq); code != 2 || !strings.Contains(errs, "--yes") {
		t.Fatalf("approve without --yes and without a terminal: exit %d\n%s", code, errs)
	}
	if houseFounded(t, url, "ir") {
		t.Fatal("an unconfirmed approval founded the house")
	}
	houseID, said := offSay(t, operator, "house", "approve", "--yes", irReq)
	for _, want := range []string{`house      ir ("Islamic Republic of Iran")`, "registrar  ir/registrar, key " + fp, "founded house ir at log index"} {
		if !strings.Contains(said, want) {
			t.Errorf("approve does not show %q:\n%s", want, said)
		}
	}
	if _, err := record.ParseID(houseID); err != nil {
		t.Errorf("approve printed %q, not the house record's ID", houseID)
	}
	if _, said := offSay(t, founder, "admit", "ir/leader", "--holder", "Ali Khamenei"); !strings.Contains(said, "admitted ir/leader") {
		t.Fatalf("admit after approval:\n%s", said)
	}
	if _, errs, code := offRun(t, operator, "house", "approve", "--yes", irReq); code != 1 || !strings.Contains(errs, "house ir was founded at log index") {
		t.Fatalf("second approval: exit %d\n%s", code, errs)
	}

	// A request for ru, approved with an operator key that is not this
	// server's: the server refuses it.
	ruReq := filepath.Join(dir, "ru.req")
	offMust(t, founder, "house", "ru", "--request", "-o", ruReq)
	foreign := filepath.Join(dir, "elsewhere", "operator.key")
	foreignKey, err := loadOrCreateEd25519(foreign, true)
	if err != nil {
		t.Fatal(err)
	}
	_, errs, code = offRun(t, operator, "house", "approve", "--yes", "--operator-key", foreign, ruReq)
	if code != 1 || !strings.Contains(errs, "operator's countersignature") || !strings.Contains(errs, "hint: is "+foreign+" this server's operator key") {
		t.Fatalf("approve with another server's operator key: exit %d\n%s", code, errs)
	}
	ruBytes, _ := os.ReadFile(ruReq)
	rq, err := directory.ParseFoundingRequest(ruBytes)
	if err != nil {
		t.Fatal(err)
	}
	c, err := (&clientFlags{server: &url}).client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApproveHouse(context.Background(), rq, client.Operator(foreignKey)); !errors.Is(err, directory.ErrNotAuthorised) {
		t.Fatalf("ApproveHouse with another operator key: %v", err)
	}

	// The request tampered with on its way: the house renamed in the
	// signed record, the signature kept.
	blk, _ := pem.Decode(ruBytes)
	s, _, err := record.Parse(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	tampered := *s
	tampered.Record = bytes.Replace(s.Record, []byte("ru/registrar"), []byte("cn/registrar"), 1)
	tampered.Record = bytes.Replace(tampered.Record, []byte("ehouseb"+"ru"), []byte("ehouseb"+"cn"), 1)
	if bytes.Equal(tampered.Record, s.Record) {
		t.Fatal("the test did not change the request")
	}
	tamperedReq := filepath.Join(dir, "cn.req")
	os.WriteFile(tamperedReq, pem.EncodeToMemory(&pem.Block{Type: directory.FoundingRequestType, Bytes: tampered.Marshal()}), 0o644)
	notReq := filepath.Join(founderHome, "registrars", "ru.key.age")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"tampered", []string{tamperedReq}, "signature of cn/registrar: signature does not verify"},
		{"not a request", []string{notReq}, "not a house founding request"},
		{"another house", []string{"--house", "ir", ruReq}, "the request founds another house: it founds house ru, not ir"},
	}
	for _, cs := range cases {
		out, errs, code := offRun(t, operator, append([]string{"house", "approve", "--yes"}, cs.args...)...)
		if code != 1 || !strings.Contains(errs, cs.want) || !strings.Contains(errs, "pouch: hint: ") {
			t.Errorf("%s: exit %d, stderr does not say %q:\n%s", cs.name, code, cs.want, errs)
		}
		if strings.Contains(out, "founded") {
			t.Errorf("%s: %s", cs.name, out)
		}
	}
	for _, h := range []string{"ru", "cn"} {
		if houseFounded(t, url, h) {
			t.Fatalf("house %s was founded by a refused approval", h)
		}
	}
	// A request made for another log.
	other, err := directory.NewFoundingRequest("ru", "", foreignKey, "elsewhere.example/log", record.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckHouseRequest(context.Background(), other, ""); !errors.Is(err, client.ErrWrongLog) {
		t.Fatalf("a request for another log: %v", err)
	}
	if err := c.CheckHouseRequest(context.Background(), q, ""); !errors.Is(err, directory.ErrHouseTaken) {
		t.Fatalf("a request for a founded house: %v", err)
	}

	// The right operator approves ru; its founder admits the President.
	offMust(t, operator, "house", "approve", "--yes", "--house", "ru", ruReq)
	offMust(t, founder, "admit", "ru/president")
	if _, errs, code := offRun(t, founder, "house", "ru", "--request"); code != 1 || !strings.Contains(errs, "house already founded") {
		t.Fatalf("a request for a founded house: exit %d\n%s", code, errs)
	}

	// On a terminal, approve asks; anything but yes signs nothing.
	usReq := filepath.Join(dir, "us.req")
	offMust(t, founder, "house", "us", "--request", "-o", usReq)
	master, tty := openPTY(t)
	for _, answer := range []string{"n", "y"} {
		if _, err := master.Write([]byte(answer + "\n")); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		ctx := &cmdContext{stdin: tty, stdout: &out, stderr: &errb, getenv: func(k string) string { return operator[k] }}
		code := runMain(ctx, []string{"house", "approve", usReq})
		if !strings.Contains(errb.String(), "Countersign and found house us with registrar key SHA256:") {
			t.Fatalf("answer %s: no question asked:\n%s", answer, errb.String())
		}
		founded := houseFounded(t, url, "us")
		switch answer {
		case "n":
			if code != 1 || founded || !strings.Contains(errb.String(), "not approved: nothing was signed") {
				t.Fatalf("answer n: exit %d, founded %v\n%s", code, founded, errb.String())
			}
		case "y":
			if code != 0 || !founded {
				t.Fatalf("answer y: exit %d, founded %v\n%s", code, founded, errb.String())
			}
		}
	}
}
