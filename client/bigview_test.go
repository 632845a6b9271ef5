package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"pouch.dev/client"
	"pouch.dev/internal/biglog"
	"pouch.dev/tlog"
)

// lyingBundle serves entry bundle n changed by f, and every other answer
// as the server gives it.
type lyingBundle struct {
	n  uint64
	f  func([][]byte) [][]byte
	rt http.RoundTripper
}

func (l *lyingBundle) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(r)
	if err != nil || !strings.HasPrefix(r.URL.Path, "/tile/entries/") {
		return resp, err
	}
	tp, err := tlog.ParseTilePath(strings.TrimPrefix(r.URL.Path, "/"))
	if err != nil || tp.Index != l.n {
		return resp, nil
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	es, err := tlog.ParseEntryBundle(b)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, e := range l.f(es) {
		out = tlog.AppendEntry(out, e)
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// TestBigView: a first sync of a log of many entry bundles, fetched
// several at a time (more than the client holds at once), proves the
// log; a lie in a bundle far from the first, with bundles after it, is
// caught by name, and nothing of the sync is kept: the next, truthful,
// sync proves the log from the start.
func TestBigView(t *testing.T) {
	if testing.Short() {
		t.Skip("grows a log of 12,000 leaves")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, err := biglog.Open(ctx, t.TempDir(), biglog.Params{Leaves: 12000, Houses: 2, Offices: 4, DirEvery: 1000}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	reader := l.ID(l.Reader)
	for _, lie := range []struct {
		name string
		f    func([][]byte) [][]byte
		want error
		msg  string
	}{
		{"a leaf left out", func(es [][]byte) [][]byte { return es[1:] }, client.ErrMismatch, "entry bundle 40"},
		{"a leaf changed", func(es [][]byte) [][]byte {
			es[7] = bytes.Clone(es[7])
			es[7][len(es[7])-1] ^= 1
			return es
		}, tlog.ErrFork, "do not hash to the checkpoint's root"},
	} {
		t.Run(lie.name, func(t *testing.T) {
			dir := t.TempDir()
			c := l.Client(dir)
			c.HTTP = &http.Client{Transport: &lyingBundle{n: 40, f: lie.f, rt: http.DefaultTransport}}
			_, err := c.View(ctx, reader)
			if !errors.Is(err, lie.want) || !strings.Contains(err.Error(), lie.msg) {
				t.Fatalf("a lie in bundle 40 of %d: %v, want %v (%q)", 12000/256+1, err, lie.want, lie.msg)
			}
			c = l.Client(dir)
			v, err := c.View(ctx, reader)
			if err != nil {
				t.Fatalf("told the truth: %v", err)
			}
			if v.Size() < 12000 {
				t.Errorf("a View of %d leaves, want 12000", v.Size())
			}
		})
	}

}
