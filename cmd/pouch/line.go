package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/term"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/letter"
	"pouch.dev/line"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "line",
		args:  "[--as H] [--server URL] [--script] [--pouch FILE|ID]... HANDLE",
		short: "a secure line: talk live with another principal, end to end through the server",
		long: `
pouch line asks the server's relay for a line to HANDLE and waits until
HANDLE asks for a line back. The two ends then run TLS 1.3 through the
relay (X25519MLKEM768 key exchange; each certificate is the principal's
signing key, checked against the directory), so the server sees only who
talked to whom, when, and how many bytes.

On a terminal it is interactive: type a line and press Enter to send it;
what the other side says is shown with its time and who said it.
  /pouch FILE   hand a .pouch file over on the line (or /pouch ID: the
                pouch with that ID, as you hold it on the server)
  /bye          hang up (so do Ctrl-D and Ctrl-C)

With --script, or when standard input is not a terminal, every line of
standard input is sent, every line received is printed to standard
output as "TIME HANDLE: TEXT" (one JSON object a line with --json), and
the line is hung up at the end of input, once the other side has hung up
too or after --linger.

When the line closes, both ends sign the call record (participants,
start, end, bytes, pouches handed over, and a value bound to the TLS
session) and submit it to the log as a private record either may publish.
Pouches received are saved in --save DIR as ID.pouch. Once the call
record is logged, pouch line signs their custody, citing the call record:
delivery if a pouch awaits you as its addressee (or as the addressee's
receive delegate), a hand-over if you are its next envoy; --no-custody
leaves that to "pouch take --over-line CALL" and "pouch deliver
--over-line CALL". --pouch takes a .pouch file, or the ID of a pouch you
carry: it is fetched from the server as you hold it.

Environment: POUCH_AS, POUCH_SERVER, POUCH_PASSPHRASE.

Example, scene 3 of the reference scenario: the Foreign Minister of Iran
calls the President of Russia and hands over President Rouhani's sealed
letter; the President's end signs its delivery, over the line.

  pouch line --as ru/president ir/fm                          (in Moscow)
  pouch line --as ir/fm --pouch rouhani.pouch ru/president    (in Tehran)
  pouch publish --as ir/fm RECEIPT                 (the delivery receipt, not the letter)`,
		run: runLine,
	})
}

