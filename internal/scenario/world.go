// Package scenario is pouch's reference scenario (docs/scenario.md) as code: a
// harness that starts a server in-process (or talks to one at a URL),
// creates the cast of principals, and plays scenes in which they act —
// w.As("ru/president").Send(...) — with every outcome checked. The same
// scenes drive `pouch demo` and the end-to-end tests.
//
// Each scene is a function of a *World (see Scenes); output for a person
// goes through the World's Report, the one place that formats the demo's
// timeline.
package scenario

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/keys"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store"
	"pouch.dev/store/postgres"
	"pouch.dev/store/sqlite"
	"pouch.dev/tlog"
	"pouch.dev/tlog/witness"
)

// Options configure a World.
type Options struct {
	// Server, if set, is the URL of a running pouch server in open mode
	// with houses not yet founded; otherwise a fresh server is started
	// in-process on 127.0.0.1 with its data in Dir.
	Server string
	// Dir holds the in-process server's data; empty means a new temporary
	// folder, removed by Close.
	Dir string
	// Out receives the timeline for people; nil means io.Discard.
	Out io.Writer
	// Verbose adds details to the timeline.
	Verbose bool
	// Logger receives the in-process server's logs; nil discards them.
	Logger *slog.Logger
	// Operator, if set, starts the in-process server in operator mode with
	// this operator key, which signs the log's genesis record (Found then
	// no longer works without it).
	Operator ed25519.PrivateKey
	// MaxAttachments, if not 0, is the in-process server's lower limit on
	// a letter's attachments (server.CorrOptions.MaxAttachments).
	MaxAttachments int64
	// DB, if set, is the URL of an empty PostgreSQL database that holds
	// the in-process server's log (store/postgres) instead of a SQLite
	// file in Dir.
	DB string
}

// OriginPrefix starts the origin of every in-process server's log; each
// world's log has its own (World.Origin), as every log must.
const OriginPrefix = "pouch.localhost/scenario-"

// A Clock is the world's time, which tests can move forward.
type Clock struct {
	mu  sync.Mutex
	off time.Duration
}

// Now returns the world's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

// WitnessName is the name of the in-process log's witness.
const WitnessName = "witness.scenario"

