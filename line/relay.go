package line

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"pouch.dev/record"
)

// A Relay pairs two principals who both asked for a line to each other and
// forwards opaque bytes between them. It is an http.Handler for the
// WebSocket endpoint, mounted by the server at /v1/line.
//
// The relay never sees plaintext: the two ends run TLS through it. What it
// learns, and reports through OnClose and its log, is a Session.
//
// SPEC: spec/line.md#relay
type Relay struct {
	// Directory is asked for the current key of every principal that asks
	// for a line, and of the principal asked for.
	Directory Directory
	// Origin is this deployment's log origin; requests naming another
	// relay are refused.
	Origin string
	// WaitTimeout is how long a principal waits for the other; zero means
	// DefaultWaitTimeout.
	WaitTimeout time.Duration
	// Logger receives one line per refused request, opened and closed line;
	// nil means slog.Default().
	Logger *slog.Logger
	// OnClose, if set, is called once per line when it ends, with what the
	// relay knows of it.
	OnClose func(Session)
	// Tap, if set, sees every chunk of bytes the relay forwards, once it
	// was written to the other side, as the relay sees it. It exists so
	// tests can show the relay sees no plaintext; it must not retain p.
	Tap func(from, to record.Handle, p []byte)

	// UseNonce, if set, records the nonce of each line request until
	// expires, instead of the relay's memory, and fails if it was used:
	// how replicas of one deployment share what they have seen.
	UseNonce func(ctx context.Context, nonce []byte, expires time.Time) error
	// Meet, if set, says where the line between a and b meets, when the
	// deployment has several replicas: at "" (here), or at the base URL
	// of the replica where one end already waits, to which the relay
	// forwards the request as it came. done is called when the request
	// ends here. A request that another replica forwarded is served here.
	//
	// SPEC: spec/line.md#replicas
	Meet func(ctx context.Context, a, b record.Handle) (at string, done func(), err error)

	mu      sync.Mutex
	waiting map[route]*waiter
	nonces  map[[NonceSize]byte]time.Time
	swept   time.Time
	open    atomic.Int64
}

// NewRelay returns a relay that checks principals against dir and accepts
// requests naming origin.
func NewRelay(dir Directory, origin string) *Relay {
	return &Relay{Directory: dir, Origin: origin}
}

// A Session is all the relay knows of a line.
type Session struct {
	A, B    record.Handle // A asked first
	Start   time.Time     // when B asked and the two were paired
	End     time.Time     // when the first side went away
	BytesAB int64         // bytes forwarded from A to B
	BytesBA int64         // bytes forwarded from B to A
}

// Duration is how long the line was open.
func (s Session) Duration() time.Duration { return s.End.Sub(s.Start) }

// Open returns how many lines are paired and forwarding now.
func (r *Relay) Open() int { return int(r.open.Load()) }

type route struct{ from, to record.Handle }

type waiter struct {
	route
	conn   *websocket.Conn
	nc     net.Conn // conn's binary messages as bytes
	cancel context.CancelFunc
	buf    []byte          // the copy buffer of this side
	first  chan readResult // the first read, started at once: it tells a waiter who left
	wake   chan wakeup     // buffered 1
}

type readResult struct {
	n   int
	err error
}

type wakeup struct {
	p      *pair
	reason string // why the waiter must go, if p is nil
}

type pair struct {
	a, b   *waiter // a asked first
	start  time.Time
	ab, ba atomic.Int64
	ended  sync.Once
	end    time.Time
	left   atomic.Int32
}

func (r *Relay) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func (r *Relay) refuse(w http.ResponseWriter, code int, err error) {
	r.logger().Info("line refused", "status", code, "err", err)
	http.Error(w, err.Error(), code)
}