func runLine(ctx *cmdContext, args []string) error {
	v := verbs["line"]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	script := fs.Bool("script", false, "non-interactive: send standard input line by line, print what is received")
	var pouches strs
	fs.Var(&pouches, "pouch", "hand the .pouch `FILE` (or the pouch with this ID, fetched from the server) over once the line is open (repeatable)")
	save := fs.String("save", ".", "save pouches received in `DIR`")
	wait := fs.Duration("wait", 5*time.Minute, "how long to wait for the other side to pick up, a `DURATION`")
	linger := fs.Duration("linger", 10*time.Second, "in script mode, how long to keep listening after the end of input, a `DURATION`")
	recordOut := fs.String("record", "", "also write the signed call record to `FILE`")
	noCustody := fs.Bool("no-custody", false, "do not sign custody (take or delivery) of pouches received")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("name the principal to call, such as: pouch line ir/speaker", "line takes one HANDLE, got %d arguments", len(pos))
	}
	peer, err := record.ParseHandle(pos[0])
	if err != nil {
		return usagef("", "%v", err)
	}
	// Read the pouches first: a missing file should not cost a call.
	var handovers []lineHandover
	defer func() {
		for _, h := range handovers {
			h.remove()
		}
	}()
	var fetch []record.ID // pouches named by ID, fetched once the client is ready
	for _, p := range pouches {
		if id, ok := pouchIDArg(p); ok {
			fetch = append(fetch, id)
			continue
		}
		h, err := readHandover(p)
		if err != nil {
			return err
		}
		handovers = append(handovers, h)
	}

	me, err := cf.me(ctx)
	if err != nil {
		return err
	}
	if me.Handle == peer {
		return usagef("", "%s cannot call itself", peer)
	}
	// A passphrase, if one is needed, is asked now, not while the line
	// waits for the peer.
	if err := me.Ready(); err != nil {
		return err
	}
	bg, stop := signal.NotifyContext(ctx.context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cl, err := cf.client(bg)
	if err != nil {
		return err
	}
	for _, id := range fetch {
		h, err := fetchHandover(bg, cl, me, id)
		if err != nil {
			return err
		}
		handovers = append(handovers, h)
	}
	interactive := !*script && isTerminal(ctx.stdout)
	if f, ok := ctx.stdin.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		interactive = false
	}

	fmt.Fprintf(ctx.stderr, "pouch: calling %s as %s through %s; waiting for it to pick up (pouch line --as %s %s)\n", peer, me.Handle, cl.URL, peer, me.Handle)
	dctx, cancel := context.WithTimeout(bg, *wait)
	l, err := line.Dial(dctx, cl.URL+"/v1/line", peer, line.Config{
		Self:      me.Handle,
		Key:       me.Signing,
		Directory: cl.LineDirectory(me), // the peer's key as the client proved it from the log
		Origin:    cl.Origin,
	})
	cancel()
	if err != nil {
		return lineDialError(peer, err, *wait)
	}
	fmt.Fprintf(ctx.stderr, "pouch: line to %s open: TLS 1.3, X25519MLKEM768, %s's key is the one the log holds for its office\n", peer, peer)

	for _, h := range handovers {
		if err := awaitConsent(bg, cl, me, peer, h, *wait, ctx.stderr); err != nil {
			l.Abort()
			return err
		}
		if err := h.send(l); err != nil {
			l.Abort()
			return err
		}
		fmt.Fprintf(ctx.stderr, "pouch: handed over pouch %s (%s)\n", h.id.Short(), h.from)
	}

	s := &lineSession{ctx: ctx, cl: cl, l: l, me: me.Handle, id: me, peer: peer, save: *save, json: *cf.json, custody: !*noCustody}
	if interactive {
		err = s.interactive(bg)
	} else {
		err = s.script(bg, *linger)
	}
	if err != nil {
		l.Abort()
		return err
	}

	hctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec, err := l.Hangup(hctx)
	if err != nil {
		return &checkError{fmt.Errorf("the line closed without a call record: %w", err)}
	}
	c, err := line.VerifyCall(rec.Marshal())
	if err == nil {
		err = c.CheckBinding(l.Binding())
	}
	if err != nil {
		return &checkError{err}
	}
	return s.finish(bg, cl, c, *recordOut)
}

// awaitConsent waits, at most wait, until the acceptance of the pouch of
// h is in the log, if the pouch asks for consent and the hand-over to peer
// is its delivery (peer is none of its envoys): the addressee's side
// receives the sealed content only once it consented.
//
// SPEC: spec/evidence.md#acceptance
func awaitConsent(ctx context.Context, cl *client.Client, me *client.Identity, peer record.Handle, h lineHandover, wait time.Duration, out io.Writer) error {
	t := h.tag.Tag
	if !t.Consent || slices.Contains(t.Via, peer) {
		return nil
	}
	fmt.Fprintf(out, "pouch: pouch %s asks for consent: waiting for %s's side to accept it (pouch accept --as %s %s)\n", h.id.Short(), t.To, peer, h.id.Short())
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if _, err := cl.WaitAccepted(wctx, me, h.id, 0); err != nil {
		return withHint(fmt.Errorf("pouch %s not handed over: %w", h.id.Short(), err), "the addressee's side accepts it first: pouch accept %s", h.id.Short())
	}
	return nil
}

// lineHandover is a .pouch file to hand over, with its ID: a file of the
// user's, or one fetched from the server into a temporary file.
type lineHandover struct {
	path string
	from string // where it came from, for people
	id   record.ID
	tag  *letter.SignedTag
	size int64
	temp bool // path is a temporary file, to remove
}

// send hands the file over on l, streamed.
func (h *lineHandover) send(l *line.Line) error {
	f, err := os.Open(h.path)
	if err != nil {
		return err
	}
	defer f.Close()
	return l.SendPouchFrom(h.id, bufio.NewReaderSize(f, line.MaxPartSize), h.size)
}

// remove removes a temporary file.
func (h *lineHandover) remove() {
	if h.temp {
		os.Remove(h.path)
	}
}

