package main

// The key agent: pouch agent runs it, pouch unlock gives it a principal's
// keys, pouch lock makes it forget them; every verb that signs or opens
// uses it when it holds the principal (loadPrincipal in home.go).

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"pouch.dev/keys"
	"pouch.dev/keys/agent"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "agent",
		args:  "[--timeout D] [--foreground] | --status | --stop  [--json]",
		short: "hold unlocked keys in memory for a working session (see unlock, lock)",
		long: `
pouch agent starts the key agent in the background and prints where it
listens. Like ssh-agent, it holds the keys that "pouch unlock" gives it in
memory only, signs and opens letters for the pouch commands of the same
user, and never gives a key out: with the agent holding a principal, no
command asks for its passphrase or spends a second on scrypt. A key unused
for --timeout (default 1h) is forgotten, and "pouch lock" forgets them all.

The agent listens on a Unix socket only its user can reach, $POUCH_HOME/
agent/sock (or POUCH_AGENT_SOCK), and refuses processes of other users.
Every process of the same user can ask it to sign while a key is
unlocked: lock the keys, or stop the agent, when you leave.

--foreground runs it in this process, for systemd or a terminal of its
own; Ctrl-C stops it. --status lists the unlocked principals; --stop
stops the agent, which forgets every key.

Environment: POUCH_HOME, POUCH_AGENT_SOCK, POUCH_AGENT_TIMEOUT.

Example, the Leader's office starts its working day:

  pouch agent                     # prints where it listens
  pouch unlock --as ir/leader     # the passphrase, once
  pouch seal --as ir/leader --to ru/president --via ir/speaker letter.md > letter.pouch
  pouch agent --status            # ir/leader, and when it is forgotten
  pouch lock                      # at the end of the day`,
		run: runAgent,
	})
	register(&verb{
		name:  "unlock",
		args:  "[--as H | --all] [--json]",
		short: "give a principal's keys to the agent: its passphrase once per session",
		long: `
pouch unlock asks for a principal's passphrase (or takes
POUCH_PASSPHRASE), decrypts its key file and gives the keys to the running
agent ("pouch agent"), as ssh-add does. Later commands acting as that
principal sign and open through the agent, with no passphrase and no
scrypt, until the key has been unused for the agent's timeout or "pouch
lock". --all unlocks every principal of the home, trying the passphrase
typed for one on the next before asking again. Keys are never written in
the clear.

Example, the Speaker unlocks his office before carrying the Leader's
letter:

  pouch unlock --as ir/speaker
  pouch take --as ir/speaker ID   # signs through the agent: no prompt`,
		run: runUnlock,
	})
	register(&verb{
		name:  "lock",
		args:  "[--as H] [--json]",
		short: "make the agent forget unlocked keys",
		long: `
pouch lock makes the agent forget every key it holds, or only the
principal named with --as (POUCH_AS is not read: a bare "pouch lock"
always forgets everything). Commands then ask for passphrases again, or
fail without a terminal, until "pouch unlock". The agent keeps running;
"pouch agent --stop" stops it.

Example, the Duma chairman leaves his desk:

  pouch lock
  pouch lock --as ru/duma-chair   # only this office`,
		run: runLock,
	})
}

// agentClient returns a client of the agent of home h.
func agentClient(ctx *cmdContext, h *keys.Home) *agent.Client {
	return &agent.Client{Path: agent.Path(ctx.getenv, h.Dir), Timeout: 10 * time.Second}
}

// agentPrincipal returns the principal pub with its keys in the agent, or
// nil if no agent holds it. An agent that is there but cannot be used
// (another user's, other keys under the handle) is reported and left
// aside.
func agentPrincipal(ctx *cmdContext, h *keys.Home, pub *keys.Public) *keys.Principal {
	c := agentClient(ctx, h)
	p, err := c.Principal(pub)
	switch {
	case err == nil:
		return p
	case errors.Is(err, agent.ErrNotRunning) || errors.Is(err, agent.ErrNotHeld):
		return nil
	}
	fmt.Fprintf(ctx.stderr, "pouch: warning: not using the agent: %v\n", err)
	return nil
}

// hardenAgent is set by main: the agent process, and not the tests that
// run it in theirs, makes itself non-dumpable.
var hardenAgent bool

