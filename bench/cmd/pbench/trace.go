package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

// runTrace summarizes an execution trace of pouch's SQLite store at work
// (pouch serve with POUCH_TRACE=FILE, pbench log or latency with -trace
// FILE): where the store's writer goroutine spent its time, how long the
// appends waited for their commit, and the longest stretches in which
// the writer was runnable but had no processor. Those stretches are what
// the tails of BENCHMARKS.md's HTTP and append-to-checkpoint figures are
// made of on a busy or noisy machine.
func runTrace(args []string) error {
	fs := flags("trace")
	bucket := fs.Duration("bucket", 0, "also print, per `D` of the trace (10ms, say), the writer's time by state and the appends that ended their wait")
	top := fs.Int("top", 10, "how many of the writer's longest waits for a processor to list")
	fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("give one trace file: pbench trace [-bucket D] [-top N] FILE")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	s, err := summarizeTrace(f, *bucket)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	s.write(os.Stdout, *top)
	return nil
}

// The functions that name the goroutines and waits the summary follows.
const (
	writerFunc = "store/sqlite.(*Store).writer"
	appendFunc = "store/sqlite.(*Store).Append"
)

// A traceSummary is what summarizeTrace found.
type traceSummary struct {
	span    time.Duration
	bucket  time.Duration
	writer  bool                            // the store's writer was seen
	state   map[trace.GoState]time.Duration // the writer's time by state
	fsync   time.Duration                   // of its time in system calls, in fsync or fdatasync
	stalls  []stall                         // its stretches runnable, longest first
	byCause map[string]time.Duration        // its time runnable by what made it runnable
	appends []time.Duration                 // each append's wait for its commit, sorted
	buckets []traceBucket                   // per -bucket, if asked
}

// A stall is a stretch in which the writer was runnable, from at (since
// the trace's start) for d, and what made it runnable (runnableCause).
type stall struct {
	at, d time.Duration
	cause string
}

// runnableCause names what made a goroutine runnable, from the state it
// left and its stack then: its own runtime.Gosched (the writer yields
// after a commit, and waits in the global run queue), the end of a system
// call that found no processor free (an fsync, say), a wake-up (a request
// came, a lock was freed), or the scheduler's preemption.
func runnableCause(from trace.GoState, gosched bool) string {
	switch {
	case from == trace.GoRunning && gosched:
		return causeGosched
	case from == trace.GoRunning:
		return causePreempted
	case from == trace.GoSyscall:
		return causeSyscall
	case from == trace.GoWaiting:
		return causeWoken
	}
	return causeCreated
}

// runnableCause's names, and the order the summary prints them in.
const (
	causeGosched   = "after its Gosched"
	causeSyscall   = "after a system call"
	causeWoken     = "woken"
	causePreempted = "preempted"
	causeCreated   = "created"
)

var causes = []string{causeGosched, causeSyscall, causeWoken, causePreempted, causeCreated}

// A traceBucket is one -bucket of the trace.
type traceBucket struct {
	state     map[trace.GoState]time.Duration
	fsync     time.Duration
	appends   int
	appendMax time.Duration
}

