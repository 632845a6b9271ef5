package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"pouch.dev/api"
	"pouch.dev/keys"

	"pouch.dev/client"
	"pouch.dev/internal/scenario"
	"pouch.dev/letter"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "bench",
		args:  "[--n N] [--workers W] [--batch B] [--streams S] [--server URL [--server-pid PID] [--replicas URL,...]] [--json]",
		short: "load generator: pouches submitted per second over loopback HTTP, latency, idle inbox streams",
		long: `
pouch bench starts a fresh embedded server (SQLite in a temporary folder,
open mode) on 127.0.0.1, admits a few principals, seals N pouches (1 KiB
letters, each sealed with age to the addressee and the author) before the
clock starts, then:

 1. submits them with W concurrent HTTP clients as fast as the server
    acknowledges them (each acknowledgement means verified, checked
    against the directory, durably stored and given a log index), and
    reports pouches/s and latency percentiles;
 2. submits fresh pouches at half that rate and reports p99 latency,
    and, if the server's /metrics times its store, the server's own
    commits meanwhile (how many took over 10 ms, and the slowest: a
    slow disk holds up every request waiting for it) and the p99 of
    its appends to the store, queue included;
 3. waits for the log's checkpoint to cover every pouch;
 4. with --streams S, holds S idle inbox streams (server-sent events) open
    and reports the process's resident memory before and after (client and
    server share the process, so this counts both ends).

With --server, the pouches go to a server already running in a process
of its own ("pouch serve --open", no house founded yet), so that the load
generator's CPU is not the server's; --server-pid names that process, and
phase 1 then reports the server's own CPU per acknowledged pouch (Linux).
--json prints the figures as a JSON envelope (spec/cli.md) instead of
the text (bench/run reads it). --latencies FILE writes every pouch of
phase 2, when its request was due and its latency, to count the stalls
behind a p99.

Example:

  pouch bench --n 20000 --workers 64 --streams 10000
  pouch serve --open --data /tmp/b --listen 127.0.0.1:8470 &
  pouch bench --server http://127.0.0.1:8470 --server-pid $! --json`,
		run: runBench,
	})
}

