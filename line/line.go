package line

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"pouch.dev/record"
)

// Config is one principal's end of a line.
type Config struct {
	Self      record.Handle // who we are
	Key       crypto.Signer // our Ed25519 signing key (or an agent's signer for it): it signs the relay request, the TLS handshake and the call record
	Directory Directory     // where the peer's current key is checked
	// Origin is the deployment's log origin: the relay's name in line
	// requests and the origin of the call record.
	Origin string
	// HTTPClient dials the relay; nil means http.DefaultClient.
	HTTPClient *http.Client

	curves []tls.CurveID // tests only: override the key exchange
}

// A Message is a text or a pouch received on a line.
type Message struct {
	From  record.Handle
	Time  time.Time // the sender's clock
	Text  string
	Pouch *Pouch // set for a pouch handed over; Text is empty
}

// A Pouch is a .pouch file handed over on a line. The line does not open
// it: ID is what the sender says it is, and the receiver checks it when it
// reads the file and signs custody.
//
// The file streams in as the sender sends it, a part at a time: read it
// (a Pouch is an io.Reader of its Size bytes) before the next Receive,
// which, like Hangup, discards what is left of it. While it is not read,
// the line waits. If the line breaks before the file is whole, Read
// returns the error.
type Pouch struct {
	ID   record.ID
	Size int64
	r    *io.PipeReader
	why  atomic.Pointer[error] // why the receiving end let it go
}

// Read reads the .pouch file.
func (p *Pouch) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err == io.ErrClosedPipe {
		if why := p.why.Load(); why != nil {
			err = *why
		}
	}
	return n, err
}

// end lets the pouch go: its reader gets err, and the read goroutine
// discards the rest of it.
func (p *Pouch) end(err error) {
	p.why.CompareAndSwap(nil, &err)
	p.r.CloseWithError(err)
}

// errSkipped ends a pouch that the receiver did not read before it asked
// for the next message.
var errSkipped = errors.New("line: the pouch was not read before the next message was received")

// ErrClosed is returned by Send after either side said bye.
var ErrClosed = errors.New("line closed")

// A Line is one end of an established secure line.
type Line struct {
	cfg     Config
	peer    record.Handle
	peerKey ed25519.PublicKey
	conn    *tls.Conn
	br      *bufio.Reader
	start   time.Time
	binding []byte
	server  bool // we are the first participant: TLS server, proposer of the call record

	wmu         sync.Mutex // guards the writing side
	sentBye     bool
	sent        uint64
	sentPouches [][]byte

	// pmu guards the pouches being received: the one the read goroutine
	// writes into (incoming), and the one Receive returned last (given),
	// which Receive, Hangup and Abort end.
	pmu      sync.Mutex
	incoming *Pouch
	given    *Pouch

	in      chan Message  // received texts and pouches; closed on bye or error
	hangup  chan struct{} // closed when we hang up: undelivered messages are dropped
	hangMu  sync.Once
	done    chan struct{} // closed when the call record is settled or the line broke
	rec     *record.Signed
	err     error // why the line ended without a record
	readErr error // why in was closed, if not a bye
}

// Dial asks the relay at url (the server's /v1/line endpoint, http, https,
// ws or wss) for a line to peer, waits until peer asks for it too, and
// runs the TLS handshake. ctx bounds the wait and the handshake; the line
// lives until Hangup or Abort.
func Dial(ctx context.Context, url string, peer record.Handle, cfg Config) (*Line, error) {
	if !hasEd25519(cfg.Key) || cfg.Directory == nil {
		return nil, errors.New("line: Config needs the principal's signing key and a Directory")
	}
	req, err := NewRequest(cfg.Self, peer, cfg.Origin, time.Now(), cfg.Key)
	if err != nil {
		return nil, err
	}
	hdr := http.Header{}
	hdr.Set(RequestHeader, req.Header())
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient:      cfg.HTTPClient,
		HTTPHeader:      hdr,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil && resp.Body != nil {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			if m := strings.TrimSpace(string(msg)); m != "" {
				return nil, &RelayError{Status: resp.StatusCode, Msg: m}
			}
			return nil, &RelayError{Status: resp.StatusCode, Msg: resp.Status}
		}
		return nil, fmt.Errorf("line: cannot reach the relay at %s: %w", url, err)
	}
	c.SetReadLimit(maxWSMessage)
	typ, msg, err := c.Read(ctx)
	if err != nil {
		c.CloseNow()
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return nil, &RelayError{Msg: ce.Reason}
		}
		return nil, fmt.Errorf("line: waiting for %s: %w", peer, err)
	}
	if typ != websocket.MessageText || string(msg) != pairedMessage {
		c.CloseNow()
		return nil, fmt.Errorf("line: the relay sent %q, not the paired message", msg)
	}
	// The line outlives ctx: its connection is bounded by Hangup/Abort.
	nc := websocket.NetConn(context.Background(), c, websocket.MessageBinary)
	l, err := Start(ctx, nc, peer, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return l, nil
}

