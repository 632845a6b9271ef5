//go:build linux

package main

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pouch.dev/keys/agent"
)

// without returns a copy of env without the keys named.
func without(env map[string]string, names ...string) map[string]string {
	e := maps.Clone(env)
	for _, n := range names {
		delete(e, n)
	}
	return e
}

// startAgentInProcess runs "pouch agent --foreground" in a goroutine of the
// test and waits until it answers. The returned function stops it with
// "pouch agent --stop" and checks that it exited 0.
func startAgentInProcess(t *testing.T, env map[string]string) (stop func()) {
	t.Helper()
	var logs screen
	done := make(chan int, 1)
	go func() {
		ctx := &cmdContext{stdin: strings.NewReader(""), stdout: &logs, stderr: &logs, getenv: func(k string) string { return env[k] }}
		done <- runMain(ctx, []string{"agent", "--foreground", "--timeout", "10m"})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, code := offRun(t, env, "agent", "--status"); code == 0 {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("the agent exited %d:\n%s", code, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not answer within 10 s:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			offMust(t, env, "agent", "--stop")
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("the agent exited %d:\n%s", code, logs.String())
				}
			case <-time.After(10 * time.Second):
				t.Error("the agent did not exit within 10 s of --stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// The whole flow through the CLI: with the agent holding the keys, seal
// and open work with no passphrase anywhere; after "pouch lock" they fail
// with a hint naming "pouch unlock"; no key is ever written in the clear.
func TestAgentCLI(t *testing.T) {
	dir := t.TempDir()
	env := offEnv(filepath.Join(dir, "home"))
	for _, h := range []string{"ir/leader", "ru/president"} {
		offMust(t, env, "init", h)
	}
	md := filepath.Join(dir, "letter.md")
	os.WriteFile(md, []byte(offLetter), 0o644)
	noPass := without(env, "POUCH_PASSPHRASE")

	// No agent yet: unlock says how to start one; lock has nothing to do.
	_, errs, code := offRun(t, env, "unlock", "--as", "ir/leader")
	if code != 1 || !strings.Contains(errs, "no agent is running") || !strings.Contains(errs, `hint: start it with "pouch agent"`) {
		t.Fatalf("unlock without an agent: exit %d\n%s", code, errs)
	}
	if out := offMust(t, env, "lock"); !strings.Contains(out, "no agent is running") {
		t.Fatalf("lock without an agent: %s", out)
	}

	stop := startAgentInProcess(t, noPass)
	out := offMust(t, env, "unlock", "--as", "ir/leader")
	if !strings.Contains(out, "unlocked ir/leader") {
		t.Fatalf("unlock: %s", out)
	}
	out = offMust(t, env, "unlock", "--all")
	if !strings.Contains(out, "ir/leader is already unlocked") || !strings.Contains(out, "unlocked ru/president") {
		t.Fatalf("unlock --all: %s", out)
	}
	var st struct {
		Socket    string
		PID       int
		TimeoutMS int64 `json:"timeout_ms"`
		Keys      []struct{ Handle string }
	}
	result(t, offMust(t, env, "agent", "--status", "--json"), &st)
	if st.PID != os.Getpid() || st.TimeoutMS != (10*time.Minute).Milliseconds() ||
		st.Socket != filepath.Join(env["POUCH_HOME"], "agent", "sock") || len(st.Keys) != 2 || st.Keys[1].Handle != "ru/president" {
		t.Fatalf("status: %+v", st)
	}

	// With the agent, no passphrase is needed (and none is available).
	p := filepath.Join(dir, "letter.pouch")
	offMust(t, noPass, "seal", "--as", "ir/leader", "--to", "ru/president", "-o", p, md)
	out = offMust(t, noPass, "open", "--as", "ru/president", p)
	if !strings.Contains(out, "strong and strategic") || !strings.Contains(out, "ok: letter verified") {
		t.Fatalf("open through the agent: %s", out)
	}
	// The letter really is sealed to and signed by the principals' keys:
	// opened and verified again from the key files.
	direct := maps.Clone(env)
	direct["POUCH_AGENT_SOCK"] = filepath.Join(dir, "no-agent", "sock")
	if out := offMust(t, direct, "open", "--as", "ru/president", p); !strings.Contains(out, "strong and strategic") {
		t.Fatal(out)
	}

	// Locked: both fail, say why and name the fix, and write nothing.
	if out := offMust(t, env, "lock"); !strings.Contains(out, "forgot 2 keys") {
		t.Fatalf("lock: %s", out)
	}
	p2 := filepath.Join(dir, "second.pouch")
	_, errs, code = offRun(t, noPass, "seal", "--as", "ir/leader", "--to", "ru/president", "-o", p2, md)
	if code != 1 || !strings.Contains(errs, "the key of ir/leader is locked") || !strings.Contains(errs, `hint: run "pouch unlock --as ir/leader"`) {
		t.Fatalf("seal after lock: exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(p2); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("seal after lock left a file: %v", err)
	}
	_, errs, code = offRun(t, noPass, "open", "--as", "ru/president", p)
	if code != 1 || !strings.Contains(errs, "the key of ru/president is locked") || !strings.Contains(errs, `hint: run "pouch unlock --as ru/president"`) {
		t.Fatalf("open after lock: exit %d\n%s", code, errs)
	}
	// POUCH_PASSPHRASE keeps working for scripts.
	offMust(t, env, "seal", "--as", "ir/leader", "--to", "ru/president", "-o", p2, md)

	// Locking one principal leaves the other.
	var un struct {
		Unlocked, Already []string
	}
	result(t, offMust(t, env, "unlock", "--all", "--json"), &un)
	if len(un.Unlocked) != 2 || len(un.Already) != 0 {
		t.Fatalf("unlock --json: %+v", un)
	}
	if out := offMust(t, env, "lock", "--as", "ir/leader"); !strings.Contains(out, "forgot the key of ir/leader") {
		t.Fatalf("lock --as: %s", out)
	}
	if _, _, code := offRun(t, noPass, "seal", "--as", "ir/leader", "--to", "ru/president", "-o", filepath.Join(dir, "third.pouch"), md); code != 1 {
		t.Fatalf("seal as a locked principal: exit %d", code)
	}
	offMust(t, noPass, "open", "--as", "ru/president", p)

	// Nothing in the home holds a private key in the clear.
	filepath.WalkDir(env["POUCH_HOME"], func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeType != 0 {
			return err
		}
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte("AGE-SECRET-KEY")) || bytes.Contains(b, []byte("PRIVATE KEY")) {
			t.Errorf("%s holds a private key in the clear", path)
		}
		return nil
	})

	var lk struct {
		Running bool
		Forgot  int
	}
	result(t, offMust(t, env, "lock", "--json"), &lk)
	if !lk.Running || lk.Forgot != 1 {
		t.Fatalf("lock --json: %+v", lk)
	}

	stop()
	if _, errs, code := offRun(t, env, "agent", "--status"); code != 1 || !strings.Contains(errs, `hint: start one with "pouch agent"`) {
		t.Fatalf("status after stop: exit %d\n%s", code, errs)
	}
}

// Commands decrypt a key file only when they use a private key: one that
// fails before (here, on an unreachable server) asks for no passphrase.
func TestNoPassphraseBeforeUse(t *testing.T) {
	dir := t.TempDir()
	env := offEnv(filepath.Join(dir, "home"))
	offMust(t, env, "init", "ir/leader")
	noPass := without(env, "POUCH_PASSPHRASE")
	noPass["POUCH_SERVER"] = "http://127.0.0.1:1"
	_, errs, code := offRun(t, noPass, "inbox", "--as", "ir/leader")
	if code != 1 || !strings.Contains(errs, "cannot reach the server") || strings.Contains(errs, "passphrase") {
		t.Fatalf("inbox with no server: exit %d\n%s", code, errs)
	}
	md := filepath.Join(dir, "letter.md")
	os.WriteFile(md, []byte(offLetter), 0o644)
	_, errs, code = offRun(t, noPass, "seal", "--as", "ir/leader", "--to", "ru/nobody", "-o", filepath.Join(dir, "x.pouch"), md)
	if code != 1 || !strings.Contains(errs, "ru/nobody") || strings.Contains(errs, "passphrase") {
		t.Fatalf("seal to an unknown principal: exit %d\n%s", code, errs)
	}
	// The public key needs no passphrase either.
	if out := offMust(t, noPass, "key", "export", "--public"); !strings.Contains(out, `"handle": "ir/leader"`) {
		t.Fatal(out)
	}
}

var listeningRE = regexp.MustCompile(`listening on (\S+) \(pid (\d+)\)`)

// The real binary: "pouch agent" starts the agent in the background,
// detached, with its socket 0600 in a 0700 folder; a second start finds it
// running; "pouch agent --stop" ends it and removes the socket.
func TestAgentBinary(t *testing.T) {
	bin := buildPouch(t)
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	env := append(os.Environ(), "POUCH_HOME="+home, "POUCH_SCRYPT_LOG_N=8", "POUCH_AGENT_SOCK=", "POUCH_AGENT_TIMEOUT=")
	run := func(pass bool, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		pw := "POUCH_PASSPHRASE="
		if pass {
			pw += "pw"
		}
		cmd.Env = slices.Concat(env, []string{pw})
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String() + errb.String(), err
	}
	for _, h := range []string{"ir/leader", "ru/president"} {
		if out, err := run(true, "init", h); err != nil {
			t.Fatalf("init: %v\n%s", err, out)
		}
	}
	out, err := run(false, "agent", "--timeout", "5m")
	m := listeningRE.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("pouch agent: %v\n%s", err, out)
	}
	sock := m[1]
	pid, _ := strconv.Atoi(m[2])
	t.Cleanup(func() {
		run(false, "agent", "--stop")
		if syscall.Kill(pid, 0) == nil && !isZombie(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if sock != agent.DefaultPath(home) {
		t.Fatalf("socket %s, want %s", sock, agent.DefaultPath(home))
	}
	st, err := os.Lstat(sock)
	if err != nil || st.Mode().Type() != fs.ModeSocket || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v %v", st, err)
	}
	if st, err := os.Lstat(filepath.Dir(sock)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("socket folder: %v %v", st, err)
	}
	if b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ")); bytes.Contains(b, []byte("POUCH_PASSPHRASE=pw")) {
		t.Fatal("the agent's environment holds the passphrase")
	}
	if out, err := run(false, "agent"); err != nil || !strings.Contains(out, "already running") {
		t.Fatalf("second start: %v\n%s", err, out)
	}
	var again struct {
		Started bool
		Socket  string
		PID     int
	}
	out, err = run(false, "agent", "--json")
	if err != nil {
		t.Fatalf("second start, JSON: %v\n%s", err, out)
	}
	if result(t, out, &again); again.Started || again.PID != pid || again.Socket != sock {
		t.Fatalf("second start, JSON: %+v\n%s", again, out)
	}
	if out, err := run(true, "unlock", "--all"); err != nil || !strings.Contains(out, "unlocked ru/president") {
		t.Fatalf("unlock: %v\n%s", err, out)
	}
	md := filepath.Join(dir, "letter.md")
	os.WriteFile(md, []byte(offLetter), 0o644)
	p := filepath.Join(dir, "letter.pouch")
	if out, err := run(false, "seal", "--as", "ir/leader", "--to", "ru/president", "-o", p, md); err != nil {
		t.Fatalf("seal through the agent: %v\n%s", err, out)
	}
	if out, err := run(false, "open", "--as", "ru/president", p); err != nil || !strings.Contains(out, "strong and strategic") {
		t.Fatalf("open through the agent: %v\n%s", err, out)
	}
	if out, err := run(false, "agent", "--stop"); err != nil || !strings.Contains(out, "stopped") {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket after stop: %v", err)
	}
	if out, err := run(false, "open", "--as", "ru/president", p); err == nil || !strings.Contains(out, "pouch unlock") {
		t.Fatalf("open after stop: %v\n%s", err, out)
	}
}

// isZombie reports whether process pid has exited and waits to be reaped.
func isZombie(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}

// On a terminal, a command that needs a locked key says that "pouch
// unlock" spares the prompt, then asks; "pouch unlock --all" asks once for
// principals that share a passphrase.
func TestAgentTerminal(t *testing.T) {
	dir := t.TempDir()
	env := offEnv(filepath.Join(dir, "home"))
	for _, h := range []string{"ir/leader", "ru/president"} {
		offMust(t, env, "init", h)
	}
	md := filepath.Join(dir, "letter.md")
	os.WriteFile(md, []byte(offLetter), 0o644)
	p := filepath.Join(dir, "letter.pouch")
	offMust(t, env, "seal", "--as", "ir/leader", "--to", "ru/president", "-o", p, md)
	noPass := without(env, "POUCH_PASSPHRASE")

	onTerminal := func(prompt string, args ...string) (stdout, stderr string) {
		t.Helper()
		master, tty := openPTY(t)
		go func() { // drain what the terminal shows
			b := make([]byte, 1024)
			for {
				if _, err := master.Read(b); err != nil {
					return
				}
			}
		}()
		var out, errs screen
		ctx := &cmdContext{stdin: tty, stdout: &out, stderr: &errs, getenv: func(k string) string { return noPass[k] }}
		done := make(chan int, 1)
		go func() { done <- runMain(ctx, args) }()
		waitFor(t, "pouch "+args[0], &errs, prompt)
		master.Write([]byte("pw\n"))
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("pouch %s: exit %d\n%s", strings.Join(args, " "), code, errs.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("pouch %s did not finish", args[0])
		}
		return out.String(), errs.String()
	}

	out, errs := onTerminal("Passphrase for ru/president: ", "open", "--as", "ru/president", p)
	if !strings.Contains(out, "strong and strategic") ||
		!strings.Contains(errs, `pouch: hint: "pouch unlock --as ru/president" keeps this key unlocked in the agent`) {
		t.Fatalf("open on a terminal:\n%s\n%s", errs, out)
	}

	startAgentInProcess(t, noPass)
	out, errs = onTerminal("Passphrase for ir/leader: ", "unlock", "--all")
	if n := strings.Count(errs, "Passphrase for"); n != 1 || !strings.Contains(out, "unlocked ir/leader") || !strings.Contains(out, "unlocked ru/president") {
		t.Fatalf("unlock --all asked %d times:\n%s\n%s", n, errs, out)
	}
	// Unlocked: no prompt, no hint.
	out, errs, code := offRun(t, noPass, "open", "--as", "ru/president", p)
	if code != 0 || strings.Contains(errs, "hint") || !strings.Contains(out, "strong and strategic") {
		t.Fatalf("open through the agent: exit %d\n%s", code, errs)
	}
}

// The agent refuses a socket folder that others may enter, and says how
// to fix it; it starts once the folder is private again.
func TestAgentUnsafeFolder(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	env := map[string]string{"POUCH_HOME": home}
	os.MkdirAll(filepath.Join(home, "agent"), 0o755)
	os.Chmod(filepath.Join(home, "agent"), 0o755)
	for _, args := range [][]string{{"agent"}, {"agent", "--foreground"}} {
		_, errs, code := offRun(t, env, args...)
		if code != 1 || !strings.Contains(errs, "reachable by other users") || !strings.Contains(errs, "chmod 700") ||
			!strings.Contains(errs, "hint: the agent's socket must be in a folder only you can enter") {
			t.Fatalf("pouch %v in a 0755 folder: exit %d\n%s", args, code, errs)
		}
	}
	os.Chmod(filepath.Join(home, "agent"), 0o700)
	startAgentInProcess(t, env)
}