func runBench(ctx *cmdContext, args []string) error {
	v := verbs["bench"]
	fs := newFlags(ctx, v)
	n := fs.Int("n", 20000, "pouches per phase")
	workers := fs.Int("workers", 64, "concurrent HTTP clients")
	streams := fs.Int("streams", 0, "idle inbox streams to hold open")
	cpuprof := fs.String("cpuprofile", "", "write a CPU profile of the timed phases to `FILE`")
	latencies := fs.String("latencies", "", "write each pouch of the half-load phase to `FILE`, a line each: when its request was due and its latency, in µs")
	batch := fs.Int("batch", 1, "pouches per request (POST /v1/pouches/batch when more than 1)")
	server := fs.String("server", "", "`URL` of a running server in open mode (default: one in this process)")
	replicas := fs.String("replicas", "", "more `URLs` (comma-separated) of replicas of the --server's deployment over one database: the pouches go round-robin to the --server and them")
	serverPID := fs.Int("server-pid", 0, "the --server's process `ID`, for its CPU per pouch (Linux)")
	dbURL := fs.String("db", "", "keep the in-process server's log in the empty PostgreSQL database at `URL` (default: a SQLite file)")
	asJSON := fs.Bool("json", false, "print the figures as JSON (spec/cli.md) instead of text")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *n < 1 || *workers < 1 || *streams < 0 || *batch < 1 || *batch > api.MaxPouchBatch {
		return usagef("", "bench takes no arguments and positive counts")
	}
	if *replicas != "" && *server == "" {
		return usagef("give the first replica with --server and the others with --replicas", "--replicas names more replicas of a --server")
	}
	if *serverPID != 0 && *server == "" {
		return usagef("", "--server-pid names the process of a --server")
	}
	if *latencies == "-" {
		return usagef("give --latencies a file name", "--latencies writes to a file, not to standard output")
	}
	if *dbURL != "" && (*server != "" || !isPostgresURL(*dbURL)) {
		return usagef("give --db a postgres:// URL of an empty database, without --server", "--db %q: not a postgres:// URL for the in-process server", redactURL(*dbURL))
	}
	// The latencies' file is made first, so that a path it cannot be
	// written to fails before anything starts; it appears only once
	// written.
	var latOut *output
	if *latencies != "" {
		if latOut, err = binaryOut(ctx, *latencies, "latencies"); err != nil {
			return withHint(fmt.Errorf("bench: --latencies %s: %w", *latencies, err), "give --latencies a file in a directory you can write")
		}
		defer latOut.discard()
	}
	bg, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	out := ctx.stdout
	res := benchResult{Workers: *workers, Batch: *batch, N: *n, CPUs: runtime.NumCPU(), Remote: *server != ""}
	if *asJSON {
		out = io.Discard
	}
	w, err := scenario.Start(bg, scenario.Options{Server: *server, DB: *dbURL})
	if err != nil {
		return err
	}
	defer w.Close()
	tr := &http.Transport{MaxIdleConns: *workers * 2, MaxIdleConnsPerHost: *workers * 2, MaxConnsPerHost: 0}
	w.Client.HTTP = &http.Client{Transport: tr}

	// Submissions go round-robin to the server and its replicas.
	cls := []*client.Client{w.Client}
	for _, u := range strings.Split(*replicas, ",") {
		if u = strings.TrimSpace(u); u != "" {
			c := client.New(u)
			c.Origin, c.HTTP = w.Client.Origin, w.Client.HTTP
			cls = append(cls, c)
		}
	}
	res.Replicas = len(cls)
	if err := w.Found(bg, "bench", "benchmark house"); err != nil {
		return err
	}
	const senders = 8
	var ids []*client.Identity
	for i := range senders + 1 {
		id, err := w.Admit(bg, record.Handle(fmt.Sprintf("bench/p%d", i)), "")
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	to := ids[senders]
	text := strings.Repeat("pouch benchmark letter. ", 43)[:1024]
	// Each sender seals one letter (age, to the addressee and itself);
	// every pouch is that payload under a fresh tag signed by the sender,
	// so that setting up the run costs little.
	type proto struct {
		sent *client.Sent
		key  *client.Identity
	}
	var protos []proto
	for i := range senders {
		sent, err := w.Client.Seal(bg, ids[i], &client.Letter{To: to.Handle, Via: []record.Handle{ids[(i+1)%senders].Handle},
			Sections: []letter.Section{{Title: "Load", Text: text}}}, nil)
		if err != nil {
			return err
		}
		protos = append(protos, proto{sent, ids[i]})
	}
	seal := func(count int) ([]*client.Sent, error) {
		out := make([]*client.Sent, count)
		for i := range out {
			p := protos[i%senders]
			tag := *p.sent.Sealed.Tag.Tag
			s, err := letter.SignTag(&tag, p.key.Signing, record.NewSalt(), time.Now().UnixMilli(), w.Client.Origin)
			if err != nil {
				return nil, err
			}
			st, err := letter.VerifyTag(s.Marshal())
			if err != nil {
				return nil, err
			}
			out[i] = &client.Sent{Pouch: s.ID(), Sealed: &letter.Sealed{Tag: st}, Payload: p.sent.Payload}
		}
		return out, nil
	}
	fmt.Fprintf(out, "pouch bench: %d pouches per phase, %d workers, %d CPUs, server %s\n", *n, *workers, runtime.NumCPU(), w.URL)
	t0 := time.Now()
	batch1, err := seal(*n)
	if err != nil {
		return err
	}
	batch2, err := seal(*n)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "made %d pouches (%d-byte age payloads, fresh signed tags) in %s, not timed below\n", 2**n, len(protos[0].sent.Payload), time.Since(t0).Round(time.Millisecond))
	res.BytesPerPouch = len(protos[0].sent.Payload) + len(batch1[0].Sealed.Tag.Signed.Marshal())

	if *cpuprof != "" {
		stopProfile, err := startRecording("--cpuprofile", *cpuprof, pprof.StartCPUProfile, pprof.StopCPUProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}

	// Phase 1: as fast as acknowledged. Each request carries --batch
	// pouches; each pouch's latency is its request's.
	lat := make([]time.Duration, len(batch1))
	var next atomic.Int64
	var errs atomic.Int64
	var wg sync.WaitGroup
	var rr atomic.Int64
	submitChunk := func(ps []*client.Sent, lat []time.Duration) {
		st := time.Now()
		cl := cls[int(rr.Add(1))%len(cls)]
		if len(ps) == 1 {
			_, err := cl.SubmitPouch(bg, ps[0].Sealed.Tag.Signed, ps[0].Payload)
			if err != nil && errs.Add(1) == 1 {
				fmt.Fprintf(ctx.stderr, "pouch: bench: %v\n", err)
			}
		} else {
			subs := make([]api.PouchSubmission, len(ps))
			for i, p := range ps {
				subs[i] = api.PouchSubmission{Tag: p.Sealed.Tag.Signed.Marshal(), Payload: p.Payload}
			}
			res, err := cl.SubmitPouches(bg, subs)
			if err != nil {
				if errs.Add(int64(len(ps))) == int64(len(ps)) {
					fmt.Fprintf(ctx.stderr, "pouch: bench: %v\n", err)
				}
			}
			for _, r := range res {
				if r.Accepted == nil && errs.Add(1) == 1 {
					fmt.Fprintf(ctx.stderr, "pouch: bench: %s\n", r.Error.Error)
				}
			}
		}
		d := time.Since(st)
		for i := range lat {
			lat[i] = d
		}
	}
	start := time.Now()
	cpu0, cpuOK := processCPU()
	srv0, srvErr := pidCPU(*serverPID)
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(int64(*batch))) - *batch
				if i >= len(batch1) {
					return
				}
				j := min(i+*batch, len(batch1))
				submitChunk(batch1[i:j], lat[i:j])
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	rate := float64(len(batch1)) / el.Seconds()
	fmt.Fprintf(out, "phase 1, saturation: %d pouches in %s = %.0f pouches/s acknowledged (%d per request); latency %s; errors %d\n",
		len(batch1), el.Round(time.Millisecond), rate, *batch, pct(lat), errs.Load())
	res.PerSecond = rate
	res.P50ms, res.P90ms, res.P99ms = quantileMS(lat, .5), quantileMS(lat, .9), quantileMS(lat, .99)
	if cpu1, ok := processCPU(); ok && cpuOK {
		res.ClientCPUus = float64((cpu1 - cpu0).Microseconds()) / float64(len(batch1))
		if *server == "" {
			// Client and server share the process: this is both ends' CPU.
			fmt.Fprintf(out, "phase 1, CPU: %.0f µs per pouch, client and server together (%.2f of %d cores busy)\n",
				res.ClientCPUus, (cpu1-cpu0).Seconds()/el.Seconds(), runtime.NumCPU())
		} else {
			fmt.Fprintf(out, "phase 1, CPU of this load generator: %.0f µs per pouch\n", res.ClientCPUus)
		}
	}
	if *serverPID != 0 {
		srv1, err := pidCPU(*serverPID)
		if srvErr != nil || err != nil {
			return fmt.Errorf("bench: the server's CPU time: %v", errors.Join(srvErr, err))
		}
		res.ServerCPUus = float64((srv1 - srv0).Microseconds()) / float64(len(batch1))
		fmt.Fprintf(out, "phase 1, CPU of the server process: %.0f µs per pouch (%.2f of %d cores busy)\n",
			res.ServerCPUus, (srv1-srv0).Seconds()/el.Seconds(), runtime.NumCPU())
	}

	// Phase 2: at half that rate, in requests of --batch pouches. The
	// server's own commits and appends to its store in it, if its
	// /metrics times them, say whether its tail is the store's (the
	// disk's).
	route := "pouches.submit"
	if *batch > 1 {
		route = "pouches.batch"
	}
	commits0, appends0, requests0, _ := benchStoreTimes(bg, w, route)
	half := rate / 2
	lat2 := make([]time.Duration, len(batch2))
	interval := time.Duration(float64(time.Second) * float64(*batch) / half)
	start = time.Now()
	sem := make(chan struct{}, *workers*4)
	for k, i := 0, 0; i < len(batch2); k, i = k+1, i+*batch {
		due := start.Add(time.Duration(k) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		sem <- struct{}{}
		wg.Add(1)
		j := min(i+*batch, len(batch2))
		go func(i, j int) {
			defer wg.Done()
			defer func() { <-sem }()
			submitChunk(batch2[i:j], lat2[i:j])
		}(i, j)
	}
	wg.Wait()
	el = time.Since(start)
	fmt.Fprintf(out, "phase 2, at half rate (%.0f/s offered, %.0f/s achieved): latency %s; errors %d\n",
		half, float64(len(batch2))/el.Seconds(), pct(lat2), errs.Load())
	res.HalfOffered, res.HalfPerSecond = half, float64(len(batch2))/el.Seconds()
	res.HalfP50ms, res.HalfP99ms = quantileMS(lat2, .5), quantileMS(lat2, .99)
	if commits1, appends1, requests1, err := benchStoreTimes(bg, w, route); err == nil && commits0 != nil {
		if requests0 != nil && requests1 != nil {
			// The server's own time beside the latency seen here: what
			// the two do not share is the network, the server's reading
			// of the request's head, and this process.
			d := requests1.minus(requests0)
			over, seen := d.over(.01), int64(0)
			for i := 0; i < len(lat2); i += *batch { // a request's pouches share its latency
				if lat2[i] > 10*time.Millisecond {
					seen++
				}
			}
			res.HalfHandlerOver10ms, res.HalfOver10ms = &over, &seen
			p99 := "over 1 s"
			if b, ok := d.quantileBound(.99); ok {
				ms := 1e3 * b
				res.HalfHandlerP99ms, p99 = &ms, fmt.Sprintf("within %g ms", ms)
			}
			fmt.Fprintf(out, "phase 2, the server's handlers (from their start to the answer sent): 99 %% %s; %d requests over 10 ms, against %d by this load generator's clock\n", p99, over, seen)
		}
		if b, ok := appends1.minus(appends0).quantileBound(.99); ok {
			ms := 1e3 * b
			res.HalfAppendP99ms = &ms
			fmt.Fprintf(out, "phase 2, the server's store: 99 %% of its appends durable within %g ms of the call\n", ms)
		}
		d := commits1.minus(commits0)
		n, over := d.total(), d.over(.01)
		res.HalfCommits, res.HalfCommitsOver10ms = &n, &over
		p99, slowest := "over 1 s", "over 1 s"
		if b, ok := d.quantileBound(.99); ok {
			ms := 1e3 * b
			res.HalfCommitP99ms, p99 = &ms, fmt.Sprintf("within %g ms", ms)
		}
		if b, ok := d.quantileBound(1); ok {
			ms := 1e3 * b
			res.HalfCommitMaxMs, slowest = &ms, fmt.Sprintf("within %g ms", ms)
		}
		fmt.Fprintf(out, "phase 2, the server's commits (the WAL's write and fsync): %d, 99 %% %s, %d over 10 ms, the slowest %s\n", n, p99, over, slowest)
	}
	if latOut != nil {
		if err := writeLatencies(latOut, lat2, *batch, interval); err != nil {
			return fmt.Errorf("bench: writing %s: %w", *latencies, err)
		}
	}

	// Phase 3: the log covers them all.
	st := time.Now()
	total := uint64(2**n + senders + 2)
	for {
		size, err := benchLogSize(bg, w)
		if err != nil {
			return err
		}
		if size >= total {
			break
		}
		if time.Since(st) > time.Minute {
			return fmt.Errorf("bench: the log did not integrate %d leaves within a minute (at %d)", total, size)
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Fprintf(out, "phase 3: checkpoint covers all %d leaves %s after the last acknowledgement\n", total, time.Since(st).Round(time.Millisecond))
	res.CheckpointMS = float64(time.Since(st).Microseconds()) / 1e3

	if *streams > 0 {
		if err := benchStreams(bg, ctx, *streams); err != nil {
			return err
		}
	}
	res.Errors = errs.Load()
	if errs.Load() > 0 {
		return failWith(res, &checkError{fmt.Errorf("bench: %d submissions failed", errs.Load())})
	}
	if *asJSON {
		return emit(ctx, res)
	}
	return nil
}

// benchResult is the result of pouch bench --json (spec/cli.md#bench).
type benchResult struct {
	Remote        bool    `json:"remote"`   // the server ran in a process of its own
	Replicas      int     `json:"replicas"` // servers the pouches went to (--server and --replicas)
	N             int     `json:"n"`
	Workers       int     `json:"workers"`
	Batch         int     `json:"batch"`
	CPUs          int     `json:"cpus"`
	BytesPerPouch int     `json:"bytes_per_pouch"` // tag and payload
	PerSecond     float64 `json:"pouches_per_s"`   // phase 1, at saturation
	P50ms         float64 `json:"p50_ms"`
	P90ms         float64 `json:"p90_ms"`
	P99ms         float64 `json:"p99_ms"`
	ClientCPUus   float64 `json:"client_cpu_us_per_pouch"`           // this process (both ends without --server)
	ServerCPUus   float64 `json:"server_cpu_us_per_pouch,omitempty"` // with --server-pid
	HalfOffered   float64 `json:"half_offered_per_s"`
	HalfPerSecond float64 `json:"half_pouches_per_s"`
	HalfP50ms     float64 `json:"half_p50_ms"`
	HalfP99ms     float64 `json:"half_p99_ms"`
	// The server's commits during phase 2 (pouch_store_commit_seconds,
	// part="commit": the WAL's write and fsync), if its /metrics has them:
	// how many, the upper bounds of the histogram's buckets that hold
	// their 99th percentile and the slowest (each absent if over its
	// largest bucket, 1 s), and how many took over 10 ms. A few slow
	// commits hold up every request waiting meanwhile, so the slowest
	// says more about the requests' p99 than the commits' p99 does.
	HalfCommits         *int64   `json:"half_commits,omitempty"`
	HalfCommitP99ms     *float64 `json:"half_commit_p99_le_ms,omitempty"`
	HalfCommitMaxMs     *float64 `json:"half_commit_max_le_ms,omitempty"`
	HalfCommitsOver10ms *int64   `json:"half_commits_over_10ms,omitempty"`
	// The bucket bound of the 99th percentile of the server's appends to
	// its store in phase 2 (pouch_store_append_seconds: from the call
	// until durable, the queue behind slow commits included), to set
	// beside HalfP99ms.
	HalfAppendP99ms *float64 `json:"half_append_p99_le_ms,omitempty"`
	// HalfHandlerP99ms bounds the server's own time for 99 % of the
	// half-load phase's requests (a bucket of pouch_api_request_seconds);
	// HalfHandlerOver10ms counts those requests over 10 ms by the
	// server's clock, HalfOver10ms the requests over 10 ms by this one's.
	HalfHandlerP99ms    *float64 `json:"half_handler_p99_le_ms,omitempty"`
	HalfHandlerOver10ms *int64   `json:"half_handler_over_10ms,omitempty"`
	HalfOver10ms        *int64   `json:"half_over_10ms,omitempty"`
	CheckpointMS        float64  `json:"checkpoint_ms"` // last acknowledgement to a checkpoint covering all
	Errors              int64    `json:"errors"`
}

// storeHist is a histogram of a server's store (its commits, or its
// appends), cumulative as Prometheus keeps it: count[i] took at most
// bound[i] seconds, the last bound being +Inf.
type storeHist struct {
	bound []float64
	count []uint64
}

// benchStoreTimes reads, from the server's /metrics with Prometheus's own
// parser, the histograms of its store's commits
// (pouch_store_commit_seconds{part="commit"}) and appends
// (pouch_store_append_seconds), an error if the server has neither (a
// store that does not time them); and the server's own time for the
// requests of route (pouch_api_request_seconds, every status), nil if
// it has none.
func benchStoreTimes(ctx context.Context, w *scenario.World, route string) (commits, appends, requests *storeHist, err error) {
	req, err := http.NewRequestWithContext(ctx, "GET", w.URL+"/metrics", nil)
	if err != nil {
		return nil, nil, nil, err
	}
	resp, err := w.Client.HTTP.Do(req)
	if err != nil {
		return nil, nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("GET /metrics: %w", err)
	}
	// hist sums the histograms of name whose label has value (all of
	// them if label is ""): a route's requests of every status, say.
	hist := func(name, label, value string) *storeHist {
		var h *storeHist
		for _, m := range mfs[name].GetMetric() {
			if label != "" && !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == label && l.GetValue() == value }) {
				continue
			}
			one := &storeHist{}
			for _, b := range m.GetHistogram().GetBucket() {
				one.bound = append(one.bound, b.GetUpperBound())
				one.count = append(one.count, b.GetCumulativeCount())
			}
			one.bound = append(one.bound, math.Inf(1))
			one.count = append(one.count, m.GetHistogram().GetSampleCount())
			switch {
			case h == nil:
				h = one
			case slices.Equal(h.bound, one.bound):
				for i, c := range one.count {
					h.count[i] += c
				}
			}
		}
		return h
	}
	commits, appends = hist("pouch_store_commit_seconds", "part", "commit"), hist("pouch_store_append_seconds", "", "")
	if commits == nil || appends == nil {
		return nil, nil, nil, errors.New("the server's /metrics does not time its store's commits and appends")
	}
	// The server's own time for a request, from its handler's start to
	// its answer sent.
	requests = hist("pouch_api_request_seconds", "route", route)
	return commits, appends, requests, nil
}

// minus returns the commits of h that came after those of old.
func (h *storeHist) minus(old *storeHist) *storeHist {
	d := &storeHist{bound: h.bound, count: slices.Clone(h.count)}
	if slices.Equal(h.bound, old.bound) {
		for i := range d.count {
			d.count[i] -= min(d.count[i], old.count[i])
		}
	}
	return d
}

func (h *storeHist) total() int64 { return int64(h.count[len(h.count)-1]) }

// over returns how many commits took more than the bound sec, one of the
// histogram's (else the next above it).
func (h *storeHist) over(sec float64) int64 {
	i, _ := slices.BinarySearch(h.bound, sec)
	return h.total() - int64(h.count[i])
}

// quantileBound returns the least bound under which a fraction q of the
// commits fell, and false if that is only +Inf (or there were none).
func (h *storeHist) quantileBound(q float64) (float64, bool) {
	n := float64(h.total())
	for i, c := range h.count {
		if n > 0 && float64(c) >= q*n {
			return h.bound[i], !math.IsInf(h.bound[i], 1)
		}
	}
	return 0, false
}

func quantileMS(ds []time.Duration, p float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1e3
}

// benchLogSize returns the size of the log's latest checkpoint: from the
// store of a server in this process, else from GET /checkpoint.
func benchLogSize(ctx context.Context, w *scenario.World) (uint64, error) {
	if w.Store != nil {
		s, err := w.Store.State(ctx)
		return s.TreeSize, err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", w.URL+"/checkpoint", nil)
	if err != nil {
		return 0, err
	}
	resp, err := w.Client.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return 0, err
	}
	lines := strings.SplitN(string(b), "\n", 3)
	if resp.StatusCode != http.StatusOK || len(lines) < 3 {
		return 0, fmt.Errorf("bench: GET /checkpoint: %s", resp.Status)
	}
	return strconv.ParseUint(lines[1], 10, 64)
}

// pidCPU returns the CPU time, user and system, process pid has used
// (Linux /proc; the kernel counts it in ticks of 10 ms); 0 if pid is 0.
func pidCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %v", pid, errors.Join(err1, err2))
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

func pct(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration {
		return s[min(len(s)-1, int(p*float64(len(s))))].Round(10 * time.Microsecond)
	}
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s", q(.5), q(.9), q(.99), s[len(s)-1].Round(10*time.Microsecond))
}

// benchStreams starts "pouch serve --open" as a child process, so that the
// server's memory is measured alone, admits ten principals with empty
// inboxes, opens n inbox streams spread over them, and reports the
// server's resident memory before and after.
func benchStreams(bg context.Context, ctx *cmdContext, n int) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "pouch-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(exe, "serve", "--open", "--data", dir, "--listen", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	// "pouch: serving log ORIGIN on http://ADDR (data DIR)"
	type served struct{ origin, addr string }
	addr := make(chan served, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if head, rest, ok := strings.Cut(sc.Text(), " on http://"); ok {
				a, _, _ := strings.Cut(rest, " ")
				_, origin, _ := strings.Cut(head, "serving log ")
				select {
				case addr <- served{origin, a}:
				default:
				}
			}
		}
	}()
	var url, origin string
	select {
	case a := <-addr:
		url, origin = "http://"+a.addr, a.origin
	case <-time.After(30 * time.Second):
		return fmt.Errorf("bench: the server did not start")
	}
	c := client.New(url)
	c.Origin = origin // the inbox streams are signed for this log
	c.HTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	_, rk, _ := ed25519.GenerateKey(nil)
	reg := client.Registrar("idle", rk)
	if _, err := c.FoundHouse(bg, "idle", "", reg, nil); err != nil {
		return err
	}
	var ps []*client.Identity
	for i := range 10 {
		p, err := keys.Generate(record.Handle(fmt.Sprintf("idle/p%d", i)))
		if err != nil {
			return err
		}
		if _, err := c.Admit(bg, reg, p.Handle, p.SigningPublic(), p.Recipient().String(), ""); err != nil {
			return err
		}
		ps = append(ps, p)
	}
	time.Sleep(200 * time.Millisecond)
	before := rssOf(cmd.Process.Pid)
	sctx, stop := context.WithCancel(bg)
	defer stop()
	var open atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	sem := make(chan struct{}, 256)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			once := sync.OnceFunc(func() { <-sem; wg.Done() })
			defer once()
			c.Follow(sctx, ps[i%len(ps)], func([]api.InboxItem) error {
				open.Add(1)
				once()
				return nil
			})
		}(i)
	}
	wg.Wait()
	took := time.Since(start)
	time.Sleep(time.Second)
	after := rssOf(cmd.Process.Pid)
	fmt.Fprintf(ctx.stdout, "phase 4: %d of %d idle inbox streams open (in %s); server RSS %.0f MiB before, %.0f MiB with them open (+%.0f MiB, %.1f KiB per stream)\n",
		open.Load(), n, took.Round(time.Millisecond), float64(before)/(1<<20), float64(after)/(1<<20), float64(after-before)/(1<<20), float64(after-before)/1024/float64(max(open.Load(), 1)))
	stop()
	return nil
}