func runAgent(ctx *cmdContext, args []string) error {
	v := verbs["agent"]
	fs := newFlags(ctx, v)
	def := agent.DefaultTimeout
	if s := ctx.getenv("POUCH_AGENT_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return usagef("such as POUCH_AGENT_TIMEOUT=30m", "POUCH_AGENT_TIMEOUT=%q: %v", s, err)
		}
		def = d
	}
	timeout := fs.Duration("timeout", def, "forget a key unused for `D` (env POUCH_AGENT_TIMEOUT)")
	fg := fs.Bool("foreground", false, "run in this process until stopped (for systemd, tests)")
	status := fs.Bool("status", false, "list the unlocked principals")
	stop := fs.Bool("stop", false, "stop the agent, forgetting every key")
	fs.Bool("json", false, "print JSON (spec/cli.md)")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("", "agent: unexpected argument %q", pos[0])
	}
	asJSON := &ctx.json
	if n := btoi(*fg) + btoi(*status) + btoi(*stop); n > 1 {
		return usagef("", "agent: --foreground, --status and --stop exclude each other")
	}
	if *asJSON && *fg {
		return usagef("", "agent: --foreground prints no JSON")
	}
	if *timeout <= 0 || *timeout > agent.MaxTimeout {
		return usagef("such as --timeout 30m", "agent: --timeout %v: want more than 0 and at most %v", *timeout, agent.MaxTimeout)
	}
	h, err := openHome(ctx)
	if err != nil {
		return err
	}
	c := agentClient(ctx, h)
	switch {
	case *status:
		return agentStatus(ctx, c, *asJSON)
	case *stop:
		err := c.Stop()
		running := !errors.Is(err, agent.ErrNotRunning)
		if err != nil && running {
			return err
		}
		switch {
		case ctx.json:
			return emit(ctx, map[string]any{"socket": c.Path, "stopped": running})
		case running:
			fmt.Fprintf(ctx.stdout, "the agent at %s stopped; it forgot every key\n", c.Path)
		default:
			fmt.Fprintf(ctx.stdout, "no agent is running at %s\n", c.Path)
		}
		return nil
	case *fg:
		return agentForeground(ctx, c.Path, *timeout)
	}
	return agentBackground(ctx, h, c, *timeout, *asJSON)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// agentForeground runs the agent in this process until it is stopped.
func agentForeground(ctx *cmdContext, sock string, timeout time.Duration) error {
	a, err := agent.New(timeout)
	if err != nil {
		return err
	}
	l, err := agent.Listen(sock)
	if errors.Is(err, agent.ErrRunning) {
		return withHint(err, "\"pouch agent --status\" shows it; \"pouch agent --stop\" stops it")
	}
	if err != nil {
		return socketError(err)
	}
	if hardenAgent {
		if err := agent.Harden(); err != nil {
			l.Close()
			return fmt.Errorf("agent: making the process non-dumpable: %w", err)
		}
	}
	sig, stop := signal.NotifyContext(ctx.context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		select {
		case <-sig.Done():
			a.Stop()
		case <-a.Done():
		}
	}()
	fmt.Fprintf(ctx.stderr, "pouch agent: listening on %s (pid %d); a key unused for %v is forgotten\n", sock, os.Getpid(), timeout)
	err = a.Serve(l)
	fmt.Fprintln(ctx.stderr, "pouch agent: stopped; every key forgotten")
	return err
}

