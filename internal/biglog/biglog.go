// Package biglog grows big pouch logs for benchmarks: a real store
// (store/sqlite) behind a real server (server.Start) on loopback, with a
// witness, holding a realistic directory (a few houses, their offices, key
// rotations, public and private grants and their revocations, all
// submitted through the verifying client) and, between its records, as
// many pouch tags as asked, signed by the offices' real keys and appended
// straight into the store in batches of store.MaxBatch.
//
// A grown log is kept in a cache folder keyed by its parameters, so that
// the next run starts from it: Open copies it into a work folder of its
// own, so that the benchmark may grow it further (Grow) without changing
// what is cached.
//
// Nothing here runs in a plain `go test ./...` at any size that matters:
// the benchmarks that use it (client/viewbench_test.go) choose the sizes.
package biglog

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/tlog"
	"pouch.dev/tlog/witness"
)

// CacheDir returns the folder that keeps grown logs between runs:
// $POUCH_BIGLOG_CACHE, or pouch-biglog in the system's temporary folder.
func CacheDir() string {
	if d := os.Getenv("POUCH_BIGLOG_CACHE"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "pouch-biglog")
}

// Params say what log to grow.
type Params struct {
	// Leaves is the log's size at least.
	Leaves int
	// Houses and Offices are the houses founded and the offices admitted
	// in each; 0 means 4 and 16.
	Houses, Offices int
	// DirEvery is how many leaves apart the directory changes (a key
	// rotation, a public grant, a private grant, a grant's revocation, in
	// turn); 0 means 5,000.
	DirEvery int
}

func (p Params) norm() Params {
	if p.Houses <= 0 {
		p.Houses = 4
	}
	if p.Offices <= 0 {
		p.Offices = 16
	}
	if p.DirEvery <= 0 {
		p.DirEvery = 5000
	}
	return p
}

// version changes whenever what Generate writes changes, so that a cache
// of the old kind is not reused.
const version = 1

// key names the cached log of p.
func (p Params) key() string {
	return fmt.Sprintf("biglog-v%d-leaves%d-houses%d-offices%d-every%d", version, p.Leaves, p.Houses, p.Offices, p.DirEvery)
}

// state is what a grown log keeps beside its store: the keys of its
// witness and its cast (unencrypted: they are a benchmark's), and a pouch
// sent through the server.
type state struct {
	Origin     string            `json:"origin"`
	LogKey     string            `json:"log_key"`     // the log's private key
	WitnessKey string            `json:"witness_key"` // the witness's private key
	Witness    string            `json:"witness"`     // the witness's verifier key
	Registrars map[string][]byte `json:"registrars"`  // house -> Ed25519 seed
	Cast       map[string][]byte `json:"cast"`        // handle -> key file (keys.MarshalKeyFile)
	Pouch      record.ID         `json:"pouch"`
	Reader     record.Handle     `json:"reader"` // the pouch's addressee
	Rotations  int               `json:"rotations"`
	Grants     []record.ID       `json:"grants"` // standing public grants, oldest first
	Changes    int               `json:"changes"`
}

// A Log is a grown log, served on loopback.
type Log struct {
	Params
	// Dir is the log's work folder, removed by Close.
	Dir string
	// URL is the server's base URL on 127.0.0.1.
	URL string
	// Origin and LogKey are the log's origin and verifier key; Policy
	// names it and its witness, a quorum of one.
	Origin, LogKey string
	Policy         *tlog.Policy
	// Store and Node are the server's.
	Store *sqlite.Store
	Node  *server.Node
	// Pouch is a pouch sent through the server, to Reader.
	Pouch  record.ID
	Reader record.Handle

	st      state
	admin   *client.Client
	regs    map[string]*client.Identity
	cast    []record.Handle
	ids     map[record.Handle]*keys.Principal
	signers map[record.Handle]ed25519.PrivateKey
	closers []func()
}