// Advance moves the world's time forward by d and, in-process, has the
// witness cosign the log's checkpoint at the new time: a client holds
// checkpoints to a maximum age, by its witnesses' clocks.
//
// Every record sequenced before is integrated first, so that the
// witness's new timestamp is not on a checkpoint that leaves out records
// sequenced at the old time; and the server's deadline watcher then runs
// at the new time, logging the non-delivery of the pouches whose deadline
// it passed.
func (w *World) Advance(ctx context.Context, d time.Duration) error {
	if w.log == nil {
		w.Clock.Advance(d)
		return nil
	}
	for range 64 {
		n, err := w.log.Integrate(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	w.Clock.Advance(d)
	if _, err := w.log.Refresh(ctx, true); err != nil {
		return err
	}
	_, err := w.corr.Sweep(ctx)
	return err
}

// Advance moves the world's time forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// A World is a server and a cast of principals.
type World struct {
	Client   *client.Client
	Verifier *tlog.Verifier
	Clock    *Clock
	Report   *Report
	// Remote is true when the world plays against a server at a URL: the
	// clock cannot be moved and the server's internals are not at hand.
	Remote bool
	// Store is the in-process server's store (nil when Remote).
	Store store.Store
	// URL is the server's base URL.
	URL string
	// Policy is the in-process log's witness policy (nil when Remote):
	// its key, its witness, a quorum of one.
	Policy *tlog.Policy
	log    *tlog.Log
	// Origin is the log's origin.
	Origin string
	// LogKey is the log's verifier key.
	LogKey string
	// Server is the in-process server (nil when Remote): more routes can
	// be mounted on it (Server.Handle), such as the explorer's.
	Server *server.Server
	// corr is the in-process server's correspondence API (nil when
	// Remote), and Evidence the keys of its evidence office, which signs
	// non-deliveries.
	corr     *server.Correspondence
	Evidence *client.Identity

	registrars map[string]*client.Identity
	cast       map[record.Handle]*client.Identity
	// Facts scenes leave for later scenes, such as "scene1.pouch".
	Facts map[string]record.ID
	// relay is what the in-process server's line relay saw (scene3.go);
	// nil when Remote.
	relay *relayView

	closers []func()
}

// Start starts a world.
func Start(ctx context.Context, opt Options) (*World, error) {
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	w := &World{
		Clock:      &Clock{},
		Report:     &Report{W: opt.Out, Verbose: opt.Verbose},
		registrars: map[string]*client.Identity{},
		cast:       map[record.Handle]*client.Identity{},
		Facts:      map[string]record.ID{},
	}
	if opt.Server != "" {
		if err := w.connect(ctx, opt.Server); err != nil {
			return nil, err
		}
		return w, nil
	}
	if err := w.startLocal(ctx, opt); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

func (w *World) startLocal(ctx context.Context, opt Options) error {
	dir := opt.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "pouch-scenario-")
		if err != nil {
			return err
		}
		dir = d
		w.closers = append(w.closers, func() { os.RemoveAll(d) })
	}
	lg := opt.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	// The store's clock is the world's: records are sequenced, and their
	// time rules judged, at the time the world's tests move.
	var st store.Store
	var err error
	if opt.DB != "" {
		st, err = postgres.Open(ctx, opt.DB, postgres.Options{Clock: w.Clock.Now})
	} else {
		st, err = sqlite.Open(filepath.Join(dir, "pouch.db"), sqlite.WithClock(w.Clock.Now))
	}
	if err != nil {
		return err
	}
	w.Store = st
	w.closers = append([]func(){func() { st.Close() }}, w.closers...)
	w.Origin = OriginPrefix + strings.TrimPrefix(tlog.NewOrigin(), tlog.OriginPrefix)
	skey, vkey, err := tlog.GenerateKey(w.Origin)
	if err != nil {
		return err
	}
	// The log's witness: every checkpoint is cosigned (post-quantum,
	// ML-DSA-44) at the world's time, and the world's client requires it
	// (its policy), so split views and stale checkpoints are caught.
	wkey, wvkey, err := witness.GenerateMLDSAKey(WitnessName)
	if err != nil {
		return err
	}
	wit, err := witness.New(witness.Config{Key: wkey, Logs: []string{vkey}, Dir: filepath.Join(dir, "witness"), Logger: lg, Now: w.Clock.Now})
	if err != nil {
		return err
	}
	wln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	whs := &http.Server{Handler: wit, ReadHeaderTimeout: 10 * time.Second}
	go whs.Serve(wln)
	w.closers = append([]func(){func() { whs.Close() }}, w.closers...)
	if w.Policy, err = tlog.KOfN(vkey, []string{wvkey}, 1); err != nil {
		return err
	}
	w.relay = &relayView{}
	dcfg := directory.Config{Mode: directory.ModeOpen}
	if opt.Operator != nil {
		dcfg = directory.Config{Mode: directory.ModeOperator, Operator: opt.Operator.Public().(ed25519.PublicKey)}
	}
	if w.Evidence, err = keys.Generate(directory.EvidenceHandle); err != nil {
		return err
	}
	node, err := server.Start(ctx, server.Options{
		Store: st, Origin: w.Origin, Key: skey, Witnesses: []tlog.WitnessConfig{{URL: "http://" + wln.Addr().String(), Key: wvkey}},
		Directory: dcfg, OperatorKey: opt.Operator, Logger: lg, Metrics: prometheus.NewRegistry(), Now: w.Clock.Now,
		LineTap: w.relay.tap, OnLineClose: w.relay.closed, Evidence: w.Evidence, MaxAttachments: opt.MaxAttachments,
	})
	if err != nil {
		return err
	}
	// The deadline watcher is run by Advance, the one way the world's
	// time passes deadlines (pouch serve runs it beside its sequencer):
	// so no record is logged behind a scene's back while it measures the
	// log.
	w.closers = append([]func(){node.Close}, w.closers...)
	w.log = node.Log
	w.corr = node.API
	srv := node.Server
	w.Server, w.LogKey = srv, vkey
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	w.closers = append([]func(){func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}}, w.closers...)
	w.URL = "http://" + ln.Addr().String()
	w.Client = client.New(w.URL)
	w.Client.Now = w.Clock.Now
	w.Client.Origin = w.Origin
	if w.Verifier, err = w.Policy.Verifier(vkey); err != nil {
		return err
	}
	// The world's verifying client anchors on the log key it made and
	// requires its witness's cosignature.
	w.Client.Trust = &client.Trust{Policy: w.Policy}
	return nil
}

