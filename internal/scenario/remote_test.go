package scenario

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMustFailRemote plays scenes 1 and 7 and the cases that must fail
// against a real `pouch serve --open` on loopback (scene 7's deadline
// passes by the server's own clock, and its deadline watcher logs the
// non-delivery), as a remote server
// (Options.Server), the way `pouch demo --server` does: each refusal is
// matched by its rule's code, and the log's size before and after each is
// read from the server's verified checkpoint and log, not from a store at
// hand. The server logs no error meanwhile.
func TestMustFailRemote(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the pouch binary")
	}
	url, logs := servePouch(t)
	var out bytes.Buffer
	c := ctx(t)
	w, err := Start(c, Options{Server: url, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	if !w.Remote || w.Store != nil {
		t.Fatal("the world does not play against a remote server")
	}
	err = Play(c, w, 1, 7)
	if err == nil {
		err = MustFail(c, w)
	}
	if err == nil {
		err = MustFailDisclosure(c, w)
	}
	if err == nil {
		err = MustFailEvidence(c, w)
	}
	if err != nil || w.Report.Failures != 0 {
		t.Log("\n" + out.String())
		t.Fatalf("%v (%d checks failed)", err, w.Report.Failures)
	}
	// The size the checks compared is the server's: as many records as
	// the log holds, scene 1's and the must-fail cases' included.
	size, err := w.logSize(c)
	if err != nil {
		t.Fatal(err)
	}
	if size == 0 || !strings.Contains(out.String(), "nothing stored: the log still holds") {
		t.Fatalf("the remote log's size is %d\n%s", size, out.String())
	}
	if held, err := w.holdsIndex(c, size-1); err != nil || !held {
		t.Fatalf("the log holds no record at index %d, below its size: %v %v", size-1, held, err)
	}
	if held, err := w.holdsIndex(c, size); err != nil || held {
		t.Fatalf("the log holds a record at index %d, its size: %v %v", size, held, err)
	}
	if s := logs(); strings.Contains(s, "level=ERROR") {
		t.Errorf("the server logged errors:\n%s", s)
	}
}

// servePouch builds the pouch command and runs `pouch serve --open` on a
// free loopback port with a fresh data folder. It returns the server's URL
// and a function that returns what the server logged so far; the server is
// stopped (SIGINT, then killed after 10 seconds) when the test ends.
func servePouch(t *testing.T) (string, func() string) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build pouch with")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "pouch")
	build := exec.Command(goTool, "build", "-o", bin, "pouch.dev/cmd/pouch")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building pouch: %v\n%s", err, b)
	}
	cmd := exec.Command(bin, "serve", "--open", "--data", filepath.Join(dir, "server"), "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "POUCH_HOME="+filepath.Join(dir, "home"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	var mu sync.Mutex
	var logged bytes.Buffer
	addr := make(chan string, 1)
	serving := regexp.MustCompile(`serving log \S+ on (http://127\.0\.0\.1:\d+)`)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if m := serving.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
			mu.Lock()
			logged.WriteString(line + "\n")
			mu.Unlock()
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
	}()
	logs := func() string {
		mu.Lock()
		defer mu.Unlock()
		return logged.String()
	}
	select {
	case u := <-addr:
		return u, logs
	case <-done:
		t.Fatalf("pouch serve exited:\n%s", logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("pouch serve did not start in 30 s:\n%s", logs())
	}
	return "", nil
}