// Open returns the log of p, served on loopback from a work folder of its
// own: grown in the cache folder cache (created if need be) the first
// time, copied from it afterwards. logf, if not nil, is told of the
// growing.
func Open(ctx context.Context, cache string, p Params, logf func(format string, args ...any)) (*Log, error) {
	p = p.norm()
	if logf == nil {
		logf = func(string, ...any) {}
	}
	cached := filepath.Join(cache, p.key())
	if _, err := os.Stat(filepath.Join(cached, "state.json")); errors.Is(err, os.ErrNotExist) {
		partial := cached + ".partial"
		if err := os.RemoveAll(partial); err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := generate(ctx, partial, p, logf); err != nil {
			return nil, fmt.Errorf("growing a log of %d leaves in %s: %w", p.Leaves, partial, err)
		}
		if err := os.Rename(partial, cached); err != nil {
			return nil, err
		}
		logf("biglog: grew a log of %d leaves in %s, kept in %s", p.Leaves, time.Since(t0).Round(time.Second), cached)
	} else if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "pouch-biglog-")
	if err != nil {
		return nil, err
	}
	if err := copyDir(cached, work); err != nil {
		os.RemoveAll(work)
		return nil, fmt.Errorf("copying the cached log %s: %w", cached, err)
	}
	l, err := start(ctx, work, p)
	if err != nil {
		os.RemoveAll(work)
		return nil, err
	}
	l.closers = append(l.closers, func() { os.RemoveAll(work) })
	// The cached checkpoint's cosignature may be older than a client's
	// maximum age: have the witness cosign it now.
	if _, err := l.Node.Log.Refresh(ctx, true); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// generate grows the log of p in dir.
func generate(ctx context.Context, dir string, p Params, logf func(string, ...any)) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	skey, _, err := tlog.GenerateKey("pouch.localhost/biglog-" + p.key())
	if err != nil {
		return err
	}
	wkey, wvkey, err := witness.GenerateMLDSAKey("witness.biglog")
	if err != nil {
		return err
	}
	st := state{LogKey: skey, WitnessKey: wkey, Witness: wvkey, Registrars: map[string][]byte{}, Cast: map[string][]byte{}}
	if err := writeState(dir, &st); err != nil {
		return err
	}
	l, err := start(ctx, dir, p)
	if err != nil {
		return err
	}
	defer l.Close()
	for h := range p.Houses {
		house := fmt.Sprintf("house%d", h)
		_, k, _ := ed25519.GenerateKey(nil)
		reg := client.Registrar(house, k)
		if _, err := l.admin.FoundHouse(ctx, house, "House "+house, reg, nil); err != nil {
			return err
		}
		l.regs[house] = reg
		l.st.Registrars[house] = k.Seed()
		for o := range p.Offices {
			if err := l.admit(ctx, record.Handle(fmt.Sprintf("%s/office%d", house, o)), "first holder"); err != nil {
				return err
			}
		}
	}
	// A real pouch, early in the log, for the benchmarks to open.
	from, to := l.cast[0], l.cast[1]
	sent, err := l.admin.Send(ctx, l.ids[from], &client.Letter{To: to, Sections: []letter.Section{{Title: "Hello", Text: "A letter in a big log."}}}, nil)
	if err != nil {
		return fmt.Errorf("sending a pouch: %w", err)
	}
	l.st.Pouch, l.st.Reader = sent.Pouch, to
	if err := l.Grow(ctx, p.Leaves-int(l.size(ctx)), p.DirEvery, logf); err != nil {
		return err
	}
	if err := writeState(dir, &l.st); err != nil {
		return err
	}
	return nil
}

