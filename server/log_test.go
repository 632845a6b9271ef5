package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	sumdb "golang.org/x/mod/sumdb/tlog"

	"pouch.dev/agreement"
	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store/sqlite"
	"pouch.dev/tlog"
)

const origin = "pouch.test/log"

type testServer struct {
	URL  string
	Log  *tlog.Log
	Key  ed25519.PrivateKey // ru/president's
	VKey string
	// Base is the log's size once the server is set up: the genesis
	// record, house ru, and its two offices. The records the tests append
	// follow.
	Base int
	// Kinds are the kinds of the records the tests appended, by index.
	Kinds map[int]record.Kind
}

// startServer starts the whole server (server.Start) in open mode, and
// founds house ru with two offices, ru/president and ru/duma-chair, so
// that the records the tests append pass the correspondence API's rules.
func startServer(t *testing.T) *testServer {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, _ := tlog.GenerateKey(origin)
	ctx := context.Background()
	node, err := server.Start(ctx, server.Options{Store: st, Origin: origin, Key: skey, Directory: directory.Config{Mode: directory.ModeOpen}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(node.Server)
	t.Cleanup(func() {
		hs.Close()
		node.Close()
		st.Close()
	})
	cl := client.New(hs.URL)
	cl.Origin = origin
	_, rk, _ := ed25519.GenerateKey(nil)
	reg := client.Registrar("ru", rk)
	if _, err := cl.FoundHouse(ctx, "ru", "Russian Federation", reg, nil); err != nil {
		t.Fatal(err)
	}
	s := &testServer{URL: hs.URL, Log: node.Log, VKey: vkey, Kinds: map[int]record.Kind{}}
	for _, h := range []record.Handle{"ru/president", "ru/duma-chair"} {
		_, key, _ := ed25519.GenerateKey(nil)
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			t.Fatal(err)
		}
		a, err := cl.Admit(ctx, reg, h, key.Public().(ed25519.PublicKey), id.Recipient().String(), "")
		if err != nil {
			t.Fatal(err)
		}
		if h == "ru/president" {
			s.Key = key
		}
		s.Base = int(a.Index) + 1
	}
	return s
}

// sign returns the record numbered n and its ID: a public statement for
// an even n, a private grant (it carries a salt) for an odd one.
func (s *testServer) sign(t *testing.T, n int) ([]byte, record.ID, record.Kind) {
	r := &record.Record{Kind: record.KindStatement, Origin: origin, By: []record.Handle{"ru/president"}, Time: record.Now()}
	var body any = &agreement.Statement{Title: fmt.Sprintf("Statement %d", n), Text: agreement.Digest([]byte(fmt.Sprint(n))), Opened: agreement.DateOf(time.Now())}
	if n%2 == 1 {
		r.Kind, r.Salt = record.KindGrant, record.NewSalt()
		body = &directory.Grant{To: "ru/duma-chair", Abilities: []directory.Ability{directory.Receive}, Purpose: fmt.Sprint(n)}
	}
	sg, err := record.Sign(r, body, s.Key)
	if err != nil {
		t.Fatal(err)
	}
	return sg.Marshal(), sha256.Sum256(sg.Record), r.Kind
}

func post(t *testing.T, url string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url+"/v1/records", "application/cbor", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func get(t *testing.T, url string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// appendRecords posts signed records until the log holds size, and
// returns their IDs by log index (the setup's records have none).
func (s *testServer) appendRecords(t *testing.T, size int) []record.ID {
	ids := make([]record.ID, size)
	for i := s.Base; i < size; i++ {
		b, id, kind := s.sign(t, i)
		code, body := post(t, s.URL, b)
		if code != http.StatusCreated {
			t.Fatalf("POST /v1/records: %d %s", code, body)
		}
		var a api.Accepted
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatal(err)
		}
		if a.ID != id || a.Index != uint64(i) {
			t.Fatalf("record %d appended as %+v", i, a)
		}
		ids[i] = id
		s.Kinds[i] = kind
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := s.Log.WaitCheckpoint(ctx, uint64(size)); err != nil {
		t.Fatalf("no checkpoint of %d leaves: %v", size, err)
	}
	return ids
}

// TestIndependentCheck is a client built only on the C2SP specs,
// golang.org/x/mod/sumdb (note, tlog) and net/http: it fetches the
// checkpoint, the hash tiles and the entry bundles of a real server over
// loopback, and recomputes the root two ways.
func TestIndependentCheck(t *testing.T) {
	started := time.Now()
	s := startServer(t)
	const n = 600 // two full tiles and a partial one
	ids := s.appendRecords(t, n)

	// The checkpoint: a signed note, origin, size, root.
	code, cpb, _ := get(t, s.URL+"/checkpoint")
	if code != 200 {
		t.Fatalf("GET /checkpoint: %d", code)
	}
	v, err := note.NewVerifier(s.VKey)
	if err != nil {
		t.Fatal(err)
	}
	nt, err := note.Open(cpb, note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint signature: %v", err)
	}
	lines := strings.Split(nt.Text, "\n")
	if len(lines) != 4 || lines[0] != origin || lines[3] != "" {
		t.Fatalf("checkpoint text %q", nt.Text)
	}
	size, _ := strconv.ParseInt(lines[1], 10, 64)
	rootB, _ := base64.StdEncoding.DecodeString(lines[2])
	var root sumdb.Hash
	copy(root[:], rootB)
	if size != n {
		t.Fatalf("checkpoint size %d, want %d", size, n)
	}

	// Hash tiles, read and verified against the checkpoint by sumdb/tlog.
	tr := &tileReader{base: s.URL, t: t}
	hr := sumdb.TileHashReader(sumdb.Tree{N: size, Hash: root}, tr)
	got, err := sumdb.TreeHash(size, hr)
	if err != nil {
		t.Fatalf("tree hash from the tiles: %v", err)
	}
	if got != root {
		t.Fatalf("root from the tiles %v, checkpoint says %v", got, root)
	}

	// Entry bundles: every entry is CBOR [kind, id] of a submitted record;
	// the root recomputed from the entries alone is the checkpoint's.
	var stored []sumdb.Hash
	mem := sumdb.HashReaderFunc(func(idx []int64) ([]sumdb.Hash, error) {
		out := make([]sumdb.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for b := int64(0); b*256 < size; b++ {
		w := min(256, size-b*256)
		p := sumdb.Tile{H: 8, L: -1, N: b, W: int(w)}.Path()
		p = "tile/entries/" + strings.TrimPrefix(p, "tile/8/data/")
		code, bundle, hdr := get(t, s.URL+"/"+p)
		if code != 200 {
			t.Fatalf("GET %s: %d", p, code)
		}
		if !strings.Contains(hdr.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: Cache-Control %q", p, hdr.Get("Cache-Control"))
		}
		for i := int64(0); i < w; i++ {
			if len(bundle) < 2 {
				t.Fatalf("bundle %s truncated", p)
			}
			l := int(binary.BigEndian.Uint16(bundle))
			entry := bundle[2 : 2+l]
			bundle = bundle[2+l:]
			idx := b*256 + i
			// CBOR array(4), the kind's text, bytes(32) ID, the time of
			// sequencing as a uint64 of Unix milliseconds, and whether it
			// is private: odd records carry a salt (true, f5), even ones
			// do not (false, f4). The setup's records (genesis, house,
			// admissions) are public.
			kind, private := record.Kind(""), byte(0)
			if int(idx) >= s.Base {
				kind, private = s.Kinds[int(idx)], byte(idx%2)
			} else {
				for _, k := range []record.Kind{record.KindGenesis, record.KindHouse, record.KindAdmit} {
					if bytes.HasPrefix(entry[2:], []byte(k)) {
						kind = k
					}
				}
			}
			want := append([]byte{0x84, 0x60 + byte(len(kind))}, kind...)
			want = append(want, 0x58, 0x20)
			if int(idx) >= s.Base {
				want = append(want, ids[idx][:]...)
			}
			idLen := 0
			if int(idx) < s.Base {
				idLen = 32 // the setup's IDs, which the test does not know
			}
			if kind == "" || len(entry) != len(want)+idLen+1+8+1 || !bytes.Equal(entry[:len(want)], want) {
				t.Fatalf("entry %d = %x, want %x...", idx, entry, want)
			}
			rest := entry[len(entry)-10:]
			if rest[0] != 0x1b || rest[9] != 0xf4+private {
				t.Fatalf("entry %d = %x: want 1b, 8 bytes of time, f%d", idx, entry, 4+private)
			}
			ms := int64(binary.BigEndian.Uint64(rest[1:9]))
			if seq := time.UnixMilli(ms); seq.Before(started.Add(-time.Second)) || seq.After(time.Now()) {
				t.Fatalf("entry %d sequenced at %v, not during the test", idx, seq)
			}
			hs, err := sumdb.StoredHashes(idx, entry, mem)
			if err != nil {
				t.Fatal(err)
			}
			stored = append(stored, hs...)
			fromTiles, err := hr.ReadHashes([]int64{sumdb.StoredHashIndex(0, idx)})
			if err != nil || fromTiles[0] != sumdb.RecordHash(entry) {
				t.Fatalf("leaf hash %d from the tiles differs from the entry's: %v", idx, err)
			}
		}
		if len(bundle) != 0 {
			t.Fatalf("bundle %s has %d trailing bytes", p, len(bundle))
		}
	}
	fromEntries, err := sumdb.TreeHash(size, mem)
	if err != nil || fromEntries != root {
		t.Fatalf("root from the entries %v, %v; checkpoint says %v", fromEntries, err, root)
	}

	// An inclusion proof from the API checks with transparency-dev/merkle.
	code, body, _ := get(t, fmt.Sprintf("%s/v1/log/proof/inclusion?id=%s", s.URL, ids[417]))
	if code != 200 {
		t.Fatalf("inclusion: %d %s", code, body)
	}
	var inc api.InclusionProof
	json.Unmarshal(body, &inc)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, inc.Index, inc.Size, rfc6962.DefaultHasher.HashLeaf(inc.Leaf), inc.Proof, root[:]); err != nil || inc.Index != 417 {
		t.Fatalf("inclusion proof of leaf %d: %v", inc.Index, err)
	}
}

type tileReader struct {
	base string
	t    *testing.T
}

func (r *tileReader) Height() int                      { return 8 }
func (r *tileReader) SaveTiles([]sumdb.Tile, [][]byte) {}
func (r *tileReader) ReadTiles(tiles []sumdb.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, tl := range tiles {
		// C2SP drops sumdb's height element from the path.
		p := "tile/" + strings.TrimPrefix(tl.Path(), "tile/8/")
		code, b, hdr := get(r.t, r.base+"/"+p)
		if code != 200 {
			return nil, fmt.Errorf("GET %s: %d %s", p, code, b)
		}
		if !strings.Contains(hdr.Get("Cache-Control"), "immutable") {
			r.t.Errorf("%s: Cache-Control %q", p, hdr.Get("Cache-Control"))
		}
		out[i] = b
	}
	return out, nil
}

func TestLogAPI(t *testing.T) {
	s := startServer(t)
	ids := s.appendRecords(t, 260)
	ctx := context.Background()

	// A client following the log over HTTP verifies every step.
	v, err := tlog.NewVerifier(s.VKey, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := &tlog.Client{V: v, Dir: t.TempDir()}
	r := &tlog.Remote{URL: s.URL}
	cp, err := c.Sync(ctx, r)
	if err != nil || cp.Size != 260 {
		t.Fatalf("Sync = %+v, %v", cp, err)
	}
	for _, i := range []int{s.Base, s.Base + 1, 255, 256, 259} {
		if idx, err := c.VerifyRecord(ctx, r, s.Kinds[i], ids[i]); err != nil || idx != uint64(i) {
			t.Fatalf("VerifyRecord(%d) = %d, %v", i, idx, err)
		}
	}
	s.appendRecordsFrom(t, 260, 5)
	if cp, err = c.Sync(ctx, r); err != nil || cp.Size != 265 {
		t.Fatalf("second Sync = %+v, %v", cp, err)
	}

	var info api.LogInfo
	_, body, _ := get(t, s.URL+"/v1/log")
	if err := json.Unmarshal(body, &info); err != nil || info.Origin != origin || info.Key != s.VKey || info.Size != 265 {
		t.Fatalf("GET /v1/log = %s", body)
	}

	for _, tc := range []struct {
		path string
		code int
	}{
		{"/tile/0/000", 200},
		{"/tile/0/001.p/9", 200},
		{"/tile/0/001.p/10", 404}, // beyond the tree
		{"/tile/0/001", 404},      // not full yet
		{"/tile/1/000.p/1", 200},
		{"/tile/1/000.p/2", 404},
		{"/tile/entries/001.p/9", 200},
		{"/tile/entries/002", 404},
		{"/tile/0/1", 404}, // not canonical
		{"/tile/0/x000/000", 404},
		{"/tile/99/000", 404},
		{"/v1/log/proof/inclusion?index=264", 200},
		{"/v1/log/proof/inclusion?index=265", 404},
		{"/v1/log/proof/inclusion?index=3&size=999", 404},
		{"/v1/log/proof/inclusion", 400},
		{"/v1/log/proof/inclusion?id=zz", 400},
		{"/v1/log/proof/consistency?from=3&to=200", 200},
		{"/v1/log/proof/consistency?from=300", 400},
		{"/v1/log/proof/consistency?from=3&to=300", 404},
		{"/v1/log/checkpoints/265", 200},
		{"/v1/log/checkpoints/99999", 404},
		{"/healthz", 200},
	} {
		if code, b, _ := get(t, s.URL+tc.path); code != tc.code {
			t.Errorf("GET %s: %d %s, want %d", tc.path, code, b, tc.code)
		}
	}
	if code, b, _ := get(t, s.URL+"/tile/0/001.p/9"); code != 200 || len(b) != 9*32 {
		t.Errorf("partial tile: %d bytes", len(b))
	}

	// A replay is refused; so is a forged signature.
	b, _, _ := s.sign(t, 0)
	if code, body := post(t, s.URL, b); code != http.StatusCreated {
		t.Fatalf("a fresh record: %d %s", code, body)
	}
	if code, _ := post(t, s.URL, b); code != http.StatusConflict {
		t.Errorf("replay: %d, want 409", code)
	}
	b2, _, _ := s.sign(t, 1)
	b2[len(b2)-1] ^= 1
	if code, _ := post(t, s.URL, b2); code != http.StatusBadRequest {
		t.Errorf("forged signature: %d, want 400", code)
	}
	if code, _ := post(t, s.URL, []byte("not cbor")); code != http.StatusBadRequest {
		t.Errorf("garbage: %d, want 400", code)
	}
}

func (s *testServer) appendRecordsFrom(t *testing.T, first, n int) {
	for i := first; i < first+n; i++ {
		b, _, _ := s.sign(t, i)
		if code, body := post(t, s.URL, b); code != http.StatusCreated {
			t.Fatalf("POST: %d %s", code, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := s.Log.WaitCheckpoint(ctx, uint64(first+n)); err != nil {
		t.Fatal(err)
	}
}
