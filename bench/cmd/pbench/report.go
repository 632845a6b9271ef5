package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// results are the lines of one run: metadata ("# meta key value") and
// results in Go's benchmark format, the same name once per round.
type results struct {
	meta  map[string]string
	by    map[string][]map[string]float64
	order []string
}

var gomaxprocsSuffix = regexp.MustCompile(`-\d+$`)

func readResults(path string) (*results, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := &results{meta: map[string]string{}, by: map[string][]map[string]float64{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# meta "); ok {
			k, v, _ := strings.Cut(rest, " ")
			r.meta[k] = v
			continue
		}
		fs := strings.Fields(line)
		if len(fs) < 4 || !strings.HasPrefix(fs[0], "Benchmark") {
			continue
		}
		name := gomaxprocsSuffix.ReplaceAllString(strings.TrimPrefix(fs[0], "Benchmark"), "")
		m := map[string]float64{}
		for i := 2; i+1 < len(fs); i += 2 {
			v, err := strconv.ParseFloat(fs[i], 64)
			if err != nil {
				continue
			}
			m[fs[i+1]] = v
		}
		if _, ok := r.by[name]; !ok {
			r.order = append(r.order, name)
		}
		r.by[name] = append(r.by[name], m)
	}
	return r, sc.Err()
}

// vals returns the values of metric unit of every round of name.
func (r *results) vals(name, unit string) []float64 {
	var out []float64
	for _, m := range r.by[name] {
		if v, ok := m[unit]; ok {
			out = append(out, v)
		}
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// med is the median of a metric over the rounds.
func (r *results) med(name, unit string) float64 { return median(r.vals(name, unit)) }

// num formats a figure: thousands separated, three significant digits
// below 1,000.
func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case math.Abs(math.Round(v)) >= 1000:
		s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		if neg {
			return "-" + b.String()
		}
		return b.String()
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
}

// cell is a metric's median over the rounds, with its range when there
// were several.
func (r *results) cell(name, unit string) string {
	v := r.vals(name, unit)
	if len(v) == 0 {
		return "—"
	}
	if len(v) == 1 {
		return num(v[0])
	}
	return fmt.Sprintf("%s (%s–%s)", num(median(v)), num(slices.Min(v)), num(slices.Max(v)))
}

func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "—"
	}
	if x := a / b; x < 10 {
		return fmt.Sprintf("%.2f×", x)
	} else {
		return num(x) + "×"
	}
}

func pct(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f %%", 100*a/b)
}

