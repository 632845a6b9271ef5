// Package failpoint kills the process at named points of its work, for
// crash tests: kill -9 at the instant between two steps, which no signal
// sent from outside can hit reliably.
//
// A test starts the process with POUCH_FAILPOINTS in its environment, a
// comma-separated list of NAME=kill@N: the process writes
// "pouch: failpoint NAME" to standard error and sends itself SIGKILL the
// N-th time it reaches point NAME (the first time if @N is left out).
// Without the variable, as in every normal run, Hit costs one load of a
// nil map and does nothing.
//
// The points of the server are listed in spec/store.md#failpoints.
package failpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// Env is the environment variable that arms failpoints.
const Env = "POUCH_FAILPOINTS"

type point struct {
	at   int64 // the hit that kills
	hits atomic.Int64
}

// points is set once, before main runs, and never changed: reading it
// needs no lock.
var points = parse(os.Getenv(Env))

func parse(spec string) map[string]*point {
	if spec == "" {
		return nil
	}
	m := map[string]*point{}
	for _, item := range strings.Split(spec, ",") {
		name, action, ok := strings.Cut(strings.TrimSpace(item), "=")
		at := int64(1)
		if a, n, has := strings.Cut(action, "@"); has {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil || v < 1 {
				ok = false
			}
			action, at = a, v
		}
		if !ok || name == "" || action != "kill" {
			fmt.Fprintf(os.Stderr, "pouch: %s: %q is not NAME=kill[@N]; ignored\n", Env, item)
			continue
		}
		m[name] = &point{at: at}
	}
	return m
}

// Hit marks that the process reached point name; if the point is armed
// and this is its N-th hit, the process dies of SIGKILL here.
func Hit(name string) {
	if points == nil {
		return
	}
	p := points[name]
	if p == nil || p.hits.Add(1) != p.at {
		return
	}
	os.Stderr.WriteString("pouch: failpoint " + name + "\n")
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // SIGKILL is not handled; wait for it to land
}