// A RelayError is the relay's refusal, as it worded it.
type RelayError struct {
	Status int // the HTTP status, or 0 if the relay closed the WebSocket
	Msg    string
}

func (e *RelayError) Error() string {
	if strings.HasPrefix(e.Msg, "line:") {
		return "relay: " + strings.TrimPrefix(e.Msg, "line: ")
	}
	return "relay: " + e.Msg
}

// Start runs the line protocol to peer over conn, which carries bytes to
// and from the peer (through the relay, or directly): the TLS handshake,
// then the framed messages. On error conn is left to the caller.
func Start(ctx context.Context, conn net.Conn, peer record.Handle, cfg Config) (*Line, error) {
	switch {
	case cfg.Self == peer:
		return nil, fmt.Errorf("line: %s cannot call itself", peer)
	case !hasEd25519(cfg.Key) || cfg.Directory == nil:
		return nil, errors.New("line: Config needs the principal's signing key and a Directory")
	}
	cert, err := certificate(cfg.Self, cfg.Key, time.Now())
	if err != nil {
		return nil, err
	}
	l := &Line{
		cfg:    cfg,
		peer:   peer,
		server: isServer(cfg.Self, peer),
		in:     make(chan Message, 64),
		hangup: make(chan struct{}),
		done:   make(chan struct{}),
	}
	tc := tlsConfig(ctx, &l.cfg, peer, cert, &l.peerKey)
	if l.server {
		l.conn = tls.Server(conn, tc)
	} else {
		l.conn = tls.Client(conn, tc)
	}
	if err := l.conn.HandshakeContext(ctx); err != nil {
		return nil, handshakeError(peer, err)
	}
	st := l.conn.ConnectionState()
	// SPEC: spec/line.md#tls
	if st.Version != tls.VersionTLS13 || st.CurveID != tls.X25519MLKEM768 || l.peerKey == nil {
		l.conn.Close()
		return nil, &PeerError{Handle: peer, Err: ErrClassical}
	}
	if st.NegotiatedProtocol != ALPN {
		l.conn.Close()
		return nil, fmt.Errorf("line: %s did not negotiate the %s protocol (ALPN)", peer, ALPN)
	}
	l.binding, err = st.ExportKeyingMaterial(ExporterLabel, nil, BindingSize)
	if err != nil {
		l.conn.Close()
		return nil, err
	}
	l.br = bufio.NewReaderSize(l.conn, 8<<10)
	// In TLS 1.3 the client's handshake ends before the server has checked
	// the client's certificate, so the server confirms with a ready frame
	// and the client waits for it.
	// SPEC: spec/line.md#ready
	if l.server {
		b, _ := appendFrame(nil, &frame{T: FrameReady, Time: record.Now()})
		if _, err := l.conn.Write(b); err != nil {
			l.conn.Close()
			return nil, fmt.Errorf("line to %s: %w", peer, err)
		}
	} else {
		if dl, ok := ctx.Deadline(); ok {
			l.conn.SetReadDeadline(dl)
		}
		f, _, err := readFrame(l.br)
		l.conn.SetReadDeadline(time.Time{})
		if err == nil && f.T != FrameReady {
			err = fmt.Errorf("%w: first frame is %q, want %q", ErrBadFrame, f.T, FrameReady)
		}
		if err != nil {
			l.conn.Close()
			return nil, handshakeError(peer, err)
		}
	}
	l.start = time.Now()
	go l.read()
	return l, nil
}

// Peer returns the principal at the other end.
func (l *Line) Peer() record.Handle { return l.peer }

