package tessera

import (
	"context"
	"crypto/rand"
	"flag"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var (
	clients    = flag.Int("clients", 1000, "concurrent appenders")
	batchSize  = flag.Uint("batch", 1024, "Tessera WithBatching max size")
	batchAge   = flag.Duration("batchage", 10*time.Millisecond, "Tessera WithBatching max age")
	cpInterval = flag.Duration("cpinterval", 100*time.Millisecond, "Tessera WithCheckpointInterval (its minimum is 100ms)")
	pollPeriod = flag.Duration("poll", 10*time.Millisecond, "PublicationAwaiter poll period")
	entrySize  = flag.Int("entrysize", 288, "entry size in bytes (the signed records of pouch's benchmark are 288 bytes)")
)

func newAppender(b *testing.B) (*Log, func()) {
	l, err := Open(Config{Dir: b.TempDir(), BatchSize: *batchSize, BatchAge: *batchAge, CPInterval: *cpInterval, Poll: *pollPeriod})
	if err != nil {
		b.Fatal(err)
	}
	return l, l.Close
}

func entries(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, *entrySize)
		rand.Read(out[i])
	}
	return out
}

// BenchmarkTesseraAppend: many concurrent clients each add an entry and
// wait until a published checkpoint covers it. Use -benchtime=Nx.
func BenchmarkTesseraAppend(b *testing.B) {
	l, stop := newAppender(b)
	defer stop()
	es := entries(b.N)
	ctx := context.Background()
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(es) {
					return
				}
				if err := l.Add(ctx, es[i]); err != nil {
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
}

// cpuTime returns the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTesseraLatency adds entries at a steady 10,000/s (open loop) and
// reports the time from add to a published checkpoint covering each.
func BenchmarkTesseraLatency(b *testing.B) {
	const rate = 10000
	l, stop := newAppender(b)
	defer stop()
	es := entries(b.N)
	ctx := context.Background()
	lat := make([]time.Duration, len(es))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	const tick = time.Millisecond
	per := rate * int(tick) / int(time.Second)
	for i := 0; i < len(es); {
		time.Sleep(time.Until(start.Add(time.Duration(i/per) * tick)))
		for j := 0; j < per && i < len(es); j, i = j+1, i+1 {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				t0 := time.Now()
				if err := l.Add(ctx, es[i]); err != nil {
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
	b.ReportMetric(float64(len(es))/el.Seconds(), "records/s")
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}
