package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLineBinaryTerminals is issue 6's "two terminals can talk with pouch
// line against pouch serve", with the real binary: pouch serve --open, the
// houses founded and offices admitted with the CLI, then ru/president's
// pouch line on a pseudo-terminal and ir/fm's in script mode. A line typed
// on the terminal arrives at the script, and the script's line shows on the
// terminal; both ends report the call record.
func TestLineBinaryTerminals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	bin := buildPouch(t)
	srv := startServe(t, bin, t.TempDir())
	t.Cleanup(func() {
		srv.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { srv.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			srv.cmd.Process.Kill()
		}
	})
	env := append(os.Environ(), "POUCH_HOME="+t.TempDir(), "POUCH_PASSPHRASE=test passphrase",
		"POUCH_SERVER="+srv.url, "POUCH_SCRYPT_LOG_N=2")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pouch := func(args ...string) *exec.Cmd {
		c := exec.CommandContext(ctx, bin, args...)
		c.Env = env
		return c
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := pouch(args...).CombinedOutput()
		if err != nil {
			t.Fatalf("pouch %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for _, args := range [][]string{
		{"init", "ir/president"}, {"init", "ir/fm"}, {"init", "ru/president"},
		{"house", "ir", "--name", "Islamic Republic of Iran"}, {"house", "ru", "--name", "Russian Federation"},
		{"admit", "ir/president"}, {"admit", "ir/fm", "--holder", "Mohammad Javad Zarif"}, {"admit", "ru/president", "--holder", "Vladimir Putin"},
	} {
		run(args...)
	}
	// President Rouhani's letter, sent via the minister, who takes it.
	letterMD := filepath.Join(t.TempDir(), "rouhani.md")
	os.WriteFile(letterMD, []byte("## The nuclear deal\n\nIran asks Russia to uphold the JCPOA.\n"), 0o644)
	m := regexp.MustCompile(`(?m)^([0-9a-f]{64})$`).FindStringSubmatch(run("send", "--as", "ir/president", "--to", "ru/president", "--via", "ir/fm", letterMD))
	if m == nil {
		t.Fatal("pouch send printed no pouch ID")
	}
	pouchID := m[1]
	run("take", "--as", "ir/fm", pouchID)

	// Moscow: an interactive terminal.
	master, tty := openPTY(t)
	var term screen
	go io.Copy(&term, master)
	pres := pouch("line", "--as", "ru/president", "--wait", "60s", "--save", t.TempDir(), "ir/fm")
	pres.Stdin, pres.Stdout, pres.Stderr = tty, tty, tty
	pres.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := pres.Start(); err != nil {
		t.Fatal(err)
	}
	presDone := make(chan error, 1)
	go func() { presDone <- pres.Wait() }()

	// Tehran: a script.
	fm := pouch("line", "--as", "ir/fm", "--script", "--linger", "60s", "--wait", "60s", "--pouch", pouchID, "ru/president")
	stdin, err := fm.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var fmOut, fmErr screen
	fm.Stdout, fm.Stderr = &fmOut, &fmErr
	if err := fm.Start(); err != nil {
		t.Fatal(err)
	}
	fmDone := make(chan error, 1)
	go func() { fmDone <- fm.Wait() }()

	waitFor(t, "the terminal", &term, "line to ir/fm open")
	waitFor(t, "the terminal", &term, "ir/fm handed over pouch "+pouchID[:12])
	if _, err := master.Write([]byte("Good afternoon, Mr Zarif. My protocol keeps us apart today.\r")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the minister's script", &fmOut, "ru/president: Good afternoon, Mr Zarif. My protocol keeps us apart today.")
	io.WriteString(stdin, "Mr President, I carry an important message from President Rouhani.\n")
	waitFor(t, "the terminal", &term, "ir/fm: Mr President, I carry an important message from President Rouhani.")

	// The President hangs up; the minister's script ends with the line.
	master.Write([]byte("/bye\r"))
	wait := func(who string, done chan error) {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v\nterminal:\n%s\nminister:\n%s", who, err, term.String(), fmErr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not end\nterminal:\n%s\nminister:\n%s", who, term.String(), fmErr.String())
		}
	}
	wait("the President's pouch line", presDone)
	stdin.Close()
	wait("the minister's pouch line", fmDone)
	for who, s := range map[string]string{"terminal": term.String(), "script": fmErr.String()} {
		if !strings.Contains(s, "signed by both") {
			t.Errorf("the %s reports no call record signed by both:\n%s", who, s)
		}
	}
	if !strings.Contains(term.String()+fmErr.String(), "logged at index") {
		t.Errorf("neither end logged the call record:\n%s\n%s", term.String(), fmErr.String())
	}
	if strings.Contains(term.String(), "panic") {
		t.Errorf("the terminal shows a panic:\n%s", term.String())
	}

	// The President's end signed delivery over the line; the minister
	// publishes the receipt, which anyone may then fetch with its proof,
	// while the payload stays refused.
	waitFor(t, "the terminal", &term, "signed delivery of pouch "+pouchID[:12])
	m = regexp.MustCompile(`signed delivery of pouch ` + pouchID[:12] + `, handed over on line [0-9a-f]+ \(custody record ([0-9a-f]{64})\)`).FindStringSubmatch(term.String())
	if m == nil {
		t.Fatalf("the President's end reports no delivery over the line:\n%s", term.String())
	}
	receipt := m[1]
	run("publish", "--as", "ir/fm", receipt)
	for path, want := range map[string]int{
		"/v1/records/" + receipt + "/proof":   http.StatusOK,
		"/v1/records/" + pouchID + "/payload": http.StatusUnauthorized,
	} {
		resp, err := http.Get(srv.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s as the public: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
