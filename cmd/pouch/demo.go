package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"path/filepath"
	"syscall"

	"pouch.dev/client"
	"pouch.dev/internal/scenario"
	"pouch.dev/keys"
	"pouch.dev/record"
	"pouch.dev/tlog"
	"pouch.dev/ui"
)

func init() {
	register(&verb{
		name:  "demo",
		args:  "[--server URL] [--scene N,...] [--verbose] [--ui [--as HANDLE]]",
		short: "play the reference scenario against a fresh embedded server, checking every proof",
		long: `
pouch demo starts a fresh pouch server in a temporary folder (or uses the
one at --server, which must be in open mode with the scenario's houses not
yet founded), creates the cast of docs/scenario.md with throwaway keys held in
memory, and plays its scenes: who sealed each letter, who carried it, who
received it on whose behalf, who could and could not open it; Rouhani's
message handed over on a secure line through the server's relay; the JCPOA's
history derived from the log, the experts' statement and its signatories,
and the draft Iran–Russia deal; what did not happen (scene 7): a letter
that asks for consent, refused with its reason and returned to its sender,
a letter whose envoy never takes it, past its deadline, with the
deployment's non-delivery and its reason, and each sender's evidence
bundle checked with no network; and every signature, custody chain and
inclusion proof checked against the log's signed checkpoint. It ends with
the cases that must fail.

It exits with status 1 if any check fails.

With --ui, the demo then keeps its server running, with the explorer at
its address, writes the cast's keys (encrypted, with a passphrase it
prints) to a temporary home, and starts the desk (pouch ui) as --as
(ru/president by default; any member of the cast): the pages show the
scenario's letters, their custody timelines and the JCPOA's history.
Ctrl-C stops both and removes the temporary home.

Example:

  go run ./cmd/pouch demo
  pouch demo --scene 1 --verbose
  pouch demo --scene 4,5,6
  pouch demo --scene 7
  pouch demo --ui --as ir/leader`,
		run: runDemo,
	})
}

