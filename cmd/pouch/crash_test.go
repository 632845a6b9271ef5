package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"pouch.dev/agreement"
	"pouch.dev/client"
	"pouch.dev/internal/failpoint"
	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// crashPoints are the failpoints between commit, acknowledgement,
// checkpoint signing and publication (spec/store.md#failpoints); "" is a
// kill -9 from outside at a random moment.
var crashPoints = []string{
	"store/append-before-commit",
	"store/append-committed",
	"server/acknowledged",
	"store/round-before-commit",
	"store/round-committed",
	"",
}

// An ackedRecord is a record the server acknowledged (201).
type ackedRecord struct {
	id      record.ID
	index   uint64
	time    time.Time
	signed  []byte
	kind    record.Kind
	payload [32]byte // a pouch's payload's SHA-256
	size    int      // and its size
}

// TestCrashFailpoints kills pouch serve with SIGKILL, under load, at each
// failpoint in turn and at random moments, restarting it on the same data
// each time. After every kill SQLite's integrity check passes; at the end
// every acknowledged record (statements, and pouches with payloads both
// small and streamed in chunks) is in the log at its index, byte for
// byte, with its payload; no record is at two indexes; and every
// checkpoint served before any kill is consistent with the final one.
// The short run kills 12 times; POUCH_LONG=1, 60 times.
func TestCrashFailpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	rounds := 12
	if os.Getenv("POUCH_LONG") == "1" {
		rounds = 60
	}
	bin := servingBinary(t)
	data := t.TempDir()
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 0))

	// Founding and admissions, with no failpoint armed.
	srv := startServeOpts(t, bin, serveOpts{data: data})
	vkey := logKey(t, srv.url)
	_, stKey, _ := ed25519.GenerateKey(nil)
	admitForTest(t, srv.url, "ru/president", stKey)
	sender, addressee := admitPair(t, srv.url, "ir/leader", "ir/fm")
	// Payloads to send: small ones, stored with their tag, and ones
	// large enough to stream in chunks.
	var letters [][]byte
	for _, n := range []int{2000, 3 << 20} {
		letters = append(letters, []byte(strings.Repeat("Strong and strategic. ", n/22+1)))
	}
	srv.stop()

	var (
		mu   sync.Mutex
		acks []ackedRecord
		cps  [][]byte
		n    int
	)
	fired := map[string]int{}
	for round := range rounds {
		point := crashPoints[round%len(crashPoints)]
		if round >= 2*len(crashPoints) {
			point = crashPoints[rng.IntN(len(crashPoints))]
		}
		var env []string
		if point != "" {
			env = []string{failpoint.Env + "=" + point + "=kill@" + fmt.Sprint(1+rng.IntN(40))}
		}
		srv, err := launchServe(t, bin, serveOpts{data: data, env: env})
		if err != nil && point != "" && strings.Contains(err.Error(), "pouch: failpoint "+point) {
			// It fired while the server started: a round integrating
			// what the last kill left behind.
			fired[point]++
			if err := integrityCheck(filepath.Join(data, "pouch.db")); err != nil {
				t.Fatalf("round %d, after kill -9 at %s while starting: %v", round, point, err)
			}
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		c := client.New(srv.url)
		for w := range 4 {
			wg.Go(func() {
				for ctx.Err() == nil {
					mu.Lock()
					n++
					i := n
					mu.Unlock()
					var a ackedRecord
					var err error
					if w < 3 {
						a, err = postStatement(ctx, c, stKey, i)
					} else {
						a, err = postPouch(ctx, c, sender, addressee, letters[i%len(letters)])
					}
					if err != nil {
						if ctx.Err() == nil && srv.alive() {
							time.Sleep(20 * time.Millisecond) // refused while starting, or busy
						}
						continue
					}
					mu.Lock()
					acks = append(acks, a)
					mu.Unlock()
				}
			})
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				if cp, err := httpGet(ctx, srv.url+"/checkpoint"); err == nil {
					mu.Lock()
					cps = append(cps, cp)
					mu.Unlock()
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
		wait := time.Duration(200+rng.IntN(800)) * time.Millisecond
		if point != "" {
			wait = 10 * time.Second // the failpoint kills it
		}
		select {
		case <-srv.exited:
		case <-time.After(wait):
		}
		if srv.alive() {
			srv.kill9()
		}
		cancel()
		wg.Wait()
		got := "random"
		if point != "" && strings.Contains(srv.stderr.String(), "pouch: failpoint "+point) {
			got = point
		} else if point != "" {
			t.Logf("round %d: failpoint %s not reached; killed from outside", round, point)
		}
		fired[got]++
		if err := integrityCheck(filepath.Join(data, "pouch.db")); err != nil {
			t.Fatalf("round %d, after kill -9 at %s: %v", round, got, err)
		}
	}
	for _, p := range crashPoints[:len(crashPoints)-1] {
		if fired[p] == 0 {
			t.Errorf("failpoint %s never fired", p)
		}
	}

	// Restart, and check everything acknowledged.
	srv = startServeOpts(t, bin, serveOpts{data: data})
	defer srv.stop()
	checkAfterCrashes(t, srv.url, vkey, acks, cps, sender)
	t.Logf("%d kills (%v); %d acknowledged records all present, unchanged, each at one index; %d checkpoints served before consistent with the last",
		rounds, fired, len(acks), len(cps))
}

// admitPair founds the house of two principals, admits them and returns
// their keys.
func admitPair(t *testing.T, url string, a, b record.Handle) (*keys.Principal, *keys.Principal) {
	t.Helper()
	ctx := context.Background()
	c := client.New(url)
	_, rk, _ := ed25519.GenerateKey(nil)
	reg := client.Registrar(a.House(), rk)
	if _, err := c.FoundHouse(ctx, a.House(), "", reg, nil); err != nil {
		t.Fatal(err)
	}
	var out []*keys.Principal
	for _, h := range []record.Handle{a, b} {
		p, err := keys.Generate(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Admit(ctx, reg, h, p.Public().Ed25519, p.Public().Age, ""); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out[0], out[1]
}

func postStatement(ctx context.Context, c *client.Client, key ed25519.PrivateKey, i int) (ackedRecord, error) {
	r := &record.Record{Kind: record.KindStatement, By: []record.Handle{"ru/president"}, Time: record.Now()}
	body := &agreement.Statement{Title: fmt.Sprintf("crash test, record %d", i),
		Text: agreement.Digest([]byte("kill -9")), Opened: agreement.DateOf(time.Now())}
	s, err := record.Sign(r, body, key)
	if err != nil {
		return ackedRecord{}, err
	}
	a, err := c.Submit(ctx, s)
	if err != nil {
		return ackedRecord{}, err
	}
	if a.ID != s.ID() {
		return ackedRecord{}, fmt.Errorf("acknowledged %v, sent %v", a.ID, s.ID())
	}
	return ackedRecord{id: a.ID, index: a.Index, time: a.Time, signed: s.Marshal(), kind: record.KindStatement}, nil
}

func postPouch(ctx context.Context, c *client.Client, from, to *keys.Principal, text []byte) (ackedRecord, error) {
	var payload bytes.Buffer
	s, err := letter.Seal(&payload, &letter.SealRequest{Author: from, To: to.Public(), Sections: []letter.Section{{Title: "Relations", Text: string(text)}}})
	if err != nil {
		return ackedRecord{}, err
	}
	a, err := c.SubmitPouch(ctx, s.Tag.Signed, payload.Bytes())
	if err != nil {
		return ackedRecord{}, err
	}
	return ackedRecord{id: a.ID, index: a.Index, time: a.Time, signed: s.Tag.Signed.Marshal(), kind: record.KindTag,
		payload: sha256.Sum256(payload.Bytes()), size: payload.Len()}, nil
}

// integrityCheck runs SQLite's integrity check on the database at path,
// as a new process would find it after a crash (recovering its WAL).
func integrityCheck(path string) error {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return err
	}
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity check: %s", res)
	}
	return nil
}

// checkAfterCrashes checks, against the restarted server, every record
// acknowledged before the kills and every checkpoint served.
func checkAfterCrashes(t *testing.T, url, vkey string, acks []ackedRecord, cps [][]byte, reader *keys.Principal) {
	t.Helper()
	ctx := context.Background()
	var maxIndex uint64
	for _, a := range acks {
		maxIndex = max(maxIndex, a.index)
	}
	v, err := tlog.NewVerifier(vkey, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var final *tlog.Checkpoint
	deadline := time.Now().Add(60 * time.Second)
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
			t.Fatalf("the checkpoint has %d leaves; acknowledged records reach index %d", final.Size, maxIndex)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := &tlog.Remote{URL: url}
	for _, b := range cps {
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
			t.Fatalf("checkpoint of size %d served before a kill is inconsistent with the final one of size %d: %v", old.Size, final.Size, err)
		}
	}
	// Every leaf of the log, from the entry bundles: no record twice.
	at := map[record.ID]uint64{}
	leaves := map[uint64][]byte{}
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
			idx := b*256 + uint64(i)
			l, err := record.ParseLeaf(e)
			if err != nil {
				t.Fatalf("leaf %d: %v", idx, err)
			}
			if prev, ok := at[l.ID]; ok {
				t.Fatalf("record %s is in the log twice, at %d and %d", l.ID.Short(), prev, idx)
			}
			at[l.ID] = idx
			leaves[idx] = e
		}
	}
	c := client.New(url)
	c.Origin = final.Origin // the log its signed reads are for
	for _, a := range acks {
		want := record.LeafData(record.Leaf{Kind: a.kind, ID: a.id, Time: a.time.UnixMilli(), Private: a.kind == record.KindTag})
		if !bytes.Equal(leaves[a.index], want) {
			t.Fatalf("acknowledged %s %s at index %d is not there after the kills", a.kind, a.id.Short(), a.index)
		}
		var as *keys.Principal
		if a.kind == record.KindTag {
			as = reader
		}
		rv, err := c.Record(ctx, a.id, as)
		if err != nil {
			t.Fatalf("acknowledged record %s: %v", a.id.Short(), err)
		}
		if !bytes.Equal(rv.Signed, a.signed) || rv.Index != a.index {
			t.Fatalf("acknowledged record %s changed: index %d, want %d", a.id.Short(), rv.Index, a.index)
		}
		if a.kind == record.KindTag {
			p, err := c.Payload(ctx, a.id, reader)
			if err != nil || len(p) != a.size || sha256.Sum256(p) != a.payload {
				t.Fatalf("the payload of acknowledged pouch %s: %d bytes (want %d), %v", a.id.Short(), len(p), a.size, err)
			}
		}
	}
	if len(acks) == 0 {
		t.Fatal("nothing was acknowledged")
	}
}
