package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Helpers of the resource, crash and fault-injection tests, which run the
// real pouch serve binary.

// serveOpts says how to start pouch serve.
type serveOpts struct {
	data    string   // data folder (default: a fresh one)
	fdLimit int      // if not 0, the process's file descriptor limit (soft and hard)
	env     []string // more environment
	wrap    []string // a command to run pouch serve under, such as strace and its flags
}

// A serveProc is a running pouch serve.
type serveProc struct {
	cmd    *exec.Cmd
	url    string
	data   string
	stderr *lockedBuffer
	exited chan struct{}
}

// lockedBuffer keeps the last bytes a process wrote, safe for concurrent
// use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		rest := l.b.Bytes()[l.b.Len()-512<<10:]
		l.b = *bytes.NewBuffer(append([]byte(nil), rest...))
	}
	l.b.WriteString(s)
	l.b.WriteByte('\n')
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// servingBinary is the pouch binary the tests that run pouch serve use:
// built from this tree, or the one POUCH_SERVE_BIN names (to measure
// another version, such as the one before a fix, with the same test).
func servingBinary(t *testing.T) string {
	if b := os.Getenv("POUCH_SERVE_BIN"); b != "" {
		return b
	}
	return buildPouch(t)
}

// startServeOpts runs pouch serve --open on a free loopback port as o
// says, and waits for the address it prints. The process is killed when
// the test ends, if it still runs.
func startServeOpts(t *testing.T, bin string, o serveOpts) *serveProc {
	t.Helper()
	p, err := launchServe(t, bin, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// launchServe starts pouch serve as startServeOpts does, and returns an
// error if it does not come up.
func launchServe(t *testing.T, bin string, o serveOpts) (*serveProc, error) {
	t.Helper()
	if o.data == "" {
		o.data = t.TempDir()
	}
	args := []string{bin, "serve", "--open", "--data", o.data, "--listen", "127.0.0.1:0"}
	if o.fdLimit > 0 {
		// ulimit -n sets the soft and the hard limit; the Go runtime
		// raises the soft one to the hard one, so both are set.
		args = append([]string{"bash", "-c", fmt.Sprintf(`ulimit -n %d && exec "$@"`, o.fdLimit), "pouch-serve"}, args...)
	}
	args = append(append([]string(nil), o.wrap...), args...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(append(os.Environ(), "POUCH_HOME="+t.TempDir()), o.env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serveProc{cmd: cmd, data: o.data, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.stderr.add(sc.Text())
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	select {
	case p.url = <-found:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("pouch serve exited before serving:\n%s", p.stderr)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("pouch serve did not print its address:\n%s", p.stderr)
	}
}

// pid returns the pouch serve process's ID: the child's, or, under a
// wrapper, the wrapper's only child.
func (p *serveProc) pid() int {
	pid := p.cmd.Process.Pid
	for range 3 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && strings.TrimSpace(string(b)) == "pouch" {
			return pid
		}
		kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		f := strings.Fields(string(kids))
		if err != nil || len(f) == 0 {
			return pid
		}
		pid, _ = strconv.Atoi(f[0])
	}
	return pid
}

// rss returns the server's resident memory, from /proc/PID/status.
func (p *serveProc) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", p.pid())
}

// alive reports whether the process still runs.
func (p *serveProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill9 kills the server with SIGKILL and waits for it.
func (p *serveProc) kill9() {
	syscall.Kill(p.pid(), syscall.SIGKILL)
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop ends the server with SIGTERM and waits for it.
func (p *serveProc) stop() {
	syscall.Kill(p.pid(), syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.kill9()
	}
}