// summarizeTrace reads a trace and follows the store's writer and the
// appends' waits; with bucket > 0 it also splits them by bucket.
func summarizeTrace(r io.Reader, bucket time.Duration) (*traceSummary, error) {
	tr, err := trace.NewReader(r)
	if err != nil {
		return nil, err
	}
	s := &traceSummary{bucket: bucket, state: map[trace.GoState]time.Duration{}, byCause: map[string]time.Duration{}}
	type gstate struct {
		state   trace.GoState
		since   time.Duration
		inFsync bool
		appWait bool   // parked in Store.Append
		cause   string // if runnable, what made it so
	}
	gs := map[trace.GoID]*gstate{}
	var writer trace.GoID = trace.NoGoroutine
	var t0 trace.Time
	var last time.Duration
	bk := func(at time.Duration) *traceBucket {
		i := int(at / bucket)
		for len(s.buckets) <= i {
			s.buckets = append(s.buckets, traceBucket{state: map[trace.GoState]time.Duration{}})
		}
		return &s.buckets[i]
	}
	// spread adds [a, b) of the writer's state st to the buckets it spans.
	spread := func(a, b time.Duration, st trace.GoState, fsync bool) {
		for bucket > 0 && a < b {
			end := min(b, (a/bucket+1)*bucket)
			x := bk(a)
			x.state[st] += end - a
			if fsync {
				x.fsync += end - a
			}
			a = end
		}
	}
	for {
		ev, err := tr.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if t0 == 0 {
			t0 = ev.Time()
		}
		at := time.Duration(ev.Time() - t0)
		last = at
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		id := st.Resource.Goroutine()
		from, to := st.Goroutine()
		var inWriter, inAppend, inFsync, inGosched bool
		for f := range ev.Stack().Frames() {
			inWriter = inWriter || strings.HasSuffix(f.Func, writerFunc)
			inAppend = inAppend || strings.HasSuffix(f.Func, appendFunc)
			inFsync = inFsync || strings.HasSuffix(f.Func, ".Xfsync") || strings.HasSuffix(f.Func, ".Xfdatasync")
			inGosched = inGosched || f.Func == "runtime.Gosched"
		}
		if inWriter && writer == trace.NoGoroutine {
			writer = id
			s.writer = true
		}
		g := gs[id]
		if g == nil {
			g = &gstate{state: from, since: at}
			gs[id] = g
		}
		d := at - g.since
		if id == writer {
			s.state[from] += d
			if from == trace.GoSyscall && g.inFsync {
				s.fsync += d
			}
			if from == trace.GoRunnable {
				s.stalls = append(s.stalls, stall{g.since, d, g.cause})
				s.byCause[g.cause] += d
			}
			spread(g.since, at, from, from == trace.GoSyscall && g.inFsync)
		}
		if g.appWait && from == trace.GoWaiting {
			s.appends = append(s.appends, d)
			if bucket > 0 {
				x := bk(at)
				x.appends++
				x.appendMax = max(x.appendMax, d)
			}
		}
		g.state, g.since = to, at
		g.inFsync = to == trace.GoSyscall && inFsync
		g.appWait = to == trace.GoWaiting && inAppend
		if to == trace.GoRunnable {
			g.cause = runnableCause(from, inGosched)
		}
	}
	s.span = last
	slices.SortFunc(s.stalls, func(a, b stall) int { return int(b.d - a.d) })
	slices.Sort(s.appends)
	return s, nil
}

func (s *traceSummary) write(w io.Writer, top int) {
	ms := func(d time.Duration) string { return num(float64(d) / 1e6) }
	fmt.Fprintf(w, "trace: %s ms\n", ms(s.span))
	if !s.writer {
		fmt.Fprintf(w, "no goroutine ran %s: not a trace of pouch's SQLite store at work\n", writerFunc)
		return
	}
	fmt.Fprintf(w, "the store's writer: running %s ms, in system calls %s ms (fsync %s ms), runnable %s ms, waiting (for requests, or a lock) %s ms\n",
		ms(s.state[trace.GoRunning]), ms(s.state[trace.GoSyscall]), ms(s.fsync), ms(s.state[trace.GoRunnable]), ms(s.state[trace.GoWaiting]))
	if n := len(s.appends); n > 0 {
		fmt.Fprintf(w, "appends' waits for their commit: %d, p50 %s ms, p99 %s ms, longest %s ms\n",
			n, ms(s.appends[n/2]), ms(s.appends[n*99/100]), ms(s.appends[n-1]))
	} else {
		fmt.Fprintln(w, "no append waited for its commit in this trace")
	}
	if len(s.stalls) > 0 {
		var parts []string
		for _, c := range causes {
			if d, ok := s.byCause[c]; ok {
				parts = append(parts, fmt.Sprintf("%s %s ms", c, ms(d)))
			}
		}
		fmt.Fprintf(w, "the writer's time runnable, by what made it so: %s\n", strings.Join(parts, ", "))
		fmt.Fprintf(w, "the writer's longest waits for a processor (of %d):\n", len(s.stalls))
		for _, st := range s.stalls[:min(top, len(s.stalls))] {
			fmt.Fprintf(w, "  at %s ms, %s ms, %s\n", ms(st.at), ms(st.d), st.cause)
		}
	}
	if len(s.buckets) == 0 {
		return
	}
	fmt.Fprintln(w, "\nbucket | writer: running | system calls (fsync) | runnable | waiting | appends ended | longest wait")
	for i, b := range s.buckets {
		fmt.Fprintf(w, "%s ms | %s | %s (%s) | %s | %s | %d | %s\n", ms(time.Duration(i)*s.bucket),
			ms(b.state[trace.GoRunning]), ms(b.state[trace.GoSyscall]), ms(b.fsync), ms(b.state[trace.GoRunnable]), ms(b.state[trace.GoWaiting]),
			b.appends, ms(b.appendMax))
	}
}