// readHandover checks a .pouch file to hand over: its head read strictly,
// its tag's signature verified (the payload is checked by whoever takes
// custody of it). Any pouch that can be sealed fits on a line
// (line.MaxPouchSize, spec/letter.md#limits).
func readHandover(path string) (lineHandover, error) {
	f, done, err := openPouchFile(path)
	if err != nil {
		return lineHandover{}, withHint(err, "--pouch takes a .pouch file, such as one written by pouch seal")
	}
	defer done()
	st, err := os.Stat(path)
	if err != nil {
		return lineHandover{}, err
	}
	if st.Size() > line.MaxPouchSize {
		return lineHandover{}, fmt.Errorf("%s: %s, more than a .pouch file holds (%s)", path, letter.Bytes(st.Size()), letter.Bytes(line.MaxPouchSize))
	}
	return lineHandover{path: path, from: path, id: f.Tag.PouchID(), tag: f.Tag, size: st.Size()}, nil
}

// pouchIDArg reports whether a --pouch argument names a pouch by ID rather
// than a file: it is no file here and parses as an ID.
func pouchIDArg(arg string) (record.ID, bool) {
	if _, err := os.Stat(arg); err == nil {
		return record.ID{}, false
	}
	id, err := parseID(arg)
	return id, err == nil
}

// fetchHandover writes the .pouch file of pouch id as me holds it on the
// server into a temporary file: its tag, the custody records so far and
// the sealed payload, streamed and checked against the tag (a carrier on
// the route may fetch them, and cannot open them).
func fetchHandover(ctx context.Context, cl *client.Client, me *client.Identity, id record.ID) (lineHandover, error) {
	fail := func(err error) (lineHandover, error) {
		return lineHandover{}, withHint(fmt.Errorf("fetching pouch %s from the server: %w", id.Short(), err),
			"only its sender, addressee, delegates and envoys may fetch it; or pass a .pouch file")
	}
	tag, err := cl.Record(ctx, id, me)
	if err != nil {
		return fail(err)
	}
	st, err := letter.VerifyTag(tag.Signed)
	if err != nil {
		return lineHandover{}, &checkError{fmt.Errorf("pouch %s from the server: %w", id.Short(), err)}
	}
	pv, err := cl.Pouch(ctx, id, me)
	if err != nil {
		return fail(err)
	}
	head := &letter.FileHead{Tag: tag.Signed}
	for _, c := range pv.Custody {
		v, err := cl.Record(ctx, c.ID, me)
		if err != nil {
			return fail(err)
		}
		head.Custody = append(head.Custody, v.Signed)
	}
	payload, err := cl.OpenPayload(ctx, id, me)
	if err != nil {
		return fail(err)
	}
	defer payload.Close()
	tmp, err := os.CreateTemp("", ".pouch-line-*")
	if err != nil {
		return lineHandover{}, err
	}
	h := lineHandover{path: tmp.Name(), from: "from the server", id: id, tag: st, temp: true}
	err = letter.WriteFile(bufio.NewWriter(tmp), head, payload, st.Tag.Size)
	if err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err != nil {
		h.remove()
		return fail(err)
	}
	// The file as the peer will read it: the payload against the tag.
	if err := checkPouchFileWhole(h.path, id); err != nil {
		h.remove()
		return lineHandover{}, &checkError{fmt.Errorf("pouch %s from the server: %w", id.Short(), err)}
	}
	fi, err := os.Stat(h.path)
	if err != nil {
		h.remove()
		return lineHandover{}, err
	}
	h.size = fi.Size()
	return h, nil
}

// checkPouchFileWhole reads the .pouch file at path through: its head
// strictly, the signatures of its tag and custody records, its payload
// against the tag; and checks that it is pouch id.
func checkPouchFileWhole(path string, id record.ID) error {
	f, done, err := openPouchFile(path)
	if err != nil {
		return err
	}
	defer done()
	if f.Tag.PouchID() != id {
		return fmt.Errorf("the file holds pouch %s, not %s", f.Tag.PouchID().Short(), id.Short())
	}
	return f.Finish()
}

