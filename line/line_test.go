package line

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"pouch.dev/record"
)

const (
	speaker   record.Handle = "ir/speaker"   // sorts first: the TLS server
	president record.Handle = "ru/president" // the TLS client
	origin                  = "pouch.test/log"
)

type principal struct {
	h   record.Handle
	key ed25519.PrivateKey
}

func newPrincipal(t testing.TB, h record.Handle) principal {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return principal{h, k}
}

func (p principal) pub() ed25519.PublicKey { return p.key.Public().(ed25519.PublicKey) }

func directoryOf(ps ...principal) *MapDirectory {
	d := &MapDirectory{Keys: map[record.Handle]ed25519.PublicKey{}, Revoked: map[record.Handle]bool{}}
	for _, p := range ps {
		d.Keys[p.h] = p.pub()
	}
	return d
}

func (p principal) config(dir Directory) Config {
	return Config{Self: p.h, Key: p.key, Directory: dir, Origin: origin}
}

// startRelay runs a relay over real HTTP on 127.0.0.1.
func startRelay(t testing.TB, dir Directory) (*Relay, string) {
	t.Helper()
	r := NewRelay(dir, origin)
	r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL + "/v1/line"
}

type dialResult struct {
	l   *Line
	err error
}

// dialBoth dials a line from a to b and from b to a at the same time.
func dialBoth(t testing.TB, url string, a, b Config) (la, lb *Line, errA, errB error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ca, cb := make(chan dialResult, 1), make(chan dialResult, 1)
	go func() { l, err := Dial(ctx, url, b.Self, a); ca <- dialResult{l, err} }()
	go func() { l, err := Dial(ctx, url, a.Self, b); cb <- dialResult{l, err} }()
	ra, rb := <-ca, <-cb
	return ra.l, rb.l, ra.err, rb.err
}

func mustDialBoth(t testing.TB, url string, a, b Config) (*Line, *Line) {
	t.Helper()
	la, lb, errA, errB := dialBoth(t, url, a, b)
	if errA != nil || errB != nil {
		t.Fatalf("dial: %v / %v", errA, errB)
	}
	return la, lb
}

func receive(t testing.TB, l *Line) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := l.Receive(ctx)
	if err != nil {
		t.Fatalf("receive on %s's end: %v", l.cfg.Self, err)
	}
	return m
}

func hangupBoth(t testing.TB, a, b *Line) (*record.Signed, *record.Signed) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ra, rb *record.Signed
	var ea, eb error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); ra, ea = a.Hangup(ctx) }()
	go func() { defer wg.Done(); rb, eb = b.Hangup(ctx) }()
	wg.Wait()
	if ea != nil || eb != nil {
		t.Fatalf("hangup: %v / %v", ea, eb)
	}
	return ra, rb
}

const secret = "The President's message: the enrichment cap stands at 3.67 percent — تهران"