// start serves the log kept in dir.
func start(ctx context.Context, dir string, p Params) (_ *Log, err error) {
	var st state
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "state.json"), err)
	}
	l := &Log{Params: p, Dir: dir, st: st, regs: map[string]*client.Identity{}, ids: map[record.Handle]*keys.Principal{},
		signers: map[record.Handle]ed25519.PrivateKey{}, Pouch: st.Pouch, Reader: st.Reader}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	for house, seed := range st.Registrars {
		l.regs[house] = client.Registrar(house, ed25519.NewKeyFromSeed(seed))
	}
	for h, kf := range st.Cast {
		k, err := keys.ParseKeyFile(kf)
		if err != nil {
			return nil, err
		}
		l.ids[record.Handle(h)] = k
		if l.signers[record.Handle(h)], _, err = k.InMemory(); err != nil {
			return nil, err
		}
	}
	l.cast = castOrder(p)
	vkey, err := tlog.VerifierKey(st.LogKey)
	if err != nil {
		return nil, err
	}
	wvkey := st.Witness
	l.LogKey = vkey
	l.Origin = originOf(vkey)
	if l.Policy, err = tlog.KOfN(vkey, []string{wvkey}, 1); err != nil {
		return nil, err
	}
	lg := slog.New(slog.DiscardHandler)
	wit, err := witness.New(witness.Config{Key: st.WitnessKey, Logs: []string{vkey}, Dir: filepath.Join(dir, "witness"), Logger: lg})
	if err != nil {
		return nil, err
	}
	wln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	whs := &http.Server{Handler: wit, ReadHeaderTimeout: 10 * time.Second}
	go whs.Serve(wln)
	l.closers = append(l.closers, func() { whs.Close() })
	if l.Store, err = sqlite.Open(filepath.Join(dir, "pouch.db")); err != nil {
		return nil, err
	}
	l.closers = append([]func(){func() { l.Store.Close() }}, l.closers...)
	node, err := server.Start(ctx, server.Options{Store: l.Store, Origin: l.Origin, Key: st.LogKey,
		Witnesses: []tlog.WitnessConfig{{URL: "http://" + wln.Addr().String(), Key: wvkey}},
		Directory: directory.Config{Mode: directory.ModeOpen}, Logger: lg})
	if err != nil {
		return nil, err
	}
	l.Node = node
	l.closers = append([]func(){node.Close}, l.closers...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: node.Server, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	l.closers = append([]func(){func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}}, l.closers...)
	l.URL = "http://" + ln.Addr().String()
	l.admin = l.Client("")
	return l, nil
}

// Client returns a verifying client of the log that keeps its View in
// dir ("" for in memory), as the command line keeps it in
// $POUCH_HOME/logs, and requires the witness's cosignature.
func (l *Log) Client(dir string) *client.Client {
	c := client.New(l.URL)
	c.Origin = l.Origin
	c.Trust = &client.Trust{Policy: l.Policy, Dir: dir}
	return c
}

// ID returns the keys of an office of the cast, as they stand: the
// latest holder's.
func (l *Log) ID(h record.Handle) *client.Identity { return l.ids[h] }

// Cast returns the offices admitted, in order.
func (l *Log) Cast() []record.Handle { return l.cast }

// Close stops the server and removes the work folder.
func (l *Log) Close() {
	for _, f := range l.closers {
		f()
	}
	l.closers = nil
}

// Size returns the size of the log's published checkpoint.
func (l *Log) size(ctx context.Context) uint64 {
	s, err := l.Store.State(ctx)
	if err != nil {
		return 0
	}
	return s.Size
}

// Grow appends n leaves to the log: a directory change every dirEvery
// leaves (0: none), through the server, and pouch tags, straight into the
// store; then it waits until a checkpoint cosigned by the witness covers
// them all.
func (l *Log) Grow(ctx context.Context, n, dirEvery int, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	t0, last := time.Now(), time.Now()
	for done := 0; done < n; {
		if dirEvery > 0 && done%dirEvery == 0 {
			if err := l.change(ctx); err != nil {
				return fmt.Errorf("directory change %d: %w", l.st.Changes, err)
			}
			done++
			continue
		}
		k := min(store.MaxBatch, n-done)
		if dirEvery > 0 {
			k = min(k, dirEvery-done%dirEvery)
		}
		batch, err := l.tags(k)
		if err != nil {
			return err
		}
		if _, err := l.Store.Append(ctx, batch); err != nil {
			return err
		}
		done += k
		if time.Since(last) > 10*time.Second {
			last = time.Now()
			logf("biglog: %d of %d leaves appended (%s)", done, n, time.Since(t0).Round(time.Second))
		}
	}
	size := l.size(ctx)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if _, _, err := l.Node.Log.WaitCheckpoint(wctx, size); err != nil {
		return fmt.Errorf("waiting for a checkpoint of %d leaves: %w", size, err)
	}
	return nil
}

