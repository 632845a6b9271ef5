package liar

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"pouch.dev/api"
	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/tlog"
)

// GET returns a Match for the GET requests of path or, if path ends in
// "/", of every path under it.
func GET(path string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		if r.Method != http.MethodGet {
			return false
		}
		if strings.HasSuffix(path, "/") {
			return strings.HasPrefix(r.URL.Path, path)
		}
		return r.URL.Path == path
	}
}

// Checkpoint answers GET /checkpoint with note: an older checkpoint of the
// log (a rollback; a stale one), or one the operator signed for a fork.
func Checkpoint(name string, note []byte) *Lie {
	return &Lie{Name: name, Match: GET("/checkpoint"), Serve: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(note)
	}}
}

// Uncosigned answers GET /checkpoint with the log's checkpoint stripped of
// its witness cosignatures: the log's own signature alone.
func (s *Server) Uncosigned(name string) *Lie {
	return &Lie{Name: name, Match: GET("/checkpoint"), Rewrite: func(r *http.Request, status int, b []byte) (int, []byte) {
		if status != http.StatusOK {
			return status, b
		}
		return status, Strip(b, s.Origin)
	}}
}

// Strip returns the signed note note with only the signatures of key name
// keep: a checkpoint without its cosignatures.
func Strip(note []byte, keep string) []byte {
	i := bytes.Index(note, []byte("\n\n"))
	if i < 0 {
		return note
	}
	out := append([]byte(nil), note[:i+2]...)
	for _, line := range strings.SplitAfter(string(note[i+2:]), "\n") {
		if strings.HasPrefix(line, "— "+keep+" ") {
			out = append(out, line...)
		}
	}
	return out
}

// Entries rewrites the entry bundles the real server serves: f is given
// the index of the first entry of the bundle and its entries, and returns
// those to serve.
func Entries(name string, f func(first uint64, entries [][]byte) [][]byte) *Lie {
	return &Lie{Name: name, Match: GET("/tile/entries/"), Rewrite: func(r *http.Request, status int, b []byte) (int, []byte) {
		tp, err := tlog.ParseTilePath(r.URL.Path)
		if status != http.StatusOK || err != nil {
			return status, b
		}
		es, err := tlog.ParseEntryBundle(b)
		if err != nil {
			return status, b
		}
		es = f(tp.Index*store.TileWidth, es)
		var out []byte
		for _, e := range es {
			out = tlog.AppendEntry(out, e)
		}
		return status, out
	}}
}

// JSON rewrites the JSON answers of type T to the requests match selects;
// f changes the decoded answer in place. Refusals pass as they are.
func JSON[T any](name string, match func(*http.Request) bool, f func(r *http.Request, v *T)) *Lie {
	return &Lie{Name: name, Match: match, Rewrite: func(r *http.Request, status int, b []byte) (int, []byte) {
		if status != http.StatusOK && status != http.StatusCreated {
			return status, b
		}
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return status, b
		}
		f(r, &v)
		nb, err := json.Marshal(&v)
		if err != nil {
			return status, b
		}
		return status, nb
	}}
}

// Records rewrites the pages of GET /v1/log/records: records withheld,
// altered, moved.
func Records(name string, f func(r *http.Request, page *api.RecordsPage)) *Lie {
	return JSON(name, GET("/v1/log/records"), f)
}

// Times rewrites every member named "time" in the JSON answers to the
// requests match selects to t: the server misstates when records were
// sequenced.
func Times(name string, match func(*http.Request) bool, t time.Time) *Lie {
	return JSON(name, match, func(r *http.Request, v *any) { *v = retime(*v, t) })
}

func retime(v any, t time.Time) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if _, ok := e.(string); ok && k == "time" {
				x[k] = t.UTC().Format(time.RFC3339Nano)
				continue
			}
			x[k] = retime(e, t)
		}
	case []any:
		for i, e := range x {
			x[i] = retime(e, t)
		}
	}
	return v
}

// ServeLog answers GET /checkpoint and the entry bundles from log l
// instead of the real server's: a fork of the log, signed with its key.
func ServeLog(name string, l *tlog.Log) *Lie {
	return &Lie{Name: name, Match: func(r *http.Request) bool {
		return GET("/checkpoint")(r) || GET("/tile/entries/")(r)
	}, Serve: func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/checkpoint" {
			cp, _ := l.Checkpoint()
			w.Write(cp)
			return
		}
		tp, err := tlog.ParseTilePath(r.URL.Path)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		width := tp.Width
		if width == 0 {
			width = store.TileWidth
		}
		b, err := l.EntryBundle(r.Context(), tp.Index, width)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}}
}

// Fork returns a second log under the server's origin and key, over a
// store of its own holding n leaves of its own, integrated and signed by
// the log's key: the other branch of a fork, which the operator shows to
// some clients (ServeLog, Checkpoint). No witness was asked to cosign it.
func (s *Server) Fork(n int) *tlog.Log {
	s.t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(s.t.TempDir(), "fork.db"))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { st.Close() })
	l, err := tlog.New(ctx, st, tlog.Config{Origin: s.Origin, Key: s.LogKey, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		s.t.Fatal(err)
	}
	var es []*store.Entry
	for i := range n {
		b := fmt.Appendf(nil, "a leaf of the fork, %d", i)
		es = append(es, &store.Entry{ID: sha256.Sum256(b), Kind: record.KindTag, Signed: b})
	}
	if _, err := st.Append(ctx, es); err != nil {
		s.t.Fatal(err)
	}
	if _, err := l.Integrate(ctx); err != nil {
		s.t.Fatal(err)
	}
	return l
}
