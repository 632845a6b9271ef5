package main

// Helpers shared by the correspondence verbs (house, admit, grant, revoke,
// send, inbox, take, deliver, reply, publish) and by pouch serve's
// correspondence API.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/internal/atomicfile"
	"pouch.dev/keys"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store"
	"pouch.dev/tlog"
)

// loadOrCreateEd25519 reads an Ed25519 private key kept as a PKCS #8 PEM
// file, creating it (mode 0600) if it does not exist.
func loadOrCreateEd25519(path string, create bool) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(keys.MarshalEd25519PEM(k)); err != nil {
			f.Close()
			return nil, err
		}
		return k, f.Close()
	}
	if err != nil {
		return nil, err
	}
	k, err := keys.ParseEd25519PEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// loadOrCreateEvidence loads the keys of the deployment's evidence office
// (directory.EvidenceHandle), which sign the non-delivery of pouches past
// their deadline, from path, a plaintext key file (spec/keys.md#key-file)
// kept like operator.key; it makes them at first start.
func loadOrCreateEvidence(path string) (*keys.Principal, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		p, err := keys.Generate(directory.EvidenceHandle)
		if err != nil {
			return nil, err
		}
		kf, err := p.MarshalKeyFile()
		if err != nil {
			return nil, err
		}
		if err := atomicfile.WriteNew(path, kf, 0o600); err != nil {
			return nil, err
		}
		return p, nil
	}
	if err != nil {
		return nil, err
	}
	p, err := keys.ParseKeyFile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if p.Handle != directory.EvidenceHandle {
		return nil, fmt.Errorf("%s holds the keys of %s, not %s", path, p.Handle, directory.EvidenceHandle)
	}
	return p, nil
}

// startNode starts pouch serve's server (server.Start) on store st with
// the options opt, adding the founding rule and the operator key: made at
// first start as operator.key in the data directory, it signs the log's
// genesis record and, in operator mode, countersigns house records
// (pouch house approve). The evidence office's keys, made at first start
// as evidence.key, sign the non-delivery of pouches past their deadline.
// Metrics, with the Go runtime's and the
// process's, are served at /metrics.
func startNode(ctx context.Context, st store.Store, logger *slog.Logger, data string, opt server.Options, open bool) (*server.Node, error) {
	opPath := filepath.Join(data, "operator.key")
	state, err := st.State(ctx)
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(opPath)
	switch {
	case state.Size > 0 && errors.Is(statErr, fs.ErrNotExist) && !open:
		// A replica of a deployment whose log is founded: the genesis
		// record names the founding rule and the operator's public key,
		// and the operator's private key stays on the operator's
		// machine (pouch house approve --operator-key).
		logger.Info("no operator key in the data folder: the log's genesis record names the operator's; houses are approved where that key is")
	default:
		k, err := loadOrCreateEd25519(opPath, true)
		if err != nil {
			return nil, fmt.Errorf("operator key: %w", err)
		}
		opt.Directory = directory.Config{Mode: directory.ModeOperator, Operator: k.Public().(ed25519.PublicKey)}
		opt.OperatorKey = k
		if open {
			opt.Directory.Mode = directory.ModeOpen
			logger.Warn("open mode: anyone may found a house, first claim wins (for demos and tests)")
		} else {
			logger.Info("operator mode: houses are founded with the operator key's countersignature", "key", opPath)
		}
	}
	ev, err := loadOrCreateEvidence(filepath.Join(data, "evidence.key"))
	if err != nil {
		return nil, fmt.Errorf("the evidence office's key: %w", err)
	}
	opt.Store, opt.Logger, opt.Evidence = st, logger, ev
	opt.Metrics = prometheus.NewRegistry()
	opt.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n, err := server.Start(ctx, opt)
	switch {
	case errors.Is(err, directory.ErrGenesis) && open:
		return nil, withHint(err, "this data folder's log was founded in operator mode: start without --open, or use another --data")
	case errors.Is(err, directory.ErrGenesis):
		return nil, withHint(err, "this data folder's log was founded in open mode: start with --open, or use another --data")
	}
	return n, err
}

