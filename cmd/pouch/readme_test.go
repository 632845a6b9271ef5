package main

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"pouch.dev/internal/pgtest"
)

// The README's shell blocks are run as a reader would type them, in
// order, in one shell: see TestReadme. A block may be preceded by a
// marker that says how:
//
//	<!-- readme-test: terminal=2 -->      run it concurrently, as in a second terminal
//	<!-- readme-test: terminal=2 ready="TEXT" -->  and go on once it has printed TEXT
//	<!-- readme-test: wait -->            first wait for the blocks of the second terminal
//	<!-- readme-test: needs=chromium -->  skip it, saying so, where a command it needs is missing
//	<!-- readme-test: skip="why" -->      never run it (the test suite itself, say)
//	<!-- readme-test: postgres -->        run it only where POUCH_TEST_POSTGRES is set: it
//	                                      uses the PostgreSQL server at 127.0.0.1:5432 as typed
//
// Attributes combine: "terminal=2 needs=curl".

// A readmeBlock is one fenced shell block of the README.
type readmeBlock struct {
	line     int // where its fence opens
	text     string
	terminal bool
	ready    string
	wait     bool
	needs    []string
	skip     string
	postgres bool
}

var (
	fenceOpen = regexp.MustCompile("^```(sh|bash|shell)?\\s*$")
	marker    = regexp.MustCompile(`^<!-- readme-test: (.*) -->$`)
	attr      = regexp.MustCompile(`([a-z]+)(?:=("[^"]*"|[^ ]+))?`)
)

// readmeBlocks returns the shell blocks of README.md, with their markers.
func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var out []readmeBlock
	var pending *readmeBlock
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if m := marker.FindStringSubmatch(l); m != nil {
			pending = &readmeBlock{}
			for _, a := range attr.FindAllStringSubmatch(m[1], -1) {
				v := strings.Trim(a[2], `"`)
				switch a[1] {
				case "terminal":
					pending.terminal = v == "2"
				case "ready":
					pending.ready = v
				case "wait":
					pending.wait = true
				case "needs":
					pending.needs = strings.Split(v, ",")
				case "skip":
					pending.skip = v
				case "postgres":
					pending.postgres = true
				default:
					t.Fatalf("README.md:%d: unknown readme-test attribute %q", i+1, a[1])
				}
			}
			continue
		}
		if !strings.HasPrefix(l, "```") {
			if strings.TrimSpace(l) != "" {
				pending = nil // a marker stands right above its block
			}
			continue
		}
		open := i
		var body []string
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			body = append(body, lines[i])
		}
		if !fenceOpen.MatchString(l) {
			pending = nil
			continue // output, JSON, a policy file: shown, not run
		}
		blk := readmeBlock{line: open + 1, text: strings.Join(body, "\n") + "\n"}
		if pending != nil {
			blk.terminal, blk.ready, blk.wait, blk.needs, blk.skip = pending.terminal, pending.ready, pending.wait, pending.needs, pending.skip
		}
		pending = nil
		out = append(out, blk)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// backgroundServer matches a line that starts a server in the background.
var backgroundServer = regexp.MustCompile(`\bpouch (serve|witness)\b[^#]*&`)