func lineDialError(peer record.Handle, err error, wait time.Duration) error {
	var pe *line.PeerError
	switch {
	case errors.As(err, &pe):
		return &checkError{err}
	case errors.Is(err, context.DeadlineExceeded):
		return withHint(fmt.Errorf("%s did not pick up within %v", peer, wait), "ask %s to run \"pouch line YOUR-HANDLE\", or wait longer with --wait", peer)
	case errors.Is(err, context.Canceled):
		return errors.New("call abandoned")
	}
	var re *line.RelayError
	if errors.As(err, &re) && re.Status == http.StatusNotFound && strings.Contains(re.Msg, "404 page not found") {
		return withHint(err, "this server has no line relay at /v1/line")
	}
	return err
}

// lineSession is what both modes share: printing and saving what arrives.
type lineSession struct {
	ctx      *cmdContext
	cl       *client.Client
	l        *line.Line
	me, peer record.Handle
	id       *client.Identity
	save     string
	json     bool
	custody  bool // sign custody of pouches received

	mu       sync.Mutex
	received []lineHandover
}

// handover reads a .pouch file, or fetches the pouch with that ID.
func (s *lineSession) handover(ctx context.Context, arg string) (lineHandover, error) {
	if id, ok := pouchIDArg(arg); ok {
		return fetchHandover(ctx, s.cl, s.id, id)
	}
	return readHandover(arg)
}

func clock(t time.Time) string { return t.Local().Format("15:04:05") }

// savePouch saves a pouch received, as it streams in, to a temporary file
// in the save folder, which becomes ID.pouch only once it is whole and
// checks out (its head, its signatures, its payload against its tag, its
// ID); it returns a line saying what happened.
func (s *lineSession) savePouch(m line.Message) string {
	id := m.Pouch.ID
	path := filepath.Join(s.save, id.String()+".pouch")
	err := func() error {
		tmp, err := os.CreateTemp(s.save, ".pouch-received-*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		_, err = io.Copy(tmp, m.Pouch)
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if err := checkPouchFileWhole(tmp.Name(), id); err != nil {
			return err
		}
		return os.Rename(tmp.Name(), path)
	}()
	if err != nil {
		return fmt.Sprintf("pouch %s from %s could not be saved: %v", id.Short(), m.From, err)
	}
	s.mu.Lock()
	s.received = append(s.received, lineHandover{path: path, id: id})
	s.mu.Unlock()
	return fmt.Sprintf("%s handed over pouch %s, saved as %s", m.From, id.Short(), path)
}

// interactive runs the terminal session until the user or the peer hangs up.
func (s *lineSession) interactive(ctx context.Context) error {
	in := s.ctx.stdin.(*os.File)
	old, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	defer term.Restore(int(in.Fd()), old)
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{in, s.ctx.stdout}, string(s.me)+"> ")
	// A terminal that reports no size (some pseudo-terminals) keeps the
	// default 80 columns, or every character would wrap.
	if w, h, err := term.GetSize(int(in.Fd())); err == nil && w > 0 && h > 0 {
		t.SetSize(w, h)
	}
	say := func(format string, a ...any) { fmt.Fprintf(t, format+"\r\n", a...) }
	say("line to %s open; /pouch FILE or ID hands a pouch over, /bye or Ctrl-D hangs up", s.peer)

	peerGone := make(chan struct{})
	var hungUp atomic.Bool // we hung up: the peer's answering bye is no news
	defer hungUp.Store(true)
	go func() {
		defer close(peerGone)
		for {
			m, err := s.l.Receive(ctx)
			if hungUp.Load() {
				return
			}
			if err == io.EOF {
				say("%s %s hung up; press Enter", clock(time.Now()), s.peer)
				return
			}
			if err != nil {
				say("line broke: %v; press Enter", err)
				return
			}
			if m.Pouch != nil {
				say("%s %s", clock(m.Time), s.savePouch(m))
				continue
			}
			say("%s %s: %s", clock(m.Time), m.From, m.Text)
		}
	}()
	for {
		text, err := t.ReadLine()
		select {
		case <-peerGone:
			return nil
		default:
		}
		if err != nil {
			return nil // Ctrl-D, Ctrl-C: hang up
		}
		switch {
		case text == "":
			continue
		case text == "/bye":
			return nil
		case strings.HasPrefix(text, "/pouch "):
			h, err := s.handover(ctx, strings.TrimSpace(strings.TrimPrefix(text, "/pouch ")))
			if err != nil {
				say("pouch: %v", err)
				continue
			}
			err = awaitConsent(ctx, s.cl, s.id, s.peer, h, 5*time.Minute, s.ctx.stderr)
			if err == nil {
				err = h.send(s.l)
			}
			h.remove()
			if err != nil {
				say("pouch: %v", err)
				continue
			}
			say("%s you handed over pouch %s (%s)", clock(time.Now()), h.id.Short(), h.from)
			continue
		case strings.HasPrefix(text, "/"):
			say("commands: /pouch FILE or ID, /bye")
			continue
		}
		if err := s.l.Send(text); err != nil {
			say("not sent: %v", err)
			continue
		}
		// Replace the echoed input with the spoken line: time and speaker.
		fmt.Fprintf(s.ctx.stdout, "\x1b[1A\x1b[2K\r")
		say("%s %s: %s", clock(time.Now()), s.me, text)
	}
}

