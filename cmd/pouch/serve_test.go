package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"pouch.dev/agreement"
	"pouch.dev/internal/pgtest"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// buildPouch builds the real pouch binary into a temporary folder.
func buildPouch(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pouch")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("building pouch: %v", err)
	}
	return bin
}

var servingRE = regexp.MustCompile(`on (http://[0-9.:\[\]]+) `)

type proc struct {
	cmd *exec.Cmd
	url string
}

// startServe runs "pouch serve" on a free loopback port and waits for the
// address it prints.
func startServe(t *testing.T, bin, data string, extra ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--open", "--data", data, "--listen", "127.0.0.1:0"}, extra...)...)
	cmd.Env = append(os.Environ(), "POUCH_HOME="+t.TempDir())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case u := <-found:
		return &proc{cmd: cmd, url: u}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("pouch serve did not print its address")
		return nil
	}
}

type acked struct {
	id    record.ID
	index uint64
	time  time.Time // the acknowledged time of sequencing
}

// TestKill9 streams appends to a real pouch serve process, kills it with
// SIGKILL mid-stream, restarts it on the same data, and checks that every
// acknowledged record is in the log at the index it was given, and that the
// new checkpoint is consistent with every checkpoint published before.
func TestKill9(t *testing.T) { testKill9(t) }

// TestKill9Postgres is TestKill9 with the log in PostgreSQL (serve --db).
func TestKill9Postgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	testKill9(t, "--db", pgtest.DB(t))
}

func testKill9(t *testing.T, extra ...string) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	bin := buildPouch(t)
	data := t.TempDir()
	_, key, _ := ed25519.GenerateKey(nil)
	rounds := 3
	if os.Getenv("POUCH_LONG") != "" {
		rounds = 10
	}
	var (
		mu    sync.Mutex
		all   []acked
		seen  [][]byte // every checkpoint observed, in order
		vkey  string
		n     int
		total int
	)
	for round := 0; round < rounds; round++ {
		p := startServe(t, bin, data, extra...)
		if vkey == "" {
			vkey = logKey(t, p.url)
			admitForTest(t, p.url, "ru/president", key)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					mu.Lock()
					n++
					i := n
					mu.Unlock()
					r := &record.Record{Kind: record.KindStatement, By: []record.Handle{"ru/president"}, Time: record.Now()}
					// A valid statement, which the server's agreement
					// rules accept: each one a new statement.
					body := &agreement.Statement{Title: fmt.Sprintf("kill -9 test, record %d", i),
						Text: agreement.Digest([]byte("kill -9")), Opened: agreement.DateOf(time.Now())}
					s, err := record.Sign(r, body, key)
					if err != nil {
						t.Error(err)
						return
					}
					a, err := postRecord(ctx, p.url, s.Marshal())
					if err != nil {
						return // killed
					}
					if a.ID != s.ID() {
						t.Errorf("acknowledged ID %v, sent %v", a.ID, s.ID())
					}
					mu.Lock()
					all = append(all, acked{a.ID, a.Index, a.Time})
					mu.Unlock()
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if cp, err := httpGet(ctx, p.url+"/checkpoint"); err == nil {
					mu.Lock()
					seen = append(seen, cp)
					mu.Unlock()
				}
				time.Sleep(15 * time.Millisecond)
			}
		}()
		time.Sleep(time.Duration(300+100*round) * time.Millisecond)
		// kill -9, mid-stream.
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		cancel()
		wg.Wait()
		mu.Lock()
		t.Logf("round %d: %d records acknowledged so far, %d checkpoints seen", round, len(all), len(seen))
		mu.Unlock()
		if len(all) == total {
			t.Fatalf("round %d: no record acknowledged before the kill", round)
		}
		total = len(all)
	}

	// Restart and check.
	p := startServe(t, bin, data, extra...)
	defer func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.cmd.Wait()
	}()
	ctx := context.Background()
	final, r, v := checkAcknowledged(t, p.url, vkey, all, seen)
	// And a few inclusion proofs check against the new checkpoint.
	c := &tlog.Client{V: v}
	if _, err := c.Update(final.Note, nil); err != nil {
		t.Fatal(err)
	}
	for _, a := range []acked{all[0], all[len(all)/2], all[len(all)-1]} {
		if idx, err := c.VerifyRecord(ctx, r, record.KindStatement, a.id); err != nil || idx != a.index {
			t.Fatalf("record at %d: inclusion %d, %v", a.index, idx, err)
		}
	}
	t.Logf("%d acknowledged records all present after %d kills; %d earlier checkpoints consistent with size %d",
		len(all), rounds, len(seen), final.Size)
}

