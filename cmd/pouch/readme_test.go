package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeBlock returns the shell block of README.md between the markers
// <!-- readme-test: NAME --> and <!-- /readme-test -->, without its fences.
func readmeBlock(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "<!-- readme-test: "+name+" -->")
	if start < 0 {
		t.Fatalf("README.md has no block marked %q", name)
	}
	s = s[start:]
	end := strings.Index(s, "<!-- /readme-test -->")
	if end < 0 {
		t.Fatalf("README.md: the block %q is not closed", name)
	}
	s = s[:end]
	open := strings.Index(s, "```sh\n")
	close := strings.LastIndex(s, "```")
	if open < 0 || close <= open {
		t.Fatalf("README.md: the block %q has no ```sh fence", name)
	}
	return s[open+len("```sh\n") : close]
}

// TestReadmeCorrespondence runs the README's correspondence block as it
// is typed, in bash, in an empty folder, against a real pouch serve on a
// free port (POUCH_LISTEN, POUCH_SERVER), with POUCH_PASSPHRASE for the
// prompts. After the line that starts the server in the background, it
// waits until the server listens.
func TestReadmeCorrespondence(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pouch and runs the README against a real server")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	block := readmeBlock(t, "correspondence")
	bin := buildPouch(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	var script strings.Builder
	// A failing line stops the script; the server never outlives it.
	script.WriteString("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n")
	served := false
	for _, line := range strings.SplitAfter(block, "\n") {
		script.WriteString(line)
		if strings.HasPrefix(line, "pouch serve ") && strings.Contains(line, "&") {
			served = true
			fmt.Fprintf(&script, "for i in $(seq 300); do (echo > /dev/tcp/127.0.0.1/%d) 2>/dev/null && break; sleep 0.1; done\n", port)
		}
	}
	if !served {
		t.Fatal("the README block starts no pouch serve in the background")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POUCH_") && !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "POUCH_PASSPHRASE=correct horse", "POUCH_SCRYPT_LOG_N=8",
		fmt.Sprintf("POUCH_LISTEN=127.0.0.1:%d", port), fmt.Sprintf("POUCH_SERVER=http://127.0.0.1:%d", port))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's correspondence block failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"founded house ir", "founded house ru", "admitted ru/president",
		"ir/speaker holds pouch ", "ru/president signed delivery of pouch ",
		"Strong and strategic.", "ok: letter verified against the author's signed header",
		"delivered to", "fetched pouch ",
		"ok: tag, payload and custody verified, every record proven in the log",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the README's block does not print %q:\n%s", want, out)
		}
	}
}
