package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"pouch.dev/tlog"
	"pouch.dev/tlog/witness"
)

// DefaultWitnessListen is the address pouch witness listens on.
const DefaultWitnessListen = "127.0.0.1:8471"

func init() {
	register(&verb{
		name:  "witness",
		args:  "--log KEY [--log KEY ...] [--data DIR] [--listen ADDR] [--name NAME]",
		short: "run a witness that checks and cosigns a log's checkpoints",
		long: `
pouch witness serves the C2SP tlog-witness protocol (POST /add-checkpoint):
for each log named by --log (the log's verifier key, as GET /v1/log shows
it), it cosigns a checkpoint only if it is consistent with the last one it
cosigned, and refuses every other, so a split view cannot be cosigned.

It witnesses as many logs as it is given --log keys, each with its own
origin: a witness keeps one history per origin, so it refuses two keys
for one origin, and a log whose origin it has already cosigned under
another key (a second deployment that kept the default origin, or a
reset server: give it its own --origin).

Its key is made at first start and kept in DIR (default
$POUCH_HOME/witness), with the last checkpoint of each log. It prints its
verifier key, to give to the log (pouch serve --witness URL,KEY, or a
witness line in its --witness-policy file) and to clients that require
its cosignature; --print-key prints it alone (making it, the first
time) and exits.

Environment: POUCH_WITNESS_DATA, POUCH_WITNESS_LISTEN, POUCH_WITNESS_LOGS
(space-separated keys).

Example, the IAEA runs a witness for the deployment's log:

  pouch witness --name iaea-witness --print-key    # for the log's policy file
  pouch witness --name iaea-witness \
      --log pouch.localhost/log+6aeaec4e+AXuCXZPJ9Elr0zrCsQboqQ5Dy4JqHSV8WidcLImf24+Z`,
		run: runWitness,
	})
}

func runWitness(ctx *cmdContext, args []string) error {
	v := verbs["witness"]
	fs := newFlags(ctx, v)
	data := fs.String("data", ctx.getenv("POUCH_WITNESS_DATA"), "data `DIR` (default $POUCH_HOME/witness)")
	listen := fs.String("listen", envOr(ctx, "POUCH_WITNESS_LISTEN", DefaultWitnessListen), "listen on `ADDR`")
	name := fs.String("name", "pouch-witness", "the witness's `NAME`, used when its key is made")
	var logs listFlag
	if e := ctx.getenv("POUCH_WITNESS_LOGS"); e != "" {
		logs = strings.Fields(e)
	}
	fs.Var(&logs, "log", "witness the log with verifier `KEY` (repeatable)")
	printKey := fs.Bool("print-key", false, "print the witness's verifier key (made at first use in DIR) and exit")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("", "witness takes no arguments, got %q", pos)
	}
	if len(logs) == 0 && !*printKey {
		return usagef("name a log with --log KEY; \"pouch serve --print-key\" prints it, and GET /v1/log on the server shows it", "no log to witness")
	}
	if *data == "" {
		d, err := defaultDataDir(ctx)
		if err != nil {
			return err
		}
		*data = filepath.Join(filepath.Dir(d), "witness")
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return withHint(fmt.Errorf("creating the data directory: %w", err), "pass --data DIR with a directory you can write")
	}
	keyPath := filepath.Join(*data, "witness.key")
	var key string
	if b, err := os.ReadFile(keyPath); err == nil {
		key = strings.TrimSpace(string(b))
	} else if errors.Is(err, os.ErrNotExist) {
		if key, _, err = tlog.LoadOrCreateKey(keyPath, *name); err != nil {
			return err
		}
	} else {
		return err
	}
	if *printKey {
		vkey, err := tlog.VerifierKey(key)
		if err != nil {
			return fmt.Errorf("%s: %w", keyPath, err)
		}
		_, err = fmt.Fprintln(ctx.stdout, vkey)
		return err
	}
	logger := slog.New(slog.NewTextHandler(ctx.stderr, nil))
	w, err := witness.New(witness.Config{Key: key, Logs: logs, Dir: filepath.Join(*data, "logs"), Logger: logger})
	if errors.Is(err, witness.ErrOriginTaken) {
		return withHint(err, "start the second log with its own origin (pouch serve --origin NAME) and witness that key")
	}
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return withHint(err, "pick another address with --listen, such as --listen 127.0.0.1:0")
	}
	addr := ln.Addr().String()
	fmt.Fprintf(ctx.stderr, "pouch: witness %s on http://%s\npouch: witness key %s\n", w.Name(), addr, w.VerifierKey())
	logger.Info("witnessing", "addr", addr, "key", w.VerifierKey(), "logs", len(logs))

	sctx, stop := signal.NotifyContext(ctx.context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hs := &http.Server{Handler: w, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-sctx.Done():
	}
	shctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hs.Shutdown(shctx)
	return nil
}