// pairRatios returns a/b round by round (round i of one against round i of
// the other: each round ran them one after the other).
func (r *results) pairRatios(na, ua, nb, ub string) []float64 {
	a, b := r.vals(na, ua), r.vals(nb, ub)
	var out []float64
	for i := 0; i < len(a) && i < len(b); i++ {
		if b[i] != 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

func ratios(v []float64) string {
	if len(v) == 0 {
		return "—"
	}
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%.2f", x))
	}
	return strings.Join(s, ", ") + "×"
}

// sizesAndClients returns the client counts and log sizes the run used.
func (r *results) params(prefix, key string) []int {
	var out []int
	re := regexp.MustCompile(`(?:^|/)` + key + `=(\d+)`)
	for _, n := range r.order {
		if !strings.HasPrefix(n, prefix) {
			continue
		}
		if m := re.FindStringSubmatch(n); m != nil {
			v, _ := strconv.Atoi(m[1])
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	slices.Sort(out)
	return out
}

const (
	beginMark = "<!-- bench/run: begin (written by bench/run; edits here are overwritten) -->"
	endMark   = "<!-- bench/run: end -->"
)

// runReport writes the bench/run section of BENCHMARKS.md and the plots
// from one run's results.
func runReport(args []string) error {
	fs := flags("report")
	in := fs.String("in", "", "the run's results")
	out := fs.String("out", "BENCHMARKS.md", "the file whose bench/run section to write")
	plots := fs.String("plots", "", "folder for the SVG plots")
	raw := fs.String("raw", "", "where the raw results are kept, to link to")
	fs.Parse(args)
	r, err := readResults(*in)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(*out), *plots)
	if err != nil {
		return err
	}
	if err := writePlots(r, *plots); err != nil {
		return err
	}
	sec := section(r, filepath.ToSlash(rel), *raw)
	old, err := os.ReadFile(*out)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	doc := string(old)
	if i, j := strings.Index(doc, beginMark), strings.Index(doc, endMark); i >= 0 && j > i {
		doc = doc[:i] + sec + doc[j+len(endMark):]
	} else {
		// First time: after the file's introduction, before its first
		// section.
		k := strings.Index(doc, "\n## ")
		if k < 0 {
			doc += "\n" + sec + "\n"
		} else {
			doc = doc[:k+1] + sec + "\n\n" + doc[k+1:]
		}
	}
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, []byte(doc), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, *out)
}

func section(r *results, plots, raw string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := r.meta
	reps, _ := strconv.Atoi(m["reps"])
	rounds := "one round"
	if reps > 1 {
		rounds = fmt.Sprintf("%d rounds, alternating which implementation goes first; each figure is the median with the range over the rounds", reps)
	}
	p("%s\n## One run: `bench/run`\n\n", beginMark)
	p("Command: `bench/run%s` (%s). Every figure below comes from this one run, on one machine, "+
		"peers side by side, all on loopback: %s, %s cores, %s, %s, at commit `%s`; load average %s at the start and %s at the end "+
		"(the machine is shared); %s s after the build. Raw results: `%s`.\n\n",
		map[bool]string{true: " --quick", false: ""}[m["mode"] == "quick"], rounds,
		strings.ReplaceAll(m["cpu"], "_", " "), m["cores"], m["go"], m["date"], m["commit"], m["load-start"], m["load-end"], m["seconds"], raw)

	if f := m["failed"]; f != "" && f != "0" {
		p("**%s benchmark(s) failed in this run**: their cells are empty (—); bench/run names them and keeps their log.\n\n", f)
	}

	// Limits.
	vName := "LimitEd25519Verify/verifier="
	ours := vName + "record.VerifyEd25519"
	verifyAll := r.med(ours, "verify/s/all-cores")
	verifyUS := r.med(ours, "µs/op")
	sqliteRows := r.med("LimitSQLiteInsert/batch=1000", "rows/s")
	p("### The machine's limits\n\n")
	p("Per-core figures are the CPU time of the thread doing the work, so other work on the shared machine does not count against them; all-core figures are wall time.\n\n")
	p("| limit | figure | per second |\n|---|---|---|\n")
	for _, v := range []struct{ name, what string }{
		{"crypto-ed25519", "`crypto/ed25519.Verify`"},
		{"voi-stdlib", "curve25519-voi, `VerifyOptionsStdLib`"},
		{"record.VerifyEd25519", "`record.VerifyEd25519` (curve25519-voi; a signer of 16 valid signatures gets a precomputed table of −A): what pouch uses"},
	} {
		p("| Ed25519 verification, one core: %s | %s µs | %s/s per core, %s/s on all cores |\n", v.what,
			r.cell(vName+v.name, "µs/op"), r.cell(vName+v.name, "verify/s/core"), r.cell(vName+v.name, "verify/s/all-cores"))
	}
	p("| one `fsync` after a 4 KiB write, in the stores' folder | p50 %s µs, p99 %s µs, slowest %s ms; %s µs of the caller's CPU | %s/s |\n",
		r.cell("LimitFsync", "p50-µs"), r.cell("LimitFsync", "p99-µs"), r.cell("LimitFsync", "max-ms"), r.cell("LimitFsync", "CPU-µs/fsync"), r.cell("LimitFsync", "fsync/s"))
	p("| a WAL frame as SQLite writes one (a 24-byte and a 4 KiB `pwrite` into the page cache), one core | %s µs | %s/s per core |\n",
		r.cell("LimitWALFrame", "CPU-µs/frame"), r.cell("LimitWALFrame", "frames/s/core"))
	p("| SQLite batched insert (WAL, `synchronous=FULL`, 1,000 rows of 288 B per transaction) | | %s rows/s |\n", r.cell("LimitSQLiteInsert/batch=1000", "rows/s"))
	for _, h := range []struct{ name, unit, what string }{
		{"sha256", "MB/s/core", "SHA-256, one core"},
		{"blake3-zeebo", "MB/s/core", "BLAKE3 (`github.com/zeebo/blake3`), one core"},
		{"blake3-lukechampine-cpu", "MB/s/core", "BLAKE3 (`lukechampine.com/blake3`), per core of CPU time"},
		{"sha256-2way", "MB/s/all-cores", "SHA-256 over two halves on two cores, wall time (best run)"},
		{"blake3-lukechampine", "MB/s/all-cores", "BLAKE3 (`lukechampine.com/blake3`, which hashes on every core), wall time (best run)"},
	} {
		p("| %s | | %s MB/s |\n", h.what, r.cell("LimitHash/hash="+h.name, h.unit))
	}
	p("| age encryption, one core (hybrid ML-KEM-768 + X25519 recipient, 64 MiB) | | %s MB/s |\n", r.cell("LimitAge/op=encrypt", "MB/s/core"))
	p("| age decryption, one core | | %s MB/s |\n\n", r.cell("LimitAge/op=decrypt", "MB/s/core"))
	p("Side by side, `record.VerifyEd25519` takes %s of `crypto/ed25519`'s time per verification (%s µs against %s µs).\n\n",
		pct(verifyUS, r.med(vName+"crypto-ed25519", "µs/op")), num(verifyUS), num(r.med(vName+"crypto-ed25519", "µs/op")))

	// Log appends.
	clients := r.params("LogAppend/", "clients")
	p("### Log appends\n\n")
	p("In process, each client appending one 288-byte signed record at a time and waiting until a published checkpoint covers it. "+
		"pouch verifies each record (`record.Verify`: strict decoding, then `record.VerifyEd25519`) and commits it to SQLite (WAL, `synchronous=FULL`, group commit); "+
		"Tessera's POSIX appender (v1.0.4) gets the same bytes and verifies nothing; \"Tessera + verify\" runs the same `record.Verify` in front of every append. "+
		"CPU is the process's, per record. The limits: two cores of `record.VerifyEd25519` (%s verifications/s), and SQLite's batched insert (%s rows/s).\n\n", num(verifyAll), num(sqliteRows))
	p("![appends per second against concurrent clients](%s/clients-throughput.svg) ![append latency against concurrent clients](%s/clients-latency.svg)\n\n", plots, plots)
	p("| clients | pouch: records/s | CPU µs/record | Tessera POSIX: records/s | CPU µs | Tessera + verify: records/s | CPU µs | pouch ÷ Tessera + verify | pouch ÷ Tessera | pouch's CPU beyond verification ÷ Tessera's | pouch ÷ its limits: verification, SQLite |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range clients {
		n := func(impl string) string { return fmt.Sprintf("LogAppend/impl=%s/clients=%d", impl, c) }
		pcpu := r.med(n("pouch"), "CPU-µs/record")
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", num(float64(c)),
			r.cell(n("pouch"), "records/s"), r.cell(n("pouch"), "CPU-µs/record"),
			r.cell(n("tessera"), "records/s"), r.cell(n("tessera"), "CPU-µs/record"),
			r.cell(n("tessera-verify"), "records/s"), r.cell(n("tessera-verify"), "CPU-µs/record"),
			ratios(r.pairRatios(n("pouch"), "records/s", n("tessera-verify"), "records/s")),
			ratios(r.pairRatios(n("pouch"), "records/s", n("tessera"), "records/s")),
			ratio(pcpu-verifyUS, r.med(n("tessera"), "CPU-µs/record")),
			pct(r.med(n("pouch"), "records/s"), verifyAll)+", "+pct(r.med(n("pouch"), "records/s"), sqliteRows))
	}
	p("\n")

	// Latency.
	p("### Append to published checkpoint at 10,000 records/s\n\n")
	p("Records sent on schedule (open loop), time from the append to a published checkpoint covering the record. "+
		"\"pouch + witness\": every checkpoint cosigned by a pouch witness over HTTP on loopback before it is published. "+
		"The floor: one `fsync` (p50 %s µs). For pouch, what the latency is made of: \"durable\", the append alone (verified, group-committed, fsync'd), "+
		"the rest the wait for the sequencer's round (leaves hashed into the tiles, checkpoint signed, tiles and checkpoint committed, witness asked); "+
		"and how many checkpoints it published per second.\n\n", r.cell("LimitFsync", "p50-µs"))
	p("| log | offered/s | p50 ms | p99 ms | max ms | p99 in each round | p50 ÷ one fsync | durable p50 ms | durable p99 ms | checkpoints/s |\n|---|---|---|---|---|---|---|---|---|---|\n")
	fsync := r.med("LimitFsync", "p50-µs") / 1000
	short := false
	for _, l := range []struct{ impl, what string }{
		{"pouch", "pouch"}, {"pouch-witness", "pouch + witness"}, {"tessera", "Tessera POSIX"}, {"tessera-verify", "Tessera + verify"},
	} {
		n := "LogLatency/impl=" + l.impl + "/rate=10000"
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", l.what, r.cell(n, "offered/s"), r.cell(n, "p50-ms"), r.cell(n, "p99-ms"), r.cell(n, "max-ms"), list(r.vals(n, "p99-ms"), " ms"), ratio(r.med(n, "p50-ms"), fsync),
			r.cell(n, "durable-p50-ms"), r.cell(n, "durable-p99-ms"), r.cell(n, "checkpoints/s"))
		for _, o := range r.vals(n, "offered/s") {
			if o < 9500 {
				short = true
			}
		}
	}
	if short {
		p("\nIn some rounds the load generator itself could not send 10,000 records/s (\"offered/s\" below 9,500): the cores were taken, by the log under test in the same process and by other work on the shared machine, and those rounds measure a log that could not keep up, not its latency at 10,000/s.\n")
	}
	p("\n")

	// HTTP.
	p("### Over HTTP, the load generator in its own process\n\n")
	size := r.med("HTTP/server=pouch/batch=1", "bytes_per_pouch")
	p("pouch: `pouch serve --open` in one process, `pouch bench --server` in another, 64 workers; a pouch is a 1 KiB letter sealed to two recipients, "+
		"%s bytes with its tag, acknowledged once verified, checked against the directory, durably stored (`synchronous=FULL`) and given a log index. "+
		"JetStream: `pbench js` publishing %s-byte messages to a file-backed stream from 64 workers, each waiting for its acknowledgement: "+
		"Debian's nats-server %s as its package runs it (it acknowledges before `fsync`), and nats-server %s built from the Go module proxy with `sync_interval: always`. "+
		"Server CPU is the server process's alone. Half load: half of the rate measured at saturation, open loop.", num(size), num(size), orDash(m["nats-debian"]), m["nats-current"])
	if n := m["load-nice"]; n != "" && n != "0" {
		p(" Every load generator here (`pouch bench`, `pbench floor`'s, `pbench js`) runs at nice %s, the servers at the priority they were started with: "+
			"on processors shared with the server it measures, a load generator then takes them when the server does not want them, and waits for them itself in turn (BENCHMARKS.md, \"The HTTP tail at half load: partly the load generator's\").", n)
	}
	p("\n\n")
	hp := func(b int) string { return fmt.Sprintf("HTTP/server=pouch/batch=%d", b) }
	js := func(s string) string { return "JetStream/server=" + s + "/workers=64" }
	jsh := func(s string) string { return "JetStreamHalfLoad/server=" + s }
	p("| figure | pouch, one per request | pouch, 64 per request | JetStream, `sync_interval: always` | JetStream (Debian %s, no fsync) | pouch (one per request) ÷ JetStream fsync'd |\n|---|---|---|---|---|---|\n", orDash(m["nats-debian"]))
	p("| acknowledged per second, at saturation | %s | %s | %s | %s | %s |\n", r.cell(hp(1), "pouches_per_s"), r.cell(hp(64), "pouches_per_s"),
		r.cell(js("current"), "msgs/s"), r.cell(js("debian"), "msgs/s"), ratios(r.pairRatios(hp(1), "pouches_per_s", js("current"), "msgs/s")))
	p("| server CPU µs per acknowledged message | %s | %s | %s | %s | %s |\n", r.cell(hp(1), "server_cpu_us_per_pouch"), r.cell(hp(64), "server_cpu_us_per_pouch"),
		r.cell(js("current"), "server-CPU-µs/msg"), r.cell(js("debian"), "server-CPU-µs/msg"), ratio(r.med(hp(1), "server_cpu_us_per_pouch"), r.med(js("current"), "server-CPU-µs/msg")))
	p("| p99 ms at saturation | %s | %s | %s | %s | |\n", r.cell(hp(1), "p99_ms"), r.cell(hp(64), "p99_ms"), r.cell(js("current"), "p99-ms"), r.cell(js("debian"), "p99-ms"))
	p("| p50 ms at half load | %s | %s | %s | %s | |\n", r.cell(hp(1), "half_p50_ms"), r.cell(hp(64), "half_p50_ms"), r.cell(jsh("current"), "p50-ms"), r.cell(jsh("debian"), "p50-ms"))
	p("| p99 ms at half load | %s | %s | %s | %s | |\n", r.cell(hp(1), "half_p99_ms"), r.cell(hp(64), "half_p99_ms"), r.cell(jsh("current"), "p99-ms"), r.cell(jsh("debian"), "p99-ms"))
	if len(r.vals(hp(1), "half_commits")) > 0 {
		// From the server's /metrics, by pouch bench: its commits (the
		// WAL's write and fsync) during the half-load phase.
		p("| the server's commits during the half-load phase | %s | %s | | | |\n", r.cell(hp(1), "half_commits"), r.cell(hp(64), "half_commits"))
		p("| of those, over 10 ms | %s | %s | | | |\n", r.cell(hp(1), "half_commits_over_10ms"), r.cell(hp(64), "half_commits_over_10ms"))
		p("| the slowest, within (ms, a bucket of the server's histogram) | %s | %s | | | |\n", r.cell(hp(1), "half_commit_max_le_ms"), r.cell(hp(64), "half_commit_max_le_ms"))
		p("| 99 %% of the server's appends to its store then, from the call until durable, within (ms, a bucket) | %s | %s | | | |\n", r.cell(hp(1), "half_append_p99_le_ms"), r.cell(hp(64), "half_append_p99_le_ms"))
		if len(r.vals(hp(1), "half_handler_over_10ms")) > 0 {
			// The same phase's requests over 10 ms by the server's clock
			// (its handlers, from their start to the answer sent) and by
			// the load generator's: what only the second counts was slow
			// outside the handlers.
			p("| requests over 10 ms at half load, by the load generator's clock | %s | %s | | | |\n", r.cell(hp(1), "half_over_10ms"), r.cell(hp(64), "half_over_10ms"))
			p("| of those, by the server's clock (its handlers, from their start to the answer sent) | %s | %s | | | |\n", r.cell(hp(1), "half_handler_over_10ms"), r.cell(hp(64), "half_handler_over_10ms"))
		}
	}
	p("| load generator's CPU µs per pouch | %s | %s | | | |\n", r.cell(hp(1), "client_cpu_us_per_pouch"), r.cell(hp(64), "client_cpu_us_per_pouch"))
	p("| pouch ÷ its limit (two cores of `record.VerifyEd25519`) | %s | %s | | | |\n\n", pct(r.med(hp(1), "pouches_per_s"), verifyAll), pct(r.med(hp(64), "pouches_per_s"), verifyAll))
	if len(r.vals("HTTPFloor", "server-CPU-µs/req")) > 0 {
		const fd = "HTTPFloorDurable"
		p("The floor under these figures (`pbench floor`, after each round's pouch run): a Go `net/http` server in a process of its own whose handler reads the body and answers 201, "+
			"nothing verified or stored, posted the same %s bytes by 64 clients over keep-alive connections, at saturation (the least a request costs a Go server here: "+
			"a busy server takes several requests per wake-up), then open loop at half of that round's pouch rate. "+
			"The durable floor (`pbench floor -durable`) is the same server answering only once the body is on disk: one writer goroutine writes every body waiting with one `pwrite` "+
			"and one `fdatasync` (group commit, as pouch's store does), the least a server whose acknowledgement means \"stored\" does here; its latency meets the disk's stalls, "+
			"which the bare floor never does.\n\n", num(r.med("HTTPFloor", "B/req")))
		p("| figure | bare Go HTTP server | durable floor | pouch, one per request | pouch ÷ bare floor | pouch ÷ durable floor |\n|---|---|---|---|---|---|\n")
		row := func(what, fu, pu string) {
			p("| %s | %s | %s | %s | %s | %s |\n", what, r.cell("HTTPFloor", fu), r.cell(fd, fu), r.cell(hp(1), pu),
				ratios(r.pairRatios(hp(1), pu, "HTTPFloor", fu)), ratios(r.pairRatios(hp(1), pu, fd, fu)))
		}
		row("server CPU µs per request, at saturation", "server-CPU-µs/req", "server_cpu_us_per_pouch")
		row("requests per second, at saturation", "req/s", "pouches_per_s")
		row("p50 ms at half of pouch's rate", "half-p50-ms", "half_p50_ms")
		row("p99 ms at half of pouch's rate", "half-p99-ms", "half_p99_ms")
		beyond := func(floor string) string {
			var own []float64
			pc, fc := r.vals(hp(1), "server_cpu_us_per_pouch"), r.vals(floor, "server-CPU-µs/req")
			for i := 0; i < len(pc) && i < len(fc); i++ {
				own = append(own, pc[i]-fc[i]-verifyUS)
			}
			return list(own, " µs")
		}
		p("| pouch's server CPU beyond the floor and its one verification (%s µs) | | | | %s | %s |\n\n", num(verifyUS), beyond("HTTPFloor"), beyond(fd))
	}

	// Log size.
	sizes := r.params("Proof/", "leaves")
	p("### Against the log's size\n\n")
	p("Each log grown straight into the store (synthetic entries in batches of `store.MaxBatch`, sequenced as they come; kept between runs), then, at that size: " +
		"an inclusion proof of a random leaf and a consistency proof from a random size (tiles read from SQLite, proof hashed, one goroutine), " +
		"first as a server meets them (the log's in-process tile cache as the previous proofs left it: at 10,000 leaves it holds every tile, at 10^7 a fraction), " +
		"then with that cache emptied before each proof (\"cache emptied\": the same state at every size, every tile the proof needs read from SQLite and hashed inside), " +
		"and appends of real signed records from 1,000 clients as above.\n\n")
	p("![appends per second against log size](%s/size-throughput.svg) ![proof latency against log size](%s/size-latency.svg)\n\n", plots, plots)
	p("| leaves | inclusion proof p50 µs | p99 µs | consistency proof p50 µs | p99 µs | inclusion, cache emptied: p50 µs | p99 µs | consistency, cache emptied: p50 µs | p99 µs | appends/s (1,000 clients) | CPU µs/record |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range sizes {
		n := fmt.Sprintf("Proof/leaves=%d", s)
		a := fmt.Sprintf("LogAppendAtSize/leaves=%d/clients=1000", s)
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", num(float64(s)), r.cell(n, "inclusion-p50-µs"), r.cell(n, "inclusion-p99-µs"),
			r.cell(n, "consistency-p50-µs"), r.cell(n, "consistency-p99-µs"),
			r.cell(n, "inclusion-cold-p50-µs"), r.cell(n, "inclusion-cold-p99-µs"), r.cell(n, "consistency-cold-p50-µs"), r.cell(n, "consistency-cold-p99-µs"),
			r.cell(a, "records/s"), r.cell(a, "CPU-µs/record"))
	}
	p("\n")

	// Letters.
	p("### Letters: sealing and bulk, against age\n\n")
	p("`go test ./letter -bench '1KiB|64MiB'`: each iteration times the pouch operation and age's alone on the same input, one after the other (see \"Letters and pouches\" below). " +
		"The limits: age's throughput on one core (above).\n\n")
	p("| benchmark | pouch | age alone | pouch ÷ age (time) | pouch's throughput ÷ age's |\n|---|---|---|---|---|\n")
	for _, n := range r.order {
		if !strings.Contains(n, "Letter1KiB") && !strings.Contains(n, "64MiB") {
			continue
		}
		if strings.Contains(n, "64MiB") {
			p("| `%s` | %s MB/s | %s MB/s | %s× | %s %% |\n", n, r.cell(n, "pouch-MB/s"), r.cell(n, "base-MB/s"), r.cell(n, "x"), r.cell(n, "%throughput"))
		} else {
			p("| `%s` | %s ms | %s ms | %s× | |\n", n, num(r.med(n, "pouch-ns/op")/1e6), num(r.med(n, "base-ns/op")/1e6), r.cell(n, "x"))
		}
	}
	p("\n")
	model64(&b, r)

	// Goals.
	p("### The goals of issue 15, from this run\n\n")
	goals(&b, r, clients, sizes, verifyUS)
	p("\n%s", endMark)
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func list(v []float64, unit string) string {
	if len(v) == 0 {
		return "—"
	}
	var s []string
	for _, x := range v {
		s = append(s, num(x))
	}
	return strings.Join(s, ", ") + unit
}

