package line

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pouch.dev/record"
)

// directPair starts a line over a direct TCP connection on loopback: the
// same TLS and framing, no relay.
func directPair(b *testing.B, a, c Config) (*Line, *Line) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := make(chan dialResult, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			ch <- dialResult{nil, err}
			return
		}
		l, err := Start(ctx, conn, c.Self, a)
		ch <- dialResult{l, err}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	lc, err := Start(ctx, conn, a.Self, c)
	if err != nil {
		b.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		b.Fatal(r.err)
	}
	return r.l, lc
}

// echo sends back every text l receives, until the line ends.
func echo(l *Line) {
	for {
		m, err := l.Receive(context.Background())
		if err != nil {
			return
		}
		if l.Send(m.Text) != nil {
			return
		}
	}
}

func roundTrip(b *testing.B, l *Line, msg string) time.Duration {
	t := time.Now()
	if err := l.Send(msg); err != nil {
		b.Fatal(err)
	}
	m, err := l.Receive(context.Background())
	if err != nil || m.Text != msg {
		b.Fatalf("echo: %v", err)
	}
	return time.Since(t)
}

// BenchmarkRoundTrip measures a 64-byte text's round trip over a relayed
// line and over a direct TLS connection on loopback, interleaved in one run,
// and reports both and their difference.
func BenchmarkRoundTrip(b *testing.B) {
	sp, pr := newPrincipal(b, speaker), newPrincipal(b, president)
	dir := directoryOf(sp, pr)
	_, url := startRelay(b, dir)
	ra, rb := mustDialBoth(b, url, sp.config(dir), pr.config(dir))
	da, db := directPair(b, sp.config(dir), pr.config(dir))
	go echo(rb)
	go echo(db)
	msg := strings.Repeat("m", 64)
	for range 100 { // warm up both paths
		roundTrip(b, ra, msg)
		roundTrip(b, da, msg)
	}
	var direct, relayed time.Duration
	n := 0
	for b.Loop() {
		direct += roundTrip(b, da, msg)
		relayed += roundTrip(b, ra, msg)
		n++
	}
	b.ReportMetric(float64(direct.Microseconds())/float64(n), "direct-µs/rt")
	b.ReportMetric(float64(relayed.Microseconds())/float64(n), "relay-µs/rt")
	b.ReportMetric(float64((relayed-direct).Microseconds())/float64(n), "overhead-µs/rt")
	ra.Abort()
	rb.Abort()
	da.Abort()
	db.Abort()
}

// BenchmarkConcurrentLines opens POUCH_BENCH_LINES lines (default 1000)
// through one relay, then in each iteration every line carries
// POUCH_BENCH_KB kilobytes (default 256) from one end to the other, all
// lines at once. MB/s is the total payload delivered.
func BenchmarkConcurrentLines(b *testing.B) {
	lines := envInt("POUCH_BENCH_LINES", 1000)
	perLine := envInt("POUCH_BENCH_KB", 256) << 10
	const chunk = 16000
	sp, pr := newPrincipal(b, speaker), newPrincipal(b, president)
	dir := directoryOf(sp, pr)
	// Each line is a distinct pair of offices.
	type end struct{ a, c *Line }
	ends := make([]end, lines)
	relay, url := startRelay(b, dir)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	t0 := time.Now()
	type pairOf struct{ a, c principal }
	ps := make([]pairOf, lines)
	for i := range ps {
		pa, pc := newPrincipal(b, speaker), newPrincipal(b, president)
		pa.h += record.Handle("-" + strconv.Itoa(i))
		pc.h += record.Handle("-" + strconv.Itoa(i))
		dir.Keys[pa.h], dir.Keys[pc.h] = pa.pub(), pc.pub()
		ps[i] = pairOf{pa, pc}
	}
	for i := range ends {
		pa, pc := ps[i].a, ps[i].c
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			la, lc, ea, ec := dialBoth(b, url, pa.config(dir), pc.config(dir))
			if ea != nil || ec != nil {
				mu.Lock()
				firstErr = errors.Join(firstErr, ea, ec)
				mu.Unlock()
				return
			}
			ends[i] = end{la, lc}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	b.Logf("%d lines open through the relay in %v (relay reports %d)", lines, time.Since(t0).Round(time.Millisecond), relay.Open())
	text := strings.Repeat("x", chunk)
	b.SetBytes(int64(lines * (perLine / chunk) * chunk))
	cpu0 := cpuTime()
	rounds := 0
	for b.Loop() {
		rounds++
		var wg sync.WaitGroup
		for _, e := range ends {
			wg.Add(2)
			go func() {
				defer wg.Done()
				for range perLine / chunk {
					if err := e.a.Send(text); err != nil {
						b.Error(err)
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				for range perLine / chunk {
					if _, err := e.c.Receive(context.Background()); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	// The machine is shared: report also the throughput per CPU second
	// this process used, times the machine's 2 cores, which is what the
	// relay and its 2,000 endpoints would reach with both cores to
	// themselves.
	if cpu := (cpuTime() - cpu0).Seconds(); cpu > 0 {
		mb := float64(rounds*lines*(perLine/chunk)*chunk) / 1e6
		b.ReportMetric(mb/cpu, "MB/cpu-s")
		b.ReportMetric(2*mb/cpu, "MB/s@2cores")
	}
	for _, e := range ends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.a.Abort()
			e.c.Abort()
		}()
	}
	wg.Wait()
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// cpuTime returns the user and system CPU time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