func runDemo(ctx *cmdContext, args []string) error {
	v := verbs["demo"]
	fs := newFlags(ctx, v)
	srv := fs.String("server", "", "play against the pouch server at `URL` instead of a fresh embedded one")
	scenes := fs.String("scene", "", "play only scenes `N,...` (the directory is always set up)")
	verbose := fs.Bool("verbose", false, "print every detail (admissions, keys)")
	noFail := fs.Bool("skip-must-fail", false, "do not play the cases that must fail")
	asJSON := fs.Bool("json", false, "print only a JSON summary (checks passed and failed)")
	withUI := fs.Bool("ui", false, "then keep the server, with its explorer, and start the desk on the cast's keys")
	as := fs.String("as", "ru/president", "with --ui, the cast member `HANDLE` the desk opens as")
	listen := fs.String("listen", "127.0.0.1:0", "with --ui, the desk's `127.0.0.1:PORT`")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("", "demo takes no arguments, got %q", pos)
	}
	var only []int
	if *scenes != "" {
		for _, s := range strings.Split(*scenes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return usagef("write it as --scene 1,2", "--scene %q: %v", *scenes, err)
			}
			only = append(only, n)
		}
	}
	sctx, stop := signal.NotifyContext(ctx.context(), os.Interrupt)
	defer stop()
	sctx, cancel := context.WithTimeout(sctx, 5*time.Minute)
	defer cancel()

	start := time.Now()
	out := ctx.stdout
	if *asJSON {
		out = io.Discard
	}
	if *withUI && *srv != "" {
		return usagef("drop --server: the desk is shown on the demo's own server", "--ui needs the embedded server")
	}
	w, err := scenario.Start(sctx, scenario.Options{Server: *srv, Out: out, Verbose: *verbose})
	if err != nil {
		return err
	}
	defer w.Close()
	if *withUI {
		ex, err := ui.NewExplorer(ui.ExplorerConfig{API: w.Server, LogKey: w.LogKey, Now: w.Clock.Now})
		if err != nil {
			return err
		}
		ex.Mount(w.Server.Handle)
	}
	where := "a fresh embedded server at " + w.URL + " (temporary data, removed afterwards)"
	if w.Remote {
		where = "the server at " + w.URL + " (its log key taken from the server itself: trust on first use)"
	}
	fmt.Fprintf(out, "pouch demo: the reference scenario (docs/scenario.md) on %s\n", where)
	fmt.Fprintf(out, "every record is sequenced in the log %q; every actor's client proves what it acts on from the log (keys, recipients, grants, custody, agreements), against checkpoints each consistent with those seen before\n", w.Client.Origin)
	if w.Policy != nil {
		fmt.Fprintf(out, "the clients' witness policy: each checkpoint cosigned by the witness %s (ML-DSA-44, post-quantum), at most %v old\n", scenario.WitnessName, tlog.DefaultMaxAge)
	} else {
		fmt.Fprintln(out, "no witness policy was given: split views undetectable (pass --policy)")
	}

	err = scenario.Play(sctx, w, only...)
	if err == nil && !*noFail && (len(only) == 0 || (containsInt(only, 1))) {
		err = scenario.MustFail(sctx, w)
		if err == nil {
			err = scenario.MustFailDisclosure(sctx, w)
		}
	}
	if err == nil && !*noFail && (len(only) == 0 || (containsInt(only, 7))) {
		err = scenario.MustFailEvidence(sctx, w)
	}
	w.Report.Summary()
	fmt.Fprintf(out, "(%s)\n", time.Since(start).Round(time.Millisecond))
	sum := map[string]any{"checks": w.Report.Checks, "failures": w.Report.Failures, "seconds": time.Since(start).Seconds()}
	if err != nil || w.Report.Failures > 0 {
		if err == nil {
			err = errors.New("a check failed")
		}
		return failWith(sum, &checkError{fmt.Errorf("demo: %w", err)})
	}
	if *asJSON {
		emit(ctx, sum)
	}
	if *withUI {
		return demoUI(ctx, w, record.Handle(*as), *listen)
	}
	return nil
}

// demoUI keeps the demo's server, writes the cast's keys to a temporary
// home and starts the desk on them, until interrupted.
func demoUI(ctx *cmdContext, w *scenario.World, as record.Handle, listen string) error {
	dir, err := os.MkdirTemp("", "pouch-demo-home-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pass := "demo-" + ui.NewPassphrase()
	// The cast's keys, encrypted like any home's; a low scrypt work
	// factor, as these throwaway keys are unlocked many times.
	h := &keys.Home{Dir: dir, ScryptLogN: 10}
	found := false
	for _, c := range scenario.Cast {
		if c.Handle == as {
			found = true
		}
		if err := h.Save(w.ID(c.Handle), pass); err != nil {
			return err
		}
	}
	if !found {
		return usagef("pick a member of the cast (docs/scenario.md), such as --as ir/leader", "--as %s is not in the cast", as)
	}
	c := client.New(w.URL)
	c.Origin, c.Now = w.Client.Origin, w.Clock.Now
	c.Trust = &client.Trust{Policy: w.Policy, Dir: filepath.Join(dir, "logs")}
	fmt.Fprintf(ctx.stdout, "\npouch demo --ui: the demo's server is still running; its explorer is at %s/\n", w.URL)
	fmt.Fprintf(ctx.stdout, "pouch: the cast's keys are in POUCH_HOME=%s (passphrase %s), removed when the desk stops\n", dir, pass)
	sctx, stop := signal.NotifyContext(ctx.context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kr := &homeKeyring{ctx: ctx, home: h, pass: pass, held: map[record.Handle]*keys.Principal{}}
	return serveDesk(sctx, ctx, c, kr, as, listen)
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
