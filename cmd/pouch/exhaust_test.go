package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// The resource-exhaustion suite (issue 10, findings 1 and 2): a real pouch
// serve, attacked on loopback as a hostile client would attack it, while a
// well-behaved client goes on with its work. Its requests must keep
// succeeding, 99% of them within a second, and the server's resident
// memory must stay under 1 GiB. The short run is part of go test; the long
// one (POUCH_LONG=1) runs each attack longer and harder, and fills the
// server's connections past the machine's descriptor limit from helper
// processes.

const exhaustRSSLimit = 1 << 30

// exhaustConfig sizes the suite.
type exhaustConfig struct {
	phase      time.Duration // how long each attack lasts
	fdLimit    int           // the server's descriptor limit (0: the machine's)
	slow       int           // slow bodies
	bigWorkers int           // goroutines posting 64 MiB bodies
	idle       int           // idle connections, from this process
	helpers    int           // helper processes holding idle connections
	helperConn int           // connections per helper
	headers    int           // header-flood connections
	hostile    int           // goroutines sending hostile CBOR
}

func exhaustSize() exhaustConfig {
	if os.Getenv("POUCH_LONG") == "1" {
		return exhaustConfig{phase: 30 * time.Second, slow: 1500, bigWorkers: 24, idle: 2000,
			helpers: 2, helperConn: 10500, headers: 1000, hostile: 16}
	}
	// The server's descriptor limit is lowered, so that a few thousand
	// connections go past it.
	return exhaustConfig{phase: 4 * time.Second, fdLimit: 1024, slow: 600, bigWorkers: 24, idle: 2048, headers: 300, hostile: 8}
}