// model64 states, from this run's limits, the most a 64 MiB pouch can
// reach against age under each design of the attachment commitment (the
// passes each must make on two cores, in the order it allows them), and
// what follows for the 64 MiB question.
func model64(b *strings.Builder, r *results) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	enc, dec := r.med("LimitAge/op=encrypt", "MB/s/core"), r.med("LimitAge/op=decrypt", "MB/s/core")
	sha := r.med("LimitHash/hash=sha256", "MB/s/core")
	bl := math.NaN()
	for _, n := range []string{"blake3-zeebo", "blake3-lukechampine-cpu"} {
		if v := r.med("LimitHash/hash="+n, "MB/s/core"); !math.IsNaN(v) && (math.IsNaN(bl) || v > bl) {
			bl = v
		}
	}
	if math.IsNaN(enc) || math.IsNaN(sha) || math.IsNaN(bl) {
		return
	}
	a, d, s, k := 1/enc, 1/dec, 1/sha, 1/bl // seconds per MB on one core
	// two is the time of work on two cores whose longest serial part is
	// longest and whose sum is total.
	two := func(longest, total float64) float64 { return math.Max(longest, total/2) }
	type design struct {
		what       string
		seal, open float64 // seconds per MB
	}
	ds := []design{
		{"today: SHA-256 of the attachment in the author's signed header (pass 1, which must end before age starts), SHA-256 of the age file while age encrypts (pass 2)",
			s + two(math.Max(a, s), a+s), two(math.Max(d, s), d+2*s)},
		{"pass 1 as a tree of SHA-256 over both cores", s/2 + two(math.Max(a, s), a+s), two(math.Max(d, s), d+2*s)},
		{"BLAKE3 for both digests, pass 1 over both cores", k/2 + two(math.Max(a, k), a+k), two(math.Max(d, k), d+2*k)},
		{"commitments after the attachments, SHA-256: both hashes while age encrypts", two(math.Max(a, s), a+2*s), two(math.Max(d, s), d+2*s)},
		{"commitments after the attachments, BLAKE3", two(math.Max(a, k), a+2*k), two(math.Max(d, k), d+2*k)},
	}
	p("#### The 64 MiB question\n\n")
	p("What each design of the attachment commitment and payload digest allows at most on two cores, from this run's per-core figures "+
		"(age %s MB/s encrypting and %s MB/s decrypting; SHA-256 %s MB/s; BLAKE3 %s MB/s, the faster module): the passes it must make, "+
		"in the order it allows them, with nothing for copies and hand-offs. Sealing must also hash what it encrypts and opening what it decrypts, "+
		"whatever the design, since a pouch's payload digest lets every carrier check every byte without a key.\n\n", num(enc), num(dec), num(sha), num(bl))
	p("| design | sealing, at most, of age's throughput | opening, at most | 64 MiB sealed in, at least |\n|---|---|---|---|\n")
	bestSeal, bestAt := 0.0, 0
	for i, x := range ds {
		p("| %s | %.0f %% | %.0f %% | %.0f ms |\n", x.what, 100*a/x.seal, 100*d/x.open, x.seal*64*1.048576*1000)
		if a/x.seal > bestSeal {
			bestSeal, bestAt = a/x.seal, i
		}
	}
	measured := r.med("Seal64MiB", "%throughput")
	measuredOpen := r.med("Open64MiB", "%throughput")
	// With the commitments after the attachments, sealing reaches 90 % only
	// if (a+2h)/2 <= a/0.9, i.e. the hash is at least 1/(1/0.9-1/2) = 1.64
	// times as fast as age on one core.
	need := 1 / (1/0.9 - 0.5)
	today, best := ds[0], ds[bestAt]
	p("\n")
	p("90 %% needs both digests computed beside age's pass (commitments after the attachments) with a hash at least %.2f times as fast as age on one core: "+
		"in this run BLAKE3 is %.2f times, SHA-256 %.2f times; these ratios move from run to run on this shared machine, which puts the best design on either side of 90 %%. ",
		need, bl/enc, sha/enc)
	if bestSeal >= 0.9 {
		p("Here the best, %s, allows %.0f %% for sealing. ", best.what, 100*bestSeal)
	} else {
		p("Here no design reaches it: the best, %s, allows %.0f %%. ", best.what, 100*bestSeal)
	}
	p("Today's format allows %.0f %% for sealing and %.0f %% for opening, and measures %s %% and %s %%.\n\n", 100*a/today.seal, 100*d/today.open, num(measured), num(measuredOpen))
	gain := (today.seal - best.seal) * 64 * 1.048576 * 1000 // ms
	link := 64 * 1.048576 * 8 / 1000 * 1000                 // ms for 64 MiB at 1 Gbit/s
	p("**Decision: the current format stays.** What a new version would buy is at most %.0f ms per 64 MiB sealed on two cores (%.0f ms against %.0f ms), "+
		"%.0f %% of the %.0f ms that 64 MiB takes to cross a 1 Gbit/s link, and nothing for letters without large attachments. What it would cost:\n\n",
		gain, best.seal*64*1.048576*1000, today.seal*64*1.048576*1000, 100*gain/link, link)
	p("- Both digests are SHA-256 (FIPS 180-4) of files a person holds: the attachment (`sha256sum annex.pdf` against the author's signed header) and the age file " +
		"(`sha256sum letter.age` against the tag), so every carrier, addressee and third party given one attachment checks them with standard tools and no pouch code. " +
		"BLAKE3 is not a FIPS-approved hash, which correspondents bound to approved algorithms need, and would be a second hash family in the spec, every verifier and `go.mod`; " +
		"a tree of SHA-256 would be pouch's own format (and reaches only the second row).\n")
	p("- The author's signed header comes first in the plaintext, so an opener knows every attachment's name, size and digest, signed, before it decrypts a byte of them, " +
		"and refuses early with bounded memory. With the commitments after the attachments they are signed only at the end: a streaming opener must hold, or read twice, " +
		"what it cannot yet check.\n")
	p("- Every pouch sealed so far stays in version 1, so a second version doubles, for good, what every reader of the format must implement and test.\n\n")
}

