package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/internal/testkeys"
	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
)

// The server at scale: a store holding 10^6 pouches, written straight
// through the store (valid signed records, in store.MaxBatch appends),
// and the server's start-up, memory and inbox over it. They run only when
// POUCH_BIG is set, to the number of pouches (1 means 10^6):
//
//	POUCH_BIG=1 go test ./server -run '^$' -bench BenchmarkBig -benchtime 20x -timeout 60m
//
// The store is written once into POUCH_BIG_DIR (default: a folder of the
// system's temporary folder named after the count) and reused by later
// runs. Figures: BENCHMARKS.md, "Server state at 10^6 pouches".

const bigOrigin = "pouch.test/big"

// The big store's principals: bigTo is the addressee of every pouch.
const bigTo record.Handle = "ru/president"

var bigSenders = []record.Handle{"us/president", "us/secretary-of-state", "fr/president", "fr/minister"}

// bigIdentity is a principal of the big store, with its test key.
func bigIdentity(h record.Handle) *client.Identity {
	return &client.Identity{Handle: h, Signing: testkeys.Key(h)}
}

// bigStore returns the folder of a store of n pouches, writing it first if
// it is not there, and the evidence office's keys it was written with.
func bigStore(tb testing.TB) (dir string, n int, ev *keys.Principal) {
	tb.Helper()
	s := os.Getenv("POUCH_BIG")
	if s == "" {
		tb.Skip("POUCH_BIG is not set: set it to the number of pouches (1 means 10^6) to measure the server at scale")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		tb.Fatalf("POUCH_BIG=%q: want a number of pouches (1 means 10^6)", s)
	}
	if n == 1 {
		n = 1_000_000
	}
	dir = os.Getenv("POUCH_BIG_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("pouch-big-%d", n))
	}
	bigOnce.Do(func() { bigErr = writeBig(tb, dir, n) })
	if bigErr != nil {
		tb.Fatal(bigErr)
	}
	kb, err := os.ReadFile(filepath.Join(dir, "evidence.key"))
	if err != nil {
		tb.Fatal(err)
	}
	if ev, err = keys.ParseKeyFile(kb); err != nil {
		tb.Fatal(err)
	}
	return dir, n, ev
}

var (
	bigOnce sync.Once
	bigErr  error
)

// writeBig writes a store of n pouches into dir, unless dir holds one
// (its file "done"). Every pouch goes from one of bigSenders to bigTo;
// every second one is delivered (a custody record by bigTo); one in a
// hundred has a deadline a year ahead, and so names the evidence office
// among its parties, as the server stores it.
func writeBig(tb testing.TB, dir string, n int) error {
	if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
		return nil
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	start := time.Now()
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(dir, "pouch.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	ev, err := keys.Generate(directory.EvidenceHandle)
	if err != nil {
		return err
	}
	kb, err := ev.MarshalKeyFile()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "evidence.key"), kb, 0o600); err != nil {
		return err
	}
	// The directory through the API: the genesis, the evidence office,
	// the houses and their principals.
	corr, err := server.NewCorrespondence(ctx, server.CorrOptions{Store: st, Origin: bigOrigin, Directory: directory.Config{Mode: directory.ModeOpen}, Evidence: ev})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	corr.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	cl := client.New(hs.URL)
	cl.Origin = bigOrigin
	regs := map[string]*client.Identity{}
	for _, h := range append([]record.Handle{bigTo}, bigSenders...) {
		house := h.House()
		if regs[house] == nil {
			regs[house] = client.Registrar(house, testkeys.Key(record.Handle(house+"/registrar")))
			if _, err := cl.FoundHouse(ctx, house, "", regs[house], nil); err != nil {
				return fmt.Errorf("founding %s: %w", house, err)
			}
		}
		id, _ := age.GenerateHybridIdentity()
		if _, err := cl.Admit(ctx, regs[house], h, bigIdentity(h).SigningPublic(), id.Recipient().String(), ""); err != nil {
			return fmt.Errorf("admitting %s: %w", h, err)
		}
	}
	// The pouches, straight through the store, signed on every core.
	const perBatch = store.MaxBatch * 2 / 3 // a batch's pouches: with their deliveries, at most MaxBatch entries
	batches := make(chan []*store.Entry, 4)
	var wg sync.WaitGroup
	var next sync.Mutex
	pouch := 0
	take := func() (int, int) {
		next.Lock()
		defer next.Unlock()
		if pouch >= n {
			return 0, 0
		}
		a := pouch
		pouch = min(n, pouch+perBatch)
		return a, pouch
	}
	ordered := newOrderer(batches)
	errs := make(chan error, runtime.GOMAXPROCS(0))
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				a, b := take()
				if a == b {
					return
				}
				es, err := bigBatch(a, b)
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					es = []*store.Entry{} // the batches after it still come
				}
				ordered.put(a/perBatch, es)
			}
		})
	}
	go func() { wg.Wait(); ordered.close() }()
	written := 0
	for es := range batches {
		if len(es) == 0 {
			continue
		}
		if _, err := st.Append(ctx, es); err != nil {
			return fmt.Errorf("appending pouches: %w", err)
		}
		written += len(es)
		if testing.Verbose() && written%(200*perBatch) < len(es) {
			tb.Logf("%d records written, %s", written, time.Since(start).Round(time.Second))
		}
	}
	select {
	case err := <-errs:
		return err
	default:
	}
	tb.Logf("wrote %d pouches (%d records) into %s in %s", n, written, dir, time.Since(start).Round(time.Second))
	return os.WriteFile(filepath.Join(dir, "done"), nil, 0o600)
}