// script sends standard input line by line and prints what arrives, until
// the end of input (then bye) and the peer's bye, or --linger after the
// end of input.
func (s *lineSession) script(ctx context.Context, linger time.Duration) error {
	sent := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(s.ctx.stdin)
		sc.Buffer(make([]byte, 64<<10), line.MaxTextSize)
		for sc.Scan() {
			if err := s.l.Send(sc.Text()); err != nil {
				if errors.Is(err, line.ErrClosed) {
					break // the peer hung up
				}
				sent <- err
				return
			}
		}
		sent <- sc.Err()
	}()
	// Each message is handled before the next is received: a pouch
	// streams in while it is saved, and the next Receive would discard
	// what is left of it.
	type received struct {
		m       line.Message
		handled chan struct{}
	}
	msgs := make(chan received)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := s.l.Receive(context.Background())
			if err != nil {
				recvErr <- err
				return
			}
			r := received{m, make(chan struct{})}
			msgs <- r
			<-r.handled
		}
	}()
	var lingerC <-chan time.Time
	for {
		select {
		case r := <-msgs:
			s.printMessage(r.m)
			close(r.handled)
		case err := <-sent:
			if err != nil {
				return fmt.Errorf("reading standard input: %w", err)
			}
			sent = nil
			lingerC = time.After(linger)
		case <-lingerC:
			return nil
		case err := <-recvErr:
			if err == io.EOF {
				return nil
			}
			return err
		case <-ctx.Done():
			return nil
		}
	}
}

func (s *lineSession) printMessage(m line.Message) {
	w := s.ctx.stdout
	if m.Pouch != nil {
		note := s.savePouch(m)
		if s.json {
			emitEvent(s.ctx, "pouch", map[string]any{"time": m.Time.UTC(), "from": m.From, "pouch": m.Pouch.ID, "file": filepath.Join(s.save, m.Pouch.ID.String()+".pouch")})
		} else {
			fmt.Fprintf(w, "%s %s\n", clock(m.Time), note)
		}
		return
	}
	if s.json {
		emitEvent(s.ctx, "message", map[string]any{"time": m.Time.UTC(), "from": m.From, "text": m.Text})
		return
	}
	fmt.Fprintf(w, "%s %s: %s\n", clock(m.Time), m.From, m.Text)
}