// ServeHTTP implements the relay's WebSocket endpoint.
//
// SPEC: spec/line.md#relay
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		r.refuse(w, http.StatusMethodNotAllowed, errors.New("line: the relay takes a WebSocket GET"))
		return
	}
	h := req.Header.Get(RequestHeader)
	if h == "" {
		r.refuse(w, http.StatusUnauthorized, fmt.Errorf("line: no %s header: a line request must be signed by the principal who asks (use pouch line)", RequestHeader))
		return
	}
	lr, key, err := ParseRequest(h)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, record.ErrBadSignature) {
			code = http.StatusUnauthorized
		}
		r.refuse(w, code, err)
		return
	}
	if lr.Relay != r.Origin {
		r.refuse(w, http.StatusUnauthorized, fmt.Errorf("line: request from %s is for relay %q, this relay is %q", lr.From, lr.Relay, r.Origin))
		return
	}
	now := time.Now()
	if d := now.Sub(time.UnixMilli(lr.Time)); d > RequestWindow || d < -RequestWindow {
		r.refuse(w, http.StatusUnauthorized, fmt.Errorf("line: request from %s: %w (it is %v off the relay's clock; check the clock)", lr.From, ErrStale, d.Round(time.Second)))
		return
	}
	ctx := req.Context()
	if r.Meet != nil {
		at, done, err := r.Meet(ctx, lr.From, lr.To)
		if err != nil {
			r.refuse(w, http.StatusServiceUnavailable, fmt.Errorf("line: finding where the line to %s meets: %w", lr.To, err))
			return
		}
		switch {
		case at == "":
			defer done()
		case req.Header.Get(ForwardedHeader) == "":
			r.forwardTo(w, req, at, lr)
			return
		}
		// A forwarded request is served here, wherever the line was
		// meant to meet: one hop at most.
	}
	// SPEC: spec/line.md#relay-auth
	if err := checkKey(ctx, r.Directory, lr.From, key); err != nil {
		code := http.StatusForbidden
		if !errors.Is(err, ErrUnknownPrincipal) && !errors.Is(err, ErrRevoked) && !errors.Is(err, ErrNotCurrentKey) {
			code = http.StatusServiceUnavailable
		}
		r.refuse(w, code, err)
		return
	}
	if _, err := r.Directory.CurrentKey(ctx, lr.To); err != nil {
		code := http.StatusServiceUnavailable
		switch {
		case errors.Is(err, ErrUnknownPrincipal):
			code = http.StatusNotFound
		case errors.Is(err, ErrRevoked):
			code = http.StatusForbidden
		}
		r.refuse(w, code, fmt.Errorf("line: no line to %s: %w", lr.To, err))
		return
	}
	if err := r.useNonce(ctx, lr, now); err != nil {
		r.refuse(w, http.StatusUnauthorized, err)
		return
	}

	c, err := websocket.Accept(w, req, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		r.logger().Info("line: websocket accept failed", "from", lr.From, "err", err)
		return
	}
	me := &waiter{route: route{lr.From, lr.To}, conn: c, buf: make([]byte, relayBufferSize), first: make(chan readResult, 1), wake: make(chan wakeup, 1)}
	var cctx context.Context
	cctx, me.cancel = context.WithCancel(context.Background())
	me.nc = websocket.NetConn(cctx, c, websocket.MessageBinary)
	// A principal sends nothing until it is told "paired", so this read
	// returns early only if it leaves (or breaks the protocol).
	go func() {
		n, err := me.nc.Read(me.buf)
		me.first <- readResult{n, err}
	}()
	r.pair(me)
}

// useNonce records lr's nonce, refusing one seen within the window.
//
// SPEC: spec/line.md#relay-auth
func (r *Relay) useNonce(ctx context.Context, lr *Request, now time.Time) error {
	if r.UseNonce != nil {
		err := r.UseNonce(ctx, lr.Nonce, time.UnixMilli(lr.Time).Add(2*RequestWindow))
		if errors.Is(err, ErrReplay) {
			return fmt.Errorf("line: request from %s: %w", lr.From, ErrReplay)
		}
		return err
	}
	var n [NonceSize]byte
	copy(n[:], lr.Nonce)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nonces == nil {
		r.nonces = make(map[[NonceSize]byte]time.Time)
	}
	if now.Sub(r.swept) > RequestWindow/4 || len(r.nonces) >= MaxNonces {
		for k, exp := range r.nonces {
			if now.After(exp) {
				delete(r.nonces, k)
			}
		}
		r.swept = now
	}
	if _, seen := r.nonces[n]; seen {
		return fmt.Errorf("line: request from %s: %w", lr.From, ErrReplay)
	}
	if len(r.nonces) >= MaxNonces {
		return fmt.Errorf("line: request from %s: the relay is busy, try again in a minute", lr.From)
	}
	r.nonces[n] = now.Add(2 * RequestWindow)
	return nil
}

// ForwardedHeader marks a line request that one replica forwarded to
// another, where the line's other end waits: that replica serves it.
const ForwardedHeader = "Pouch-Line-Forwarded"

// forwardTo forwards req, a WebSocket request for a line, to the replica
// at base and relays the connection both ways. The replica at base checks
// the request as this one would; this one has used neither its nonce nor
// anything else of it.
func (r *Relay) forwardTo(w http.ResponseWriter, req *http.Request, base string, lr *Request) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.refuse(w, http.StatusServiceUnavailable, fmt.Errorf("line: the replica where the line meets has no usable address %q", base))
		return
	}
	r.logger().Info("line: forwarded to the replica where the other end waits", "from", lr.From, "to", lr.To, "replica", base)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
			pr.Out.Header.Set(ForwardedHeader, "1")
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			r.refuse(w, http.StatusBadGateway, fmt.Errorf("line: the replica where the line meets, %s: %w; ask again", base, err))
		},
		ErrorLog: slog.NewLogLogger(r.logger().Handler(), slog.LevelInfo),
	}
	rp.ServeHTTP(w, req)
}