func TestLine(t *testing.T) {
	sp, pr := newPrincipal(t, speaker), newPrincipal(t, president)
	dir := directoryOf(sp, pr)
	relay, url := startRelay(t, dir)

	var tapMu sync.Mutex
	var seen bytes.Buffer
	relay.Tap = func(from, to record.Handle, p []byte) {
		tapMu.Lock()
		seen.Write(p)
		tapMu.Unlock()
	}
	sessions := make(chan Session, 1)
	relay.OnClose = func(s Session) { sessions <- s }

	ls, lp := mustDialBoth(t, url, sp.config(dir), pr.config(dir))
	if ls.Peer() != president || lp.Peer() != speaker {
		t.Fatalf("peers %s, %s", ls.Peer(), lp.Peer())
	}

	if err := lp.Send(secret); err != nil {
		t.Fatal(err)
	}
	m := receive(t, ls)
	if m.Text != secret || m.From != president || m.Pouch != nil {
		t.Fatalf("received %+v, want %q from %s", m, secret, president)
	}
	if d := time.Since(m.Time); d < 0 || d > time.Minute {
		t.Errorf("message time %v is off", m.Time)
	}
	if err := ls.Send("Received. Tehran answers in writing."); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, lp); m.Text != "Received. Tehran answers in writing." || m.From != speaker {
		t.Fatalf("received %+v", m)
	}

	// The Foreign Minister hands the President's sealed pouch over.
	file := []byte("age-encryption.org/v1\n-> sealed pouch bytes " + secret)
	id := record.ID(sha256.Sum256([]byte("tag record")))
	if err := lp.SendPouch(id, file); err != nil {
		t.Fatal(err)
	}
	m = receive(t, ls)
	if m.Pouch == nil || m.Pouch.ID != id || m.Pouch.Size != int64(len(file)) {
		t.Fatalf("pouch not received: %+v", m)
	}
	if got, err := io.ReadAll(m.Pouch); err != nil || !bytes.Equal(got, file) {
		t.Fatalf("pouch not received unchanged: %q, %v", got, err)
	}

	rs, rp := hangupBoth(t, lp, ls)
	if !bytes.Equal(rs.Marshal(), rp.Marshal()) {
		t.Fatal("the two ends hold different call records")
	}
	if err := lp.Send("too late"); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after hangup: %v, want ErrClosed", err)
	}
	if _, err := ls.Receive(context.Background()); err != io.EOF {
		t.Errorf("Receive after hangup: %v, want io.EOF", err)
	}

	c, err := VerifyCall(rs.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckBinding(ls.Binding()); err != nil {
		t.Error(err)
	}
	if err := c.CheckBinding(lp.Binding()); err != nil {
		t.Error(err)
	}
	if err := c.CheckKeys(context.Background(), dir); err != nil {
		t.Error(err)
	}
	b := c.Body
	if b.Participants[0] != speaker || b.Participants[1] != president || c.Record.Origin != origin || !c.Record.Private() {
		t.Errorf("call record %+v, %+v", c.Record, b)
	}
	if len(b.Pouches) != 1 || !bytes.Equal(b.Pouches[0].ID, id[:]) || b.Pouches[0].From != president {
		t.Errorf("handovers %+v", b.Pouches)
	}
	if b.Bytes[0] == 0 || b.Bytes[1] <= uint64(len(file)) {
		t.Errorf("byte counts %v", b.Bytes)
	}
	if b.End < b.Start || b.Start < ls.Started().UnixMilli()-MaxClockSkew.Milliseconds() {
		t.Errorf("times %d..%d", b.Start, b.End)
	}

	// The relay's whole view: who, when, how many bytes.
	var s Session
	select {
	case s = <-sessions:
	case <-time.After(10 * time.Second):
		t.Fatal("the relay did not report the line")
	}
	if !(s.A == speaker && s.B == president || s.A == president && s.B == speaker) || s.BytesAB == 0 || s.BytesBA == 0 || s.Duration() <= 0 {
		t.Errorf("session %+v", s)
	}
	// It never saw the plaintext, nor the pouch file, nor any part of them.
	tapMu.Lock()
	defer tapMu.Unlock()
	if int64(seen.Len()) != s.BytesAB+s.BytesBA {
		t.Errorf("tap saw %d bytes, relay counted %d", seen.Len(), s.BytesAB+s.BytesBA)
	}
	for _, plain := range []string{secret, "enrichment", "Tehran answers", "age-encryption.org", "sealed pouch bytes", string(id[:8])} {
		if bytes.Contains(seen.Bytes(), []byte(plain)) {
			t.Errorf("the relay saw %q in the clear", plain)
		}
	}
	if relay.Open() != 0 {
		t.Errorf("relay still has %d lines open", relay.Open())
	}
}

