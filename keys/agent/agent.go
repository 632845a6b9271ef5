package agent

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"filippo.io/age"

	"pouch.dev/keys"
	"pouch.dev/record"
)

// DefaultTimeout is how long the agent keeps a key that nobody uses.
const DefaultTimeout = time.Hour

// MaxTimeout is the longest idle timeout an agent accepts.
const MaxTimeout = 7 * 24 * time.Hour

// ioTimeout bounds how long one connection may take to send a request or
// read a response.
const ioTimeout = 30 * time.Second

// An Agent holds unlocked principals' keys in memory and signs and
// unwraps with them for the clients that connect to its socket. A key
// not used for Timeout is forgotten; so is every key on Lock and Stop.
// Keys are never written anywhere, and never sent to a client.
type Agent struct {
	timeout time.Duration
	now     func() time.Time
	uid     int

	mu    sync.Mutex
	held  map[record.Handle]*heldKey
	timer *time.Timer
	l     net.Listener
	stop  chan struct{}
	once  sync.Once
}

type heldKey struct {
	pub  *keys.Public
	sk   ed25519.PrivateKey
	id   *age.HybridIdentity
	used time.Time
}

// forget wipes what can be wiped of a key: the Ed25519 key's bytes. The
// age identity's are inside filippo.io/age and are dropped for the
// garbage collector.
func (k *heldKey) forget() {
	clear(k.sk)
	k.sk, k.id = nil, nil
}

// An Option configures an Agent.
type Option func(*Agent)

// WithClock replaces time.Now, for tests of the idle timeout.
func WithClock(now func() time.Time) Option { return func(a *Agent) { a.now = now } }

// WithUID sets the only user allowed to connect (by default the agent's
// own, os.Getuid()), for tests of the refusal.
func WithUID(uid int) Option { return func(a *Agent) { a.uid = uid } }

// New returns an agent that forgets a key after timeout without use
// (DefaultTimeout if 0).
func New(timeout time.Duration, opts ...Option) (*Agent, error) {
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if timeout < 0 || timeout > MaxTimeout {
		return nil, fmt.Errorf("agent timeout %v: want more than 0 and at most %v", timeout, MaxTimeout)
	}
	a := &Agent{timeout: timeout, now: time.Now, uid: os.Getuid(), held: map[record.Handle]*heldKey{}, stop: make(chan struct{})}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// Timeout returns the idle time after which a key is forgotten.
func (a *Agent) Timeout() time.Duration { return a.timeout }

// Serve accepts connections on l until Stop (or a client's stop request)
// or until l fails. It returns nil after a stop. Each connection is served
// only if its peer runs as the agent's user.
//
// SPEC: spec/keys.md#agent-socket
func (a *Agent) Serve(l *net.UnixListener) error {
	a.mu.Lock()
	a.l = l
	a.mu.Unlock()
	select {
	case <-a.stop: // stopped before it served: Stop did not see l
		l.Close()
		return nil
	default:
	}
	sem := make(chan struct{}, MaxConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case sem <- struct{}{}:
		case <-a.stop:
			return nil
		}
		c, err := l.AcceptUnix()
		if err != nil {
			<-sem
			select {
			case <-a.stop:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			a.Stop()
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			a.serveConn(c)
		}()
	}
}

// Stop forgets every key and makes Serve return.
func (a *Agent) Stop() {
	a.once.Do(func() {
		a.Lock("")
		close(a.stop)
		a.mu.Lock()
		if a.l != nil {
			a.l.Close()
		}
		if a.timer != nil {
			a.timer.Stop()
		}
		a.mu.Unlock()
	})
}

// Done is closed when the agent stops.
func (a *Agent) Done() <-chan struct{} { return a.stop }

func (a *Agent) serveConn(c *net.UnixConn) {
	defer c.Close()
	cred, err := peerCred(c)
	if err == nil {
		err = checkPeer(cred, a.uid)
	}
	if err != nil {
		// Say why, then hang up without reading a request.
		c.SetDeadline(time.Now().Add(time.Second))
		writeMsg(c, &Response{V: Version, Err: &WireError{Code: CodeForbidden, Msg: err.Error()}})
		c.CloseWrite()
		io.Copy(io.Discard, io.LimitReader(c, MaxMessage+4))
		return
	}
	for {
		c.SetDeadline(time.Now().Add(ioTimeout))
		var req Request
		err := readMsg(c, &req)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				writeMsg(c, &Response{V: Version, Err: &WireError{Code: CodeBadRequest, Msg: err.Error()}})
			}
			return
		}
		resp := a.handle(&req)
		if req.Op == OpStop && resp.Err == nil {
			// Stopped before the answer, so that the answer means every
			// key is forgotten and the socket is gone.
			a.Stop()
		}
		err = writeMsg(c, resp)
		clear(resp.FileKey)
		clear(req.Key)
		if err != nil || resp.Err != nil && resp.Err.Code == CodeVersion || req.Op == OpStop {
			return
		}
	}
}

