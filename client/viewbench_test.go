package client_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"pouch.dev/client"
	"pouch.dev/internal/biglog"
	"pouch.dev/letter"
)

// The verifying client against big logs (issue 9, "Performance"): a real
// server on loopback over a real store grown by internal/biglog, cached
// between runs in biglog.CacheDir(). The sizes are
// POUCH_VIEWBENCH_LEAVES (comma-separated; default 10000, which grows in
// seconds): growing 10^6 leaves takes a few minutes the first time.
//
//	POUCH_VIEWBENCH_LEAVES=10000,100000,1000000 go test -run '^$' -bench 'View' -benchtime 20x ./client/
func benchSizes(b *testing.B) []int {
	s := os.Getenv("POUCH_VIEWBENCH_LEAVES")
	if s == "" {
		s = "10000"
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1000 {
			b.Fatalf("POUCH_VIEWBENCH_LEAVES=%q: want sizes of at least 1000 leaves, comma-separated", s)
		}
		out = append(out, n)
	}
	return out
}

func openBig(b *testing.B, ctx context.Context, n int) *biglog.Log {
	l, err := biglog.Open(ctx, biglog.CacheDir(), biglog.Params{Leaves: n}, b.Logf)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l.Close)
	return l
}

// A meter counts what a client fetched: the bytes of the responses'
// bodies and the requests. Each command gets a transport of its own, as a
// command line process has.
type meter struct {
	bytes, requests atomic.Int64
}

func (m *meter) client(l *biglog.Log, dir string) (*client.Client, func()) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	c := l.Client(dir)
	c.HTTP = &http.Client{Transport: &meterTransport{m: m, rt: tr}}
	return c, tr.CloseIdleConnections
}

type meterTransport struct {
	m  *meter
	rt http.RoundTripper
}

func (t *meterTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.m.requests.Add(1)
	resp, err := t.rt.RoundTrip(r)
	if err == nil {
		resp.Body = &meterBody{ReadCloser: resp.Body, m: t.m}
	}
	return resp, err
}

type meterBody struct {
	io.ReadCloser
	m *meter
}

func (b *meterBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.m.bytes.Add(int64(n))
	return n, err
}

// viewBytes returns the size of the View files kept in dir.
func viewBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".view") {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// BenchmarkViewWarm is a warm client's overhead per command: a client
// whose View, kept on disk as the command line keeps it, was synced at
// the log's size; then, before each command (not timed), `new` leaves
// are appended, a directory change (key rotation, grant, private grant,
// grant revocation) every 100 of them; then the command, timed, by a new
// client reading that View, as a new process does:
//
//   - sync: catching up (client.View as the acting principal);
//   - open: what `pouch open ID` proves before it decrypts: the pouch's
//     tag, its inclusion proof and its signer's key (Client.Tag), the
//     catch-up included;
//   - send: what `pouch send` proves before it seals: whom to seal to
//     (Client.PlanFor), the catch-up included.
//
// The server runs in the same process: its time is in the figures (it is
// on the command's path), and so are its allocations.
func BenchmarkViewWarm(b *testing.B) {
	ctx := context.Background()
	for _, n := range benchSizes(b) {
		l := openBig(b, ctx, n)
		// One client folder for every command at this size, as one
		// person's: each run catches up first (not timed), then grows.
		dir := b.TempDir()
		for _, k := range []int{1, 100, 1000} {
			for _, cmd := range []string{"sync", "open", "send"} {
				b.Run(fmt.Sprintf("leaves=%d/new=%d/cmd=%s", n, k, cmd), func(b *testing.B) {
					var m meter
					c, done := m.client(l, dir)
					if _, err := c.View(ctx, l.ID(l.Reader)); err != nil {
						b.Fatal(err)
					}
					done()
					every := 100
					if k < every {
						every = 0
					}
					m = meter{}
					var ops []time.Duration
					var cpu time.Duration
					b.ReportAllocs()
					b.ResetTimer()
					for range b.N {
						b.StopTimer()
						if err := l.Grow(ctx, k, every, nil); err != nil {
							b.Fatal(err)
						}
						reader, author := l.ID(l.Reader), l.ID(l.Cast()[0])
						b.StartTimer()
						t0, cpu0 := time.Now(), processCPU()
						c, done := m.client(l, dir)
						var err error
						switch cmd {
						case "sync":
							_, err = c.View(ctx, reader)
						case "open":
							_, err = c.Tag(ctx, l.Pouch, reader)
						case "send":
							_, err = c.PlanFor(ctx, author, &client.Letter{To: l.Reader, Sections: []letter.Section{{Text: "x"}}})
						}
						done()
						ops, cpu = append(ops, time.Since(t0)), cpu+processCPU()-cpu0
						if err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer()
					b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
					b.ReportMetric(float64(median(ops).Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
					b.ReportMetric(float64(m.bytes.Load())/float64(b.N), "fetched-B/op")
					b.ReportMetric(float64(m.requests.Load())/float64(b.N), "requests/op")
					b.ReportMetric(float64(viewBytes(dir)), "view-file-B")
				})
			}
		}
	}
}

// BenchmarkViewFirstSync is a fresh client's first sync: an empty client
// folder, the log's whole directory proven (every leaf read and hashed,
// every directory record fetched, matched and replayed), as the acting
// principal, and the View written to disk. live-MB is the heap the View
// holds once it is done.
func BenchmarkViewFirstSync(b *testing.B) {
	ctx := context.Background()
	for _, n := range benchSizes(b) {
		l := openBig(b, ctx, n)
		b.Run(fmt.Sprintf("leaves=%d", n), func(b *testing.B) {
			var m meter
			var live uint64
			var file int64
			var cpu time.Duration
			b.ReportAllocs()
			for range b.N {
				b.StopTimer()
				dir, err := os.MkdirTemp("", "pouch-viewbench-")
				if err != nil {
					b.Fatal(err)
				}
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				b.StartTimer()
				cpu0 := processCPU()
				c, done := m.client(l, dir)
				v, err := c.View(ctx, l.ID(l.Reader))
				done()
				cpu += processCPU() - cpu0
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				live = max(live, after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc))
				runtime.KeepAlive(v)
				file = viewBytes(dir)
				os.RemoveAll(dir)
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(m.bytes.Load())/float64(b.N)/1e6, "fetched-MB/op")
			b.ReportMetric(float64(m.requests.Load())/float64(b.N), "requests/op")
			b.ReportMetric(float64(live)/1e6, "live-MB")
			b.ReportMetric(float64(file), "view-file-B")
		})
	}
}

// processCPU returns the CPU time this process has used, user and system:
// the client's and the in-process server's.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
