package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"syscall"
	"time"

	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/tlog"
	"pouch.dev/ui"
)

// DefaultListen is the address pouch serve listens on without --listen.
const DefaultListen = "127.0.0.1:8470"

// serveMemoryLimit is the Go runtime's soft memory limit in pouch serve,
// unless GOMEMLIMIT sets another.
const serveMemoryLimit = 768 << 20

// serveGCPercent is the Go runtime's GOGC in pouch serve, unless GOGC sets
// another.
const serveGCPercent = 400

func init() {
	register(&verb{
		name:  "serve",
		args:  "[--data DIR] [--db URL] [--listen ADDR] [--origin NAME] [--witness URL,KEY ...] [--witness-policy FILE] [--witness-refresh DURATION] [--advertise URL]",
		short: "run a pouch server: the log, its tiles, checkpoints and proofs, and the API",
		long: `
With no flags, pouch serve keeps its data (one SQLite file, the log's key,
the operator's key and the keys of the deployment's evidence office, made
at first start) in $POUCH_HOME/server, or
pouch/server in the user's configuration directory, and listens on
` + DefaultListen + `.

--db postgres://USER@HOST:PORT/DB keeps the log (records, payloads, tiles
and checkpoints) in that PostgreSQL database instead of the SQLite file;
the keys stay in the data folder. The database's schema is made or
migrated at start. Several servers may share one database.

--print-key prints the log's verifier key (as GET /v1/log shows it),
making the log's key in DIR if it is not there yet, and exits: the key
to give to witnesses (pouch witness --log KEY) and to write in the log
line of a policy file.

Every log has its own origin, the first line of its checkpoints: the
first start names it (--origin, or a fresh pouch.localhost/log-XXXX), and
the data folder keeps it. The first record of the log, its genesis, names
the origin, the founding rule (operator mode, or --open) and the
operator's key, signed by that key.
It prints the address it serves on to stderr, then logs in log/slog text
format, at --log-level and above (default info). A line per record
accepted, and per request refused, is at debug level: the counts are in
/metrics (pouch_records_accepted_total, pouch_records_refused_total, by
kind). With the embedded store, /metrics also times the store's work on
the disk, which every acknowledgement waits for: the appends as callers
wait for them (pouch_store_append_seconds), its commits
(pouch_store_commit_seconds; part="commit" is the WAL's write and fsync)
and the WAL's checkpoints into the database file
(pouch_store_checkpoint_seconds). SIGINT or SIGTERM stops it gracefully.

The operator admits the deployment's evidence office, pouch/evidence,
after the genesis record: it signs the non-delivery of a pouch that passes
its deadline undelivered, which the server watches and logs with the
reason its records give (spec/evidence.md), after a restart too.

The log is served at the C2SP tlog-tiles paths (/checkpoint, /tile/...),
with GET /v1/log and its proofs under /v1/log/proof/.

Every new checkpoint is sent to the witnesses named by --witness URL,KEY
or in a C2SP tlog-policy file (--witness-policy FILE: its witness lines,
each with its URL; a log line, if any, must be this log's key). The same
file, with or without URLs, is the policy clients verify against. While
the log is idle, each witness is asked to cosign the checkpoint again
every --witness-refresh (default 10m), so that clients, which refuse
checkpoints cosigned more than an hour ago, always find a fresh one.

The server bounds what clients can make it hold: request bodies are read
a step at a time under a memory budget, large payloads streamed to the
store, connections capped below the descriptor limit (idle ones evicted
at the cap), with timeouts; a spent budget is answered 503 with
Retry-After, a full disk 507. The limits are in spec/api.md#limits and
in /metrics (pouch_limit, pouch_budget_*). The Go runtime's soft memory
limit is 768 MiB unless GOMEMLIMIT says otherwise, and GOGC 400 unless
GOGC says otherwise.

Over a database shared by several replicas, each replica registers the
URL the others reach it at (--advertise, default http:// and the address
it listens on), where a secure line whose two ends reach different
replicas meets; one replica at a time sequences the log (README,
"Running several replicas").

Environment: POUCH_DATA, POUCH_LISTEN, POUCH_ORIGIN, POUCH_WITNESSES
(space-separated URL,KEY pairs), POUCH_WITNESS_POLICY,
POUCH_WITNESS_REFRESH, POUCH_ADVERTISE and POUCH_LOG_LEVEL.

Example, the reference scenario's server with the IAEA's witness:

  pouch witness --data ~/iaea-witness --log $LOGKEY &
  pouch serve --data /srv/pouch --listen :8470 \
      --witness http://127.0.0.1:8471,iaea-witness+1c2b3a4d+BEx...

or with a policy file naming the IAEA's and Iran's witnesses:

  cat > policy.txt <<END
  log pouch.localhost/log+6aeaec4e+AXuCXZPJ9Elr0zrCsQboqQ5Dy4JqHSV8WidcLImf24+Z
  witness iaea iaea-witness+1c2b3a4d+BEx... http://127.0.0.1:8471
  witness ir ir-witness+77c0a1e2+BKq... http://127.0.0.1:8472
  group both all iaea ir
  quorum both
  END
  pouch serve --data /srv/pouch --witness-policy policy.txt`,
		run: runServe,
	})
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func envOr(ctx *cmdContext, name, def string) string {
	if v := ctx.getenv(name); v != "" {
		return v
	}
	return def
}

// defaultDataDir is $POUCH_HOME/server, or pouch/server in the user's
// configuration directory.
func defaultDataDir(ctx *cmdContext) (string, error) {
	if h := ctx.getenv("POUCH_HOME"); h != "" {
		return filepath.Join(h, "server"), nil
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "", withHint(fmt.Errorf("finding a data directory: %w", err), "pass --data DIR or set POUCH_DATA")
	}
	return filepath.Join(cfg, "pouch", "server"), nil
}

func parseWitnesses(specs []string) ([]tlog.WitnessConfig, error) {
	var out []tlog.WitnessConfig
	for _, s := range specs {
		u, k, ok := strings.Cut(s, ",")
		if !ok || !strings.HasPrefix(u, "http") || k == "" {
			return nil, usagef("write it as --witness URL,KEY, such as http://127.0.0.1:8471,iaea-witness+1c2b3a4d+BEx...",
				"--witness %q: not URL,KEY", s)
		}
		out = append(out, tlog.WitnessConfig{URL: u, Key: k})
	}
	return out, nil
}

// distinctWitnesses refuses a witness given twice (by its key), which
// would be asked twice and counted once.
func distinctWitnesses(ws []tlog.WitnessConfig) error {
	seen := map[string]string{}
	for _, w := range ws {
		if u, ok := seen[w.Key]; ok {
			return usagef("name each witness once, with --witness or in the policy file", "the witness %s is given twice (%s and %s)", w.Key, u, w.URL)
		}
		seen[w.Key] = w.URL
	}
	return nil
}

func runServe(ctx *cmdContext, args []string) error {
	v := verbs["serve"]
	fs := newFlags(ctx, v)
	data := fs.String("data", ctx.getenv("POUCH_DATA"), "data `DIR` (default $POUCH_HOME/server)")
	listen := fs.String("listen", envOr(ctx, "POUCH_LISTEN", DefaultListen), "listen on `ADDR`")
	dbFlag := fs.String("db", ctx.getenv("POUCH_DB"), "keep the log in the PostgreSQL database at `URL` (postgres://USER@HOST:PORT/DB; default: the SQLite file DIR/pouch.db)")
	origin := fs.String("origin", ctx.getenv("POUCH_ORIGIN"), "the log's origin `NAME` at first start (default: the data folder's, or a fresh unique one)")
	var wspecs listFlag
	if e := ctx.getenv("POUCH_WITNESSES"); e != "" {
		wspecs = strings.Fields(e)
	}
	fs.Var(&wspecs, "witness", "ask the witness at `URL,KEY` to cosign every checkpoint (repeatable)")
	policyFile := fs.String("witness-policy", ctx.getenv("POUCH_WITNESS_POLICY"), "ask the witnesses of the C2SP tlog-policy `FILE` to cosign every checkpoint")
	refresh := fs.Duration("witness-refresh", 0, "while idle, have the checkpoint cosigned again every `DURATION` (default 10m)")
	if e := ctx.getenv("POUCH_WITNESS_REFRESH"); e != "" {
		d, err := time.ParseDuration(e)
		if err != nil {
			return usagef("write it as a Go duration, such as POUCH_WITNESS_REFRESH=10m", "POUCH_WITNESS_REFRESH=%q: %v", e, err)
		}
		*refresh = d
	}
	open := fs.Bool("open", ctx.getenv("POUCH_OPEN") == "1", "open mode: anyone may found a house, first claim wins (demos and tests; default: the operator key in DIR/operator.key countersigns houses)")
	rate := fs.Float64("rate", 0, "limit each principal to `N` requests per second (0: no limit)")
	maxAttach := fs.String("max-attachments", ctx.getenv("POUCH_MAX_ATTACHMENTS"), "accept letters whose attachments hold at most `SIZE` together, such as 64MiB (default and most: 1GiB); advertised at GET /v1/limits")
	advertise := fs.String("advertise", ctx.getenv("POUCH_ADVERTISE"), "with a shared database, the `URL` at which the other replicas reach this one (default: http:// and the address it listens on)")
	logLevel := fs.String("log-level", envOr(ctx, "POUCH_LOG_LEVEL", "info"), "log at `LEVEL` and above: debug (every record accepted, every request refused), info, warn or error")
	printKey := fs.Bool("print-key", false, "print the log's verifier key (made at first use in DIR) and exit, for witnesses and policy files")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	var maxAttachments int64
	if *maxAttach != "" {
		if maxAttachments, err = parseSize(*maxAttach); err != nil || maxAttachments <= 0 || maxAttachments > record.MaxAttachmentsSize {
			return usagef("give a size of at most 1GiB, such as --max-attachments 64MiB", "--max-attachments %q: not a size from 1 byte to 1GiB", *maxAttach)
		}
	}
	if len(pos) > 0 {
		return usagef("", "serve takes no arguments, got %q", pos)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("give debug, info, warn or error, such as --log-level debug", "--log-level %q: not a level", *logLevel)
	}
	var db dbSpec
	if *dbFlag != "" {
		if !isPostgresURL(*dbFlag) {
			return usagef("give a URL such as --db postgres://pouch@127.0.0.1:5432/pouch?sslmode=disable, or leave --db out for the SQLite file in the data folder",
				"--db %q is not a postgres:// URL", redactURL(*dbFlag))
		}
		db = dbSpec{url: *dbFlag}
	}
	witnesses, err := parseWitnesses(wspecs)
	if err != nil {
		return err
	}
	if *refresh < 0 {
		return usagef("give a positive duration, such as --witness-refresh 10m", "--witness-refresh %v is negative", *refresh)
	}
	var policy *tlog.Policy
	if *policyFile != "" {
		b, err := os.ReadFile(*policyFile)
		if err != nil {
			return withHint(fmt.Errorf("reading the witness policy: %w", err), "give a C2SP tlog-policy file with --witness-policy FILE")
		}
		if policy, err = tlog.ParsePolicy(b); err != nil {
			return withHint(fmt.Errorf("%s: %w", *policyFile, err), "fix the policy file (format: https://c2sp.org/tlog-policy, rules in spec/log.md#witness-policy)")
		}
		ws, err := policy.WitnessConfigs()
		if err != nil {
			return withHint(fmt.Errorf("%s: %w", *policyFile, err), "add each witness's URL to its line: witness NAME KEY URL")
		}
		witnesses = append(witnesses, ws...)
	}
	if err := distinctWitnesses(witnesses); err != nil {
		return err
	}
	if *data == "" {
		if *data, err = defaultDataDir(ctx); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return withHint(fmt.Errorf("creating the data directory: %w", err), "pass --data DIR with a directory you can write")
	}
	logger := slog.New(slog.NewTextHandler(ctx.stderr, &slog.HandlerOptions{Level: level}))
	// POUCH_CPUPROFILE=FILE: a CPU profile of the whole run, written when
	// the server stops (SIGINT or SIGTERM), for performance work.
	if f := ctx.getenv("POUCH_CPUPROFILE"); f != "" {
		stopProfile, err := startRecording("POUCH_CPUPROFILE", f, pprof.StartCPUProfile, pprof.StopCPUProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	// POUCH_TRACE=FILE: an execution trace of the whole run, written as
	// it goes and ended when the server stops, for performance work: what
	// the store's writer and the requests wait for, and when.
	if f := ctx.getenv("POUCH_TRACE"); f != "" {
		stopTrace, err := startRecording("POUCH_TRACE", f, trace.Start, trace.Stop)
		if err != nil {
			return err
		}
		defer stopTrace()
	}
	// POUCH_ALLOCPROFILE=FILE: the allocations of the whole run, written
	// when the server stops, for performance work; the file is created
	// now, so that one it cannot write stops the server before it serves.
	if f := ctx.getenv("POUCH_ALLOCPROFILE"); f != "" {
		writeAllocs, err := startAllocRecording("POUCH_ALLOCPROFILE", f)
		if err != nil {
			return err
		}
		defer func() {
			if err := writeAllocs(); err != nil {
				logger.Error("writing the allocation profile", "file", f, "err", err)
			}
		}()
	}
	// The server's budgets keep what clients make it hold well below
	// this; the runtime collects more eagerly as the heap nears it.
	if ctx.getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serveMemoryLimit)
	}
	// What a request holds is short-lived and the live heap small (3 to
	// 6 MiB), so at Go's default the collector ran about 10 times a
	// second at saturation (in one run of pouch bench, 137 cycles and
	// 516 ms of CPU by GODEBUG=gctrace=1); with this, 27 cycles and 114
	// ms, the heap's goal at most 32 MiB, far below the memory limit,
	// which still bounds it.
	if ctx.getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}

	sctx, stop := signal.NotifyContext(ctx.context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	key, name, err := tlog.LoadOrCreateKey(filepath.Join(*data, "log.key"), *origin)
	if err != nil {
		return err
	}
	*origin = name
	if *printKey {
		vkey, err := tlog.VerifierKey(key)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(ctx.stdout, vkey)
		return err
	}
	if policy != nil && len(policy.Logs) > 0 {
		vkey, err := tlog.VerifierKey(key)
		if err != nil {
			return err
		}
		if _, err := policy.Verifier(vkey); err != nil {
			return withHint(fmt.Errorf("%s: %w", *policyFile, err), "the policy's log line must be this server's key, %s (or leave the log line out)", vkey)
		}
	}
	if db.url == "" {
		db.path = filepath.Join(*data, "pouch.db")
	}
	st, err := openDB(sctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	// Listen first, so that the address is known to the other replicas
	// (--advertise); nothing is served before the server is ready.
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return withHint(err, "pick another address with --listen, such as --listen 127.0.0.1:0")
	}
	defer ln.Close()
	addr := ln.Addr().String()
	if *advertise == "" {
		*advertise = advertiseURL(ln.Addr())
	} else if u, err := url.Parse(*advertise); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return usagef("give the base URL the other replicas reach this one at, such as --advertise http://10.0.0.2:8470", "--advertise %q is not an http(s) base URL", *advertise)
	}
	node, err := startNode(sctx, st, logger, *data, server.Options{Origin: *origin, Key: key, Witnesses: witnesses,
		RefreshInterval: *refresh, Rate: *rate, Burst: int(*rate * 2), WatchDeadlines: true, MaxAttachments: maxAttachments,
		Advertise: strings.TrimSuffix(*advertise, "/")}, *open)
	if err != nil {
		return err
	}
	defer node.Close()
	srv, lg := node.Server, node.Log
	// The public explorer at /: it shows the log's proofs and lets the
	// visitor's browser check them (package ui).
	ex, err := ui.NewExplorer(ui.ExplorerConfig{API: srv, LogKey: lg.VerifierKey(), Dir: filepath.Join(*data, "explorer"), Logger: logger})
	if err != nil {
		return err
	}
	ex.Mount(srv.Handle)

	// With witnesses, the checkpoint served first is cosigned too: the
	// witnesses are asked before the server listens (and keep being
	// asked by the sequencer if none answers now).
	if len(witnesses) > 0 {
		rctx, cancel := context.WithTimeout(sctx, 15*time.Second)
		if n, err := lg.Refresh(rctx, true); err != nil || n == 0 {
			logger.Warn("the checkpoint is not cosigned yet: no witness answered; clients that require a quorum refuse it until one does", "err", err)
		}
		cancel()
	}
	fmt.Fprintf(ctx.stderr, "pouch: serving log %s on http://%s (data %s)\n", *origin, addr, *data)
	logger.Info("store", "db", db.String())
	logger.Info("serving", "addr", addr, "origin", *origin, "key", lg.VerifierKey(), "data", *data)

	// The limits of package server: timeouts, header size, and the
	// connection cap below the descriptor limit, evicting idle
	// connections (spec/api.md#limits).
	lim := node.API.Limits()
	hs := lim.HTTPServer(srv, slog.NewLogLogger(logger.Handler(), slog.LevelWarn))
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(lim.Listen(ln)) }()
	select {
	case err := <-serveErr:
		return err
	case <-sctx.Done():
	}
	logger.Info("shutting down")
	shctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("shutdown", "err", err)
	}
	return nil
}

// advertiseURL is the URL other replicas reach a server listening on a
// at, by default: an unspecified host (":8470", "0.0.0.0:8470") becomes
// the loopback address, which serves replicas on one machine; replicas on
// several machines are given --advertise.
func advertiseURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// parseSize parses a size in bytes: a number, optionally followed by KiB,
// MiB or GiB (or K, M, G, all powers of 1024).
func parseSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n * mult, nil
}
