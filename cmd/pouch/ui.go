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
	"sync"
	"syscall"
	"time"

	"pouch.dev/client"
	"pouch.dev/keys"
	"pouch.dev/record"
	"pouch.dev/ui"
)

func init() {
	register(&verb{
		name:  "ui",
		args:  "[--server URL] [--as HANDLE] [--listen 127.0.0.1:PORT] [--policy FILE | --log-key KEY]",
		short: "the local web UI: inbox, letters, custody timelines, compose, grants",
		long: `
pouch ui starts the desk, a web UI for the principals of your home, on
127.0.0.1 only, and prints its address: open it in your browser. The
address carries a secret made at this start, which the browser exchanges
for a session cookie; nobody without it (another user of this machine, a
web page) can use the desk.

The desk talks to the server through the verifying client, as the other
verbs do: every tick it shows was checked on this machine against the
log (--policy, --log-key, or the key pinned at first use). Keys are used
through the agent ("pouch agent", "pouch unlock"), or decrypted into the
desk's memory with the passphrase typed on its unlock page; they are never
written in the clear. Before anything is signed, the desk shows what will
be signed (for a letter, everyone who will be able to open it and why)
and waits for your confirmation.

Environment: POUCH_SERVER, POUCH_AS, POUCH_HOME, POUCH_POLICY,
POUCH_LOG_KEY, POUCH_UI_LISTEN.

Example, the President of Russia's office reads the morning's pouches:

  pouch agent; pouch unlock --as ru/president
  pouch ui --as ru/president --server http://127.0.0.1:8470`,
		run: runUI,
	})
}

func runUI(ctx *cmdContext, args []string) error {
	v := verbs["ui"]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	listen := fs.String("listen", envOr(ctx, "POUCH_UI_LISTEN", "127.0.0.1:0"), "listen on `127.0.0.1:PORT` (loopback only; port 0 picks a free one)")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("", "ui takes no arguments, got %q", pos)
	}
	if err := loopbackOnly(*listen); err != nil {
		return err
	}
	h, err := openHome(ctx)
	if err != nil {
		return err
	}
	kr := &homeKeyring{ctx: ctx, home: h, held: map[record.Handle]*keys.Principal{}}
	hs, err := kr.Handles()
	if err != nil {
		return err
	}
	if len(hs) == 0 {
		return withHint(errors.New("no principal in this home"), "create one with \"pouch init HOUSE/OFFICE\", or set POUCH_HOME to the folder that holds yours")
	}
	as := record.Handle(*cf.as)
	if as != "" {
		if _, err := h.Public(as); err != nil {
			return withHint(err, "pick one of the principals of %s with --as", h.Dir)
		}
	}
	sctx, stop := signal.NotifyContext(ctx.context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := cf.client(sctx)
	if err != nil {
		return err
	}
	return serveDesk(sctx, ctx, c, kr, as, *listen)
}

// serveDesk starts the desk on listen (loopback only), prints its
// address, and serves until ctx is done.
func serveDesk(sctx context.Context, ctx *cmdContext, c *client.Client, kr ui.Keyring, as record.Handle, listen string) error {
	if err := loopbackOnly(listen); err != nil {
		return err
	}
	ln, err := net.Listen("tcp4", listen)
	if err != nil {
		return withHint(err, "pick another port with --listen 127.0.0.1:PORT")
	}
	defer ln.Close()
	desk, err := ui.NewDesk(ui.DeskConfig{Client: c, Keys: kr, As: as, Addr: ln.Addr().String(),
		Logger: slog.New(slog.NewTextHandler(ctx.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), Now: c.Now})
	if err != nil {
		return err
	}
	if ctx.json {
		// One envelope once the desk listens, for the script that started it.
		if err := emit(ctx, map[string]any{"url": desk.LoginURL(), "addr": ln.Addr().String()}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(ctx.stdout, "pouch: the desk is at %s\n", desk.LoginURL())
		fmt.Fprintf(ctx.stdout, "pouch: open that address in your browser; it carries this session's secret, so keep it to yourself. Ctrl-C stops the desk.\n")
	}
	hs := &http.Server{Handler: desk, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-sctx.Done():
	}
	shctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	hs.Shutdown(shctx)
	return nil
}

// loopbackOnly refuses a desk address other than 127.0.0.1:PORT (or
// localhost:PORT): the desk serves this machine's user alone.
//
// SPEC: spec/ui.md#desk-guard
func loopbackOnly(listen string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || (host != "127.0.0.1" && host != "localhost") {
		return usagef("the desk listens on the loopback only: --listen 127.0.0.1:PORT", "--listen %q is not a 127.0.0.1 address", listen)
	}
	return nil
}

// homeKeyring is the desk's view of the home: the agent's keys, or keys
// decrypted into this process's memory with the passphrase (typed on the
// desk's unlock page, or POUCH_PASSPHRASE).
type homeKeyring struct {
	ctx  *cmdContext
	home *keys.Home
	pass string // a passphrase known in advance (pouch demo --ui)

	mu   sync.Mutex
	held map[record.Handle]*keys.Principal
}

func (k *homeKeyring) Handles() ([]record.Handle, error) { return k.home.List() }

func (k *homeKeyring) Identity(h record.Handle) (*client.Identity, error) {
	k.mu.Lock()
	p := k.held[h]
	k.mu.Unlock()
	if p != nil {
		return p, nil
	}
	pub, err := k.home.Public(h)
	if err != nil {
		return nil, err
	}
	if p := agentPrincipal(k.ctx, k.home, pub); p != nil {
		return p, nil
	}
	pass := k.pass
	if pass == "" {
		pass = k.ctx.getenv("POUCH_PASSPHRASE")
	}
	if pass == "" {
		return nil, fmt.Errorf("%w: %s is not unlocked in the agent (pouch unlock --as %s)", ui.ErrLocked, h, h)
	}
	return k.Unlock(h, pass)
}

func (k *homeKeyring) Unlock(h record.Handle, passphrase string) (*client.Identity, error) {
	p, err := k.home.Load(h, passphrase)
	if errors.Is(err, keys.ErrWrongPassphrase) {
		return nil, fmt.Errorf("wrong passphrase for %s", h)
	}
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.held[h] = p
	k.mu.Unlock()
	return p, nil
}