// finish submits the call record, saves it if asked, and says what
// happened.
func (s *lineSession) finish(ctx context.Context, cl *client.Client, c *line.Call, out string) error {
	rec := c.Signed
	id := rec.ID()
	if out != "" {
		if err := os.WriteFile(out, rec.Marshal(), 0o644); err != nil {
			return err
		}
	}
	a, err := cl.Submit(ctx, rec)
	logged := ""
	switch {
	case err == nil:
		logged = fmt.Sprintf("logged at index %d", a.Index)
	case errors.Is(err, client.ErrReplay):
		logged = "logged by " + string(s.peer)
	default:
		logged = "NOT logged: " + err.Error()
	}
	b := c.Body
	d := time.UnixMilli(b.End).Sub(time.UnixMilli(b.Start)).Round(time.Second)
	if s.json {
		pouches := c.PouchIDs()
		if pouches == nil {
			pouches = []record.ID{}
		}
		emitEvent(s.ctx, "call_record", map[string]any{"id": id, "participants": b.Participants, "start": time.UnixMilli(b.Start).UTC(), "end": time.UnixMilli(b.End).UTC(), "bytes": b.Bytes, "pouches": pouches, "logged": err == nil || errors.Is(err, client.ErrReplay)})
	}
	fmt.Fprintf(s.ctx.stderr, "pouch: line with %s closed after %v; call record %s signed by both, %s\n", s.peer, d, id.Short(), logged)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && !errors.Is(err, client.ErrReplay) {
		for _, h := range s.received {
			fmt.Fprintf(s.ctx.stderr, "pouch: pouch %s came over the line; sign its custody once the call record is logged\n", h.id.Short())
		}
		return withHint(fmt.Errorf("submitting the call record: %w", err), "it is saved with --record FILE; submit it later")
	}
	for _, h := range s.received {
		if !s.custody {
			fmt.Fprintf(s.ctx.stderr, "pouch: hint: pouch %s came over line %s: take custody with \"pouch take --over-line %s %s\", or sign delivery with \"pouch deliver --over-line %s %s\"\n", h.id.Short(), id.Short(), id, h.id, id, h.id)
			continue
		}
		msg, a, delivery := s.signCustody(ctx, cl, id, h.id)
		fmt.Fprintf(s.ctx.stderr, "pouch: %s\n", msg)
		if s.json {
			res := map[string]any{"pouch": h.id, "call_record": id, "signed": a != nil, "note": msg}
			if a != nil {
				res["id"], res["index"], res["delivery"] = a.ID, a.Index, delivery
			}
			emitEvent(s.ctx, "custody", res)
		}
	}
	return nil
}

// signCustody signs the custody record of a pouch received on the line,
// citing the call record: delivery if the pouch awaits us as its addressee
// (or awaits delivery and we sign for the addressee as a delegate), a
// hand-over if we are its next envoy. It returns what it did, or why not.
//
// SPEC: spec/line.md#custody
func (s *lineSession) signCustody(ctx context.Context, cl *client.Client, call, pouch record.ID) (msg string, signed *api.Accepted, delivery bool) {
	pv, err := cl.Pouch(ctx, pouch, s.id)
	if err != nil {
		return fmt.Sprintf("pouch %s: no custody signed: the server does not show it to %s (%v); if it was never sent, send it first", pouch.Short(), s.me, err), nil, false
	}
	if pv.Delivered {
		return fmt.Sprintf("pouch %s was delivered already; no custody signed", pouch.Short()), nil, false
	}
	last := pv.From
	if n := len(pv.Custody); n > 0 {
		last = pv.Custody[n-1].By
	}
	if last != s.peer {
		return fmt.Sprintf("pouch %s: no custody signed: its last holder on record is %s, not %s (who handed it over); %s must take custody first", pouch.Short(), last, s.peer, s.peer), nil, false
	}
	over := client.OverLine(call)
	what, deliver := "took custody of", false
	switch {
	case pv.Next == s.me && pv.To == s.me:
		what, deliver = "signed delivery of", true
	case pv.Next == s.me:
	case pv.Next == pv.To:
		what, deliver = "signed delivery, on behalf of "+string(pv.To)+", of", true
	default:
		return fmt.Sprintf("pouch %s awaits %s, not %s; no custody signed", pouch.Short(), pv.Next, s.me), nil, false
	}
	var a *api.Accepted
	if deliver {
		a, err = cl.Deliver(ctx, s.id, pouch, over)
	} else {
		a, err = cl.Take(ctx, s.id, pouch, "", over)
	}
	if err != nil {
		return fmt.Sprintf("pouch %s: custody refused: %v", pouch.Short(), err), nil, false
	}
	msg = fmt.Sprintf("%s pouch %s, handed over on line %s (custody record %s)", what, pouch.Short(), call.Short(), a.ID)
	if deliver {
		msg += "; either of you may publish the receipt with \"pouch publish " + a.ID.String() + "\""
	}
	return msg, a, deliver
}
