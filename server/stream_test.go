package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/letter/lettertest"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
)

// cast founds the houses of handles and admits each, returning their
// keys.
func cast(t *testing.T, c *client.Client, handles ...record.Handle) []*keys.Principal {
	t.Helper()
	ctx := context.Background()
	var out []*keys.Principal
	regs := map[string]*client.Identity{}
	for _, h := range handles {
		p, err := keys.Generate(h)
		if err != nil {
			t.Fatal(err)
		}
		reg := regs[h.House()]
		if reg == nil {
			_, rk, _ := ed25519.GenerateKey(nil)
			reg = client.Registrar(h.House(), rk)
			if _, err := c.FoundHouse(ctx, h.House(), "", reg, nil); err != nil {
				t.Fatal(err)
			}
			regs[h.House()] = reg
		}
		if _, err := c.Admit(ctx, reg, h, p.Public().Ed25519, p.Public().Age, ""); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// bigLetter seals a letter of about n bytes from author to to.
func bigLetter(t *testing.T, author, to *keys.Principal, n int) (*letter.Sealed, []byte) {
	t.Helper()
	text := strings.Repeat("The relations between our two countries are strong and strategic. ", n/66+1)
	var payload bytes.Buffer
	s, err := letter.Seal(&payload, &letter.SealRequest{Author: author, To: to.Public(), Sections: []letter.Section{{Title: "Relations", Text: text}}})
	if err != nil {
		t.Fatal(err)
	}
	return s, payload.Bytes()
}

// gauge reads metric name with label value lv from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name, lv string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == lv {
				return value(m)
			}
		}
	}
	t.Fatalf("no metric %s{%s}", name, lv)
	return 0
}

// gaugeSettles returns the gauge's value once it is want, or after 5 s
// its value then.
func gaugeSettles(t *testing.T, reg *prometheus.Registry, name, lv string, want float64) float64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v := gauge(t, reg, name, lv)
		if v == want || time.Now().After(deadline) {
			return v
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	return 0
}

// TestStreamedPouch: a pouch whose payload is larger than
// server.InlinePayload is streamed into the store and read back whole;
// its budgets are given back; a downgraded one is refused on its age
// header, and one whose tag names another size before any of it is read.
func TestStreamedPouch(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, c := startCorr(t, server.CorrOptions{Registerer: reg})
	ctx := context.Background()
	ps := cast(t, c, "ir/leader", "ru/president")
	leader, president := ps[0], ps[1]
	s, payload := bigLetter(t, leader, president, 3<<20)
	if len(payload) <= server.InlinePayload {
		t.Fatalf("a payload of %d bytes is not streamed", len(payload))
	}
	a, err := c.SubmitPouch(ctx, s.Tag.Signed, payload)
	if err != nil {
		t.Fatalf("a pouch of %d bytes: %v", len(payload), err)
	}
	got, err := c.Payload(ctx, a.ID, president)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("read back %d bytes (%v), not the %d sent", len(got), err, len(payload))
	}
	// The handlers give their budgets back as they return, just after
	// the client has read their answer (an acknowledgement is flushed
	// before its handler returns).
	for _, b := range []string{"body_memory_bytes", "uploads", "downloads"} {
		if v := gaugeSettles(t, reg, "pouch_budget_in_use", b, 0); v != 0 {
			t.Errorf("budget %s holds %v after the requests ended", b, v)
		}
	}
	if v := gauge(t, reg, "pouch_budget_capacity", "body_memory_bytes"); v != server.BodyMemory {
		t.Errorf("/metrics shows a memory budget of %v, want %d", v, server.BodyMemory)
	}

	// Sealed to a classical recipient as well: refused on its header.
	var file bytes.Buffer
	s2, p2 := bigLetter(t, leader, president, 1<<20)
	letter.WriteFile(&file, &letter.FileHead{Tag: s2.Tag.Signed.Marshal()}, bytes.NewReader(p2), uint64(len(p2)))
	x, _ := age.GenerateX25519Identity()
	bad, err := lettertest.Reseal(file.Bytes(), president, leader.Signing, leader.Recipient(), president.Recipient(), x.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubmitPouch(ctx, bad.Tag, bad.Payload); !errors.Is(err, letter.ErrNotPostQuantum) {
		t.Fatalf("a large downgraded pouch: %v, want ErrNotPostQuantum", err)
	}
	// A payload of another length than the tag's.
	if _, err := c.SubmitPouch(ctx, s2.Tag.Signed, p2[:len(p2)-1]); !errors.Is(err, letter.ErrPayload) {
		t.Fatalf("a payload one byte short: %v, want ErrPayload", err)
	}
	// The same tag again: a replay, before its payload is read.
	if _, err := c.SubmitPouch(ctx, s.Tag.Signed, payload); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("the pouch again: %v, want ErrDuplicate", err)
	}
}

// rawPost sends the header of a POST with the given declared length and
// then head, and returns the connection, still open, and a reader of the
// answer.
func rawPost(t *testing.T, base, path string, length int64, head []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/cbor\r\nContent-Length: %d\r\n\r\n", path, u.Host, length)
	conn.Write(head)
	return conn, bufio.NewReader(conn)
}

