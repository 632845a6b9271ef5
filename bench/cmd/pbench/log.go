package main

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"sync/atomic"
	"time"

	"pouch.dev/bench/tessera"
	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/tlog"
	"pouch.dev/tlog/witness"
)

// An appender is one log under test: Add appends a signed record and
// returns once a published checkpoint covers it.
type appender interface {
	Add(ctx context.Context, signed []byte) error
	Close()
}

// pouchLog is pouch's log in process, as the server runs it: each record
// verified (record.Verify: strict decoding, every signature), appended to
// the SQLite store (WAL, synchronous=FULL, group commit) and waited for
// until the sequencer publishes a checkpoint covering it.
type pouchLog struct {
	l    *tlog.Log
	st   store.Store
	stop func()

	// acks, if not nil, receives the time each append took to be
	// durable (store.Append), before the wait for a checkpoint.
	ackMu sync.Mutex
	acks  *[]time.Duration
}

// openPouch opens (or creates) a log in dir; with a witness, every
// checkpoint is cosigned by a pouch witness on 127.0.0.1 before it is
// published.
func openPouch(dir string, withWitness bool) (*pouchLog, error) {
	st, err := sqlite.Open(filepath.Join(dir, "pouch.db"))
	if err != nil {
		return nil, err
	}
	skey, _, err := tlog.LoadOrCreateKey(filepath.Join(dir, "log.key"), "pouch.bench/log")
	if err != nil {
		st.Close()
		return nil, err
	}
	cfg := tlog.Config{Origin: "pouch.bench/log", Key: skey, RefreshInterval: -1}
	var srv *http.Server
	if withWitness {
		vkey, err := tlog.VerifierKey(skey)
		if err != nil {
			return nil, err
		}
		wkey, wvkey, err := tlog.GenerateKey("pouch.bench/witness")
		if err != nil {
			return nil, err
		}
		wdir, err := os.MkdirTemp("", "pbench-witness-")
		if err != nil {
			return nil, err
		}
		w, err := witness.New(witness.Config{Key: wkey, Logs: []string{vkey}, Dir: wdir})
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		mux := http.NewServeMux()
		mux.Handle("POST /add-checkpoint", w)
		srv = &http.Server{Handler: mux}
		go srv.Serve(ln)
		cfg.Witnesses = []tlog.WitnessConfig{{URL: "http://" + ln.Addr().String(), Key: wvkey, Name: "bench"}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l, err := tlog.New(ctx, st, cfg)
	if err != nil {
		cancel()
		st.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	var once sync.Once
	return &pouchLog{l: l, st: st, stop: func() {
		once.Do(func() {
			cancel()
			<-done
			st.Close()
			if srv != nil {
				srv.Close()
			}
		})
	}}, nil
}

func (p *pouchLog) Add(ctx context.Context, b []byte) error {
	s, r, err := record.Verify(b)
	if err != nil {
		return err
	}
	e := &store.Entry{ID: s.ID(), Kind: r.Kind, Signed: b, Public: !r.Private(), Parties: r.By}
	t0 := time.Now()
	seq, err := p.st.Append(ctx, []*store.Entry{e})
	if err != nil {
		return err
	}
	if p.acks != nil {
		d := time.Since(t0)
		p.ackMu.Lock()
		*p.acks = append(*p.acks, d)
		p.ackMu.Unlock()
	}
	_, _, err = p.l.WaitCheckpoint(ctx, seq[0].Index+1)
	return err
}

func (p *pouchLog) Close() { p.stop() }

// tesseraLog is Tessera's POSIX appender; with verify set, every entry is
// first checked as pouch checks a record (record.Verify: the same strict
// decoding and the same Ed25519 verifier), as a service that accepts only
// signed entries does.
type tesseraLog struct {
	*tessera.Log
	verify bool
}

func (t *tesseraLog) Add(ctx context.Context, b []byte) error {
	if t.verify {
		if _, _, err := record.Verify(b); err != nil {
			return err
		}
	}
	return t.Log.Add(ctx, b)
}

func openImpl(impl, dir string) (appender, error) {
	switch impl {
	case "pouch":
		return openPouch(dir, false)
	case "pouch-witness":
		return openPouch(dir, true)
	case "tessera", "tessera-verify":
		l, err := tessera.Open(tessera.Config{Dir: dir})
		if err != nil {
			return nil, err
		}
		return &tesseraLog{Log: l, verify: impl == "tessera-verify"}, nil
	}
	return nil, fmt.Errorf("unknown -impl %q (pouch, pouch-witness, tessera, tessera-verify)", impl)
}

// signRecords returns n signed records of 288 bytes (a statement's
// co-signature, the size of a custody record), by signers keys, made on
// every core before the clock starts.
func signRecords(n, signers int) [][]byte {
	ks := make([]ed25519.PrivateKey, signers)
	for i := range ks {
		_, ks[i], _ = ed25519.GenerateKey(nil)
	}
	out := make([][]byte, n)
	var wg sync.WaitGroup
	w := runtime.GOMAXPROCS(0)
	for j := 0; j < w; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := j; i < n; i += w {
				r := &record.Record{Kind: record.KindCosign, By: []record.Handle{"ir/president"}, Time: record.Now(), Salt: record.NewSalt()}
				s, err := record.Sign(r, map[string]any{"statement": fmt.Sprintf("%064d", i)}, ks[i%signers])
				if err != nil {
					panic(err)
				}
				out[i] = s.Marshal()
			}
		}()
	}
	wg.Wait()
	return out
}

// runLog measures appends per second and CPU per record: -clients
// clients, each appending one record at a time and waiting until a
// published checkpoint covers it, for -d.
func runLog(args []string) error {
	fs := flags("log")
	impl := fs.String("impl", "pouch", "pouch, pouch-witness, tessera or tessera-verify")
	clients := fs.Int("clients", 1000, "concurrent clients")
	d := fs.Duration("d", 5*time.Second, "how long to append")
	maxRate := fs.Int("max-rate", 40000, "records prepared per second of -d (the most the run can append)")
	signers := fs.Int("signers", 16, "distinct signing keys")
	prof := fs.String("cpuprofile", "", "write a CPU profile of the appends to `FILE`")
	tr := fs.String("trace", "", "write an execution trace of the appends to `FILE` (go tool trace: the store's writer goroutine's scheduler wait)")
	fs.Parse(args)
	dir, err := os.MkdirTemp("", "pbench-log-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	recs := signRecords(int(d.Seconds()*float64(*maxRate)), *signers)
	a, err := openImpl(*impl, dir)
	if err != nil {
		return err
	}
	stopRecording, err := startProfiling(*prof, *tr)
	if err != nil {
		a.Close()
		return err
	}
	n, el, cpu, lat, err := appendFor(a, recs, *clients, *d)
	stopRecording()
	a.Close()
	if err != nil {
		return err
	}
	p50, p99, _ := quantiles(lat)
	emit(fmt.Sprintf("LogAppend/impl=%s/clients=%d", *impl, *clients),
		float64(n)/el.Seconds(), "records/s", float64(cpu.Microseconds())/float64(n), "CPU-µs/record", p50, "p50-ms", p99, "p99-ms", n, "records")
	return nil
}

// appendFor appends recs with the given number of clients until they are
// all in or d has passed, and returns how many were appended, in what
// time and for how much of this process's CPU, and the latency of each
// (append to a published checkpoint covering it).
func appendFor(a appender, recs [][]byte, clients int, d time.Duration) (int, time.Duration, time.Duration, []time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	var next, done atomic.Int64
	var firstErr atomic.Value
	lat := make([]time.Duration, len(recs))
	start := time.Now()
	deadline := start.Add(d)
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := int(next.Add(1)) - 1
				if i >= len(recs) {
					return
				}
				t0 := time.Now()
				if err := a.Add(ctx, recs[i]); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat[i] = time.Since(t0)
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	if err, ok := firstErr.Load().(error); ok {
		return 0, 0, 0, nil, err
	}
	if done.Load() == 0 {
		return 0, 0, 0, nil, errors.New("nothing appended")
	}
	// Records given out to clients after the deadline were not sent.
	return int(done.Load()), el, cpu, lat[:min(int(next.Load()), len(recs))], nil
}

// runLatency sends records at a steady -rate (open loop: each on
// schedule, whether or not earlier ones are done) for -d and reports the
// time from append to a published checkpoint covering each.
func runLatency(args []string) error {
	fs := flags("latency")
	impl := fs.String("impl", "pouch", "pouch, pouch-witness, tessera or tessera-verify")
	rate := fs.Int("rate", 10000, "records per second")
	d := fs.Duration("d", 3*time.Second, "how long to send")
	prof := fs.String("cpuprofile", "", "write a CPU profile of the run to `FILE`")
	tr := fs.String("trace", "", "write an execution trace of the run to `FILE` (go tool trace: what the store's writer and the appends waited for in the tail)")
	fs.Parse(args)
	dir, err := os.MkdirTemp("", "pbench-lat-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	recs := signRecords(int(d.Seconds()*float64(*rate)), 16)
	a, err := openImpl(*impl, dir)
	if err != nil {
		return err
	}
	defer a.Close()
	stopRecording, err := startProfiling(*prof, *tr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *d+2*time.Minute)
	defer cancel()
	// For pouch, what the latency is made of: the append made durable
	// (group commit), then the wait for the sequencer's round; and how
	// many checkpoints it published.
	var acks []time.Duration
	var rounds atomic.Int64
	watched := make(chan struct{})
	wctx, wcancel := context.WithCancel(ctx)
	if pl, ok := a.(*pouchLog); ok {
		acks = make([]time.Duration, 0, len(recs))
		pl.acks = &acks
		go func() {
			defer close(watched)
			_, size := pl.l.Checkpoint()
			for {
				_, n, err := pl.l.WaitCheckpoint(wctx, size+1)
				if err != nil {
					return
				}
				rounds.Add(1)
				size = n
			}
		}()
	} else {
		close(watched)
	}
	lat := make([]time.Duration, len(recs))
	var failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	const tick = time.Millisecond
	per := max(1, *rate*int(tick)/int(time.Second))
	for i := 0; i < len(recs); {
		time.Sleep(time.Until(start.Add(time.Duration(i/per) * tick)))
		for j := 0; j < per && i < len(recs); j, i = j+1, i+1 {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				t0 := time.Now()
				if err := a.Add(ctx, recs[i]); err != nil {
					failed.Add(1)
					lat[i] = time.Hour
					return
				}
				lat[i] = time.Since(t0)
			}(i)
		}
	}
	sent := time.Since(start)
	wg.Wait()
	all := time.Since(start)
	stopRecording()
	wcancel()
	<-watched
	if failed.Load() > 0 {
		return fmt.Errorf("%d appends failed", failed.Load())
	}
	p50, p99, mx := quantiles(lat)
	kv := []any{float64(len(recs)) / sent.Seconds(), "offered/s", p50, "p50-ms", p99, "p99-ms", mx, "max-ms", len(recs), "records"}
	if acks != nil {
		a50, a99, _ := quantiles(acks)
		kv = append(kv, a50, "durable-p50-ms", a99, "durable-p99-ms", float64(rounds.Load())/all.Seconds(), "checkpoints/s")
	}
	emit(fmt.Sprintf("LogLatency/impl=%s/rate=%d", *impl, *rate), kv...)
	return nil
}

// runProof grows a log to -leaves leaves, straight into the store
// (synthetic entries in batches of store.MaxBatch, sequenced as they come),
// kept in -cache between runs, then measures at that size the latency of
// an inclusion proof for a random leaf (tiles read from SQLite, proof
// hashed) and of a consistency proof from a random size, first as a
// server meets them (the log's tile cache as the previous proofs left
// it), then with the cache emptied before each proof (the same state at
// every size), and append throughput with -clients clients for -d.
func runProof(args []string) error {
	fs := flags("proof")
	leaves := fs.Int("leaves", 10000, "log size")
	cache := fs.String("cache", "", "folder keeping the grown logs between runs (default: a temporary one)")
	d := fs.Duration("d", 2*time.Second, "how long to measure each")
	clients := fs.Int("clients", 1000, "concurrent clients appending at this size")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the proofs with the tile cache emptied to this file")
	fs.Parse(args)
	var dir string
	if *cache == "" {
		t, err := os.MkdirTemp("", "pbench-proof-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(t)
		dir = t
	} else {
		dir = filepath.Join(*cache, fmt.Sprintf("log-%d", *leaves))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	p, err := openPouch(dir, false)
	if err != nil {
		return err
	}
	defer p.Close()
	ctx := context.Background()
	state, err := p.st.State(ctx)
	if err != nil {
		return err
	}
	grow := time.Now()
	grown := 0
	for have := int(state.Size); have < *leaves; {
		batch := make([]*store.Entry, 0, store.MaxBatch)
		for ; have < *leaves && len(batch) < store.MaxBatch; have++ {
			// Synthetic records with distinct IDs: a proof reads only
			// the tiles.
			e := &store.Entry{Kind: record.KindCustody, Signed: []byte("r"), Parties: []record.Handle{"ir/president"}}
			binary.BigEndian.PutUint64(e.ID[:], uint64(have))
			e.ID[31] = 0xbe
			batch = append(batch, e)
		}
		if _, err := p.st.Append(ctx, batch); err != nil {
			return err
		}
		grown += len(batch)
	}
	if _, _, err := p.l.WaitCheckpoint(ctx, uint64(*leaves)); err != nil {
		return err
	}
	if grown > 0 {
		fmt.Fprintf(os.Stderr, "pbench proof: grew the log by %d leaves in %s\n", grown, time.Since(grow).Round(time.Millisecond))
	}
	// Proofs in the tree of -leaves leaves, though earlier runs' appends
	// made the cached log larger.
	size := uint64(*leaves)
	// The store's files read once, so that the operating system's page
	// cache holds them at every size, as it holds a small log just grown:
	// what is measured is the tree, not the disk.
	if err := warmFiles(filepath.Join(dir, "pouch.db"), filepath.Join(dir, "pouch.db-wal")); err != nil {
		return err
	}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	var incl, cons []time.Duration
	for end := time.Now().Add(*d); time.Now().Before(end); {
		t0 := time.Now()
		if _, err := p.l.Inclusion(ctx, rnd.Uint64N(size), size); err != nil {
			return err
		}
		incl = append(incl, time.Since(t0))
	}
	for end := time.Now().Add(*d); time.Now().Before(end); {
		t0 := time.Now()
		if _, err := p.l.Consistency(ctx, 1+rnd.Uint64N(size-1), size); err != nil {
			return err
		}
		cons = append(cons, time.Since(t0))
	}
	// The same with the log's tile cache emptied before each proof, so
	// that every size is measured in the same cache state: each proof
	// reads every tile it needs from SQLite and hashes inside them.
	var inclCold, consCold []time.Duration
	stopProf, err := startRecording(*cpuprofile, pprof.StartCPUProfile, pprof.StopCPUProfile)
	if err != nil {
		return err
	}
	for end := time.Now().Add(*d); time.Now().Before(end); {
		p.l.DropTileCache()
		t0 := time.Now()
		if _, err := p.l.Inclusion(ctx, rnd.Uint64N(size), size); err != nil {
			return err
		}
		inclCold = append(inclCold, time.Since(t0))
	}
	for end := time.Now().Add(*d); time.Now().Before(end); {
		p.l.DropTileCache()
		t0 := time.Now()
		if _, err := p.l.Consistency(ctx, 1+rnd.Uint64N(size-1), size); err != nil {
			return err
		}
		consCold = append(consCold, time.Since(t0))
	}
	stopProf()
	ip50, ip99, _ := quantiles(incl)
	cp50, cp99, _ := quantiles(cons)
	icp50, icp99, _ := quantiles(inclCold)
	ccp50, ccp99, _ := quantiles(consCold)
	emit(fmt.Sprintf("Proof/leaves=%d", *leaves), float64(size), "leaves",
		ip50*1000, "inclusion-p50-µs", ip99*1000, "inclusion-p99-µs", cp50*1000, "consistency-p50-µs", cp99*1000, "consistency-p99-µs",
		icp50*1000, "inclusion-cold-p50-µs", icp99*1000, "inclusion-cold-p99-µs", ccp50*1000, "consistency-cold-p50-µs", ccp99*1000, "consistency-cold-p99-µs")
	recs := signRecords(int(d.Seconds()*30000), 16)
	n, el, cpu, _, err := appendFor(p, recs, *clients, *d)
	if err != nil {
		return err
	}
	emit(fmt.Sprintf("LogAppendAtSize/leaves=%d/clients=%d", *leaves, *clients),
		float64(n)/el.Seconds(), "records/s", float64(cpu.Microseconds())/float64(n), "CPU-µs/record", float64(size), "leaves")
	return nil
}

// startProfiling starts the CPU profile and the execution trace asked for
// (either path may be ""), and returns what stops both.
func startProfiling(prof, tr string) (func(), error) {
	stopProf, err := startRecording(prof, pprof.StartCPUProfile, pprof.StopCPUProfile)
	if err != nil {
		return nil, err
	}
	stopTrace, err := startRecording(tr, trace.Start, trace.Stop)
	if err != nil {
		stopProf()
		return nil, err
	}
	return func() { stopProf(); stopTrace() }, nil
}

// startRecording starts writing a profile or trace into the file at path with
// start, and returns what stops it and closes the file; for path "" it
// does nothing.
func startRecording(path string, start func(io.Writer) error, stop func()) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { stop(); f.Close() }, nil
}

// warmFiles reads each file once, to the end (a missing one is skipped),
// so that the page cache holds it.
func warmFiles(paths ...string) error {
	buf := make([]byte, 1<<20)
	for _, p := range paths {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return err
		}
		_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
		f.Close()
		if err != nil {
			return fmt.Errorf("reading %s into the page cache: %w", p, err)
		}
	}
	return nil
}