// TestExhaustion runs each attack in turn against one pouch serve, and a
// well-behaved client throughout.
func TestExhaustion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and attacks the real binary")
	}
	cfg := exhaustSize()
	bin := servingBinary(t)
	srv := startServeOpts(t, bin, serveOpts{fdLimit: cfg.fdLimit})
	u, _ := url.Parse(srv.url)
	addr := u.Host

	// The well-behaved client: a principal that posts statements and
	// reads them back, and reads the checkpoint.
	_, key, _ := ed25519.GenerateKey(nil)
	admitForTest(t, srv.url, "ru/president", key)
	// Two principals for valid pouches of a few MiB.
	pouches := sealPouches(t, srv.url, 16, 3<<20)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	good := &wellBehaved{url: srv.url, key: key}
	var wg sync.WaitGroup
	wg.Go(func() { good.run(ctx) })
	mem := &rssSampler{p: srv}
	wg.Go(func() { mem.run(ctx) })

	type result struct {
		name        string
		peakRSS     int64
		p50, p99    time.Duration
		max         time.Duration
		requests    int
		failures    int
		attackNotes string
	}
	var results []result
	only := os.Getenv("POUCH_EXHAUST_ONLY") // one attack, by name, for experiments
	phase := func(name string, attack func(ctx context.Context) string) {
		if only != "" && only != name {
			return
		}
		mem.reset()
		good.reset()
		cpu0, cpuOK := sampleCPU(os.Getpid(), srv.pid())
		pctx, pcancel := context.WithTimeout(ctx, cfg.phase)
		note := attack(pctx)
		<-pctx.Done()
		pcancel()
		// The attack's connections are closed by now; give the server a
		// moment to notice, still measured.
		time.Sleep(200 * time.Millisecond)
		lat, fails := good.snapshot()
		others := 0.0 // processors other processes took meanwhile
		if cpu1, ok := sampleCPU(os.Getpid(), srv.pid()); ok && cpuOK {
			others = cpu0.othersCores(cpu1)
		}
		r := result{name: name, peakRSS: mem.peak(), requests: len(lat), failures: len(fails), attackNotes: note}
		if len(lat) > 0 {
			slices.Sort(lat)
			r.p50, r.p99, r.max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
		}
		results = append(results, r)
		t.Logf("%-13s peak RSS %4d MiB; well-behaved client: %d requests, %d failed, p50 %v, p99 %v, max %v; %s; other processes took %.2f processors",
			name, r.peakRSS>>20, r.requests, r.failures, round(r.p50), round(r.p99), round(r.max), note, others)
		if !srv.alive() {
			t.Fatalf("%s: the server died:\n%s", name, srv.stderr)
		}
		for i, f := range fails {
			if i == 5 {
				break
			}
			t.Errorf("%s: a well-behaved request failed: %s", name, f)
		}
		if r.requests < 5 {
			t.Errorf("%s: the well-behaved client got only %d requests through", name, r.requests)
		}
		// The bar is a p99 under 1 s. On a machine busy with other work
		// (a load average above twice its cores, as on the shared
		// development machines, or other processes taking a quarter of
		// a processor or more during the attack, as other packages' tests
		// do under go test ./...: a quiet machine's other processes take
		// 0.1 or less), the bar's figure is the benchmark's
		// (BENCHMARKS.md); the test then holds the server to 5 s, which
		// still catches a stalled server, and says so.
		bar, busy := time.Second, loadAverage() > 2*float64(runtime.NumCPU()) || others >= 0.25
		if busy || raceEnabled {
			bar = 5 * time.Second
		}
		if r.p99 > bar {
			t.Errorf("%s: the well-behaved client's p99 is %v, over %v", name, r.p99, bar)
		} else if r.p99 > time.Second {
			t.Logf("%s: p99 %v is over 1 s on a machine with load average %.1f, other processes taking %.2f processors: held to %v here",
				name, r.p99, loadAverage(), others, bar)
		}
		if raceEnabled {
			return // the race detector's own memory would be measured
		}
		if r.peakRSS >= exhaustRSSLimit {
			t.Errorf("%s: the server's resident memory reached %d MiB", name, r.peakRSS>>20)
		}
	}

	phase("slow-bodies", func(ctx context.Context) string {
		return slowBodies(ctx, t, addr, cfg.slow, srv)
	})
	phase("idle-conns", func(ctx context.Context) string {
		return idleConns(ctx, t, addr, cfg, srv)
	})
	phase("large-bodies", func(ctx context.Context) string {
		return largeBodies(ctx, srv.url, cfg.bigWorkers, pouches)
	})
	phase("header-flood", func(ctx context.Context) string {
		return headerFlood(ctx, addr, cfg.headers)
	})
	phase("hostile-cbor", func(ctx context.Context) string {
		return hostileCBOR(ctx, t, srv.url, cfg.hostile)
	})
	cancel()
	wg.Wait()

	for _, bad := range []string{"too many open files", "panic", "fatal error"} {
		if strings.Contains(srv.stderr.String(), bad) {
			t.Errorf("the server's log says %q", bad)
		}
	}
	if m := metric(t, srv.url, `pouch_connections_evicted_total`); m == 0 && only == "" {
		t.Errorf("no idle connection was evicted at the cap")
	}
	// The figures, as BENCHMARKS.md shows them.
	var b strings.Builder
	fmt.Fprintf(&b, "| attack | server peak RSS | well-behaved requests | failed | p50 | p99 | max | attack |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %d MiB | %d | %d | %v | %v | %v | %s |\n", r.name, r.peakRSS>>20, r.requests, r.failures,
			round(r.p50), round(r.p99), round(r.max), r.attackNotes)
	}
	limit := "the machine's"
	if cfg.fdLimit > 0 {
		limit = strconv.Itoa(cfg.fdLimit)
	}
	t.Logf("figures (the server's descriptor limit %s, %v per attack):\n%s", limit, cfg.phase, b.String())
}

// round rounds a latency for the figures.
func round(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// A wellBehaved client posts a signed statement and reads it back, on a
// keep-alive connection, and reads the checkpoint on a new connection,
// over and over, and notes how long each request took.
type wellBehaved struct {
	url string
	key ed25519.PrivateKey

	mu    sync.Mutex
	lat   []time.Duration
	fails []string
}

func (w *wellBehaved) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lat, w.fails = nil, nil
}

