package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"pouch.dev/tlog"
)

// startProc runs bin with args and waits until its stderr has matched
// every pattern; it returns the first submatch of each.
func startProc(t *testing.T, bin string, patterns []*regexp.Regexp, args ...string) (*exec.Cmd, []string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "POUCH_HOME="+t.TempDir())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	got := make([]string, len(patterns))
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		n := 0
		for sc.Scan() {
			for i, re := range patterns {
				if m := re.FindStringSubmatch(sc.Text()); m != nil && got[i] == "" {
					got[i] = m[1]
					if n++; n == len(patterns) {
						close(done)
					}
				}
			}
		}
	}()
	select {
	case <-done:
		return cmd, got
	case <-time.After(30 * time.Second):
		t.Fatalf("pouch %s did not print what was expected", args[0])
		return nil, nil
	}
}

// TestWitnessCosigns runs the real pouch witness and pouch serve with it:
// the served checkpoints carry its cosignature, and a client that
// requires it accepts them.
func TestWitnessCosigns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	bin := buildPouch(t)
	data := t.TempDir()
	skey, _, err := tlog.LoadOrCreateKey(filepath.Join(data, "log.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	logKey, _ := tlog.VerifierKey(skey)
	_, w := startProc(t, bin, []*regexp.Regexp{
		regexp.MustCompile(`witness \S+ on (http://\S+)`),
		regexp.MustCompile(`witness key (\S+)`),
	}, "witness", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--name", "iaea-witness", "--log", logKey)
	witURL, witKey := w[0], w[1]
	_, s := startProc(t, bin, []*regexp.Regexp{servingRE},
		"serve", "--open", "--data", data, "--listen", "127.0.0.1:0", "--witness", witURL+","+witKey)
	url := s[0]

	_, key, _ := ed25519.GenerateKey(nil)
	admitForTest(t, url, "iaea/dg", key) // appends records: new checkpoints

	v, err := tlog.NewVerifier(logKey, []string{witKey}, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := &tlog.Client{V: v, Dir: t.TempDir()}
	r := &tlog.Remote{URL: url}
	deadline := time.Now().Add(20 * time.Second)
	for {
		cp, err := c.Sync(context.Background(), r)
		if err == nil && cp.Size > 0 {
			if len(cp.Cosigners) != 1 || cp.Cosigners[0] != "iaea-witness" {
				t.Fatalf("cosigners %v", cp.Cosigners)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint cosigned by the witness: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeWitnessPolicy runs two real pouch witnesses and pouch serve
// with a policy file naming both: clients built from the same policy
// accept its checkpoints, and while the log is idle the cosignatures are
// refreshed (--witness-refresh), so a client with a short maximum age
// keeps accepting it.
func TestServeWitnessPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	bin := buildPouch(t)
	data := t.TempDir()
	skey, _, err := tlog.LoadOrCreateKey(filepath.Join(data, "log.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	logKey, _ := tlog.VerifierKey(skey)
	var lines []string
	for _, name := range []string{"iaea-witness", "ir-witness"} {
		_, w := startProc(t, bin, []*regexp.Regexp{
			regexp.MustCompile(`witness \S+ on (http://\S+)`),
			regexp.MustCompile(`witness key (\S+)`),
		}, "witness", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--name", name, "--log", logKey)
		lines = append(lines, fmt.Sprintf("witness %s %s %s", strings.TrimSuffix(name, "-witness"), w[1], w[0]))
	}
	policy := fmt.Sprintf("# the log and its two witnesses\nlog %s\n%s\ngroup both all iaea ir\nquorum both\n", logKey, strings.Join(lines, "\n"))
	policyFile := filepath.Join(t.TempDir(), "policy.txt")
	if err := os.WriteFile(policyFile, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	_, s := startProc(t, bin, []*regexp.Regexp{servingRE},
		"serve", "--open", "--data", data, "--listen", "127.0.0.1:0", "--witness-policy", policyFile, "--witness-refresh", "1s")
	url := s[0]
	_, key, _ := ed25519.GenerateKey(nil)
	admitForTest(t, url, "iaea/dg", key)

	p, err := tlog.ParsePolicy([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Verifier("")
	if err != nil {
		t.Fatal(err)
	}
	c := &tlog.Client{V: v, Dir: t.TempDir(), MaxAge: 5 * time.Second}
	r := &tlog.Remote{URL: url}
	var fresh []time.Time
	deadline := time.Now().Add(20 * time.Second)
	for len(fresh) < 3 {
		cp, err := c.Sync(context.Background(), r)
		if err == nil && cp.Size > 0 {
			if strings.Join(cp.Cosigners, " ") != "iaea ir" {
				t.Fatalf("cosigners %v", cp.Cosigners)
			}
			if len(fresh) == 0 || cp.FreshAsOf.After(fresh[len(fresh)-1]) {
				fresh = append(fresh, cp.FreshAsOf)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fresh checkpoint cosigned by both witnesses, or not refreshed (times %v): %v", fresh, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestServeWitnessPolicyRefusals: a policy that cannot drive a log is
// refused before the server starts, naming the problem.
func TestServeWitnessPolicyRefusals(t *testing.T) {
	data := t.TempDir()
	skey, origin, err := tlog.LoadOrCreateKey(filepath.Join(data, "log.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	logKey, _ := tlog.VerifierKey(skey)
	otherLog, _, _ := tlog.GenerateKey(origin)
	otherLogKey, _ := tlog.VerifierKey(otherLog)
	wsk, _, _ := tlog.GenerateKey("iaea-witness")
	wvk, _ := tlog.VerifierKey(wsk)
	for _, tc := range []struct{ name, policy, want string }{
		{"no URL", "witness iaea " + wvk + "\nquorum iaea\n", "has no URL"},
		{"another log", "log " + otherLogKey + "\nwitness iaea " + wvk + " http://127.0.0.1:1\nquorum iaea\n", "not one of the policy's logs"},
		{"bad syntax", "quorum\n", "line 1"},
	} {
		f := filepath.Join(t.TempDir(), "policy.txt")
		os.WriteFile(f, []byte(tc.policy), 0o600)
		var stderr strings.Builder
		st := runMain(&cmdContext{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr, getenv: func(string) string { return "" }},
			[]string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--witness-policy", f})
		if st == 0 || !strings.Contains(stderr.String(), tc.want) || !strings.Contains(stderr.String(), "pouch: hint:") {
			t.Errorf("%s: exit %d\n%s\nwant %q and a hint", tc.name, st, stderr.String(), tc.want)
		}
	}
	// pouch witness refuses two logs with one origin.
	var stderr strings.Builder
	st := runMain(&cmdContext{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr, getenv: func(string) string { return "" }},
		[]string{"witness", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--log", logKey, "--log", otherLogKey})
	if st != 1 || !strings.Contains(stderr.String(), "two logs") || !strings.Contains(stderr.String(), "--origin") {
		t.Errorf("pouch witness with two logs of one origin: exit %d\n%s", st, stderr.String())
	}
}