// agentBackground starts the agent as a detached process of its own (this
// binary, with --foreground) and returns once it answers.
func agentBackground(ctx *cmdContext, h *keys.Home, c *agent.Client, timeout time.Duration, asJSON bool) error {
	started := func(st *agent.Status, fresh bool) error {
		if asJSON {
			return emit(ctx, map[string]any{"started": fresh, "socket": c.Path, "pid": st.PID, "timeout_ms": st.Timeout})
		}
		if !fresh {
			fmt.Fprintf(ctx.stdout, "an agent is already running at %s (pid %d)\n", c.Path, st.PID)
			return nil
		}
		fmt.Fprintf(ctx.stdout, "pouch agent: listening on %s (pid %d); a key unused for %v is forgotten\n", c.Path, st.PID, timeout)
		fmt.Fprintln(ctx.stdout, "next: \"pouch unlock --as HANDLE\" (or --all); \"pouch lock\" forgets, \"pouch agent --stop\" stops it")
		return nil
	}
	if st, _, err := c.List(); err == nil {
		return started(st, false)
	}
	// What the agent would refuse is said here, with its fix.
	if err := agent.Prepare(c.Path); err != nil {
		return socketError(err)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir := filepath.Dir(c.Path)
	// The agent's own messages (start, stop, errors: never a key) go to a
	// log beside its socket.
	logPath := filepath.Join(dir, "log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(exe, "agent", "--foreground", "--timeout", timeout.String())
	// The agent needs no passphrase: it gets keys, already decrypted, from
	// "pouch unlock".
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "POUCH_PASSPHRASE=") {
			env = append(env, e)
		}
	}
	cmd.Env = append(env, "POUCH_HOME="+h.Dir, "POUCH_AGENT_SOCK="+c.Path)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = detached()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the agent: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(10 * time.Second)
	for {
		st, _, err := c.List()
		if err == nil {
			return started(st, true)
		}
		select {
		case werr := <-exited:
			b, _ := os.ReadFile(logPath)
			msg := strings.TrimSpace(string(b))
			msg = strings.TrimPrefix(strings.ReplaceAll(msg, "\n", "; "), "pouch: ")
			return fmt.Errorf("the agent did not start (%v): %s", werr, msg)
		case <-deadline:
			cmd.Process.Kill()
			return fmt.Errorf("the agent did not answer on %s within 10 s (see %s)", c.Path, logPath)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// socketError gives a hint to an error of the agent's socket.
func socketError(err error) error {
	if errors.Is(err, agent.ErrUnsafeFolder) {
		return withHint(err, "the agent's socket must be in a folder only you can enter")
	}
	if errors.Is(err, agent.ErrPathTooLong) {
		return withHint(err, "set POUCH_AGENT_SOCK to a shorter path, in a folder only you can enter")
	}
	return err
}

type heldJSON struct {
	Handle  record.Handle `json:"handle"`
	Ed25519 string        `json:"ed25519"`
	Age     string        `json:"age"`
	Used    time.Time     `json:"used"`
	Expires time.Time     `json:"expires"`
}

func agentStatus(ctx *cmdContext, c *agent.Client, asJSON bool) error {
	st, held, err := c.List()
	if errors.Is(err, agent.ErrNotRunning) {
		return withHint(err, "start one with \"pouch agent\"")
	}
	if err != nil {
		return err
	}
	if asJSON {
		ks := []heldJSON{}
		for _, k := range held {
			ks = append(ks, heldJSON{k.Handle, base64.StdEncoding.EncodeToString(k.Ed25519), k.Age, time.UnixMilli(k.Used).UTC(), time.UnixMilli(k.Expires).UTC()})
		}
		return emit(ctx, map[string]any{"socket": c.Path, "pid": st.PID, "timeout_ms": st.Timeout, "keys": ks})
	}
	fmt.Fprintf(ctx.stdout, "agent: pid %d at %s; a key unused for %v is forgotten\n", st.PID, c.Path, time.Duration(st.Timeout)*time.Millisecond)
	if len(held) == 0 {
		fmt.Fprintln(ctx.stdout, "no key is unlocked (\"pouch unlock --as HANDLE\")")
	}
	now := time.Now()
	for _, k := range held {
		fmt.Fprintf(ctx.stdout, "  %-24s unlocked, last used %v ago, forgotten in %v unless used\n", k.Handle,
			now.Sub(time.UnixMilli(k.Used)).Round(time.Second), time.UnixMilli(k.Expires).Sub(now).Round(time.Second))
	}
	return nil
}

func runUnlock(ctx *cmdContext, args []string) error {
	v := verbs["unlock"]
	fs := newFlags(ctx, v)
	as := fs.String("as", asFlag(ctx), "unlock principal `HANDLE` (env POUCH_AS)")
	all := fs.Bool("all", false, "unlock every principal of the home")
	fs.Bool("json", false, "print JSON (spec/cli.md)")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	asJSON := &ctx.json
	if len(pos) != 0 {
		return usagef("name the principal with --as", "unlock: unexpected argument %q", pos[0])
	}
	h, err := openHome(ctx)
	if err != nil {
		return err
	}
	c := agentClient(ctx, h)
	st, held, err := c.List()
	if errors.Is(err, agent.ErrNotRunning) {
		return withHint(err, "start it with \"pouch agent\", then run \"pouch unlock\" again")
	}
	if err != nil {
		return err
	}
	var hds []record.Handle
	if *all {
		if hds, err = h.List(); err != nil {
			return err
		}
		if len(hds) == 0 {
			return withHint(fmt.Errorf("no principal in %s", h.Dir), "create one with \"pouch init HOUSE/OFFICE\"")
		}
	} else {
		hd, err := pickPrincipal(h, *as)
		if err != nil {
			return err
		}
		hds = []record.Handle{hd}
	}
	timeout := time.Duration(st.Timeout) * time.Millisecond
	unlocked, already := []record.Handle{}, []record.Handle{}
	var typed string // the last passphrase typed, tried first on the next
	for _, hd := range hds {
		pub, err := h.Public(hd)
		if err != nil {
			return err
		}
		if isHeld(held, pub) {
			already = append(already, hd)
			if !*asJSON {
				fmt.Fprintf(ctx.stdout, "%s is already unlocked\n", hd)
			}
			continue
		}
		p, pass, err := unlockOne(ctx, h, hd, typed)
		if err != nil {
			return err
		}
		typed = pass
		err = c.Add(p)
		if sk, _, e := p.InMemory(); e == nil {
			clear(sk) // the agent has its own copy
		}
		if err != nil {
			return fmt.Errorf("giving the key of %s to the agent: %w", hd, err)
		}
		unlocked = append(unlocked, hd)
		if !*asJSON {
			fmt.Fprintf(ctx.stdout, "unlocked %s: the agent signs and opens for it until unused for %v, or \"pouch lock\"\n", hd, timeout)
		}
	}
	if *asJSON {
		return emit(ctx, map[string]any{"unlocked": unlocked, "already": already, "timeout_ms": st.Timeout})
	}
	return nil
}

// unlockOne decrypts hd's key file with POUCH_PASSPHRASE, or with the
// passphrase typed for the previous principal if it fits, or else one
// asked on the terminal. It returns the passphrase that worked.
func unlockOne(ctx *cmdContext, h *keys.Home, hd record.Handle, typed string) (*keys.Principal, string, error) {
	if pass := ctx.getenv("POUCH_PASSPHRASE"); pass != "" {
		p, err := decryptPrincipal(ctx, h, hd, false)
		return p, "", err
	}
	if typed != "" {
		if p, err := h.Load(hd, typed); err == nil {
			return p, typed, nil
		}
	}
	if !stdinIsTerminal(ctx) {
		return nil, "", withHint(fmt.Errorf("unlocking %s needs its passphrase, and there is no terminal to ask for it", hd),
			"run \"pouch unlock\" from a terminal, or set POUCH_PASSPHRASE")
	}
	pass, err := passphrase(ctx, fmt.Sprintf("Passphrase for %s: ", hd), false)
	if err != nil {
		return nil, "", err
	}
	p, err := h.Load(hd, pass)
	if errors.Is(err, keys.ErrWrongPassphrase) {
		return nil, "", withHint(err, "type the passphrase given at \"pouch init %s\"", hd)
	}
	return p, pass, err
}

func isHeld(held []agent.Held, pub *keys.Public) bool {
	for _, k := range held {
		if k.Handle == pub.Handle && string(k.Ed25519) == string(pub.Ed25519) && k.Age == pub.Age {
			return true
		}
	}
	return false
}

func runLock(ctx *cmdContext, args []string) error {
	v := verbs["lock"]
	fs := newFlags(ctx, v)
	as := fs.String("as", "", "forget only principal `HANDLE`")
	fs.Bool("json", false, "print JSON (spec/cli.md)")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	asJSON := &ctx.json
	if len(pos) != 0 {
		return usagef("", "lock: unexpected argument %q", pos[0])
	}
	var hd record.Handle
	if *as != "" {
		if hd, err = record.ParseHandle(*as); err != nil {
			return usagef("", "--as: %v", err)
		}
	}
	h, err := openHome(ctx)
	if err != nil {
		return err
	}
	c := agentClient(ctx, h)
	n, err := c.Lock(hd)
	running := !errors.Is(err, agent.ErrNotRunning)
	if err != nil && running {
		return err
	}
	switch {
	case *asJSON:
		return emit(ctx, map[string]any{"running": running, "forgot": n})
	case !running:
		fmt.Fprintf(ctx.stdout, "no agent is running at %s: no key is unlocked\n", c.Path)
	case hd != "" && n == 0:
		fmt.Fprintf(ctx.stdout, "%s was not unlocked\n", hd)
	case hd != "":
		fmt.Fprintf(ctx.stdout, "the agent forgot the key of %s\n", hd)
	case n == 1:
		fmt.Fprintln(ctx.stdout, "the agent forgot 1 key")
	default:
		fmt.Fprintf(ctx.stdout, "the agent forgot %d keys\n", n)
	}
	return nil
}