func goals(b *strings.Builder, r *results, clients, sizes []int, verifyUS float64) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	met := func(ok bool) string {
		if ok {
			return "**met**"
		}
		return "**not met**"
	}
	all := func(v []float64, f func(float64) bool) bool {
		if len(v) == 0 {
			return false
		}
		for _, x := range v {
			if !f(x) {
				return false
			}
		}
		return true
	}
	p("| goal | from this run | |\n|---|---|---|\n")
	if len(clients) > 0 {
		c := clients[len(clients)-1]
		n := func(impl string) string { return fmt.Sprintf("LogAppend/impl=%s/clients=%d", impl, c) }
		rv := r.pairRatios(n("pouch"), "records/s", n("tessera-verify"), "records/s")
		p("| log appends ≥ 1.5× Tessera with the same verifier in front (%s clients, every round) | %s | %s |\n", num(float64(c)), ratios(rv), met(all(rv, func(x float64) bool { return x >= 1.5 })))
		var beyond []float64
		pc, tc := r.vals(n("pouch"), "CPU-µs/record"), r.vals(n("tessera"), "CPU-µs/record")
		for i := 0; i < len(pc) && i < len(tc); i++ {
			beyond = append(beyond, (pc[i]-verifyUS)/tc[i])
		}
		p("| pouch's CPU per record beyond its verification (%s µs) ≤ Tessera's whole CPU per record | %s | %s |\n", num(verifyUS), ratios(beyond), met(all(beyond, func(x float64) bool { return x <= 1 })))
		rt := r.pairRatios(n("pouch"), "records/s", n("tessera"), "records/s")
		p("| stretch: log appends ≥ 1.0× Tessera's POSIX appender verifying nothing | %s | %s |\n", ratios(rt), met(all(rt, func(x float64) bool { return x >= 1 })))
	}
	lat := r.vals("LogLatency/impl=pouch/rate=10000", "p99-ms")
	p("| p99 append → published checkpoint at 10,000/s under 100 ms in every round | %s (with a witness: %s) | %s |\n", list(lat, " ms"),
		list(r.vals("LogLatency/impl=pouch-witness/rate=10000", "p99-ms"), " ms"), met(all(lat, func(x float64) bool { return x < 100 })))
	cpu := r.vals("HTTP/server=pouch/batch=1", "server_cpu_us_per_pouch")
	floor := ""
	if f := r.vals("HTTPFloor", "server-CPU-µs/req"); len(f) > 0 {
		floor = fmt.Sprintf(" (a bare Go HTTP server here: %s; with one verification: %s µs", list(f, " µs"), num(median(f)+verifyUS))
		if d := r.vals("HTTPFloorDurable", "server-CPU-µs/req"); len(d) > 0 {
			floor += fmt.Sprintf("; answering after a group-committed fdatasync: %s, with one verification: %s µs", list(d, " µs"), num(median(d)+verifyUS))
		}
		floor += ")"
	}
	p("| HTTP: server CPU per acknowledged pouch (one per request) under 100 µs | %s%s | %s |\n", list(cpu, " µs"), floor, met(all(cpu, func(x float64) bool { return x < 100 })))
	hl := r.vals("HTTP/server=pouch/batch=1", "half_p99_ms")
	floor = ""
	if f := r.vals("HTTPFloor", "half-p99-ms"); len(f) > 0 {
		floor = fmt.Sprintf(" (a bare Go HTTP server at the same rate: %s", list(f, " ms"))
		if d := r.vals("HTTPFloorDurable", "half-p99-ms"); len(d) > 0 {
			floor += fmt.Sprintf("; one answering after a group-committed fdatasync: %s", list(d, " ms"))
			// A durable floor over the goal means the disk stalled in
			// that round: no server that acknowledges what it stored
			// could have met it there.
			var stalled []string
			for i, x := range d {
				if x >= 10 {
					stalled = append(stalled, strconv.Itoa(i+1))
				}
			}
			if len(stalled) > 0 {
				floor += fmt.Sprintf(", over 10 ms itself in round %s: the disk stalled", strings.Join(stalled, ", "))
			}
		}
		floor += ")"
	}
	// pouch's own commits in that phase (pouch bench reads them from the
	// server's /metrics): a few slow fsyncs hold up every request
	// waiting meanwhile, and their slowest says whether the tail is the
	// disk's.
	if mx := r.vals("HTTP/server=pouch/batch=1", "half_commit_max_le_ms"); len(mx) > 0 {
		var over []string
		for _, x := range r.vals("HTTP/server=pouch/batch=1", "half_commits_over_10ms") {
			over = append(over, strconv.FormatFloat(x, 'f', 0, 64))
		}
		own := fmt.Sprintf("pouch's slowest commit in that phase (its WAL's write and `fsync`): within %s, with %s of its commits over 10 ms",
			list(mx, " ms"), strings.Join(over, ", "))
		if ap := r.vals("HTTP/server=pouch/batch=1", "half_append_p99_le_ms"); len(ap) > 0 {
			own += fmt.Sprintf("; 99 %% of its appends to its store, queue included, within %s", list(ap, " ms"))
		}
		if floor == "" {
			floor = " (" + own + ")"
		} else {
			floor = strings.TrimSuffix(floor, ")") + "; " + own + ")"
		}
	}
	p("| HTTP: p99 acknowledgement under 10 ms at half load (one per request) | %s%s | %s |\n", list(hl, " ms"), floor, met(all(hl, func(x float64) bool { return x < 10 })))
	jr := r.pairRatios("HTTP/server=pouch/batch=1", "pouches_per_s", "JetStream/server=current/workers=64", "msgs/s")
	p("| HTTP: pouches/s ≥ 0.5× JetStream's fsync'd durable publish | %s | %s |\n", ratios(jr), met(all(jr, func(x float64) bool { return x >= 0.5 })))
	if len(sizes) > 1 {
		lo, hi := sizes[0], sizes[len(sizes)-1]
		// Judged with the tile cache emptied before each proof: the same
		// state at every size. With the cache as the proofs leave it, a
		// small log is served from memory and a large one partly from
		// SQLite, which compares a map lookup with a read, not sizes.
		a := r.med(fmt.Sprintf("Proof/leaves=%d", lo), "inclusion-cold-p50-µs")
		z := r.med(fmt.Sprintf("Proof/leaves=%d", hi), "inclusion-cold-p50-µs")
		wa := r.med(fmt.Sprintf("Proof/leaves=%d", lo), "inclusion-p50-µs")
		wz := r.med(fmt.Sprintf("Proof/leaves=%d", hi), "inclusion-p50-µs")
		// Logarithmic: a proof of a tree of n leaves has log2(n) hashes.
		bound := 2 * math.Log2(float64(hi)) / math.Log2(float64(lo))
		p("| proof latency flat (logarithmic) up to 10^7 leaves: inclusion p50 with the tile cache emptied before each proof, at %s leaves ÷ at %s, at most %.1f (twice the ratio of the proofs' lengths) | %s (with the cache as the proofs leave it: %s) | %s%s |\n",
			num(float64(hi)), num(float64(lo)), bound, ratio(z, a), ratio(wz, wa), met(z/a <= bound && hi >= 10_000_000), map[bool]string{true: "", false: " (this run stopped below 10^7)"}[hi >= 10_000_000])
	}
}
