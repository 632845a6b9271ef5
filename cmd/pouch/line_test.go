package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/line"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store/sqlite"
	"pouch.dev/tlog"
)

const lineOrigin = "pouch.test/line-log"

// lineServer runs the real server in-process on 127.0.0.1 (SQLite store,
// log, correspondence API) with the line relay at /v1/line, founds the
// houses of handles and admits them with fresh keys saved in a home.
func lineServer(t *testing.T, handles ...record.Handle) (url, homeDir string) {
	url, homeDir, _ = lineServerRegistrars(t, handles...)
	return url, homeDir
}

// lineServerRegistrars is lineServer, also returning the houses'
// registrar keys.
func lineServerRegistrars(t *testing.T, handles ...record.Handle) (url, homeDir string, registrars map[string]ed25519.PrivateKey) {
	t.Helper()
	return serverWithHome(t, 2, handles...)
}

// serverWithHome is lineServerRegistrars with the home's keys encrypted
// at scrypt work factor 2^logN (0: the default, as for real keys).
func serverWithHome(t testing.TB, logN int, handles ...record.Handle) (url, homeDir string, registrars map[string]ed25519.PrivateKey) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	skey, _, err := tlog.GenerateKey(lineOrigin)
	if err != nil {
		t.Fatal(err)
	}
	node, err := server.Start(ctx, server.Options{Store: st, Origin: lineOrigin, Key: skey, Directory: directory.Config{Mode: directory.ModeOpen}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	srv := node.Server
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)

	home := &keys.Home{Dir: t.TempDir(), ScryptLogN: logN}
	cl := client.New(ts.URL)
	cl.Origin = lineOrigin
	founded := map[string]bool{}
	registrars = map[string]ed25519.PrivateKey{}
	for _, h := range handles {
		if !founded[h.House()] {
			_, rk, _ := ed25519.GenerateKey(nil)
			if _, err := cl.FoundHouse(ctx, h.House(), strings.ToUpper(h.House()), client.Registrar(h.House(), rk), nil); err != nil {
				t.Fatal(err)
			}
			founded[h.House()] = true
			registrars[h.House()] = rk
		}
		p, err := keys.Generate(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Admit(ctx, client.Registrar(h.House(), registrars[h.House()]), h, p.SigningPublic(), p.Recipient().String(), ""); err != nil {
			t.Fatal(err)
		}
		if err := home.Save(p, "test passphrase"); err != nil {
			t.Fatal(err)
		}
	}
	return ts.URL, home.Dir, registrars
}

var regexpTime = regexp.MustCompile(`\d\d:\d\d:\d\d ru/fm: Good evening`)

func lineEnv(url, home string) func(string) string {
	env := map[string]string{"POUCH_HOME": home, "POUCH_PASSPHRASE": "test passphrase", "POUCH_SERVER": url}
	return func(k string) string { return env[k] }
}

// openPTY opens a pseudo-terminal pair with /dev/ptmx.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 120})
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// screen accumulates what a terminal shows.
type screen struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, s fmt.Stringer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %q; it shows:\n%s", what, want, s.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLineTerminal types a line in an interactive "pouch line" on a real
// pseudo-terminal and reads it on the other side (a script), and back.
func TestLineTerminal(t *testing.T) {
	url, home := lineServer(t, "ir/speaker", "ru/fm")
	master, tty := openPTY(t)
	var term screen
	go io.Copy(&term, master)

	type result struct {
		status int
		out    string
	}
	speakerDone := make(chan result, 1)
	go func() {
		var errb bytes.Buffer
		ctx := &cmdContext{stdin: tty, stdout: tty, stderr: &errb, getenv: lineEnv(url, home)}
		st := runMain(ctx, []string{"line", "--as", "ir/speaker", "ru/fm"})
		speakerDone <- result{st, errb.String()}
	}()

	pr, pw := io.Pipe()
	var fmOut, fmErr screen
	fmDone := make(chan int, 1)
	go func() {
		ctx := &cmdContext{stdin: pr, stdout: &fmOut, stderr: &fmErr, getenv: lineEnv(url, home)}
		fmDone <- runMain(ctx, []string{"line", "--as", "ru/fm", "--linger", "30s", "--save", t.TempDir(), "ir/speaker"})
	}()

	waitFor(t, "the terminal", &term, "line to ru/fm open")
	// The Speaker types on the terminal.
	if _, err := master.Write([]byte("Salaam, Mr Minister. The line is clear.\r")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the minister's script", &fmOut, "ir/speaker: Salaam, Mr Minister. The line is clear.")
	// The terminal shows the Speaker's own line with time and speaker.
	waitFor(t, "the terminal", &term, "ir/speaker: Salaam")
	// The minister answers; the terminal shows who and when.
	fmt.Fprintln(pw, "Good evening. I carry a letter from the President.")
	waitFor(t, "the terminal", &term, "ru/fm: Good evening. I carry a letter from the President.")
	if !regexpTime.MatchString(term.String()) {
		t.Errorf("the terminal shows no time of speaking:\n%s", term.String())
	}
	// The Speaker hangs up with Ctrl-D; the minister's script ends too.
	master.Write([]byte{4})
	var r result
	select {
	case r = <-speakerDone:
	case <-time.After(30 * time.Second):
		t.Fatalf("the terminal session did not end:\n%s", term.String())
	}
	pw.Close()
	var fmStatus int
	select {
	case fmStatus = <-fmDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the script did not end")
	}
	if r.status != 0 || fmStatus != 0 {
		t.Fatalf("exit %d / %d\nterminal: %q\nspeaker: %s\nminister: %s", r.status, fmStatus, term.String(), r.out, fmErr.String())
	}
	if strings.Contains(term.String(), "ru/fm hung up") {
		t.Errorf("the terminal says the minister hung up, but the Speaker did:\n%q", term.String())
	}
	for _, s := range []string{r.out, fmErr.String()} {
		if !strings.Contains(s, "call record") || !strings.Contains(s, "signed by both") {
			t.Errorf("no call record reported:\n%s", s)
		}
	}
	if !strings.Contains(r.out+fmErr.String(), "logged at index") {
		t.Errorf("neither end logged the call record:\n%s\n%s", r.out, fmErr.String())
	}
}

// Two scripts: the minister hands the President's sealed letter over the
// line; the Speaker's side saves it, and the call record, logged, names it.
func TestLineScriptPouch(t *testing.T) {
	url, home := lineServer(t, "ir/speaker", "ru/fm", "ru/president")
	dir := t.TempDir()
	letterMD := filepath.Join(dir, "letter.md")
	os.WriteFile(letterMD, []byte("## Greeting\n\nTo the Speaker of the Majlis.\n"), 0o644)
	pouchFile := filepath.Join(dir, "letter.pouch")
	var sealErr bytes.Buffer
	if st := runMain(&cmdContext{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &sealErr, getenv: lineEnv(url, home)},
		[]string{"seal", "--as", "ru/president", "--to", "ir/speaker", "--via", "ru/fm", "-o", pouchFile, letterMD}); st != 0 {
		t.Fatalf("seal: %s", sealErr.String())
	}
	sealed, _ := os.ReadFile(pouchFile)
	// The pouch is sent to the server, and the minister, its envoy, takes
	// custody before the call.
	f, err := letter.ReadFile(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := io.ReadAll(f.Payload)
	if _, err := client.New(url).SubmitPouch(context.Background(), f.Tag.Signed, payload); err != nil {
		t.Fatal(err)
	}
	if st := runMain(&cmdContext{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &sealErr, getenv: lineEnv(url, home)},
		[]string{"take", "--as", "ru/fm", f.Tag.PouchID().String()}); st != 0 {
		t.Fatalf("take: %s", sealErr.String())
	}

	saveDir := t.TempDir()
	var spOut, spErr, fmOut, fmErr screen
	done := make(chan int, 2)
	go func() {
		done <- runMain(&cmdContext{stdin: strings.NewReader("Welcome.\n"), stdout: &spOut, stderr: &spErr, getenv: lineEnv(url, home)},
			[]string{"line", "--as", "ir/speaker", "--script", "--json", "--save", saveDir, "--linger", "20s", "ru/fm"})
	}()
	go func() {
		done <- runMain(&cmdContext{stdin: strings.NewReader("I bring the President's letter.\n"), stdout: &fmOut, stderr: &fmErr, getenv: lineEnv(url, home)},
			[]string{"line", "--as", "ru/fm", "--script", "--pouch", pouchFile, "--linger", "300ms", "ir/speaker"})
	}()
	for range 2 {
		select {
		case st := <-done:
			if st != 0 {
				t.Fatalf("exit %d\nspeaker: %s %s\nminister: %s %s", st, spOut.String(), spErr.String(), fmOut.String(), fmErr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("the line did not end\nspeaker: %s %s\nminister: %s %s", spOut.String(), spErr.String(), fmOut.String(), fmErr.String())
		}
	}
	if !strings.Contains(fmOut.String(), "ir/speaker: Welcome.") {
		t.Errorf("minister's output:\n%s", fmOut.String())
	}
	// The Speaker's JSON lines: the text, the pouch, the call record.
	var pouchID, callID string
	for _, ln := range strings.Split(strings.TrimSpace(spOut.String()), "\n") {
		var e struct {
			V      int            `json:"v"`
			Verb   string         `json:"verb"`
			OK     bool           `json:"ok"`
			Event  string         `json:"event"`
			Result map[string]any `json:"result"`
		}
		if err := json.Unmarshal([]byte(ln), &e); err != nil {
			t.Fatalf("not a JSON line: %q", ln)
		}
		if e.V != JSONVersion || e.Verb != "line" || !e.OK {
			t.Errorf("not a line envelope: %q", ln)
		}
		m := e.Result
		switch e.Event {
		case "message":
			if m["text"] != "I bring the President's letter." {
				t.Errorf("text %v", m["text"])
			}
		case "pouch":
			pouchID = m["pouch"].(string)
		case "call_record":
			callID = m["id"].(string)
			ps := m["pouches"].([]any)
			if len(ps) != 1 || ps[0] != pouchID || m["logged"] != true {
				t.Errorf("call record line %q, pouch %s", ln, pouchID)
			}
		case "custody":
			if m["pouch"] != pouchID || m["signed"] != true || m["call_record"] != callID {
				t.Errorf("custody line %q", ln)
			}
		default:
			t.Errorf("unknown event in %q", ln)
		}
	}
	if pouchID == "" || callID == "" {
		t.Fatalf("speaker's output lacks the pouch or the call record:\n%s\n%s", spOut.String(), spErr.String())
	}
	got, err := os.ReadFile(filepath.Join(saveDir, pouchID+".pouch"))
	if err != nil || !bytes.Equal(got, sealed) {
		t.Fatalf("saved pouch differs from the sealed one: %v", err)
	}
	// The call record is in the log, readable by a participant, fully
	// signed and naming the pouch.
	hm := &keys.Home{Dir: home}
	sp, err := hm.Load("ir/speaker", "test passphrase")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := record.ParseID(callID)
	lc := client.New(url)
	lc.Origin = lineOrigin // the log its signed reads are for
	v, err := lc.Record(context.Background(), id, sp)
	if err != nil {
		t.Fatal(err)
	}
	c, err := line.VerifyCall(v.Signed)
	if err != nil {
		t.Fatal(err)
	}
	if ids := c.PouchIDs(); len(ids) != 1 || ids[0].String() != pouchID || c.Record.Origin != lineOrigin {
		t.Errorf("logged call record %+v", c.Body)
	}
	// The Speaker's end signed the delivery over the line, citing the call
	// record.
	pv, err := lc.Pouch(context.Background(), f.Tag.PouchID(), sp)
	if err != nil {
		t.Fatal(err)
	}
	if !pv.Delivered || len(pv.Custody) != 2 || pv.Custody[1].By != "ir/speaker" {
		t.Fatalf("pouch after the line: %+v\n%s", pv, spErr.String())
	}
	cv, err := lc.Record(context.Background(), pv.Custody[1].ID, sp)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := letter.VerifyCustody(cv.Signed)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Custody.OverLine == nil || *sc.Custody.OverLine != id || sc.Custody.From != "ru/fm" || !sc.Custody.Delivered {
		t.Errorf("delivery receipt %+v, want over line %s from ru/fm", sc.Custody, id.Short())
	}
	if !strings.Contains(spErr.String(), "signed delivery of pouch") {
		t.Errorf("speaker's stderr:\n%s", spErr.String())
	}

	// The server refuses a call record with one signature missing, and
	// one whose body breaks the rules.
	half := *c.Signed
	half.Sigs = half.Sigs[:1]
	if _, err := client.New(url).Submit(context.Background(), &half); err == nil || !strings.Contains(err.Error(), "signature missing") {
		t.Errorf("half-signed call record: %v", err)
	}
	bad := *c.Record
	bad.Salt = record.NewSalt()
	body := c.Body
	body.End = body.Start - 1
	bad.Time = body.End
	fm, _ := hm.Load("ru/fm", "test passphrase")
	var ends []crypto.Signer
	for _, h := range bad.By {
		if h == "ir/speaker" {
			ends = append(ends, sp.Signing)
		} else {
			ends = append(ends, fm.Signing)
		}
	}
	badRec, err := record.Sign(&bad, &body, ends...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.New(url).Submit(context.Background(), badRec)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "ends before it starts") {
		t.Errorf("call record ending before it starts: %v", err)
	}
}

// A principal whose key was revoked is refused by the relay, with the
// reason; so is a call to a revoked principal.
func TestLineRevoked(t *testing.T) {
	url, home, regs := lineServerRegistrars(t, "ir/fm", "ru/president")
	hm := &keys.Home{Dir: home}
	fm, err := hm.Load("ir/fm", "test passphrase")
	if err != nil {
		t.Fatal(err)
	}
	cl := client.New(url)
	cl.Origin = lineOrigin
	if _, err := cl.RevokeKey(context.Background(), client.Registrar("ir", regs["ir"]), "ir/fm", fm.SigningPublic(), "lost"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ as, to, want string }{
		{"ir/fm", "ru/president", "ir/fm refused"},
		{"ru/president", "ir/fm", "no line to ir/fm"},
	} {
		var out, errb bytes.Buffer
		st := runMain(&cmdContext{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: lineEnv(url, home)},
			[]string{"line", "--as", tc.as, "--script", "--wait", "5s", tc.to})
		if st != 1 || !strings.Contains(errb.String(), tc.want) || !strings.Contains(errb.String(), "revoked") {
			t.Errorf("pouch line --as %s %s: exit %d\n%s", tc.as, tc.to, st, errb.String())
		}
	}
}