// clientFlags are the flags of every verb that talks to a server.
type clientFlags struct {
	server *string
	as     *string
	json   *bool
	policy *string
	logKey *string
	cmd    *cmdContext
}

func addClientFlags(ctx *cmdContext, fs *flag.FlagSet) *clientFlags {
	return &clientFlags{
		server: fs.String("server", envOr(ctx, "POUCH_SERVER", "http://"+DefaultListen), "the pouch server `URL`"),
		as:     fs.String("as", ctx.getenv("POUCH_AS"), "act as principal `HANDLE` (when the home holds several)"),
		json:   fs.Bool("json", false, "print JSON (stable, versioned shape) instead of text"),
		policy: fs.String("policy", ctx.getenv("POUCH_POLICY"), "the log's witness policy `FILE` (C2SP tlog-policy): its key, the witnesses and the quorum a checkpoint must carry"),
		logKey: fs.String("log-key", ctx.getenv("POUCH_LOG_KEY"), "the log's verifier `KEY`, when there is no policy (default: the one pinned at first use)"),
		cmd:    ctx,
	}
}

// trust returns what the verifying client anchors on: the --policy, or
// the --log-key, or the key pinned in $POUCH_HOME/logs at first use; and
// where it keeps what it verified.
func (f *clientFlags) trust() (*client.Trust, error) {
	t := &client.Trust{}
	if f.logKey != nil {
		t.LogKey = *f.logKey
	}
	if f.cmd == nil {
		return t, nil
	}
	if *f.policy != "" {
		b, err := os.ReadFile(*f.policy)
		if err != nil {
			return nil, usagef("give the path of a C2SP tlog-policy file (POUCH_POLICY)", "--policy: %v", err)
		}
		if t.Policy, err = tlog.ParsePolicy(b); err != nil {
			return nil, usagef("", "--policy %s: %v", *f.policy, err)
		}
	}
	if home, err := keys.DefaultDir(f.cmd.getenv); err == nil {
		t.Dir = filepath.Join(home, "logs")
	}
	stderr := f.cmd.stderr
	t.OnPin = func(origin, key string) {
		fmt.Fprintf(stderr, "pouch: trusting the log %s with key %s on first use (kept in %s; with no --policy, no witness is required: split views undetectable)\n", origin, key, t.Dir)
	}
	return t, nil
}

// Errors of reaching a server, with their codes (spec/cli.md#codes).
var (
	errUnreachable    = errors.New("cannot reach the server")
	errNotPouchServer = errors.New("not a pouch server")
)