func refuse(code, format string, a ...any) *Response {
	return &Response{V: Version, Err: &WireError{Code: code, Msg: fmt.Sprintf(format, a...)}}
}

// handle answers one request.
//
// SPEC: spec/keys.md#agent-protocol
func (a *Agent) handle(req *Request) *Response {
	if req.V != Version {
		return refuse(CodeVersion, "protocol version %d is not supported (this agent speaks %d); restart the agent with this pouch", req.V, Version)
	}
	ok := &Response{V: Version}
	switch req.Op {
	case OpList:
		if req.Handle != "" || req.Msg != nil || req.Stanzas != nil || req.Key != nil {
			return refuse(CodeBadRequest, "list takes no arguments")
		}
		ok.Agent = &Status{PID: os.Getpid(), Timeout: a.timeout.Milliseconds()}
		ok.Keys = a.List()
		return ok
	case OpAdd:
		if req.Handle != "" || req.Msg != nil || req.Stanzas != nil {
			return refuse(CodeBadRequest, "add takes a key file only")
		}
		p, err := keys.ParseKeyFile(req.Key)
		if err != nil {
			return refuse(CodeBadKey, "%v", err)
		}
		if err := a.Add(p); err != nil {
			return refuse(CodeBadKey, "%v", err)
		}
		return ok
	case OpSign:
		if req.Stanzas != nil || req.Key != nil {
			return refuse(CodeBadRequest, "sign takes a handle and a message only")
		}
		sig, err := a.sign(req.Handle, req.Msg)
		if err != nil {
			return refuse(CodeNotHeld, "%v", err)
		}
		ok.Sig = sig
		return ok
	case OpUnwrap:
		if req.Msg != nil || req.Key != nil || len(req.Stanzas) == 0 || len(req.Stanzas) > MaxStanzas {
			return refuse(CodeBadRequest, "unwrap takes a handle and 1 to %d stanzas", MaxStanzas)
		}
		fk, err := a.unwrap(req.Handle, req.Stanzas)
		switch {
		case errors.Is(err, age.ErrIncorrectIdentity):
			return refuse(CodeIncorrectIdentity, "no stanza is sealed to %s", req.Handle)
		case errors.Is(err, ErrNotHeld):
			return refuse(CodeNotHeld, "%v", err)
		case err != nil:
			return refuse(CodeBadRequest, "unwrapping as %s: %v", req.Handle, err)
		}
		ok.FileKey = fk
		return ok
	case OpLock:
		if req.Msg != nil || req.Stanzas != nil || req.Key != nil {
			return refuse(CodeBadRequest, "lock takes a handle or nothing")
		}
		ok.Forgot = a.Lock(req.Handle)
		return ok
	case OpStop:
		if req.Handle != "" || req.Msg != nil || req.Stanzas != nil || req.Key != nil {
			return refuse(CodeBadRequest, "stop takes no arguments")
		}
		return ok
	}
	return refuse(CodeBadRequest, "unknown operation %q", req.Op)
}

