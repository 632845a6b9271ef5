package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pouch.dev/client"
	"pouch.dev/internal/scenario"
	"pouch.dev/record"
)

// TestLetterLimitsCLI: the one limit on a letter's size, as people meet
// it. seal refuses attachments over 1 GiB at once, before reading them
// or asking anything; send asks the server for its limit (GET /v1/limits)
// and refuses a letter over it before proving whom to seal to; a letter
// exactly at the server's limit is sent, its overhead counted; submit
// refuses a pouch over the server's limit before uploading it.
func TestLetterLimitsCLI(t *testing.T) {
	const limit = 1 << 20
	w, err := scenario.Start(context.Background(), scenario.Options{MaxAttachments: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	dir := t.TempDir()
	env := offEnv(filepath.Join(dir, "home"))
	env["POUCH_SERVER"] = w.URL
	for _, h := range []string{"ir/leader", "ru/president"} {
		offMust(t, env, "init", h)
	}
	offMust(t, env, "house", "ir")
	offMust(t, env, "house", "ru")
	offMust(t, env, "admit", "ir/leader")
	offMust(t, env, "admit", "ru/president")
	md := filepath.Join(dir, "letter.md")
	os.WriteFile(md, []byte(offLetter), 0o600)
	file := func(name string, size int64) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.Repeat([]byte{'a'}, int(size)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A pouch of larger is over the server's payload limit, which counts
	// the most overhead a letter may have (record.PayloadLimit).
	atLimit, over, larger := file("annex.bin", limit), file("annex-over.bin", limit+1), file("annex-7m.bin", limit+record.MaxPouchHead+record.MaxAgeHeader)

	// Over 1 GiB: refused before anything is read (the file is sparse).
	huge := filepath.Join(dir, "huge.bin")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(record.MaxAttachmentsSize + 1)
	f.Close()
	start := time.Now()
	out := filepath.Join(dir, "huge.pouch")
	_, errs, code := offRun(t, env, "seal", "--as", "ir/leader", "--to", "ru/president", "--attach", huge, "-o", out, md)
	if code != 1 || !strings.Contains(errs, "attachments of 1 GiB: too large (the limit is 1 GiB") || !strings.Contains(errs, "hint: split the letter") {
		t.Fatalf("seal of attachments over 1 GiB: exit %d\n%s", code, errs)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("seal took %v to refuse attachments over the limit", d)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused seal left %s", out)
	}

	// The server's limit, learnt before sealing.
	_, errs, code = offRun(t, env, "send", "--as", "ir/leader", "--to", "ru/president", "--attach", atLimit, "--attach", over, md)
	if code != 1 || !strings.Contains(errs, "attachments of 2 MiB: too large (the limit is 1 MiB") || !strings.Contains(errs, w.URL) {
		t.Fatalf("send over the server's limit: exit %d\n%s", code, errs)
	}
	if strings.Contains(errs, "sealing to") {
		t.Errorf("send proved whom to seal to before refusing a letter over the server's limit:\n%s", errs)
	}
	if _, said := offSay(t, env, "send", "--as", "ir/leader", "--to", "ru/president", "--attach", atLimit, md); !strings.Contains(said, "sent pouch ") {
		t.Fatalf("send at the server's limit: %s", said)
	}

	// Sealed offline within the protocol's limit, over the server's.
	sealed := filepath.Join(dir, "larger.pouch") // larger than any the server takes
	offMust(t, env, "seal", "--as", "ir/leader", "--to", "ru/president", "--attach", larger, "-o", sealed, md)
	_, errs, code = offRun(t, env, "submit", sealed)
	if code != 1 || !strings.Contains(errs, "more than the server accepts") || !strings.Contains(errs, "at most 1 MiB together") {
		t.Fatalf("submit over the server's limit: exit %d\n%s", code, errs)
	}
}

// The progress line: nothing when standard error is no terminal, nothing
// in the first second, then the phase, its bytes, its share and its rate,
// cleared at the end.
func TestProgress(t *testing.T) {
	var b bytes.Buffer
	now := time.Unix(1000, 0)
	p := &progress{w: &b, on: false, now: func() time.Time { return now }, start: now}
	p.phase("sealing", 4<<20)
	p.add(1 << 20)
	now = now.Add(3 * time.Second)
	p.draw()
	p.end()
	if b.Len() != 0 {
		t.Fatalf("drawn on no terminal: %q", b.String())
	}

	now = time.Unix(1000, 0)
	p = &progress{w: &b, on: true, now: func() time.Time { return now }, start: now, stop: make(chan struct{})}
	p.phase("sealing", 4<<20)
	p.add(1 << 20)
	now = now.Add(500 * time.Millisecond)
	p.draw()
	if b.Len() != 0 {
		t.Fatalf("drawn within the first second: %q", b.String())
	}
	now = now.Add(1500 * time.Millisecond)
	p.draw()
	if got, want := b.String(), "\rpouch: sealing: 1 MiB of 4 MiB (25%), 512 KiB/s\x1b[K"; got != want {
		t.Fatalf("drawn %q, want %q", got, want)
	}
	b.Reset()
	p.end()
	if b.String() != "\r\x1b[K" {
		t.Fatalf("end wrote %q, want the line cleared", b.String())
	}
	p.end() // twice is harmless
	var r bytes.Buffer
	if _, err := r.ReadFrom(p.reader(strings.NewReader("abc"))); err != nil || p.done.Load() != 1<<20+3 {
		t.Errorf("reader counted %d bytes (%v)", p.done.Load()-1<<20, err)
	}
}

// pouch serve --max-attachments (POUCH_MAX_ATTACHMENTS) lowers the limit
// the server accepts and advertises; a size over 1 GiB, or no size, is a
// usage error.
func TestServeMaxAttachments(t *testing.T) {
	for _, bad := range []string{"2GiB", "0", "lots", "-1M"} {
		_, errs, code := offRun(t, offEnv(t.TempDir()), "serve", "--data", t.TempDir(), "--max-attachments", bad)
		if code != 2 || !strings.Contains(errs, "--max-attachments") {
			t.Errorf("--max-attachments %s: exit %d\n%s", bad, code, errs)
		}
	}
	for in, want := range map[string]int64{"512": 512, "64KiB": 64 << 10, "3 MiB": 3 << 20, "1G": 1 << 30, "2M": 2 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	srv := startServeOpts(t, servingBinary(t), serveOpts{env: []string{"POUCH_MAX_ATTACHMENTS=3MiB"}})
	lim, err := client.New(srv.url).Limits(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if lim.MaxAttachments != 3<<20 || lim.MaxPayload != record.PayloadLimit(3<<20) {
		t.Errorf("limits %+v, want attachments of 3 MiB", lim)
	}
}

// open --save writes attachments to temporary files as the letter is
// decrypted and names them only once every one checked out: a changed
// byte in the last attachment, or a name that is taken, leaves the folder
// as it was, with no temporary file behind.
func TestOpenSaveAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	env := offEnv(filepath.Join(dir, "home"))
	offMust(t, env, "init", "ir/leader")
	offMust(t, env, "init", "ru/president")
	md := filepath.Join(dir, "letter.md")
	os.WriteFile(md, []byte(offLetter), 0o600)
	a, b := bytes.Repeat([]byte("annex A "), 300<<10/8), bytes.Repeat([]byte("annex B "), 300<<10/8)
	os.WriteFile(filepath.Join(dir, "a.txt"), a, 0o600)
	os.WriteFile(filepath.Join(dir, "b.txt"), b, 0o600)
	p := filepath.Join(dir, "letter.pouch")
	offMust(t, env, "seal", "--as", "ir/leader", "--to", "ru/president", "--attach", filepath.Join(dir, "a.txt"), "--attach", filepath.Join(dir, "b.txt"), "-o", p, md)
	listing := func(d string) []string {
		var names []string
		es, _ := os.ReadDir(d)
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}

	// A changed byte near the end: in the last attachment, once the first
	// is written whole to its temporary file.
	orig, _ := os.ReadFile(p)
	tampered := bytes.Clone(orig)
	tampered[len(tampered)-100] ^= 1
	tp := filepath.Join(dir, "tampered.pouch")
	os.WriteFile(tp, tampered, 0o600)
	save := filepath.Join(dir, "saved")
	os.Mkdir(save, 0o755)
	if _, errs, code := offRun(t, env, "open", "--as", "ru/president", "--save", save, tp); code != 1 || !strings.Contains(errs, "payload does not match the tag") {
		t.Fatalf("open of a changed pouch: exit %d\n%s", code, errs)
	}
	if got := listing(save); len(got) != 0 {
		t.Errorf("a failed open left %v", got)
	}

	// The second attachment's name is taken.
	os.WriteFile(filepath.Join(save, "b.txt"), []byte("mine"), 0o600)
	if _, errs, code := offRun(t, env, "open", "--as", "ru/president", "--save", save, p); code != 1 || !strings.Contains(errs, "b.txt exists; nothing was written") {
		t.Fatalf("open into a folder where b.txt exists: exit %d\n%s", code, errs)
	}
	if got := listing(save); len(got) != 1 || got[0] != "b.txt" {
		t.Errorf("a refused open left %v", got)
	}
	if mine, _ := os.ReadFile(filepath.Join(save, "b.txt")); string(mine) != "mine" {
		t.Error("a refused open changed b.txt")
	}

	os.Remove(filepath.Join(save, "b.txt"))
	out := offMust(t, env, "open", "--as", "ru/president", "--save", save, p)
	if !strings.Contains(out, "saved to "+filepath.Join(save, "b.txt")) {
		t.Errorf("open --save said:\n%s", out)
	}
	if got := listing(save); len(got) != 2 {
		t.Errorf("saved %v, want a.txt and b.txt alone", got)
	}
	for name, want := range map[string][]byte{"a.txt": a, "b.txt": b} {
		if got, _ := os.ReadFile(filepath.Join(save, name)); !bytes.Equal(got, want) {
			t.Errorf("%s saved with other content", name)
		}
	}
}

// pouch serve logs a line per record accepted at debug level only
// (--log-level, POUCH_LOG_LEVEL); a level it does not know is a usage
// error.
func TestServeLogLevel(t *testing.T) {
	for _, bad := range []string{"loud", "", "verbose"} {
		_, errs, code := offRun(t, offEnv(t.TempDir()), "serve", "--data", t.TempDir(), "--log-level", bad)
		if code != 2 || !strings.Contains(errs, "--log-level") {
			t.Errorf("--log-level %q: exit %d\n%s", bad, code, errs)
		}
	}
	bin := servingBinary(t)
	for _, tt := range []struct {
		env  []string
		want bool
	}{{nil, false}, {[]string{"POUCH_LOG_LEVEL=debug"}, true}} {
		srv := startServeOpts(t, bin, serveOpts{env: tt.env})
		_, rk, _ := ed25519.GenerateKey(nil)
		if _, err := client.New(srv.url).FoundHouse(context.Background(), "ir", "", client.Registrar("ir", rk), nil); err != nil {
			t.Fatal(err)
		}
		srv.cmd.Process.Signal(os.Interrupt)
		<-srv.exited
		if got := strings.Contains(srv.stderr.String(), "record accepted"); got != tt.want {
			t.Errorf("%v: a line per record accepted: %v, want %v\n%s", tt.env, got, tt.want, srv.stderr)
		}
	}
}

// TestServeRecordings: with POUCH_TRACE, POUCH_CPUPROFILE or
// POUCH_ALLOCPROFILE=FILE the server writes an execution trace, a CPU
// profile or an allocation profile of its run, ended or written when it
// stops; a FILE it cannot create stops it before it serves, naming the
// variable and how to mend it.
func TestServeRecordings(t *testing.T) {
	// pprof's profiles are gzipped protocol buffers; their string table
	// names the sample types.
	pprofWith := func(kind string) func([]byte) error {
		return func(b []byte) error {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return fmt.Errorf("not a gzipped pprof profile: %w", err)
			}
			p, err := io.ReadAll(zr)
			if err != nil {
				return err
			}
			if !bytes.Contains(p, []byte(kind)) {
				return fmt.Errorf("a profile of %d bytes that names no %q samples", len(p), kind)
			}
			return nil
		}
	}
	for _, tt := range []struct {
		env   string
		check func([]byte) error
	}{
		{"POUCH_TRACE", func(b []byte) error {
			// Go's trace format: a header naming the version, then the
			// batches of events, the last of them written when the trace
			// stops.
			if !bytes.HasPrefix(b, []byte("go 1.")) || !bytes.Contains(b[:min(len(b), 16)], []byte(" trace")) {
				return fmt.Errorf("does not start as a Go execution trace: %q", b[:min(len(b), 16)])
			}
			if len(b) < 4096 {
				return fmt.Errorf("holds %d bytes: the trace was not written out", len(b))
			}
			return nil
		}},
		{"POUCH_CPUPROFILE", pprofWith("nanoseconds")},
		{"POUCH_ALLOCPROFILE", pprofWith("alloc_space")},
	} {
		t.Run(tt.env, func(t *testing.T) {
			dir := t.TempDir()
			missing := filepath.Join(dir, "no-such-dir", "serve.out")
			// A server that went on to serve would not return: the
			// test fails after a while instead of hanging.
			type result struct {
				errs string
				code int
			}
			done := make(chan result, 1)
			go func() {
				_, errs, code := offRun(t, map[string]string{tt.env: missing}, "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0")
				done <- result{errs, code}
			}()
			var errs string
			var code int
			select {
			case r := <-done:
				errs, code = r.errs, r.code
			case <-time.After(30 * time.Second):
				t.Fatalf("%s=%s: the server went on to serve", tt.env, missing)
			}
			if code == 0 || !strings.Contains(errs, tt.env+": ") || !strings.Contains(errs, "set "+tt.env+" to a file") {
				t.Errorf("%s=%s: exit %d\n%s", tt.env, missing, code, errs)
			}
			path := filepath.Join(dir, "serve.out")
			srv := startServeOpts(t, servingBinary(t), serveOpts{env: []string{tt.env + "=" + path}})
			_, rk, _ := ed25519.GenerateKey(nil)
			if _, err := client.New(srv.url).FoundHouse(context.Background(), "ir", "", client.Registrar("ir", rk), nil); err != nil {
				t.Fatal(err)
			}
			srv.cmd.Process.Signal(os.Interrupt)
			<-srv.exited
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.check(b); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		})
	}
}
