package tlog_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/tlog"
)

// benchLog opens a log over a fresh SQLite store (synchronous=FULL) in
// dir and runs its sequencer until the benchmark ends.
func benchLog(b *testing.B, dir string) (*tlog.Log, store.Store, func()) {
	st, err := sqlite.Open(filepath.Join(dir, "pouch.db"))
	if err != nil {
		b.Fatal(err)
	}
	skey, _, err := tlog.LoadOrCreateKey(filepath.Join(dir, "log.key"), "pouch.bench/log")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l, err := tlog.New(ctx, st, tlog.Config{Origin: "pouch.bench/log", Key: skey})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done; st.Close() }) }
	b.Cleanup(stop)
	return l, st, stop
}

// signRecords returns n signed records (a statement's co-signature, about
// the size of a custody record), made in parallel before the clock starts.
func signRecords(b *testing.B, n int) [][]byte {
	_, key, _ := ed25519.GenerateKey(nil)
	out := make([][]byte, n)
	var wg sync.WaitGroup
	w := runtime.GOMAXPROCS(0)
	for j := 0; j < w; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := j; i < n; i += w {
				r := &record.Record{Kind: record.KindCosign, By: []record.Handle{"ir/president"}, Time: record.Now(), Salt: record.NewSalt()}
				s, err := record.Sign(r, map[string]any{"statement": fmt.Sprintf("%064d", i)}, key)
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

// ingest does what the server does with a submitted record before the
// store: verify its signatures and build its entry.
func ingest(b []byte) (*store.Entry, error) {
	s, r, err := record.Verify(b)
	if err != nil {
		return nil, err
	}
	return &store.Entry{ID: s.ID(), Kind: r.Kind, Signed: b, Public: !r.Private(), Parties: r.By}, nil
}

// BenchmarkAppend measures durable appends per second, in process: each of
// many concurrent clients verifies a signed record, appends it, and waits
// for a published checkpoint covering it. Run with a fixed count, such as
// -benchtime=60000x.
func BenchmarkAppend(b *testing.B) {
	dir := b.TempDir()
	l, _, stop := benchLog(b, dir)
	recs := signRecords(b, b.N)
	clients := benchClients()
	var next atomic.Int64
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(recs) {
					return
				}
				e, err := ingest(recs[i])
				if err != nil {
					b.Error(err)
					return
				}
				seq, err := l.Store().Append(ctx, []*store.Entry{e})
				if err != nil {
					b.Error(err)
					return
				}
				if _, _, err := l.WaitCheckpoint(ctx, seq[0].Index+1); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "CPU-µs/record")
	stop() // closing the store checkpoints and removes the WAL
	reportStorage(b, dir, recs)
}

// cpuTime returns the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchClients is the number of concurrent clients, POUCH_BENCH_CLIENTS or
// 4000.
func benchClients() int {
	n := 4000
	if s := os.Getenv("POUCH_BENCH_CLIENTS"); s != "" {
		fmt.Sscan(s, &n)
	}
	return n
}

// reportStorage reports the bytes the store uses per record beyond the
// signed record, in all and for the log's part (tiles and checkpoints).
func reportStorage(b *testing.B, dir string, recs [][]byte) {
	var signed int64
	for _, r := range recs {
		signed += int64(len(r))
	}
	n := float64(len(recs))
	total := dirSize(dir)
	b.ReportMetric(float64(total-signed)/n, "B-overhead/record")
	tiles, cps, err := logBytes(filepath.Join(dir, "pouch.db"))
	if err == nil {
		b.ReportMetric(float64(tiles+cps)/n, "B-log/record")
	}
}

// logBytes returns the bytes the SQLite file at path spends on the log's
// tree (the tiles table) and on its checkpoints, as SQLite's dbstat table
// counts them (pages, including free space in them).
func logBytes(path string) (tiles, checkpoints int64, err error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	err = db.QueryRow(`SELECT
		(SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = 'tiles'),
		(SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = 'checkpoints')`).Scan(&tiles, &checkpoints)
	return tiles, checkpoints, err
}

func dirSize(dir string) int64 {
	var n int64
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// BenchmarkLatency appends at a steady 10,000 records/s (open loop: each
// record is sent on schedule, whether or not earlier ones are done) and
// reports the time from append to a published checkpoint covering it.
func BenchmarkLatency(b *testing.B) {
	const rate = 10000
	l, _, _ := benchLog(b, b.TempDir())
	recs := signRecords(b, b.N)
	ctx := context.Background()
	lat := make([]time.Duration, len(recs))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	const tick = time.Millisecond
	per := rate * int(tick) / int(time.Second)
	for i := 0; i < len(recs); {
		due := start.Add(time.Duration(i/per) * tick)
		time.Sleep(time.Until(due))
		for j := 0; j < per && i < len(recs); j, i = j+1, i+1 {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				t0 := time.Now()
				e, err := ingest(recs[i])
				if err != nil {
					b.Error(err)
					return
				}
				seq, err := l.Store().Append(ctx, []*store.Entry{e})
				if err != nil {
					b.Error(err)
					return
				}
				if _, _, err := l.WaitCheckpoint(ctx, seq[0].Index+1); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}(i)
		}
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(float64(len(recs))/el.Seconds(), "records/s")
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}

// BenchmarkInclusionProof measures serving an inclusion proof (reading the
// tiles from SQLite and hashing the proof) in a tree of POUCH_BENCH_LEAVES
// leaves (default 10 million). Building the tree takes minutes; set
// POUCH_BENCH_DIR to keep it between runs.
func BenchmarkInclusionProof(b *testing.B) {
	n := 10_000_000
	if s := os.Getenv("POUCH_BENCH_LEAVES"); s != "" {
		fmt.Sscan(s, &n)
	}
	dir := os.Getenv("POUCH_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else {
		dir = filepath.Join(dir, fmt.Sprintf("proof-%d", n))
		os.MkdirAll(dir, 0o700)
	}
	l, st, _ := benchLog(b, dir)
	ctx := context.Background()
	state, _ := st.State(ctx)
	for have := int(state.Size); have < n; {
		batch := make([]*store.Entry, 0, store.MaxBatch)
		for ; have < n && len(batch) < store.MaxBatch; have++ {
			// Synthetic records whose IDs grow, so that building the tree
			// is quick; serving a proof reads only the tiles.
			e := &store.Entry{Kind: record.KindCustody, Signed: []byte("r"), Parties: []record.Handle{"ir/president"}}
			binary.BigEndian.PutUint64(e.ID[:], uint64(have))
			batch = append(batch, e)
		}
		if _, err := st.Append(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	if _, _, err := l.WaitCheckpoint(ctx, uint64(n)); err != nil {
		b.Fatal(err)
	}
	_, size := l.Checkpoint()
	rnd := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Inclusion(ctx, rnd.Uint64N(size), size); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(size), "leaves")
}
