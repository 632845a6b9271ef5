package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
