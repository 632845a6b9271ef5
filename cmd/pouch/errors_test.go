package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorsNameTheFix checks the errors a newcomer meets first: each
// names the problem and, on a line of its own, the fix, with the exit
// status of spec/cli.md#exit-status.
func TestErrorsNameTheFix(t *testing.T) {
	env, dir, p := offWorld(t)
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	noise := make([]byte, 4096)
	for i := range noise {
		noise[i] = byte(i*7 + i/13)
	}
	notPouch := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"origin": 12}`))
	}))
	defer notPouch.Close()
	serverEnv := func(url string) map[string]string {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		e["POUCH_SERVER"] = url
		return e
	}
	for _, c := range []struct {
		what  string
		env   map[string]string
		args  []string
		exit  int
		error string
		hint  string
	}{
		{"a missing letter", env, []string{"seal", "--as", "ir/leader", "--to", "ru/president", filepath.Join(dir, "lettre.md")},
			1, "lettre.md: no such file", "check the path: it should name a letter in Markdown"},
		{"a missing pouch", env, []string{"verify", filepath.Join(dir, "missing.pouch")},
			1, "missing.pouch: no such file", "check the path: it should name a .pouch file"},
		{"a missing pouch to open", env, []string{"open", "--as", "ru/president", filepath.Join(dir, "missing.pouch")},
			1, "missing.pouch: no such file", "check the path"},
		{"a file of random bytes", env, []string{"inspect", write("noise.pouch", noise)},
			1, "noise.pouch is not a .pouch file", `give a file written by "pouch seal" or "pouch fetch"`},
		{"a file of random bytes, verified", env, []string{"verify", write("noise2.pouch", noise)},
			1, "noise2.pouch is not a .pouch file", `give a file written by "pouch seal" or "pouch fetch"`},
		{"a file cut short in its payload", env, []string{"inspect", write("short.pouch", orig[:len(orig)-100])},
			1, "short.pouch is cut short: its payload has ", "the file is incomplete"},
		{"a file cut short, verified", env, []string{"verify", write("short2.pouch", orig[:len(orig)-100])},
			1, "short2.pouch: payload does not match the tag", "changed or cut short after it was sealed"},
		{"a file cut short in its head", env, []string{"inspect", write("head.pouch", orig[:200])},
			1, "head.pouch is cut short", "the file is incomplete"},
		{"a public file of random bytes", env, []string{"key", "import", write("noise.pub", noise)},
			1, "noise.pub: not a public file", `the output of "pouch key export"`},
		{"a URL without a scheme", serverEnv("127.0.0.1:8470"), []string{"inbox", "--as", "ir/leader"},
			2, `--server "127.0.0.1:8470" has no scheme`, "--server http://127.0.0.1:8470"},
		{"a host without a scheme", env, []string{"inbox", "--as", "ir/leader", "--server", "localhost:8470"},
			2, `--server "localhost:8470" has no scheme`, "--server http://localhost:8470"},
		{"a server that is not a pouch server", serverEnv(notPouch.URL), []string{"inbox", "--as", "ir/leader"},
			1, "is not a pouch server: GET /v1/log did not answer a log's origin and key", "point --server (POUCH_SERVER) at a pouch server"},
		{"a server that is down", serverEnv("http://127.0.0.1:1"), []string{"inbox", "--as", "ir/leader"},
			1, "cannot reach the server at http://127.0.0.1:1", `start one with "pouch serve"`},
		{"no --as in a home of several", env, []string{"inbox"},
			2, "holds 4 principals (ir/leader, ir/speaker, ru/duma-chair, ru/president)", "say which one with --as HANDLE"},
		{"an unknown verb", env, []string{"sael"},
			2, `unknown verb "sael"`, `did you mean "pouch seal"?`},
		{"a subcommand missing", env, []string{"key"},
			2, "key: want a subcommand: export, import or list", `run "pouch key --help"`},
	} {
		out, errs, code := offRun(t, c.env, c.args...)
		if code != c.exit {
			t.Errorf("%s: exit %d, want %d\n%s", c.what, code, c.exit, errs)
		}
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		last := len(lines) - 1
		if last < 1 || !strings.HasPrefix(lines[last-1], "pouch: ") || !strings.Contains(lines[last-1], c.error) ||
			!strings.HasPrefix(lines[last], "pouch: hint: ") || !strings.Contains(lines[last], c.hint) {
			t.Errorf("%s: want the error %q and the hint %q, got:\n%s", c.what, c.error, c.hint, errs)
		}
		if out != "" {
			t.Errorf("%s: printed %q", c.what, out)
		}
	}
}