// bigBatch returns the entries of pouches [a, b): each tag, and the
// delivery of every second pouch after its tag.
func bigBatch(a, b int) ([]*store.Entry, error) {
	var es []*store.Entry
	payload := make([]byte, 64)
	to := bigIdentity(bigTo)
	now := time.Now()
	for i := a; i < b; i++ {
		from := bigIdentity(bigSenders[i%len(bigSenders)])
		rand.Read(payload)
		t := &letter.Tag{From: from.Handle, To: bigTo, Payload: sha256.Sum256(payload), Size: uint64(len(payload))}
		rand.Read(t.ID[:])
		parties := []record.Handle{from.Handle, bigTo}
		if i%100 == 7 {
			t.DeliverBy = now.Add(365 * 24 * time.Hour).UnixMilli()
			parties = append(parties, directory.EvidenceHandle)
		}
		slices.Sort(parties)
		s, err := letter.SignTag(t, from.Signing, record.NewSalt(), now.UnixMilli(), bigOrigin)
		if err != nil {
			return nil, err
		}
		es = append(es, &store.Entry{ID: s.ID(), Kind: record.KindTag, Signed: s.Marshal(), Parties: parties, Payload: slices.Clone(payload)})
		if i%2 == 0 {
			c, err := letter.SignCustody(&letter.Custody{Pouch: s.ID(), From: from.Handle, Delivered: true}, bigTo, to.Signing, record.NewSalt(), now.UnixMilli(), bigOrigin)
			if err != nil {
				return nil, err
			}
			es = append(es, &store.Entry{ID: c.ID(), Kind: record.KindCustody, Signed: c.Marshal(), Parties: []record.Handle{from.Handle, bigTo}, Refs: []record.ID{s.ID()}})
		}
	}
	return es, nil
}

// An orderer hands batches made out of order to out in order.
type orderer struct {
	mu   sync.Mutex
	cond *sync.Cond
	next int
	held map[int][]*store.Entry
	out  chan []*store.Entry
}

func newOrderer(out chan []*store.Entry) *orderer {
	o := &orderer{held: map[int][]*store.Entry{}, out: out}
	o.cond = sync.NewCond(&o.mu)
	return o
}

// put hands batch k to out once batches before it are handed; it waits
// while too many are held.
func (o *orderer) put(k int, es []*store.Entry) {
	o.mu.Lock()
	for k > o.next+8 {
		o.cond.Wait()
	}
	o.held[k] = es
	// Sent under the lock, so that batches leave in order; the reader
	// of out takes no lock.
	for o.held[o.next] != nil {
		o.out <- o.held[o.next]
		delete(o.held, o.next)
		o.next++
		o.cond.Broadcast()
	}
	o.mu.Unlock()
}

func (o *orderer) close() { close(o.out) }

// bigStart opens the big store and starts the correspondence API over it,
// as a server starts.
func bigStart(tb testing.TB, dir string, ev *keys.Principal) (*sqlite.Store, *server.Correspondence) {
	tb.Helper()
	st, err := sqlite.Open(filepath.Join(dir, "pouch.db"))
	if err != nil {
		tb.Fatal(err)
	}
	corr, err := server.NewCorrespondence(context.Background(), server.CorrOptions{Store: st, Origin: bigOrigin, Directory: directory.Config{Mode: directory.ModeOpen}, Evidence: ev})
	if err != nil {
		st.Close()
		tb.Fatal(err)
	}
	return st, corr
}