// serverURL checks the --server URL before anything is asked of it: an
// http or https URL with a host.
func serverURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		return "", usagef(fmt.Sprintf("write it with its scheme: --server http://%s (or POUCH_SERVER)", s),
			"--server %q has no scheme (http:// or https://)", s)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", usagef("give the server's URL, such as --server http://127.0.0.1:8470 (or POUCH_SERVER)", "--server %q: %v", s, unwrapURLError(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return "", usagef("give an http:// or https:// URL, such as --server http://127.0.0.1:8470", "--server %q: pouch servers speak http or https, not %s", s, u.Scheme)
	case u.Host == "":
		return "", usagef("give the server's address, such as --server http://127.0.0.1:8470", "--server %q has no host", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// client returns a client of the --server, with the log's origin, that
// verifies what the server says against the log (client.Trust).
func (f *clientFlags) client(ctx context.Context) (*client.Client, error) {
	base, err := serverURL(*f.server)
	if err != nil {
		return nil, err
	}
	c := client.New(base)
	t, err := f.trust()
	if err != nil {
		return nil, err
	}
	c.Trust = t
	// A command's records are in the published log before it exits, so
	// the next command, which proves what it reads, sees them.
	c.WaitLogged = true
	info, err := logInfo(ctx, c.URL)
	if err != nil {
		return nil, err
	}
	c.Origin = info.Origin
	return c, nil
}

// logInfo asks the server at base for its log (GET /v1/log), telling a
// server that is down from one that is not a pouch server.
func logInfo(ctx context.Context, base string) (*api.LogInfo, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/log", nil)
	if err != nil {
		return nil, usagef("", "--server %q: %v", base, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, withHint(fmt.Errorf("%w at %s: %v", errUnreachable, base, unwrapURLError(err)),
			"start one with \"pouch serve\", or point --server (POUCH_SERVER) at yours")
	}
	defer resp.Body.Close()
	notPouch := func(why string) error {
		return withHint(fmt.Errorf("%s is %w: %s", base, errNotPouchServer, why),
			"point --server (POUCH_SERVER) at a pouch server, such as http://127.0.0.1:8470 (\"pouch serve\" prints its address)")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, notPouch(fmt.Sprintf("GET /v1/log answered %s", resp.Status))
	}
	var info api.LogInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&info); err != nil || info.Origin == "" || info.Key == "" {
		return nil, notPouch("GET /v1/log did not answer a log's origin and key")
	}
	return &info, nil
}

// unwrapURLError drops the method and URL that net/http puts before a
// transport error, which the message already names.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// me loads the acting principal from the home.
func (f *clientFlags) me(ctx *cmdContext) (*client.Identity, error) {
	h, err := openHome(ctx)
	if err != nil {
		return nil, err
	}
	return loadPrincipal(ctx, h, *f.as)
}

// apiError turns a client error into the CLI's error, with the server's
// hint.
func apiError(err error) error {
	var ce *client.Error
	if errors.As(err, &ce) && ce.Hint != "" {
		return withHint(err, "%s", ce.Hint)
	}
	return err
}

// parseID parses a full record ID argument, for where no server is at
// hand to resolve a prefix.
func parseID(s string) (record.ID, error) {
	id, err := record.ParseID(s)
	if err != nil {
		return id, usagef("give the full 64-hex-digit ID that pouch printed (or --json shows)", "%v", err)
	}
	return id, nil
}

// idSyntax checks, before anything is asked of a server, that s can be
// an ID or a prefix of one: 8 to 64 hex digits.
func idSyntax(s, what string) error {
	if len(s) < api.MinIDPrefix || len(s) > 2*len(record.ID{}) || strings.Trim(strings.ToLower(s), "0123456789abcdef") != "" {
		return usagef("give the ID pouch printed, or at least its first 8 hex digits", "%s %q is not an ID: want 8 to 64 hex digits", what, s)
	}
	return nil
}

// resolveID resolves an ID argument: a full ID, or, as in git, a unique
// prefix of at least 8 hex digits among the records that me (nil: anyone)
// may read on the server, of one of kinds if any are given. what names
// the argument in errors ("pouch", "--thread").
//
// SPEC: spec/api.md#get-v1-records
func resolveID(ctx context.Context, c *client.Client, me *client.Identity, s, what string, kinds ...record.Kind) (record.ID, error) {
	id, err := c.Resolve(ctx, s, me, kinds...)
	switch {
	case err == nil:
		return id, nil
	case errors.Is(err, client.ErrShortPrefix):
		return id, usagef("give the ID pouch printed, or at least its first 8 hex digits", "%s %q: %v", what, s, err)
	case errors.Is(err, client.ErrAmbiguous):
		return id, usagef("give more of its digits", "%s: %v", what, err)
	case errors.Is(err, client.ErrNoMatch):
		who := "anyone"
		if me != nil {
			who = string(me.Handle)
		}
		if strings.HasPrefix(what, "--") {
			err = fmt.Errorf("%s: %w", what, err)
		}
		return id, withHint(err,
			"check the ID; a private record (a pouch, its custody, a private grant) resolves only for its parties: %s may not read it, or act --as one of them", who)
	}
	return id, apiError(fmt.Errorf("%s %s: resolving the ID: %w", what, s, err))
}