// connect plays against a running server. Its verifier key is taken from
// the server itself (trust on first use): the demo says so.
func (w *World) connect(ctx context.Context, url string) error {
	w.Remote = true
	w.URL = url
	w.Client = client.New(url)
	req, err := http.NewRequestWithContext(ctx, "GET", w.Client.URL+"/v1/log", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reaching %s: %w", url, err)
	}
	defer resp.Body.Close()
	var info api.LogInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return fmt.Errorf("%s/v1/log: %w", url, err)
	}
	w.Client.Origin = info.Origin
	w.Origin = info.Origin
	w.Verifier, err = tlog.NewVerifier(info.Key, nil, 0)
	// Against a server of someone else's, the log key is trusted on first
	// use (the demo says so), and the client holds the server to it.
	w.Client.Trust = &client.Trust{LogKey: info.Key}
	w.LogKey = info.Key
	return err
}

// Close stops the in-process server and removes its temporary data.
func (w *World) Close() {
	for _, f := range w.closers {
		f()
	}
	w.closers = nil
}

// Found founds a house (open mode) with a fresh registrar key.
func (w *World) Found(ctx context.Context, house, name string) error {
	_, k, _ := ed25519.GenerateKey(nil)
	reg := client.Registrar(house, k)
	a, err := w.Client.FoundHouse(ctx, house, name, reg, nil)
	if err != nil {
		return fmt.Errorf("founding house %s: %w", house, err)
	}
	w.registrars[house] = reg
	w.Report.Step(string(directory.Registrar(house)), fmt.Sprintf("founds house %s (%s)", house, name), a)
	return nil
}

// Admit admits a new holder of office h with fresh keys.
func (w *World) Admit(ctx context.Context, h record.Handle, holder string) (*client.Identity, error) {
	reg := w.registrars[h.House()]
	if reg == nil {
		return nil, fmt.Errorf("house %s not founded in this world", h.House())
	}
	p, err := keys.Generate(h)
	if err != nil {
		return nil, err
	}
	a, err := w.Client.Admit(ctx, reg, h, p.SigningPublic(), p.Recipient().String(), holder)
	if err != nil {
		return nil, fmt.Errorf("admitting %s: %w", h, err)
	}
	w.cast[h] = p
	w.Report.Detail("%s admitted: %s (log index %d)", h, holder, a.Index)
	return p, nil
}

// ID returns the identity of a cast member.
func (w *World) ID(h record.Handle) *client.Identity {
	p := w.cast[h]
	if p == nil {
		panic("scenario: no principal " + string(h) + " in the cast")
	}
	return p
}

// An Actor is a principal acting in a scene.
type Actor struct {
	w  *World
	ID *client.Identity
}

// As returns the cast member h as an actor.
func (w *World) As(h record.Handle) *Actor { return &Actor{w: w, ID: w.ID(h)} }

// Handle returns the actor's handle.
func (a *Actor) Handle() record.Handle { return a.ID.Handle }

// errUnexpected is returned when something that must fail succeeded.
var errUnexpected = errors.New("unexpectedly succeeded")