// TestReadme runs the README's shell blocks in order, in bash, as a
// reader would on a fresh machine: in the repository's folder at first,
// with a fresh HOME and POUCH_HOME and a temporary folder of its own
// (TMPDIR), the default ports 8470 and 8471 replaced by free ones, Go's
// caches reused but nothing downloaded, and a low scrypt work factor
// (POUCH_SCRYPT_LOG_N) to save time. Blocks for a second terminal run
// concurrently; after a line that starts a server in the background it
// waits until the server listens. Every process the blocks start is
// stopped at the end, agents included. A failing command fails the test
// with the output so far.
func TestReadme(t *testing.T) {
	if testing.Short() {
		t.Skip("installs pouch and runs the README's examples against real servers")
	}
	for _, tool := range []string{"bash", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	blocks := readmeBlocks(t)
	if len(blocks) < 10 {
		t.Fatalf("README.md has %d shell blocks; is the parser right?", len(blocks))
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	port, wport := freePort(t), freePort(t)
	goEnv := func(name string) string {
		out, err := exec.Command("go", "env", name).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}

	var s strings.Builder
	fmt.Fprintf(&s, "set -euo pipefail\ncd %q\nterminal2=()\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n", root)
	// waitTerminal2 waits for the second terminal's blocks, printing
	// what each said, and fails if one failed.
	s.WriteString(`waitTerminal2() {
	for j in "${terminal2[@]}"; do
		pid=${j%%:*} log=${j#*:} st=0
		wait "$pid" || st=$?
		sed 's/^/[terminal 2] /' "$log"
		if [ "$st" != 0 ]; then echo "a block of the second terminal failed: exit $st"; exit "$st"; fi
	done
	terminal2=()
}
`)
	waitPort := func(p int) string {
		return fmt.Sprintf("for i in $(seq 300); do (echo > /dev/tcp/127.0.0.1/%d) 2>/dev/null && break; sleep 0.1; done\n", p)
	}
	subst := strings.NewReplacer("8470", fmt.Sprint(port), "8471", fmt.Sprint(wport))
	ran, skipped := 0, 0
	for i, b := range blocks {
		if b.skip != "" {
			t.Logf("README.md:%d: not run: %s", b.line, b.skip)
			skipped++
			continue
		}
		if b.postgres && !pgtest.Enabled() {
			t.Logf("README.md:%d: skipped: it needs PostgreSQL; set %s to run it", b.line, pgtest.Env)
			skipped++
			continue
		}
		missing := ""
		for _, n := range b.needs {
			if _, err := exec.LookPath(n); err != nil {
				missing = n
			}
		}
		if missing != "" {
			t.Logf("README.md:%d: skipped: it needs %s, which this machine lacks", b.line, missing)
			skipped++
			continue
		}
		if b.wait {
			s.WriteString("waitTerminal2\n")
		}
		var body strings.Builder
		for _, l := range strings.SplitAfter(subst.Replace(b.text), "\n") {
			body.WriteString(l)
			if m := backgroundServer.FindStringSubmatch(l); m != nil {
				if m[1] == "serve" {
					body.WriteString(waitPort(port))
				} else {
					body.WriteString(waitPort(wport))
				}
			}
		}
		fmt.Fprintf(&s, "# README.md:%d\n", b.line)
		if b.terminal {
			log := filepath.Join(tmp, fmt.Sprintf("terminal2-%d.log", i))
			fmt.Fprintf(&s, "( set -euo pipefail\n%s) </dev/null >%q 2>&1 &\nterminal2+=(\"$!:%s\")\n", body.String(), log, log)
			if b.ready != "" {
				fmt.Fprintf(&s, "for i in $(seq 300); do grep -qF %q %q && break; sleep 0.1; done\n", b.ready, log)
			}
		} else {
			s.WriteString(body.String())
		}
		ran++
	}
	// What the second terminal's blocks still running said so far.
	s.WriteString("for j in \"${terminal2[@]}\"; do sed 's/^/[terminal 2] /' \"${j#*:}\"; done\n")
	s.WriteString("echo '--- README: every block ran'\n")
	t.Logf("README.md: %d blocks run, %d not", ran, skipped)

	home := filepath.Join(tmp, "home")
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"TMPDIR=" + tmp, "POUCH_HOME=" + filepath.Join(home, "pouch"), "POUCH_SCRYPT_LOG_N=8",
		"POUCH_LISTEN=" + fmt.Sprintf("127.0.0.1:%d", port), "POUCH_SERVER=" + fmt.Sprintf("http://127.0.0.1:%d", port),
		"POUCH_WITNESS_LISTEN=" + fmt.Sprintf("127.0.0.1:%d", wport),
		// go install into a GOPATH of its own, from the caches already
		// here, with nothing downloaded.
		"GOPATH=" + filepath.Join(tmp, "gopath"), "GOMODCACHE=" + goEnv("GOMODCACHE"), "GOCACHE=" + goEnv("GOCACHE"),
		"GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly",
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", s.String())
	cmd.Env = env
	// The script and every process it starts are one process group,
	// stopped together at the end.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Output to a file, which the servers the script leaves behind may
	// hold open without holding up Wait.
	outPath := filepath.Join(tmp, "readme.out")
	outFile, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = outFile, outFile
	err = cmd.Start()
	if err == nil {
		err = cmd.Wait()
	}
	outFile.Close()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		time.Sleep(200 * time.Millisecond)
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	stopAgents(t, tmp, filepath.Join(tmp, "gopath", "bin", "pouch"))
	b, rerr := os.ReadFile(outPath)
	if rerr != nil {
		t.Fatal(rerr)
	}
	got := string(b)
	if err != nil {
		t.Fatalf("the README's examples failed: %v\n%s\n--- the script:\n%s", err, got, s.String())
	}
	for _, want := range []string{
		"--- README: every block ran",
		"ok: letter verified against the author's signed header", // offline
		"refused: exit status 1",                                 // a carrier cannot open it
		"strategic",                                              // the stock age opens it
		"ru/duma-chair signed delivery of pouch ",                // on behalf of the President
		"ok: tag, payload and custody verified, every record proven in the log", // the fetched file, offline
		"call record ", "handed over on line ", // scene 3: over the line
		"Parties: 2 of 7 in force", // the JCPOA
		"co-signatures, each verified",
		"refused (declined), returned to its sender", "outcome   refused (declined)", // scene 7
		"the desk is at http://127.0.0.1:",
		"cosigned by [iaea]", // the log, witnessed
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the README's examples do not print %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", got)
	}
}

// stopAgents stops every key agent the README started under dir.
func stopAgents(t *testing.T, dir, pouch string) {
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "sock" && filepath.Base(filepath.Dir(path)) == "agent" {
			cmd := exec.Command(pouch, "agent", "--stop")
			cmd.Env = []string{"POUCH_AGENT_SOCK=" + path, "POUCH_HOME=" + filepath.Dir(filepath.Dir(path))}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Logf("stopping the agent at %s: %v\n%s", path, err, out)
			}
		}
		return nil
	})
}