// Add holds p's keys, which must be in memory, replacing any held under
// its handle. The agent keeps its own copy; the caller may wipe p's.
func (a *Agent) Add(p *keys.Principal) error {
	sk, id, err := p.InMemory()
	if err != nil {
		return err
	}
	k := &heldKey{pub: p.Public(), sk: slices.Clone(sk), id: id}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.expireLocked(now)
	if old := a.held[p.Handle]; old != nil {
		old.forget()
	}
	k.used = now
	a.held[p.Handle] = k
	a.scheduleLocked(now)
	return nil
}

// List returns the principals whose keys the agent holds, by handle.
func (a *Agent) List() []Held {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expireLocked(a.now())
	out := make([]Held, 0, len(a.held))
	for h, k := range a.held {
		out = append(out, Held{Handle: h, Ed25519: k.pub.Ed25519, Age: k.pub.Age,
			Used: k.used.UnixMilli(), Expires: k.used.Add(a.timeout).UnixMilli()})
	}
	slices.SortFunc(out, func(x, y Held) int {
		switch {
		case x.Handle < y.Handle:
			return -1
		case x.Handle > y.Handle:
			return 1
		}
		return 0
	})
	return out
}

// Lock forgets the keys of h, or every key if h is empty, and returns how
// many it forgot.
func (a *Agent) Lock(h record.Handle) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for hd, k := range a.held {
		if h == "" || hd == h {
			k.forget()
			delete(a.held, hd)
			n++
		}
	}
	a.scheduleLocked(a.now())
	return n
}

// withKey runs f with the key held for h, marked used now, under the
// agent's lock: a key is never forgotten while it is in use.
func (a *Agent) withKey(h record.Handle, f func(k *heldKey) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.expireLocked(now)
	k := a.held[h]
	if k == nil {
		return fmt.Errorf("%w: %s is not unlocked", ErrNotHeld, h)
	}
	k.used = now
	a.scheduleLocked(now)
	return f(k)
}

func (a *Agent) sign(h record.Handle, msg []byte) (sig []byte, err error) {
	err = a.withKey(h, func(k *heldKey) error {
		sig = ed25519.Sign(k.sk, msg)
		return nil
	})
	return sig, err
}

func (a *Agent) unwrap(h record.Handle, stanzas []Stanza) (fileKey []byte, err error) {
	ss := make([]*age.Stanza, len(stanzas))
	for i, s := range stanzas {
		ss[i] = &age.Stanza{Type: s.Type, Args: s.Args, Body: s.Body}
	}
	err = a.withKey(h, func(k *heldKey) error {
		fileKey, err = k.id.Unwrap(ss)
		return err
	})
	return fileKey, err
}

// expireLocked forgets the keys unused for the timeout as of now.
func (a *Agent) expireLocked(now time.Time) {
	for h, k := range a.held {
		if !now.Before(k.used.Add(a.timeout)) {
			k.forget()
			delete(a.held, h)
		}
	}
}

// scheduleLocked arms the timer for the next expiry, so that an idle key
// is forgotten on time even if nobody asks the agent anything.
func (a *Agent) scheduleLocked(now time.Time) {
	var next time.Time
	for _, k := range a.held {
		if e := k.used.Add(a.timeout); next.IsZero() || e.Before(next) {
			next = e
		}
	}
	if next.IsZero() {
		if a.timer != nil {
			a.timer.Stop()
		}
		return
	}
	d := next.Sub(now)
	if a.timer == nil {
		a.timer = time.AfterFunc(d, a.tick)
	} else {
		a.timer.Reset(d)
	}
}

func (a *Agent) tick() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.expireLocked(now)
	a.scheduleLocked(now)
}