func logKey(t *testing.T, url string) string {
	b, err := httpGet(context.Background(), url+"/v1/log")
	if err != nil {
		t.Fatal(err)
	}
	var info struct{ Key string }
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	if _, err := note.NewVerifier(info.Key); err != nil {
		t.Fatal(err)
	}
	return info.Key
}

type appended struct {
	ID    record.ID `json:"id"`
	Index uint64    `json:"index"`
	Time  time.Time `json:"time"`
}

func postRecord(ctx context.Context, url string, b []byte) (*appended, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/records", bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var a appended
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func httpGet(ctx context.Context, url string) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, nil
}

// checkAcknowledged reads the log of the server at url, once its
// checkpoint covers every record in all, and checks that every checkpoint
// in seen (served before a kill) is consistent with it — no fork — and
// that every acknowledged record is at its index: no acknowledged record
// lost. It returns that checkpoint, a reader of the log and its verifier.
func checkAcknowledged(t *testing.T, url, vkey string, all []acked, seen [][]byte) (*tlog.Checkpoint, *tlog.Remote, *tlog.Verifier) {
	t.Helper()
	ctx := context.Background()
	var maxIndex uint64
	for _, a := range all {
		maxIndex = max(maxIndex, a.index)
	}
	v, err := tlog.NewVerifier(vkey, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var final *tlog.Checkpoint
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := httpGet(ctx, url+"/checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		if final, err = v.Open(b); err != nil {
			t.Fatal(err)
		}
		if final.Size > maxIndex {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the kills the checkpoint has %d leaves; acknowledged records reach index %d", final.Size, maxIndex)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := &tlog.Remote{URL: url}
	// Every checkpoint published before is consistent with the last one.
	for _, b := range seen {
		old, err := v.Open(b)
		if err != nil {
			t.Fatalf("a checkpoint served before a kill does not verify: %v", err)
		}
		var pr [][]byte
		if old.Size > 0 && old.Size < final.Size {
			if pr, err = r.Consistency(ctx, old.Size, final.Size); err != nil {
				t.Fatal(err)
			}
		}
		if err := tlog.VerifyConsistency(old, final, pr); err != nil {
			t.Fatalf("checkpoint of size %d before a kill is inconsistent with the one after: a fork: %v", old.Size, err)
		}
	}
	// Every acknowledged record is at its index: read the entry bundles.
	entries := map[uint64][]byte{}
	for b := uint64(0); b*256 < final.Size; b++ {
		w := min(256, final.Size-b*256)
		tp := tlog.TilePath{Level: tlog.EntriesLevel, Index: b, Width: int(w)}
		bundle, err := httpGet(ctx, url+"/"+tp.Path())
		if err != nil {
			t.Fatal(err)
		}
		es, err := tlog.ParseEntryBundle(bundle)
		if err != nil || len(es) != int(w) {
			t.Fatalf("bundle %d: %d entries, %v", b, len(es), err)
		}
		for i, e := range es {
			entries[b*256+uint64(i)] = e
		}
	}
	for _, a := range all {
		want := record.LeafData(record.Leaf{Kind: record.KindStatement, ID: a.id, Time: a.time.UnixMilli()})
		if !bytes.Equal(entries[a.index], want) {
			t.Fatalf("acknowledged record %v at index %d is not in the log after kill -9", a.id.Short(), a.index)
		}
	}
	return final, r, v
}