// pair waits for me's peer, or pairs me with the peer already waiting,
// then forwards me's bytes until the line ends.
func (r *Relay) pair(me *waiter) {
	r.mu.Lock()
	if r.waiting == nil {
		r.waiting = make(map[route]*waiter)
	}
	back := route{me.to, me.from}
	if other, ok := r.waiting[back]; ok {
		delete(r.waiting, back)
		r.mu.Unlock()
		r.join(other, me)
		return
	}
	if old, ok := r.waiting[me.route]; ok {
		old.wake <- wakeup{reason: "a newer request from " + string(me.from) + " replaced this one"}
	}
	r.waiting[me.route] = me
	r.mu.Unlock()

	timeout := r.WaitTimeout
	if timeout <= 0 {
		timeout = DefaultWaitTimeout
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	// leave removes me from the waiting list; false means a peer took me
	// just now, and a wakeup is on its way.
	leave := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.waiting[me.route] == me {
			delete(r.waiting, me.route)
			return true
		}
		return false
	}
	var wu wakeup
	select {
	case wu = <-me.wake:
	case <-t.C:
		if leave() {
			me.close(websocket.StatusTryAgainLater, fmt.Sprintf("%s did not ask for the line within %v", me.to, timeout))
			return
		}
		wu = <-me.wake
	case rr := <-me.first:
		me.first <- rr // forward reads it again if a peer took me meanwhile
		if leave() {
			if rr.err == nil {
				me.close(websocket.StatusPolicyViolation, "data sent before the line was paired")
			} else {
				me.close(websocket.StatusNormalClosure, "")
			}
			r.logger().Info("line: left before the peer came", "from", me.from, "to", me.to)
			return
		}
		wu = <-me.wake
	}
	if wu.p == nil {
		me.close(websocket.StatusTryAgainLater, wu.reason)
		return
	}
	r.forward(wu.p, me, wu.p.b, &wu.p.ab)
}

func (w *waiter) close(code websocket.StatusCode, reason string) {
	w.conn.Close(code, reason)
	w.cancel()
}

// join pairs the waiting principal a with b, who just asked, tells both and
// forwards b's bytes; a's handler forwards a's.
func (r *Relay) join(a, b *waiter) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	errA := a.conn.Write(ctx, websocket.MessageText, []byte(pairedMessage))
	var errB error
	if errA == nil {
		errB = b.conn.Write(ctx, websocket.MessageText, []byte(pairedMessage))
	}
	cancel()
	if errA != nil || errB != nil {
		a.wake <- wakeup{reason: "the line could not be opened"}
		b.close(websocket.StatusTryAgainLater, fmt.Sprintf("%s went away; ask again", a.from))
		return
	}
	p := &pair{a: a, b: b, start: time.Now()}
	p.left.Store(2)
	r.open.Add(1)
	r.logger().Info("line opened", "a", a.from, "b", b.from)
	a.wake <- wakeup{p: p}
	r.forward(p, b, a, &p.ba)
}

// forward copies src to dst until either side goes away, then closes both;
// the last of the two directions to finish reports the session.
func (r *Relay) forward(p *pair, src, dst *waiter, n *atomic.Int64) {
	rr := <-src.first
	for {
		if rr.n > 0 {
			if _, werr := dst.nc.Write(src.buf[:rr.n]); werr != nil {
				break
			}
			// Tap and count only what was forwarded, so the two agree:
			// a chunk read as the other side went away is neither.
			if r.Tap != nil {
				r.Tap(src.from, dst.from, src.buf[:rr.n])
			}
			n.Add(int64(rr.n))
		}
		if rr.err != nil {
			if rr.err != io.EOF {
				r.logger().Debug("line: read ended", "from", src.from, "err", rr.err)
			}
			break
		}
		rr.n, rr.err = src.nc.Read(src.buf)
	}
	p.ended.Do(func() {
		p.end = time.Now()
		// Close both, so the other direction ends too. Close sends the
		// WebSocket close frame after any message being written.
		go p.a.nc.Close()
		go p.b.nc.Close()
	})
	if p.left.Add(-1) == 0 {
		p.a.cancel()
		p.b.cancel()
		r.open.Add(-1)
		s := Session{A: p.a.from, B: p.b.from, Start: p.start, End: p.end, BytesAB: p.ab.Load(), BytesBA: p.ba.Load()}
		r.logger().Info("line closed", "a", s.A, "b", s.B, "start", s.Start, "duration", s.Duration(), "bytes_ab", s.BytesAB, "bytes_ba", s.BytesBA)
		if r.OnClose != nil {
			r.OnClose(s)
		}
	}
}
