package line

import (
	"context"
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

// meetingPlaces is what the replicas of one deployment share: where each
// line meets, and the nonces used (as store.Replicas and store.Nonces keep
// them in PostgreSQL).
type meetingPlaces struct {
	mu     sync.Mutex
	at     map[string]string
	nonces map[string]bool
	meets  int
}

func (m *meetingPlaces) relay(t *testing.T, dir Directory) (*Relay, string) {
	t.Helper()
	r := NewRelay(dir, origin)
	r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	self := srv.URL
	r.Meet = func(_ context.Context, a, b record.Handle) (string, func(), error) {
		key := string(min(a, b)) + " " + string(max(a, b))
		m.mu.Lock()
		defer m.mu.Unlock()
		m.meets++
		if at, ok := m.at[key]; ok && at != self {
			return at, nil, nil
		}
		m.at[key] = self
		return "", func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.at[key] == self {
				delete(m.at, key)
			}
		}, nil
	}
	r.UseNonce = func(_ context.Context, nonce []byte, _ time.Time) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.nonces[string(nonce)] {
			return ErrReplay
		}
		m.nonces[string(nonce)] = true
		return nil
	}
	return r, srv.URL + "/v1/line"
}

// TestLineAcrossReplicas: the two ends of a line reach different relays
// of one deployment; the second is forwarded to the first, and the line
// works end to end. A request replayed to the other relay is refused.
func TestLineAcrossReplicas(t *testing.T) {
	sp, pr := newPrincipal(t, speaker), newPrincipal(t, president)
	dir := directoryOf(sp, pr)
	m := &meetingPlaces{at: map[string]string{}, nonces: map[string]bool{}}
	r1, url1 := m.relay(t, dir)
	r2, url2 := m.relay(t, dir)

	for _, order := range []string{"speaker first", "at once"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		ca, cb := make(chan dialResult, 1), make(chan dialResult, 1)
		go func() { l, err := Dial(ctx, url1, president, sp.config(dir)); ca <- dialResult{l, err} }()
		if order == "speaker first" {
			deadline := time.Now().Add(5 * time.Second)
			for {
				m.mu.Lock()
				n := len(m.at)
				m.mu.Unlock()
				if n == 1 || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		go func() { l, err := Dial(ctx, url2, speaker, pr.config(dir)); cb <- dialResult{l, err} }()
		ra, rb := <-ca, <-cb
		if ra.err != nil || rb.err != nil {
			t.Fatalf("%s: dial: %v / %v", order, ra.err, rb.err)
		}
		if err := rb.l.Send(secret); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, ra.l); got.Text != secret || got.From != president {
			t.Fatalf("%s: received %+v", order, got)
		}
		if r1.Open()+r2.Open() != 1 {
			t.Fatalf("%s: %d + %d lines open on the two relays, want one on one", order, r1.Open(), r2.Open())
		}
		hangupBoth(t, ra.l, rb.l)
		cancel()
		// The relay counts a line closed once both its directions have
		// ended, after the two ends' hang-ups return: wait for that, so
		// the next order's count is its own line's.
		deadline := time.Now().Add(5 * time.Second)
		for r1.Open()+r2.Open() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d + %d lines still open on the two relays after both hung up", order, r1.Open(), r2.Open())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// A request used at one relay is a replay at the other.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r1.WaitTimeout = 100 * time.Millisecond
	r2.WaitTimeout = 100 * time.Millisecond
	req, err := NewRequest(speaker, president, origin, time.Now(), sp.key)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(url string) (int, string) {
		h := http.Header{}
		h.Set(RequestHeader, req.Header())
		c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
		if err == nil {
			_, _, err := c.Read(ctx)
			c.CloseNow()
			return 101, websocket.CloseStatus(err).String()
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, msg := dial(url1); code != 101 {
		t.Fatalf("first use: %d %s", code, msg)
	}
	if code, msg := dial(url2); code != 401 || !strings.Contains(msg, ErrReplay.Error()) {
		t.Fatalf("replay at the other relay: %d %s", code, msg)
	}
}