func (w *wellBehaved) snapshot() ([]time.Duration, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.lat), slices.Clone(w.fails)
}

func (w *wellBehaved) run(ctx context.Context) {
	// Its writes and reads on keep-alive connections; the checkpoint, as
	// a newcomer would read it, on a new connection each time.
	keep := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	do := func(hc *http.Client, what, method, path string, body []byte, want int) []byte {
		// A request whose connection the server closed before it was
		// sent (evicted while idle) is sent again on a new one, as any
		// HTTP client does; it counts once, with both tries' time.
		start := time.Now()
		var (
			resp *http.Response
			err  error
		)
		for try := 0; try < 2; try++ {
			var rd io.Reader
			if body != nil {
				rd = bytes.NewReader(body)
			}
			req, _ := http.NewRequestWithContext(ctx, method, w.url+path, rd)
			if resp, err = hc.Do(req); err == nil || ctx.Err() != nil || !retryable(err) {
				break
			}
		}
		d := time.Since(start)
		if d > 200*time.Millisecond && os.Getenv("POUCH_EXHAUST_DEBUG") != "" { // which requests are slow
			fmt.Fprintf(os.Stderr, "%s slow: %v at %s\n", what, d, time.Now().Format("15:04:05.000"))
		}
		if ctx.Err() != nil {
			if resp != nil {
				resp.Body.Close()
			}
			return nil
		}
		var b []byte
		if err == nil {
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != want {
				err = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
			}
		}
		w.mu.Lock()
		w.lat = append(w.lat, d)
		if err != nil {
			w.fails = append(w.fails, fmt.Sprintf("%s after %v: %v", what, d.Round(time.Millisecond), err))
		}
		w.mu.Unlock()
		if err != nil {
			return nil
		}
		return b
	}
	for i := 0; ctx.Err() == nil; i++ {
		r := &record.Record{Kind: record.KindStatement, By: []record.Handle{"ru/president"}, Time: record.Now()}
		body := &agreement.Statement{Title: fmt.Sprintf("well-behaved statement %d", i),
			Text: agreement.Digest([]byte("exhaustion")), Opened: agreement.DateOf(time.Now())}
		s, err := record.Sign(r, body, w.key)
		if err != nil {
			panic(err)
		}
		if do(keep, "POST /v1/records", "POST", "/v1/records", s.Marshal(), http.StatusCreated) != nil {
			do(keep, "GET /v1/records/{id}", "GET", "/v1/records/"+s.ID().String(), nil, http.StatusOK)
		}
		do(fresh, "GET /checkpoint (new connection)", "GET", "/checkpoint", nil, http.StatusOK)
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// retryable reports whether err says the connection was closed before any
// answer: the server evicted it while it was idle.
func retryable(err error) bool {
	s := err.Error()
	return strings.Contains(s, "EOF") || strings.Contains(s, "connection reset") || strings.Contains(s, "broken pipe")
}

// An rssSampler notes the server's peak resident memory.
type rssSampler struct {
	p  *serveProc
	pk atomic.Int64
}

func (s *rssSampler) reset()      { s.pk.Store(0) }
func (s *rssSampler) peak() int64 { return s.pk.Load() }

func (s *rssSampler) run(ctx context.Context) {
	for ctx.Err() == nil {
		if v, err := s.p.rss(); err == nil && v > s.pk.Load() {
			s.pk.Store(v)
		}
		select {
		case <-ctx.Done():
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// metric reads one unlabelled metric from the server's /metrics.
func metric(t *testing.T, base, name string) float64 { return metricLabelled(t, base, name) }

// cborBytesHead is the head of a CBOR byte string of n bytes.
func cborBytesHead(n uint64) []byte {
	switch {
	case n < 24:
		return []byte{0x40 | byte(n)}
	case n < 1<<8:
		return []byte{0x58, byte(n)}
	case n < 1<<16:
		return []byte{0x59, byte(n >> 8), byte(n)}
	case n < 1<<32:
		return binary.BigEndian.AppendUint32([]byte{0x5a}, uint32(n))
	}
	return binary.BigEndian.AppendUint64([]byte{0x5b}, n)
}

// submission returns the start of a pouch submission {tag, payload}
// declaring a payload of n bytes.
func submission(tag []byte, n uint64) []byte {
	b := []byte{0xa2, 0x63, 't', 'a', 'g'}
	b = append(append(b, cborBytesHead(uint64(len(tag)))...), tag...)
	b = append(b, 0x67, 'p', 'a', 'y', 'l', 'o', 'a', 'd')
	return append(b, cborBytesHead(n)...)
}

// slowBodies opens n connections that each declare a 64 MiB pouch (or a
// 256 KiB record) and send it a byte every half second.
func slowBodies(ctx context.Context, t *testing.T, addr string, n int, srv *serveProc) string {
	var open, cut atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				return
			}
			defer c.Close()
			path, length := "/v1/pouches", int64(64<<20)
			body := submission(bytes.Repeat([]byte{0x42}, 200), 64<<20-300)
			if i%3 == 0 {
				path, length = "/v1/records", record.MaxRecordSize
				body = bytes.Repeat([]byte{0x42}, 1000)
			}
			if _, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/cbor\r\nContent-Length: %d\r\n\r\n", path, addr, length); err != nil {
				return
			}
			open.Add(1)
			for k := 0; ctx.Err() == nil; k++ {
				if _, err := c.Write(body[k%len(body) : k%len(body)+1]); err != nil {
					cut.Add(1)
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(500 * time.Millisecond):
				}
			}
		})
	}
	// While they trickle, the memory the server holds for bodies stays
	// small: nothing is allocated by declaration.
	time.Sleep(min(2*time.Second, time.Until(deadlineOf(ctx))/2))
	held := metricLabelled(t, srv.url, `pouch_budget_in_use{budget="body_memory_bytes"}`)
	if held > 32<<20 {
		t.Errorf("slow bodies: %d of them make the server hold %.0f bytes of body memory", open.Load(), held)
	}
	wg.Wait()
	return fmt.Sprintf("%d connections, each declaring 64 MiB (or 256 KiB) and sending a byte every 0.5 s; body memory held %.0f KiB", open.Load(), held/1024)
}