// submissionHead is the start of a pouch submission with tag, declaring a
// payload of n bytes.
func submissionHead(tag []byte, n uint64) []byte {
	b, err := record.Marshal(&api.PouchSubmission{Tag: tag, Payload: []byte{}})
	if err != nil {
		panic(err)
	}
	b = b[:len(b)-1] // the empty payload's head
	switch {
	case n < 24:
		return append(b, 0x40|byte(n))
	case n < 1<<8:
		return append(b, 0x58, byte(n))
	case n < 1<<16:
		return append(b, 0x59, byte(n>>8), byte(n))
	default:
		return append(b, 0x5a, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// TestTagBeforePayload (issue 10, finding 1): the server judges a pouch's
// tag before it reads the payload, so a client that declares a large body
// and sends only a tag that does not verify, or one signed by a key the
// directory does not know, is answered at once, and the server never
// allocates what it declared. Before the fix, the server waited for the
// whole declared body, in a buffer of that size.
func TestTagBeforePayload(t *testing.T) {
	hs, c := startCorr(t, server.CorrOptions{})
	ps := cast(t, c, "ir/leader", "ru/president")
	stranger, err := keys.Generate("ir/stranger")
	if err != nil {
		t.Fatal(err)
	}
	const n = 60 << 20
	// Tags that declare a payload of n bytes.
	tag := func(from *keys.Principal) []byte {
		tg := &letter.Tag{From: from.Handle, To: ps[1].Handle, Size: n}
		rand.Read(tg.ID[:])
		salt := make([]byte, record.SaltSize)
		rand.Read(salt)
		s, err := letter.SignTag(tg, from.Signing, salt, record.Now(), "")
		if err != nil {
			t.Fatal(err)
		}
		return s.Marshal()
	}
	good, _ := bigLetter(t, ps[0], ps[1], 1000)
	forged := tag(ps[0])
	forged[len(forged)-1] ^= 1 // the signature's last byte
	for _, tc := range []struct {
		name   string
		tag    []byte
		status int
	}{
		{"junk tag", bytes.Repeat([]byte{0x42}, 300), http.StatusBadRequest},
		{"forged signature", forged, http.StatusBadRequest},
		{"key not in the directory", tag(stranger), http.StatusForbidden},
		{"size not the tag's", good.Tag.Signed.Marshal(), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := submissionHead(tc.tag, n)
			conn, br := rawPost(t, hs.URL, "/v1/pouches", int64(len(head))+n, head)
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer before the payload was sent: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("answered %s (%s), want %d", resp.Status, body, tc.status)
			}
		})
	}
}

// fullStore is a store whose disk is full while full is set.
type fullStore struct {
	store.Store
	full bool
}

func (s *fullStore) Append(ctx context.Context, es []*store.Entry) ([]store.Sequenced, error) {
	if s.full {
		return nil, fmt.Errorf("store: committing appends: %w: %w", store.ErrFull, errors.New("database or disk is full (13)"))
	}
	return s.Store.Append(ctx, es)
}

// TestStorageFullAnswer (issue 10, finding 8): a write that meets a full
// disk is answered 507 with Retry-After, the code storage-full (the
// client's error wraps store.ErrFull), and a message that says nothing was
// written, not the database's own text; once there is room, the same
// record is accepted. Before the fix it was a 500 with SQLite's message.
func TestStorageFullAnswer(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs := &fullStore{Store: st}
	corr, err := server.NewCorrespondence(context.Background(), server.CorrOptions{Store: fs, Origin: "pouch.test/full", Directory: directory.Config{Mode: directory.ModeOpen}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	corr.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	c := client.New(hs.URL)
	ps := cast(t, c, "ir/leader", "ru/president")
	s, payload := bigLetter(t, ps[0], ps[1], 1000)

	fs.full = true
	b, _ := record.Marshal(&api.PouchSubmission{Tag: s.Tag.Signed.Marshal(), Payload: payload})
	resp, err := http.Post(hs.URL+"/v1/pouches", "application/cbor", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInsufficientStorage || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("on a full disk: %s, Retry-After %q: %s", resp.Status, resp.Header.Get("Retry-After"), body)
	}
	if strings.Contains(string(body), "(13)") || !strings.Contains(string(body), "nothing was written") {
		t.Errorf("the answer shows the database's text, or does not say nothing was written: %s", body)
	}
	if _, err := c.SubmitPouch(context.Background(), s.Tag.Signed, payload); !errors.Is(err, store.ErrFull) {
		t.Fatalf("the client's error: %v, want one that wraps store.ErrFull", err)
	}
	fs.full = false
	if _, err := c.SubmitPouch(context.Background(), s.Tag.Signed, payload); err != nil {
		t.Fatalf("once there is room: %v", err)
	}
}

// TestInlinePouchReplay: a pouch small enough to be read whole is looked
// up only by the store, yet its replay is still refused as one, with
// ErrDuplicate, whatever else is wrong with it (a short payload), and
// replays sent at once are acknowledged once in all.
func TestInlinePouchReplay(t *testing.T) {
	_, c := startCorr(t, server.CorrOptions{})
	ctx := context.Background()
	ps := cast(t, c, "ir/leader", "ru/president")
	leader, president := ps[0], ps[1]
	s, payload := bigLetter(t, leader, president, 1<<10)
	if len(payload) > server.InlinePayload {
		t.Fatalf("a payload of %d bytes is streamed", len(payload))
	}
	if _, err := c.SubmitPouch(ctx, s.Tag.Signed, payload); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubmitPouch(ctx, s.Tag.Signed, payload); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("the pouch again: %v, want ErrDuplicate", err)
	}
	if _, err := c.SubmitPouch(ctx, s.Tag.Signed, payload[:len(payload)-1]); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("the pouch again, a byte short: %v, want ErrDuplicate", err)
	}

	s2, p2 := bigLetter(t, leader, president, 1<<10)
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := c.SubmitPouch(ctx, s2.Tag.Signed, p2)
			errs <- err
		}()
	}
	ok := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrDuplicate):
			t.Errorf("a replay sent at once: %v, want ErrDuplicate", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d identical pouches sent at once acknowledged, want 1", ok, n)
	}
}