// rssOf returns the resident set size of process pid in bytes (Linux).
func rssOf(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// startRecording creates the file at path, which what (an environment
// variable or a flag) named, and starts writing a profile
// (pprof.StartCPUProfile) or an execution trace (trace.Start: for go tool
// trace, golang.org/x/exp/trace and pbench trace) into it with start; the
// function it returns calls stop and closes the file.
func startRecording(what, path string, start func(io.Writer) error, stop func()) (func(), error) {
	f, err := createRecording(what, path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return func() { stop(); f.Close() }, nil
}

// startAllocRecording creates the file at path, which what named, at
// once, so that a path it cannot write is said before the run rather
// than after it; the function it returns writes the allocations of the
// whole run so far into it (Go's "allocs" profile: what was allocated,
// where, and what is still live) and closes it.
func startAllocRecording(what, path string) (func() error, error) {
	f, err := createRecording(what, path)
	if err != nil {
		return nil, err
	}
	return func() error {
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}, nil
}

// createRecording creates the file at path for a profile or a trace; an
// error names what gave the path (an environment variable, or a flag
// starting with "--") and how to mend it.
func createRecording(what, path string) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		hint := "set %s to a file in a directory you can write, or unset it"
		if strings.HasPrefix(what, "--") {
			hint = "give %s a file in a directory you can write"
		}
		return nil, withHint(fmt.Errorf("%s: %w", what, err), hint, what)
	}
	return f, nil
}

// writeLatencies writes lat, the latencies of the half-load phase's
// pouches, a line each: when the pouch's request was due, in µs after the
// phase began (requests of batch pouches, interval apart), and its
// latency in µs; then commits o. Counting the requests over some latency,
// and when they were due, shows the stalls a p99 hides.
func writeLatencies(o *output, lat []time.Duration, batch int, interval time.Duration) error {
	w := bufio.NewWriter(o)
	for i, d := range lat {
		fmt.Fprintf(w, "%d %d\n", (time.Duration(i/batch) * interval).Microseconds(), d.Microseconds())
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return o.commit()
}