func deadlineOf(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(time.Minute)
	}
	return d
}

// metricLabelled reads one labelled metric line from /metrics, by its
// full name with labels; -1 if the server does not answer.
func metricLabelled(t *testing.T, base, name string) float64 {
	t.Helper()
	b, err := httpGet(context.Background(), base+"/metrics")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	t.Errorf("/metrics has no %s", name)
	return 0
}

// largeBodies has workers post complete 64 MiB pouch submissions whose
// tag is junk, as fast as the server takes them, while the valid pouches
// (of a few MiB each) are all posted at once.
func largeBodies(ctx context.Context, base string, workers int, pouches []api.PouchSubmission) string {
	var sent, status4xx, other atomic.Int64
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 30 * time.Second}
	for range workers {
		wg.Go(func() {
			junk := make([]byte, 200)
			for ctx.Err() == nil {
				rand.Read(junk)
				const n = 64<<20 - 300
				body := io.MultiReader(bytes.NewReader(submission(junk, n)), io.LimitReader(zeros{}, n))
				req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/pouches", body)
				req.ContentLength = int64(len(submission(junk, n))) + n
				resp, err := hc.Do(req)
				sent.Add(1)
				if err != nil {
					other.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 400 && resp.StatusCode < 500 {
					status4xx.Add(1)
				} else {
					other.Add(1)
				}
			}
		})
	}
	for _, p := range pouches {
		wg.Go(func() {
			b, _ := record.Marshal(&p)
			req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/pouches", bytes.NewReader(b))
			resp, err := hc.Do(req)
			code := 0
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			statuses[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return fmt.Sprintf("%d posts of 64 MiB with a junk tag by %d workers (%d refused 4xx, %d cut or other); %d valid 3 MiB pouches at once: %v",
		sent.Load(), workers, status4xx.Load(), other.Load(), len(pouches), statuses)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// sealPouches seals n distinct pouches of about size bytes between two
// principals it admits.
func sealPouches(t *testing.T, base string, n, size int) []api.PouchSubmission {
	t.Helper()
	ctx := context.Background()
	c := client.New(base)
	var ps []*keys.Principal
	for _, h := range []record.Handle{"ir/leader", "ir/fm"} {
		p, err := keys.Generate(h)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	_, rk, _ := ed25519.GenerateKey(nil)
	reg := client.Registrar("ir", rk)
	if _, err := c.FoundHouse(ctx, "ir", "", reg, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if _, err := c.Admit(ctx, reg, p.Handle, p.Public().Ed25519, p.Public().Age, ""); err != nil {
			t.Fatal(err)
		}
	}
	text := strings.Repeat("Strong and strategic. ", size/22)
	out := make([]api.PouchSubmission, n)
	for i := range out {
		var payload bytes.Buffer
		s, err := letter.Seal(&payload, &letter.SealRequest{Author: ps[0], To: ps[1].Public(), Sections: []letter.Section{{Title: "Relations", Text: text}}})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = api.PouchSubmission{Tag: s.Tag.Signed.Marshal(), Payload: payload.Bytes()}
	}
	return out
}

// idleConns opens connections past the server's connection cap and its
// descriptor limit, half of them after one request, half sending nothing,
// and keeps them open; in the long run, helper processes open more.
func idleConns(ctx context.Context, t *testing.T, addr string, cfg exhaustConfig, srv *serveProc) string {
	var helpers []*exec.Cmd
	for range cfg.helpers {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestExhaustionHelper$")
		// Each helper connects from a loopback address of its own, so
		// that the connections do not run out of source ports.
		cmd.Env = append(os.Environ(), fmt.Sprintf("POUCH_EXHAUST_HELPER=%s,%d,127.0.0.%d", addr, cfg.helperConn, 10+len(helpers)))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err == nil {
			helpers = append(helpers, cmd)
		}
	}
	before := metric(t, srv.url, "pouch_connections_evicted_total")
	opened, answered, closedByServer := holdIdle(ctx, addr, cfg.idle, "")
	for _, h := range helpers {
		h.Wait()
	}
	evicted := metric(t, srv.url, "pouch_connections_evicted_total") - before
	return fmt.Sprintf("%d idle connections opened here (%d after one request), %d more by %d helper processes; %d closed by the server; %.0f evicted",
		opened, answered, cfg.helpers*cfg.helperConn, cfg.helpers, closedByServer, evicted)
}

// holdIdle opens n connections to addr (from source address src, if
// set), sends one request on every other one, and holds them until ctx is
// done. It returns how many it opened, how many were answered, and how
// many the server closed.
func holdIdle(ctx context.Context, addr string, n int, src string) (opened, answered, closed int64) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	var o, a, c atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			conn, err := d.DialContext(ctx, "tcp", addr)
			<-sem
			if err != nil {
				return
			}
			defer conn.Close()
			o.Add(1)
			br := bufio.NewReader(conn)
			if i%2 == 0 {
				fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
				conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					c.Add(1)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				a.Add(1)
			}
			// Idle: wait until the server closes the connection, or the
			// attack ends.
			conn.SetReadDeadline(deadlineOf(ctx))
			if _, err := br.ReadByte(); err != nil && !os.IsTimeout(err) {
				c.Add(1)
			}
		})
	}
	wg.Wait()
	return o.Load(), a.Load(), c.Load()
}

// TestExhaustionHelper is not a test: TestExhaustion runs the test binary
// with POUCH_EXHAUST_HELPER=ADDR,N,SOURCE to hold N idle connections to
// ADDR from SOURCE in another process, for 30 seconds.
func TestExhaustionHelper(t *testing.T) {
	spec := os.Getenv("POUCH_EXHAUST_HELPER")
	if spec == "" {
		t.Skip("a helper process of TestExhaustion")
	}
	f := strings.Split(spec, ",")
	if len(f) != 3 {
		t.Fatalf("POUCH_EXHAUST_HELPER=%q: not ADDR,N,SOURCE", spec)
	}
	n, _ := strconv.Atoi(f[1])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, _, c := holdIdle(ctx, f[0], n, f[2])
	fmt.Fprintf(os.Stderr, "helper: %d idle connections opened, %d closed by the server\n", o, c)
}

// headerFlood sends header blocks without end: half the connections a
// line every 100 ms (the slow ones), half as fast as they can (the large
// ones).
func headerFlood(ctx context.Context, addr string, n int) string {
	var status431, cut, opened atomic.Int64
	var wg sync.WaitGroup
	line := "X-Flood: " + strings.Repeat("a", 1000) + "\r\n"
	for i := range n {
		wg.Go(func() {
			conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return
			}
			defer conn.Close()
			opened.Add(1)
			fmt.Fprintf(conn, "GET /checkpoint HTTP/1.1\r\nHost: %s\r\n", addr)
			go func() {
				br := bufio.NewReader(conn)
				resp, err := http.ReadResponse(br, nil)
				if err == nil && resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge {
					status431.Add(1)
				}
				conn.Close()
			}()
			for ctx.Err() == nil {
				if _, err := io.WriteString(conn, line); err != nil {
					cut.Add(1)
					return
				}
				if i%2 == 0 {
					select {
					case <-ctx.Done():
					case <-time.After(100 * time.Millisecond):
					}
				}
			}
		})
	}
	wg.Wait()
	return fmt.Sprintf("%d connections sending 1 KB header lines without end (half every 100 ms): %d answered 431, %d cut", opened.Load(), status431.Load(), cut.Load())
}

// hostileCBOR sends bodies crafted to make a decoder allocate, recurse or
// loop, to each endpoint that reads CBOR: each must be refused with a 4xx,
// never a 5xx, at once.
func hostileCBOR(ctx context.Context, t *testing.T, base string, workers int) string {
	nested := bytes.Repeat([]byte{0x81}, 100_000)
	bodies := map[string][]byte{
		"nested arrays":           nested,
		"byte string of 2^63":     {0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"map of 2^32 pairs":       {0xbb, 0, 0, 0, 1, 0, 0, 0, 0},
		"indefinite byte string":  {0x5f, 0x41, 0x00, 0xff},
		"indefinite map":          {0xbf, 0x63, 't', 'a', 'g', 0x40, 0xff},
		"tagged item":             {0xc0, 0x74, '2', '0', '2', '1'},
		"array of 65535 pouches":  {0x99, 0xff, 0xff},
		"tag of 1 MiB":            submission(make([]byte, 1<<20), 1),
		"tag of 2^62 declared":    append([]byte{0xa2, 0x63, 't', 'a', 'g'}, cborBytesHead(1<<62)...),
		"payload of 2^62":         submission([]byte{0x80}, 1<<62),
		"non-shortest length":     {0xa2, 0x63, 't', 'a', 'g', 0x58, 0x01, 0x00},
		"a batch of nested":       append([]byte{0x81}, nested...),
		"a batch of a junk tag":   append([]byte{0x81}, submission(bytes.Repeat([]byte{1}, 1000), 100)...),
		"a record of many sigs":   append([]byte{0x82, 0x59, 0x01, 0x00}, append(make([]byte, 256), 0x99, 0xff, 0xff)...),
		"a map with 256 dup keys": append([]byte{0xb8, 0xff}, bytes.Repeat([]byte{0x61, 'a', 0x00}, 255)...),
	}
	paths := []string{"/v1/records", "/v1/pouches", "/v1/pouches/batch"}
	var sent atomic.Int64
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second}
	names := make([]string, 0, len(bodies))
	for k := range bodies {
		names = append(names, k)
	}
	slices.Sort(names)
	for w := range workers {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i++ {
				name := names[i%len(names)]
				path := paths[(i/len(names))%len(paths)]
				req, _ := http.NewRequestWithContext(ctx, "POST", base+path, bytes.NewReader(bodies[name]))
				req.Header.Set("Content-Type", "application/cbor")
				resp, err := hc.Do(req)
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				sent.Add(1)
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
				if resp.StatusCode >= 500 || resp.StatusCode < 400 {
					t.Errorf("hostile CBOR (%s) to %s: %s %s", name, path, resp.Status, b)
				}
			}
		})
	}
	wg.Wait()
	return fmt.Sprintf("%d hostile bodies (%d kinds, to 3 endpoints): statuses %v", sent.Load(), len(bodies), statuses)
}

