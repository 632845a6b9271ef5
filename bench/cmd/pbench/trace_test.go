package main

import (
	"bytes"
	"context"
	"runtime/trace"
	"strings"
	"sync"
	"testing"
	"time"

	xtrace "golang.org/x/exp/trace"
)

// TestTraceSummary traces pouch's log appending real records, then checks
// that the summary found the store's writer and the appends' waits, and
// that the buckets add up to the totals.
func TestTraceSummary(t *testing.T) {
	recs := signRecords(128, 4)
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	p, err := openPouch(t.TempDir(), false)
	if err != nil {
		trace.Stop()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(recs))
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(recs); i += 8 {
				if err := p.Add(context.Background(), recs[i]); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	p.Close()
	trace.Stop()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	s, err := summarizeTrace(bytes.NewReader(buf.Bytes()), 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if !s.writer {
		t.Fatal("the store's writer was not found")
	}
	if s.state[xtrace.GoRunning] <= 0 || s.state[xtrace.GoWaiting] <= 0 {
		t.Errorf("the writer's time: %v", s.state)
	}
	if n := len(s.appends); n < 1 || n > len(recs) {
		t.Fatalf("%d appends' waits for %d appends", n, len(recs))
	}
	var running, appends time.Duration
	var ended int
	for _, b := range s.buckets {
		running += b.state[xtrace.GoRunning]
		ended += b.appends
		appends = max(appends, b.appendMax)
	}
	if running != s.state[xtrace.GoRunning] || ended != len(s.appends) || appends != s.appends[len(s.appends)-1] {
		t.Errorf("buckets: running %v, %d appends, longest %v; totals: %v, %d, %v",
			running, ended, appends, s.state[xtrace.GoRunning], len(s.appends), s.appends[len(s.appends)-1])
	}
	// The writer yields after each commit of appends: that is among
	// the causes, and the causes add up to its time runnable.
	var byCause time.Duration
	for _, d := range s.byCause {
		byCause += d
	}
	if _, ok := s.byCause[causeGosched]; !ok || byCause != s.state[xtrace.GoRunnable] {
		t.Errorf("the writer's time runnable by cause: %v, in all %v; runnable %v", s.byCause, byCause, s.state[xtrace.GoRunnable])
	}
	var out strings.Builder
	s.write(&out, 3)
	if !strings.Contains(out.String(), "the store's writer: running") || !strings.Contains(out.String(), "appends' waits for their commit: ") {
		t.Errorf("summary:\n%s", out.String())
	}

	// A trace without the store says so.
	buf.Reset()
	if err := trace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	trace.Stop()
	s, err = summarizeTrace(bytes.NewReader(buf.Bytes()), 0)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	s.write(&out, 3)
	if s.writer || !strings.Contains(out.String(), "not a trace of pouch's SQLite store") {
		t.Errorf("a trace without the store:\n%s", out.String())
	}
}