// Binding returns the TLS exported keying material the call record binds.
func (l *Line) Binding() []byte { return l.binding }

// Started returns when the handshake completed.
func (l *Line) Started() time.Time { return l.start }

// Send sends one text message.
func (l *Line) Send(text string) error {
	return l.write(&frame{T: FrameText, Time: record.Now(), Text: text}, nil)
}

// SendPouch hands a .pouch file held in memory over; its ID goes into the
// call record.
func (l *Line) SendPouch(id record.ID, file []byte) error {
	return l.SendPouchFrom(id, bytes.NewReader(file), int64(len(file)))
}

// SendPouchFrom hands over the .pouch file of size bytes (1 to
// MaxPouchSize) read from r, a part at a time: a pouch frame, then part
// frames of at most MaxPartSize bytes. Its ID goes into the call record.
// Nothing else is sent on the line meanwhile. If r fails, or ends before
// size bytes, the peer cannot be given the rest: the line is broken off,
// without a call record.
//
// SPEC: spec/line.md#framing
func (l *Line) SendPouchFrom(id record.ID, r io.Reader, size int64) error {
	if size <= 0 || size > MaxPouchSize {
		return fmt.Errorf("line: a .pouch file of %d bytes (a line carries 1 to %d)", size, int64(MaxPouchSize))
	}
	head, err := appendFrame(nil, &frame{T: FramePouch, Time: record.Now(), ID: id[:], Size: uint64(size)})
	if err != nil {
		return err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.sentBye {
		return ErrClosed
	}
	if len(l.sentPouches) >= MaxHandovers {
		return fmt.Errorf("line: %d pouches handed over already (limit %d)", MaxHandovers, MaxHandovers)
	}
	if _, err := l.conn.Write(head); err != nil {
		return fmt.Errorf("line to %s: %w", l.peer, err)
	}
	l.sent += uint64(len(head))
	buf := make([]byte, MaxPartSize)
	wire := make([]byte, 0, MaxFrameSize)
	for left := size; left > 0; {
		n, err := io.ReadFull(r, buf[:min(left, MaxPartSize)])
		if err != nil {
			l.conn.Close()
			return fmt.Errorf("line: reading pouch %s after %d of its %d bytes: %w; the line was broken off", id.Short(), size-left, size, noEOF(err))
		}
		if wire, err = appendFrame(wire[:0], &frame{T: FramePart, Data: buf[:n]}); err != nil {
			return err
		}
		if _, err := l.conn.Write(wire); err != nil {
			return fmt.Errorf("line to %s: %w", l.peer, err)
		}
		l.sent += uint64(len(wire))
		left -= int64(n)
	}
	l.sentPouches = append(l.sentPouches, id[:])
	return nil
}

func (l *Line) write(f *frame, pouch []byte) error {
	b, err := appendFrame(nil, f)
	if err != nil {
		return err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.sentBye {
		return ErrClosed
	}
	if pouch != nil && len(l.sentPouches) >= MaxHandovers {
		return fmt.Errorf("line: %d pouches handed over already (limit %d)", MaxHandovers, MaxHandovers)
	}
	if _, err := l.conn.Write(b); err != nil {
		return fmt.Errorf("line to %s: %w", l.peer, err)
	}
	l.sent += uint64(len(b))
	if pouch != nil {
		l.sentPouches = append(l.sentPouches, pouch)
	}
	return nil
}

// sendBye sends bye once; after it Send fails with ErrClosed.
func (l *Line) sendBye() error {
	b, _ := appendFrame(nil, &frame{T: FrameBye, Time: record.Now()})
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.sentBye {
		return nil
	}
	l.sentBye = true
	_, err := l.conn.Write(b)
	return err
}

// CloseSend says bye: no more texts or pouches from us. The peer's
// messages sent before it saw our bye still arrive through Receive, until
// it returns io.EOF; then Hangup returns the call record.
func (l *Line) CloseSend() error {
	if err := l.sendBye(); err != nil {
		return fmt.Errorf("line to %s: %w", l.peer, err)
	}
	return nil
}

// Receive returns the next text or pouch from the peer. It returns io.EOF
// once the peer said bye; then Hangup returns the call record. What is
// left unread of the pouch it returned before is discarded.
func (l *Line) Receive(ctx context.Context) (Message, error) {
	l.endPouch(&l.given, errSkipped)
	select {
	case m, ok := <-l.in:
		if !ok {
			if l.readErr != nil {
				return Message{}, l.readErr
			}
			return Message{}, io.EOF
		}
		if m.Pouch != nil {
			l.pmu.Lock()
			l.given = m.Pouch
			l.pmu.Unlock()
		}
		return m, nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

// endPouch ends the pouch *p with err, so that the read goroutine
// discards the rest of it.
func (l *Line) endPouch(p **Pouch, err error) {
	l.pmu.Lock()
	defer l.pmu.Unlock()
	if *p != nil {
		(*p).end(err)
		*p = nil
	}
}

// Done is closed when the line has ended, with a call record or without.
func (l *Line) Done() <-chan struct{} { return l.done }

// Hangup says bye (if not said yet), waits until both ends have signed the
// call record, and returns it, fully signed and bound to this session.
// Messages not yet received are dropped. ctx bounds the wait.
func (l *Line) Hangup(ctx context.Context) (*record.Signed, error) {
	l.hangMu.Do(func() { close(l.hangup) })
	l.endPouch(&l.given, ErrClosed)
	l.endPouch(&l.incoming, ErrClosed)
	if err := l.sendBye(); err != nil {
		l.conn.Close()
	}
	select {
	case <-l.done:
	case <-ctx.Done():
		l.conn.Close()
		<-l.done
		if l.rec == nil {
			return nil, fmt.Errorf("line: %s did not sign the call record: %w", l.peer, ctx.Err())
		}
	}
	return l.rec, l.err
}

// Abort closes the line at once, without a call record.
func (l *Line) Abort() {
	l.hangMu.Do(func() { close(l.hangup) })
	l.endPouch(&l.given, ErrClosed)
	l.endPouch(&l.incoming, ErrClosed)
	l.conn.Close()
	<-l.done
}

// read is the line's one reader: it delivers texts and pouches, answers
// bye, and settles the call record.
//
// SPEC: spec/line.md#closing
func (l *Line) read() {
	var (
		recv        uint64
		recvPouches [][]byte
		gotBye      bool
		proposed    *record.Signed
		inOpen      = true
		// The pouch being received: its ID, what is left of it, and
		// where its parts go (nil once the receiver let it go).
		cur     []byte
		curLeft uint64
		curW    *io.PipeWriter
	)
	closeIn := func(err error) {
		if inOpen {
			l.readErr = err
			close(l.in)
			inOpen = false
		}
	}
	finish := func(rec *record.Signed, err error) {
		if curW != nil {
			curW.CloseWithError(fmt.Errorf("line to %s broke while a pouch was handed over: %w", l.peer, err))
		}
		closeIn(err)
		l.rec, l.err = rec, err
		l.conn.Close()
		close(l.done)
	}
	body := func() *CallBody {
		l.wmu.Lock()
		sent, sentP := l.sent, l.sentPouches
		l.wmu.Unlock()
		b := &CallBody{Start: l.start.UnixMilli(), End: record.Now(), Binding: l.binding}
		var mine, theirs []Handover
		for _, id := range sentP {
			mine = append(mine, Handover{ID: id, From: l.cfg.Self})
		}
		for _, id := range recvPouches {
			theirs = append(theirs, Handover{ID: id, From: l.peer})
		}
		if l.server {
			b.Participants = []record.Handle{l.cfg.Self, l.peer}
			b.Bytes = []uint64{sent, recv}
			b.Pouches = append(mine, theirs...)
		} else {
			b.Participants = []record.Handle{l.peer, l.cfg.Self}
			b.Bytes = []uint64{recv, sent}
			b.Pouches = append(theirs, mine...)
		}
		return b
	}
	var buf []byte
	for {
		f, n, err := readFrameBuf(l.br, &buf)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			err = fmt.Errorf("line to %s broke before the call record was signed: %w", l.peer, err)
			finish(nil, err)
			return
		}
		if cur != nil && f.T != FramePart {
			finish(nil, fmt.Errorf("line: %s sent %s in the middle of pouch %x", l.peer, f.T, cur[:6]))
			return
		}
		switch f.T {
		case FrameReady:
			finish(nil, fmt.Errorf("line: %s sent a second ready frame", l.peer))
			return
		case FramePart:
			if cur == nil || uint64(len(f.Data)) > curLeft {
				finish(nil, fmt.Errorf("line: %s sent a part of a pouch it is not handing over", l.peer))
				return
			}
			recv += uint64(n)
			curLeft -= uint64(len(f.Data))
			if curW != nil {
				// Blocks until the receiver reads it; fails once the
				// receiver let the pouch go, and the rest is discarded.
				if _, err := curW.Write(f.Data); err != nil {
					curW = nil
				}
			}
			if curLeft == 0 {
				if curW != nil {
					curW.Close()
				}
				recvPouches = append(recvPouches, cur)
				cur, curW = nil, nil
				l.pmu.Lock()
				l.incoming = nil
				l.pmu.Unlock()
			}
		case FrameText, FramePouch:
			if gotBye {
				finish(nil, fmt.Errorf("line: %s sent %s after bye", l.peer, f.T))
				return
			}
			recv += uint64(n)
			m := Message{From: l.peer, Time: time.UnixMilli(f.Time), Text: f.Text}
			if f.T == FramePouch {
				if len(recvPouches) >= MaxHandovers {
					finish(nil, fmt.Errorf("line: %s handed over more than %d pouches", l.peer, MaxHandovers))
					return
				}
				pr, pw := io.Pipe()
				cur, curLeft, curW = f.ID, f.Size, pw
				m.Pouch = &Pouch{ID: record.ID(f.ID), Size: int64(f.Size), r: pr}
				l.pmu.Lock()
				l.incoming = m.Pouch
				select {
				case <-l.hangup:
					m.Pouch.end(ErrClosed)
				default:
				}
				l.pmu.Unlock()
			}
			select {
			case l.in <- m:
			case <-l.hangup:
				if m.Pouch != nil {
					m.Pouch.end(ErrClosed)
				}
			}
		case FrameBye:
			if gotBye {
				finish(nil, fmt.Errorf("line: %s said bye twice", l.peer))
				return
			}
			gotBye = true
			closeIn(nil)
			if err := l.sendBye(); err != nil {
				finish(nil, fmt.Errorf("line to %s: %w", l.peer, err))
				return
			}
			if l.server {
				// Both byes are in: everything either side sent has been
				// counted on both sides. Propose the call record.
				proposed, err = proposeCall(l.cfg.Origin, body(), l.cfg.Key)
				if err == nil {
					err = l.writeRecord(proposed)
				}
				if err != nil {
					finish(nil, fmt.Errorf("line: call record: %w", err))
					return
				}
			}
		case FrameRecord:
			if !gotBye {
				finish(nil, fmt.Errorf("line: %s sent the call record before bye", l.peer))
				return
			}
			if l.server {
				c, err := VerifyCall(f.Data)
				if err == nil && (proposed == nil || !equalRecord(c.Signed, proposed) || !c.Signed.KeyOf(1).Equal(l.peerKey)) {
					err = fmt.Errorf("%w: it is not the record we proposed, signed by %s", ErrBadCall, l.peer)
				}
				if err != nil {
					finish(nil, fmt.Errorf("line: call record from %s: %w", l.peer, err))
					return
				}
				finish(c.Signed, nil)
				return
			}
			s, err := countersign(f.Data, l.cfg.Origin, body(), l.peerKey, l.cfg.Key)
			if err == nil {
				err = l.writeRecord(s)
			}
			if err != nil {
				finish(nil, fmt.Errorf("line: call record: %w", err))
				return
			}
			finish(s, nil)
			return
		}
	}
}

func (l *Line) writeRecord(s *record.Signed) error {
	b, err := appendFrame(nil, &frame{T: FrameRecord, Time: record.Now(), Data: s.Marshal()})
	if err != nil {
		return err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	_, err = l.conn.Write(b)
	return err
}

func equalRecord(a, b *record.Signed) bool {
	return string(a.Record) == string(b.Record) && len(a.Sigs) == 2 && len(b.Sigs) == 1 &&
		string(a.Sigs[0].Sig) == string(b.Sigs[0].Sig) && string(a.Sigs[0].Key) == string(b.Sigs[0].Key)
}