// A cpuSample is the busy time of the machine's processors and of some
// processes, in clock ticks (USER_HZ), at one moment.
type cpuSample struct {
	at            time.Time
	machine, ours int64
}

// sampleCPU reads /proc/stat (user, nice, system, irq, softirq and steal:
// time the hypervisor gave to other machines counts as busy) and the
// user and system time of pids.
func sampleCPU(pids ...int) (cpuSample, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuSample{}, false
	}
	s := cpuSample{at: time.Now()}
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return cpuSample{}, false
		}
		s.machine += n
	}
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return cpuSample{}, false
		}
		// The fields after the command's name, which is in parentheses
		// and may hold anything: state is the first, utime the 12th,
		// stime the 13th.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			return cpuSample{}, false
		}
		rest := strings.Fields(string(b[i+1:]))
		if len(rest) < 13 {
			return cpuSample{}, false
		}
		for _, v := range rest[11:13] {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return cpuSample{}, false
			}
			s.ours += n
		}
	}
	return s, true
}

// othersCores returns how many processors, on average from a to b, were
// busy with other processes than the ones sampled.
func (a cpuSample) othersCores(b cpuSample) float64 {
	const ticksPerSecond = 100 // USER_HZ on Linux
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return 0
	}
	return float64((b.machine-a.machine)-(b.ours-a.ours)) / ticksPerSecond / wall
}