// BenchmarkBigStartup measures the server's start-up over the big store:
// opening it and NewCorrespondence (ns/op), and, in a process of its own
// (TestBigChild), the resident memory once started and once the deadline
// watcher has loaded its pouches, and how long that load took.
func BenchmarkBigStartup(b *testing.B) {
	dir, n, ev := bigStore(b)
	b.Logf("%d pouches in %s", n, dir)
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			st, _ := bigStart(b, dir, ev)
			b.StopTimer()
			st.Close()
			b.StartTimer()
		}
	})
	b.Run("process", func(b *testing.B) {
		var m map[string]float64
		for b.Loop() {
			m = bigChild(b, dir)
		}
		for _, k := range []string{"startup-ms", "rss-MiB", "deadlines-ms", "watching", "rss-after-deadlines-MiB", "peak-rss-MiB"} {
			b.ReportMetric(m[k], k)
		}
	})
}

// bigChild runs TestBigChild in a process of its own over the store in
// dir and returns what it reports.
func bigChild(tb testing.TB, dir string) map[string]float64 {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBigChild$", "-test.v")
	cmd.Env = append(os.Environ(), "POUCH_BIG_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("the child: %v\n%s", err, out)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "big: "), "="); ok && strings.HasPrefix(line, "big: ") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("the child said %q", line)
			}
			m[k] = f
		}
	}
	if len(m) == 0 {
		tb.Fatalf("the child said nothing:\n%s", out)
	}
	return m
}

// TestBigChild is the process BenchmarkBigStartup measures: it starts the
// server over the store POUCH_BIG_CHILD names and reports its start-up
// time and resident memory.
func TestBigChild(t *testing.T) {
	dir := os.Getenv("POUCH_BIG_CHILD")
	if dir == "" {
		t.Skip("run by BenchmarkBigStartup")
	}
	kb, err := os.ReadFile(filepath.Join(dir, "evidence.key"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := keys.ParseKeyFile(kb)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	st, corr := bigStart(t, dir, ev)
	defer st.Close()
	up := time.Since(start)
	fmt.Printf("big: startup-ms=%.1f\n", float64(up.Microseconds())/1000)
	fmt.Printf("big: rss-MiB=%.1f\n", rssMiB(t, "VmRSS"))
	w := corr.Watching()
	fmt.Printf("big: deadlines-ms=%.1f\n", float64(time.Since(start).Microseconds())/1000)
	fmt.Printf("big: watching=%d\n", w)
	fmt.Printf("big: rss-after-deadlines-MiB=%.1f\n", rssMiB(t, "VmRSS"))
	fmt.Printf("big: peak-rss-MiB=%.1f\n", rssMiB(t, "VmHWM"))
}

// rssMiB reads a memory figure of this process from /proc/self/status.
func rssMiB(t *testing.T, field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb / 1024
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// BenchmarkBigInbox measures a page of the inbox of bigTo, the addressee
// of every pouch of the big store, over HTTP with a signed request: the
// newest page, of 1 and of 100 pouches, and a page of 100 from the middle
// of the log (?before=).
func BenchmarkBigInbox(b *testing.B) {
	dir, n, ev := bigStore(b)
	st, corr := bigStart(b, dir, ev)
	defer st.Close()
	// Measured once the deadline watcher has loaded its pouches in the
	// background: a server's steady state.
	corr.Watching()
	_, cl := serveCorr(b, corr, bigOrigin)
	ctx := context.Background()
	ls, err := st.State(ctx)
	if err != nil {
		b.Fatal(err)
	}
	me := bigIdentity(bigTo)
	for _, c := range []struct {
		name   string
		limit  int
		before uint64
	}{{"limit=1", 1, 0}, {"limit=100", 100, 0}, {"limit=100,before=middle", 100, ls.Size / 2}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				items, err := cl.InboxPage(ctx, me, c.limit, c.before)
				if err != nil {
					b.Fatal(err)
				}
				if len(items) != c.limit {
					b.Fatalf("a page of %d pouches, want %d (of %d)", len(items), c.limit, n)
				}
			}
		})
	}
}