// change makes the next directory change: a key rotation, a public grant,
// a private grant, the revocation of the oldest public grant, in turn.
func (l *Log) change(ctx context.Context) error {
	i := l.st.Changes
	l.st.Changes++
	a := l.cast[(i*7)%len(l.cast)]
	b := l.cast[(i*7+3)%len(l.cast)]
	if a == b {
		b = l.cast[(i*7+4)%len(l.cast)]
	}
	switch i % 4 {
	case 0:
		l.st.Rotations++
		return l.admit(ctx, a, fmt.Sprintf("holder %d", l.st.Rotations))
	case 1, 2:
		acc, err := l.admin.Grant(ctx, l.ids[a], &directory.Grant{To: b, Abilities: []directory.Ability{directory.Receive, directory.Carry},
			Purpose: fmt.Sprintf("grant %d", i)}, i%4 == 2)
		if err != nil {
			return err
		}
		if i%4 == 1 {
			l.st.Grants = append(l.st.Grants, acc.ID)
		}
		return nil
	default:
		if len(l.st.Grants) == 0 {
			return l.admit(ctx, a, "another holder")
		}
		g := l.st.Grants[0]
		rv, err := l.admin.Record(ctx, g, nil)
		if err != nil {
			return err
		}
		_, r, err := record.Verify(rv.Signed)
		if err != nil {
			return err
		}
		// Revoked by its grantor's office, with the key it holds now.
		l.st.Grants = l.st.Grants[1:]
		_, err = l.admin.RevokeGrant(ctx, l.ids[r.By[0]], g, "no longer needed")
		return err
	}
}

// admit admits a new holder of h with fresh keys.
func (l *Log) admit(ctx context.Context, h record.Handle, holder string) error {
	p, err := keys.Generate(h)
	if err != nil {
		return err
	}
	if _, err := l.admin.Admit(ctx, l.regs[h.House()], h, p.SigningPublic(), p.Recipient().String(), holder); err != nil {
		return fmt.Errorf("admitting %s: %w", h, err)
	}
	kf, err := p.MarshalKeyFile()
	if err != nil {
		return err
	}
	sk, _, err := p.InMemory()
	if err != nil {
		return err
	}
	l.ids[h], l.signers[h], l.st.Cast[string(h)] = p, sk, kf
	if !contains(l.cast, h) {
		l.cast = append(l.cast, h)
	}
	return nil
}

// tags returns n pouch tags, each from an office of the cast to another,
// signed by the sender's current key, on every core.
func (l *Log) tags(n int) ([]*store.Entry, error) {
	out := make([]*store.Entry, n)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	now := time.Now().UnixMilli()
	seq := l.st.Changes
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				from := l.cast[(i+seq)%len(l.cast)]
				to := l.cast[(i+seq+1+i%5)%len(l.cast)]
				var t letter.Tag
				t.From, t.To, t.Size = from, to, 4096
				sum := sha256.Sum256(fmt.Appendf(nil, "%d/%d/%d", now, seq, i))
				copy(t.ID[:], sum[:])
				t.Payload = sha256.Sum256(sum[:])
				s, err := letter.SignTag(&t, l.signers[from], record.NewSalt(), now, l.Origin)
				if err != nil {
					errs[w] = err
					return
				}
				out[i] = &store.Entry{ID: s.ID(), Kind: record.KindTag, Signed: s.Marshal(), Parties: t.Route()}
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func contains(hs []record.Handle, h record.Handle) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

// castOrder returns the offices of p in the order generate admits them.
func castOrder(p Params) []record.Handle {
	var out []record.Handle
	for h := range p.Houses {
		for o := range p.Offices {
			out = append(out, record.Handle(fmt.Sprintf("house%d/office%d", h, o)))
		}
	}
	return out
}

func originOf(vkey string) string {
	for i := range len(vkey) {
		if vkey[i] == '+' {
			return vkey[:i]
		}
	}
	return vkey
}

func writeState(dir string, st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "state.json"), b, 0o600)
}

// copyDir copies the files of src, and of its subfolders, into dst.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