// TestOthersCores: a spinning process is counted as others' work, unless
// it is among the processes sampled. What the spinner took is checked
// against its own CPU time as wait4 reports it, not against a whole
// processor: the machine running the tests is rarely quiet.
func TestOthersCores(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	spin := exec.Command(sh, "-c", "while :; do :; done")
	if err := spin.Start(); err != nil {
		t.Fatal(err)
	}
	// Sampled at the same moments, without the spinner and with it.
	a, ok := sampleCPU(os.Getpid())
	aSpin, okSpin := sampleCPU(os.Getpid(), spin.Process.Pid)
	time.Sleep(time.Second)
	b, _ := sampleCPU(os.Getpid())
	bSpin, _ := sampleCPU(os.Getpid(), spin.Process.Pid)
	spin.Process.Kill()
	spin.Wait()
	if !ok || !okSpin {
		t.Skip("no /proc to read")
	}
	took := (spin.ProcessState.UserTime() + spin.ProcessState.SystemTime()).Seconds()
	if took < 0.1 {
		t.Skipf("the spinner ran only %.2f s of its second: the machine is too busy to tell", took)
	}
	wall := b.at.Sub(a.at).Seconds()
	others, othersSpin := a.othersCores(b)*wall, aSpin.othersCores(bSpin)*wall // CPU seconds
	// The samples count in ticks of 10 ms, and the spinner ran a little
	// before the first and after the last.
	if spun := others - othersSpin; spun > took+0.03 || spun < 0.8*took-0.03 {
		t.Errorf("the spinner sampled as ours took %.2f s of CPU between the samples; wait4 says %.2f s in all", spun, took)
	}
	if others < 0.8*took-0.03 {
		t.Errorf("others' work between the samples: %.2f s of CPU, less than the spinner's %.2f s", others, took)
	}
}

// loadAverage returns the machine's one-minute load average, 0 if unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		return 0
	}
	return f
}