func TestPeerHangsUpFirst(t *testing.T) {
	sp, pr := newPrincipal(t, speaker), newPrincipal(t, president)
	dir := directoryOf(sp, pr)
	_, url := startRelay(t, dir)
	ls, lp := mustDialBoth(t, url, sp.config(dir), pr.config(dir))
	for i := range 3 {
		if err := ls.Send(strings.Repeat("x", i*1000)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan *record.Signed, 1)
	go func() {
		r, err := ls.Hangup(ctx)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	n := 0
	for {
		_, err := lp.Receive(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 {
		t.Errorf("received %d messages before bye, want 3", n)
	}
	rp, err := lp.Hangup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs := <-done
	if rs == nil || rs.ID() != rp.ID() {
		t.Fatal("call records differ")
	}
}

func TestRefusedByRelay(t *testing.T) {
	sp, pr := newPrincipal(t, speaker), newPrincipal(t, president)
	dir := directoryOf(sp, pr)
	dir.Keys["ir/aide"] = newPrincipal(t, "ir/aide").pub()
	_, url := startRelay(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	impostor := newPrincipal(t, president) // a key that is not the office's
	stranger := newPrincipal(t, "xx/nobody")
	revokedDir := directoryOf(sp, pr)
	revokedDir.Revoked["ir/aide"] = true
	_, revokedURL := startRelay(t, revokedDir)
	aide := newPrincipal(t, "ir/aide")
	revokedDir.Keys["ir/aide"] = aide.pub()

	for _, tc := range []struct {
		name   string
		url    string
		cfg    Config
		to     record.Handle
		status int
		want   error
		msg    string
	}{
		{"key not current", url, impostor.config(dir), speaker, 403, ErrNotCurrentKey, "ru/president refused"},
		{"not in directory", url, stranger.config(dir), speaker, 403, ErrUnknownPrincipal, "xx/nobody refused"},
		{"revoked key", revokedURL, aide.config(revokedDir), speaker, 403, ErrRevoked, "ir/aide refused"},
		{"to revoked", revokedURL, sp.config(revokedDir), "ir/aide", 403, ErrRevoked, "no line to ir/aide"},
		{"to unknown", url, sp.config(dir), "xx/nobody", 404, ErrUnknownPrincipal, "no line to xx/nobody"},
		{"other relay", url, func() Config { c := sp.config(dir); c.Origin = "elsewhere"; return c }(), president, 401, nil, "for relay \"elsewhere\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Dial(ctx, tc.url, tc.to, tc.cfg)
			var re *RelayError
			if !errors.As(err, &re) || re.Status != tc.status {
				t.Fatalf("Dial: %v, want relay refusal with status %d", err, tc.status)
			}
			if !strings.Contains(err.Error(), tc.msg) || (tc.want != nil && !strings.Contains(err.Error(), tc.want.Error())) {
				t.Errorf("error %q does not say %q / %v", err, tc.msg, tc.want)
			}
		})
	}
}

func TestRequestReplayAndStale(t *testing.T) {
	sp, pr := newPrincipal(t, speaker), newPrincipal(t, president)
	dir := directoryOf(sp, pr)
	relay, url := startRelay(t, dir)
	relay.WaitTimeout = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	dial := func(req *SignedRequest) (int, string) {
		h := http.Header{}
		h.Set(RequestHeader, req.Header())
		c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
		if err == nil {
			// Accepted: wait for the relay to give up on the peer.
			_, _, err := c.Read(ctx)
			c.CloseNow()
			return 101, websocket.CloseStatus(err).String()
		}
		if resp == nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	req, err := NewRequest(speaker, president, origin, time.Now(), sp.key)
	if err != nil {
		t.Fatal(err)
	}
	if code, msg := dial(req); code != 101 || !strings.Contains(msg, "TryAgainLater") {
		t.Fatalf("first use: %d %s", code, msg)
	}
	if code, msg := dial(req); code != 401 || !strings.Contains(msg, ErrReplay.Error()) {
		t.Fatalf("replay: %d %s", code, msg)
	}
	old, _ := NewRequest(speaker, president, origin, time.Now().Add(-RequestWindow-time.Minute), sp.key)
	if code, msg := dial(old); code != 401 || !strings.Contains(msg, ErrStale.Error()) {
		t.Fatalf("stale: %d %s", code, msg)
	}
	forged, _ := NewRequest(speaker, president, origin, time.Now(), sp.key)
	forged.Sig[0] ^= 1
	if code, msg := dial(forged); code != 401 || !strings.Contains(msg, "signature") {
		t.Fatalf("forged: %d %s", code, msg)
	}
	// A lone principal is told the other did not come.
	_, err = Dial(ctx, url, president, sp.config(dir))
	if err == nil || !strings.Contains(err.Error(), "ru/president did not ask for the line") {
		t.Fatalf("lone dial: %v", err)
	}
}

// A relay whose directory is stale or hostile lets an impostor through;
// the honest end still refuses it in the TLS handshake.
func TestRefusedInHandshake(t *testing.T) {
	sp, pr := newPrincipal(t, speaker), newPrincipal(t, president)
	dir := directoryOf(sp, pr)

	t.Run("key not current", func(t *testing.T) {
		impostor := newPrincipal(t, president)
		_, url := startRelay(t, directoryOf(sp, impostor)) // the relay is fooled
		_, _, errS, errP := dialBoth(t, url, sp.config(dir), impostor.config(dir))
		var pe *PeerError
		if !errors.As(errS, &pe) || pe.Handle != president || !errors.Is(errS, ErrNotCurrentKey) {
			t.Fatalf("speaker's end: %v, want %s refused: %v", errS, president, ErrNotCurrentKey)
		}
		if !strings.Contains(errS.Error(), "ru/president refused") || !strings.Contains(errS.Error(), "current key for ru/president is") {
			t.Errorf("unclear error: %v", errS)
		}
		if errP == nil {
			t.Error("impostor's end: handshake succeeded")
		}
	})
	t.Run("revoked as client", func(t *testing.T) {
		_, url := startRelay(t, dir)
		revoked := directoryOf(sp, pr)
		revoked.Revoked[president] = true
		_, _, errS, errP := dialBoth(t, url, sp.config(revoked), pr.config(dir))
		if !errors.Is(errS, ErrRevoked) || !strings.Contains(errS.Error(), "ru/president refused") {
			t.Fatalf("speaker's end: %v, want ru/president refused: key revoked", errS)
		}
		if errP == nil || !strings.Contains(errP.Error(), "handshake with ir/speaker failed") {
			t.Errorf("president's end: %v", errP)
		}
	})
	t.Run("revoked as server", func(t *testing.T) {
		_, url := startRelay(t, dir)
		revoked := directoryOf(sp, pr)
		revoked.Revoked[speaker] = true
		_, _, errS, errP := dialBoth(t, url, sp.config(dir), pr.config(revoked))
		if !errors.Is(errP, ErrRevoked) || !strings.Contains(errP.Error(), "ir/speaker refused") {
			t.Fatalf("president's end: %v, want ir/speaker refused: key revoked", errP)
		}
		if errS == nil {
			t.Error("speaker's end: handshake succeeded")
		}
	})
	t.Run("certificate names another", func(t *testing.T) {
		raw, _ := certificate("ru/amb-tehran", pr.key, time.Now())
		if _, err := verifyPeer(context.Background(), dir, president, raw.Certificate); !errors.Is(err, ErrWrongPeer) {
			t.Fatalf("verifyPeer: %v, want ErrWrongPeer", err)
		}
	})
	t.Run("two certificates", func(t *testing.T) {
		raw, _ := certificate(president, pr.key, time.Now())
		if _, err := verifyPeer(context.Background(), dir, president, append(raw.Certificate, raw.Certificate...)); err == nil {
			t.Fatal("two certificates accepted")
		}
	})
	t.Run("line to oneself", func(t *testing.T) {
		if _, err := Start(context.Background(), nil, president, pr.config(dir)); err == nil {
			t.Fatal("a line to oneself started")
		}
	})
}

func TestClassicalKeyExchangeRefused(t *testing.T) {
	sp, pr := newPrincipal(t, speaker), newPrincipal(t, president)
	dir := directoryOf(sp, pr)
	_, url := startRelay(t, dir)

	// ru/president is the TLS client and offers only X25519.
	classical := pr.config(dir)
	classical.curves = []tls.CurveID{tls.X25519}
	_, _, errS, errP := dialBoth(t, url, sp.config(dir), classical)
	if !errors.Is(errS, ErrClassical) || !strings.Contains(errS.Error(), "ru/president refused") || !strings.Contains(errS.Error(), "X25519MLKEM768") {
		t.Fatalf("speaker's end: %v, want ru/president refused: %v", errS, ErrClassical)
	}
	if errP == nil {
		t.Error("classical client: handshake succeeded")
	}

	// ir/speaker is the TLS server and accepts only X25519.
	classical = sp.config(dir)
	classical.curves = []tls.CurveID{tls.X25519}
	_, _, errS, errP = dialBoth(t, url, classical, pr.config(dir))
	if errP == nil || !strings.Contains(errP.Error(), "handshake with ir/speaker failed") || !strings.Contains(errP.Error(), "X25519MLKEM768") {
		t.Fatalf("president's end: %v", errP)
	}
	if errS == nil {
		t.Error("classical server: handshake succeeded")
	}
}

func TestCallRecordChecks(t *testing.T) {
	sp, pr := newPrincipal(t, speaker), newPrincipal(t, president)
	dir := directoryOf(sp, pr)
	_, url := startRelay(t, dir)
	ls, lp := mustDialBoth(t, url, sp.config(dir), pr.config(dir))
	full, _ := hangupBoth(t, ls, lp)

	if _, err := VerifyCall(full.Marshal()); err != nil {
		t.Fatal(err)
	}
	// One signature missing: not accepted.
	half := *full
	half.Sigs = full.Sigs[:1]
	if _, err := VerifyCall(half.Marshal()); !errors.Is(err, record.ErrMissingSig) || !strings.Contains(err.Error(), "ru/president") {
		t.Fatalf("half-signed: %v, want ErrMissingSig naming ru/president", err)
	}
	// A signature swapped for another key's: refused.
	bad := *full
	bad.Sigs = append([]record.Sig(nil), full.Sigs...)
	other := newPrincipal(t, president)
	s2 := record.Signed{Record: full.Record}
	s2.AddSignature(other.key)
	bad.Sigs[1] = s2.Sigs[0]
	c, err := VerifyCall(bad.Marshal())
	if err != nil {
		t.Fatal(err) // signatures verify; the key is the impostor's
	}
	if err := c.CheckKeys(context.Background(), dir); !errors.Is(err, ErrNotCurrentKey) {
		t.Fatalf("CheckKeys: %v, want ErrNotCurrentKey", err)
	}
	// Another session's binding.
	if err := c.CheckBinding(make([]byte, BindingSize)); err == nil {
		t.Fatal("binding to another session accepted")
	}
	// Any byte changed: refused.
	enc := full.Marshal()
	for i := range enc {
		m := bytes.Clone(enc)
		m[i] ^= 0x01
		if _, err := VerifyCall(m); err == nil {
			t.Fatalf("record with byte %d changed accepted", i)
		}
	}
}

func TestCountersignRefusesWrongProposal(t *testing.T) {
	sp, pr := newPrincipal(t, speaker), newPrincipal(t, president)
	want := &CallBody{
		Participants: []record.Handle{speaker, president},
		Start:        record.Now() - 60_000, End: record.Now(),
		Binding: bytes.Repeat([]byte{7}, BindingSize), Bytes: []uint64{10, 20},
	}
	for _, tc := range []struct {
		name   string
		mutate func(b *CallBody)
		origin string
	}{
		{"bytes", func(b *CallBody) { b.Bytes = []uint64{10, 21} }, origin},
		{"binding", func(b *CallBody) { b.Binding = make([]byte, BindingSize) }, origin},
		{"start", func(b *CallBody) { b.Start -= 2 * MaxClockSkew.Milliseconds() }, origin},
		{"pouches", func(b *CallBody) { b.Pouches = []Handover{{ID: make([]byte, 32), From: president}} }, origin},
		{"origin", func(b *CallBody) {}, "another/log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := *want
			tc.mutate(&b)
			s, err := proposeCall(tc.origin, &b, sp.key)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := countersign(s.Marshal(), origin, want, sp.pub(), pr.key); !errors.Is(err, ErrBadCall) {
				t.Fatalf("countersign: %v, want ErrBadCall", err)
			}
		})
	}
	s, _ := proposeCall(origin, want, sp.key)
	if _, err := countersign(s.Marshal(), origin, want, pr.pub(), pr.key); err == nil {
		t.Fatal("countersigned a proposal signed by another key")
	}
	full, err := countersign(s.Marshal(), origin, want, sp.pub(), pr.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyCall(full.Marshal()); err != nil {
		t.Fatal(err)
	}
}

// A script says what it has to say, then keeps listening until the peer
// hangs up too.
func TestCloseSend(t *testing.T) {
	sp, pr := newPrincipal(t, speaker), newPrincipal(t, president)
	dir := directoryOf(sp, pr)
	_, url := startRelay(t, dir)
	ls, lp := mustDialBoth(t, url, sp.config(dir), pr.config(dir))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lp.Send("one")
	lp.Send("two")
	if err := lp.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := lp.Send("three"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after CloseSend: %v", err)
	}
	for _, want := range []string{"one", "two"} {
		if m := receive(t, ls); m.Text != want {
			t.Fatalf("got %q, want %q", m.Text, want)
		}
	}
	if _, err := ls.Receive(ctx); err != io.EOF {
		t.Fatalf("after bye: %v, want io.EOF", err)
	}
	if _, err := lp.Receive(ctx); err != io.EOF {
		t.Fatalf("script end after the peer's bye: %v, want io.EOF", err)
	}
	rs, rp := hangupBoth(t, ls, lp)
	if rs.ID() != rp.ID() {
		t.Fatal("records differ")
	}
	_, r, _ := record.Parse(rs.Marshal())
	c, err := CheckCall(rs, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.PouchIDs()) != 0 || c.Body.Bytes[0] != 0 || c.Body.Bytes[1] == 0 {
		t.Errorf("call body %+v", c.Body)
	}
}

// A principal who gives up waiting leaves the relay; whoever calls later
// waits for a fresh request instead of meeting a dead connection.
func TestWaiterLeaves(t *testing.T) {
	sp, pr := newPrincipal(t, speaker), newPrincipal(t, president)
	dir := directoryOf(sp, pr)
	relay, url := startRelay(t, dir)
	relay.WaitTimeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err := Dial(ctx, url, president, sp.config(dir))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v, want the caller's deadline", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		relay.mu.Lock()
		n := len(relay.waiting)
		relay.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the relay still keeps the principal who left")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = Dial(context.Background(), url, speaker, pr.config(dir))
	var re *RelayError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "ir/speaker did not ask for the line") {
		t.Fatalf("late caller: %v", err)
	}
}

// TestLinePouchStream: a .pouch file larger than a part streams over the
// line a part at a time, read as it comes; a pouch the receiver does not
// read is discarded at its next Receive and the line goes on; both are
// in the call record, and the bytes counted match on both ends. A sender
// whose file ends early breaks the line off, and the receiver's read of
// the pouch fails rather than ending as if it were whole.
func TestLinePouchStream(t *testing.T) {
	sp, pr := newPrincipal(t, speaker), newPrincipal(t, president)
	dir := directoryOf(sp, pr)
	_, url := startRelay(t, dir)
	ls, lp := mustDialBoth(t, url, sp.config(dir), pr.config(dir))

	big := bytes.Repeat([]byte("sealed pouch bytes "), 3*MaxPartSize/19+7)
	id1, id2 := record.ID(sha256.Sum256([]byte("one"))), record.ID(sha256.Sum256([]byte("two")))
	sent := make(chan error, 1)
	go func() {
		err := lp.SendPouchFrom(id1, bytes.NewReader(big), int64(len(big)))
		if err == nil {
			err = lp.SendPouchFrom(id2, bytes.NewReader(big), int64(len(big)))
		}
		if err == nil {
			err = lp.Send("after the pouches")
		}
		sent <- err
	}()
	m := receive(t, ls)
	if m.Pouch == nil || m.Pouch.ID != id1 || m.Pouch.Size != int64(len(big)) {
		t.Fatalf("large pouch not received: %+v", m)
	}
	if got, err := io.ReadAll(m.Pouch); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("large pouch not received unchanged: %d bytes, %v", len(got), err)
	}
	if m = receive(t, ls); m.Pouch == nil || m.Pouch.ID != id2 {
		t.Fatalf("second large pouch not received: %+v", m)
	}
	skipped := m.Pouch
	if m = receive(t, ls); m.Text != "after the pouches" {
		t.Fatalf("after a pouch left unread: %+v", m)
	}
	if _, err := io.ReadAll(skipped); !errors.Is(err, errSkipped) {
		t.Errorf("reading a pouch after the next Receive: %v, want errSkipped", err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{0, MaxPouchSize + 1} {
		if err := lp.SendPouchFrom(id1, bytes.NewReader(big), size); err == nil {
			t.Errorf("a pouch of %d bytes was sent", size)
		}
	}
	rs, _ := hangupBoth(t, lp, ls)
	c, err := VerifyCall(rs.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if ids := c.PouchIDs(); len(ids) != 2 || ids[0] != id1 || ids[1] != id2 {
		t.Errorf("the call record lists %v", ids)
	}
	if c.Body.Bytes[1] < uint64(2*len(big)) {
		t.Errorf("byte counts %v for two pouches of %d bytes", c.Body.Bytes, len(big))
	}

	// A file that ends early.
	ls, lp = mustDialBoth(t, url, sp.config(dir), pr.config(dir))
	defer ls.Abort()
	defer lp.Abort()
	go func() { sent <- lp.SendPouchFrom(id1, bytes.NewReader(big), int64(len(big))+1) }()
	m = receive(t, ls)
	if m.Pouch == nil {
		t.Fatalf("no pouch: %+v", m)
	}
	if got, err := io.ReadAll(m.Pouch); err == nil {
		t.Errorf("a pouch cut short read as whole (%d bytes)", len(got))
	}
	if err := <-sent; err == nil || !strings.Contains(err.Error(), "broken off") {
		t.Errorf("sending a file shorter than its size: %v", err)
	}
}
