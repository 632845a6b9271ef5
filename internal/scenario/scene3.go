package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"pouch.dev/client"
	"pouch.dev/internal/httpsig"
	"pouch.dev/letter"
	"pouch.dev/line"
	"pouch.dev/record"
)

func init() {
	Register(Scene{N: 3, Title: "Rouhani's message by secure line", Source: "seed 000",
		Proves: "live end-to-end session; custody over the line; publishing a private record",
		Run:    Scene3})
}

// President Rouhani's letter; the article says only that it was about the
// nuclear deal and bilateral issues, so the wording is illustrative.
var rouhaniLetter = []letter.Section{
	{Title: "Greetings", Text: "To His Excellency Vladimir Putin, President of the Russian Federation, from Hassan Rouhani, President of the Islamic Republic of Iran."},
	{Title: "The nuclear deal", Text: "On the Joint Comprehensive Plan of Action and the arms embargo that expires under it in October: Iran asks Russia to uphold international law."},
	{Title: "Bilateral issues", Text: "Iran proposes to finalise the long-term comprehensive deal on strategic cooperation between our countries."},
}

// What is said on the line (after seed 000; illustrative).
var lineWords = []struct {
	by   record.Handle
	text string
}{
	{"ru/president", "Good afternoon, Mr Zarif. My protocol keeps us apart today; this line will do."},
	{"ir/fm", "Mr President, I carry an important message from President Rouhani. I hand it over now."},
	{"ru/president", "I have it. Please tell President Rouhani it was a constructive conversation."},
}

// A relayView is what the in-process server's line relay saw: the bytes
// it forwarded, as it saw them, and its account of each line.
type relayView struct {
	mu       sync.Mutex
	seen     bytes.Buffer // every chunk forwarded, up to maxSeen bytes
	sessions []line.Session
}

const maxSeen = 8 << 20

func (v *relayView) tap(_, _ record.Handle, p []byte) {
	v.mu.Lock()
	if v.seen.Len()+len(p) <= maxSeen {
		v.seen.Write(p)
	}
	v.mu.Unlock()
}

func (v *relayView) closed(s line.Session) {
	v.mu.Lock()
	v.sessions = append(v.sessions, s)
	v.mu.Unlock()
}

// reset forgets what the relay saw so far.
func (v *relayView) reset() {
	v.mu.Lock()
	v.seen.Reset()
	v.sessions = nil
	v.mu.Unlock()
}

// session waits for the relay's account of the line between a and b.
func (v *relayView) session(ctx context.Context, a, b record.Handle) (line.Session, []byte, error) {
	for {
		v.mu.Lock()
		for _, s := range v.sessions {
			if (s.A == a && s.B == b) || (s.A == b && s.B == a) {
				seen := bytes.Clone(v.seen.Bytes())
				v.mu.Unlock()
				return s, seen, nil
			}
		}
		v.mu.Unlock()
		select {
		case <-ctx.Done():
			return line.Session{}, nil, fmt.Errorf("the relay did not report the line between %s and %s: %w", a, b, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Dial opens a secure line from a to peer through the server's relay; it
// returns when peer has dialled back and both certificates are checked.
func (a *Actor) Dial(ctx context.Context, peer record.Handle) (*line.Line, error) {
	return line.Dial(ctx, a.w.URL+"/v1/line", peer, line.Config{
		// The peer's certificate key must be the one the client proved
		// from the log for its office, not the server's word.
		Self: a.Handle(), Key: a.ID.Signing, Directory: a.w.Client.LineDirectory(a.ID), Origin: a.w.Client.Origin,
	})
}

// PouchFile is the .pouch file of pouch as a holder has it: the tag, the
// custody records so far and the payload, fetched from the server.
func (a *Actor) PouchFile(ctx context.Context, pouch record.ID) ([]byte, error) {
	c := a.w.Client
	tag, err := c.Record(ctx, pouch, a.ID)
	if err != nil {
		return nil, err
	}
	pv, err := c.Pouch(ctx, pouch, a.ID)
	if err != nil {
		return nil, err
	}
	head := &letter.FileHead{Tag: tag.Signed}
	for _, h := range pv.Custody {
		v, err := c.Record(ctx, h.ID, a.ID)
		if err != nil {
			return nil, err
		}
		head.Custody = append(head.Custody, v.Signed)
	}
	payload, err := c.Payload(ctx, pouch, a.ID)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := letter.WriteFile(&b, head, bytes.NewReader(payload), uint64(len(payload))); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Scene3 plays Rouhani's message by secure line: Zarif hands President
// Rouhani's sealed letter to President Putin over a line through the
// server's relay, Putin signs its delivery citing the call record both
// signed, and Zarif publishes the delivery receipt.
func Scene3(ctx context.Context, w *World) error {
	r := w.Report
	r.Note("(seed 000: Zarif and Putin spoke for about an hour on a secure line, because of the President's")
	r.Note("coronavirus protocol. The demo's line lasts milliseconds: its duration and times are illustrative.)")
	rouhani, fm, putin := w.As("ir/president"), w.As("ir/fm"), w.As("ru/president")

	l := &client.Letter{To: "ru/president", Via: []record.Handle{"ir/fm"}, Sections: rouhaniLetter}
	sent, err := rouhani.Send(ctx, l)
	if err != nil {
		return err
	}
	pouch := sent.Pouch
	w.Facts["scene3.pouch"] = pouch
	if err := fm.Take(ctx, pouch); err != nil {
		return err
	}
	file, err := fm.PouchFile(ctx, pouch)
	if err != nil {
		return r.Fail("ir/fm cannot write the .pouch file: %v", err)
	}
	r.Info("ir/fm holds pouch %s as a .pouch file of %d bytes: tag, his custody record, the age payload", pouch.Short(), len(file))
	if err := fm.CannotOpen(ctx, pouch, sent.Payload, "the envoy who carries it"); err != nil {
		return err
	}

	// The line.
	if w.relay != nil {
		w.relay.reset()
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	type dialed struct {
		l   *line.Line
		err error
	}
	fmDial := make(chan dialed, 1)
	go func() {
		l, err := fm.Dial(dctx, "ru/president")
		fmDial <- dialed{l, err}
	}()
	pl, err := putin.Dial(dctx, "ir/fm")
	d := <-fmDial
	if err != nil || d.err != nil {
		if pl != nil {
			pl.Abort()
		}
		if d.l != nil {
			d.l.Abort()
		}
		return r.Fail("the secure line did not open: %v", errors.Join(err, d.err))
	}
	fl := d.l
	r.Step("ir/fm", "calls ru/president through the server's relay (/v1/line); ru/president calls back", nil)
	r.Pass("line open: TLS 1.3 end to end through the relay, X25519MLKEM768 key exchange, each end's certificate key checked against the directory")
	ends := map[record.Handle]*line.Line{"ir/fm": fl, "ru/president": pl}
	other := map[record.Handle]*line.Line{"ir/fm": pl, "ru/president": fl}
	abort := func(format string, a ...any) error {
		fl.Abort()
		pl.Abort()
		return r.Fail(format, a...)
	}
	for i, say := range lineWords {
		if err := ends[say.by].Send(say.text); err != nil {
			return abort("%s could not speak: %v", say.by, err)
		}
		m, err := other[say.by].Receive(dctx)
		if err != nil || m.Text != say.text || m.From != say.by {
			return abort("the words of %s did not arrive unchanged: %q, %v", say.by, m.Text, err)
		}
		r.Step(string(say.by), fmt.Sprintf("on the line: %q", say.text), nil)
		if i == 1 {
			if err := fl.SendPouch(pouch, file); err != nil {
				return abort("ir/fm could not hand the pouch over: %v", err)
			}
			m, err := pl.Receive(dctx)
			var got []byte
			if err == nil && m.Pouch != nil {
				got, err = io.ReadAll(m.Pouch)
			}
			if err != nil || m.Pouch == nil || m.Pouch.ID != pouch || !bytes.Equal(got, file) {
				return abort("the pouch did not arrive unchanged over the line: %v", err)
			}
			r.Step("ir/fm", fmt.Sprintf("hands over pouch %s on the line (%d bytes)", pouch.Short(), len(file)), nil)
		}
	}
	r.Pass("every word and the pouch arrived unchanged")

	// The President opens the letter from the file he received.
	f, err := letter.ReadFile(bytes.NewReader(file))
	if err != nil {
		return abort("ru/president reads the .pouch file: %v", err)
	}
	if f.Tag.PouchID() != pouch {
		return abort("the file handed over is pouch %s, not %s", f.Tag.PouchID().Short(), pouch.Short())
	}
	o, err := letter.OpenPouch(f, putin.ID, nil)
	if err != nil {
		return abort("ru/president cannot open the pouch handed over: %v", err)
	}
	if len(o.Sections) != len(rouhaniLetter) {
		return abort("ru/president opened %d sections, want %d", len(o.Sections), len(rouhaniLetter))
	}
	r.Pass("ru/president opens the file he received: %d sections, signed by %s, tag and custody signatures verified", len(o.Sections), o.Header.Header.From)

	// Hang up; both sign the call record.
	fl.CloseSend()
	if _, err := pl.Receive(dctx); err != io.EOF {
		return abort("ru/president: want the minister's bye, got %v", err)
	}
	type hung struct {
		rec *record.Signed
		err error
	}
	fmHung := make(chan hung, 1)
	go func() {
		rec, err := fl.Hangup(dctx)
		fmHung <- hung{rec, err}
	}()
	prec, err := pl.Hangup(dctx)
	h := <-fmHung
	if err != nil || h.err != nil {
		return r.Fail("the line closed without a call record: %v", errors.Join(err, h.err))
	}
	if prec.ID() != h.rec.ID() {
		return r.Fail("the two ends hold different call records")
	}
	call, err := line.VerifyCall(prec.Marshal())
	if err == nil {
		err = call.CheckBinding(pl.Binding())
	}
	if err == nil {
		err = call.CheckBinding(fl.Binding())
	}
	if err != nil {
		return r.Fail("call record: %v", err)
	}
	b := call.Body
	took := time.UnixMilli(b.End).Sub(time.UnixMilli(b.Start)).Round(time.Millisecond)
	r.Step("ir/fm", "hangs up; ir/fm and ru/president both sign the call record", nil)
	r.Pass("call record %s: signed by %s and %s; %v long; %s sent %d bytes, %s %d; 1 pouch handed over; bound to this TLS session (exported keying material equal at both ends)",
		prec.ID().Short(), b.Participants[0], b.Participants[1], took, b.Participants[0], b.Bytes[0], b.Participants[1], b.Bytes[1])
	acc, err := w.Client.Submit(ctx, prec)
	if err != nil {
		return r.Fail("logging the call record: %v", err)
	}
	callID := acc.ID
	w.Facts["scene3.call"] = callID
	r.Step("ru/president", fmt.Sprintf("logs the call record %s (private record)", callID.Short()), acc)
	if _, err := w.Client.Record(ctx, callID, nil); err == nil {
		return r.Fail("the public can read the call record: %v", errUnexpected)
	}
	r.Pass("the call record is private: the server refuses it to the public")

	// What the relay saw.
	if w.relay == nil {
		r.Info("(against a remote server: what its relay saw is not inspected here)")
	} else {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, seen, err := w.relay.session(sctx, "ir/fm", "ru/president")
		cancel()
		if err != nil {
			return r.Fail("%v", err)
		}
		r.Info("the relay's account: %s and %s paired for %v; %d bytes %s → %s, %d bytes back; nothing else",
			s.A, s.B, s.Duration().Round(time.Millisecond), s.BytesAB, s.A, s.B, s.BytesBA)
		var leaked []string
		for _, say := range lineWords {
			if bytes.Contains(seen, []byte(say.text[:24])) {
				leaked = append(leaked, "words")
			}
		}
		for _, sec := range rouhaniLetter {
			if bytes.Contains(seen, []byte(sec.Text[:24])) {
				leaked = append(leaked, "letter")
			}
		}
		if bytes.Contains(seen, sent.Payload[len(sent.Payload)/2:len(sent.Payload)/2+32]) || bytes.Contains(seen, []byte("age-encryption.org")) {
			leaked = append(leaked, "age payload")
		}
		if len(seen) == 0 || len(leaked) > 0 {
			return r.Fail("the relay saw %d bytes including %v", len(seen), leaked)
		}
		r.Pass("the relay saw %d bytes of TLS ciphertext: not a word said, not the letter, not even the pouch's age bytes", len(seen))
	}

	// Delivery, citing the line.
	receipt, err := w.Client.Deliver(ctx, putin.ID, pouch, client.OverLine(callID))
	if err != nil {
		return r.Fail("ru/president could not sign delivery over the line: %v", err)
	}
	r.Step("ru/president", fmt.Sprintf("signs delivery of pouch %s, over_line %s", pouch.Short(), callID.Short()), receipt)
	w.Facts["scene3.receipt"] = receipt.ID
	if _, err := rouhani.VerifyPouch(ctx, pouch); err != nil {
		return err
	}

	// Zarif publishes the delivery receipt, not the letter.
	pub, err := w.Client.Publish(ctx, fm.ID, receipt.ID)
	if err != nil {
		return r.Fail("ir/fm could not publish the delivery receipt: %v", err)
	}
	r.Step("ir/fm", fmt.Sprintf("publishes the delivery receipt %s (public publish record)", receipt.ID.Short()), pub)
	return w.checkPublishedReceipt(ctx, receipt.ID, pouch, callID, sent.Payload)
}

// checkPublishedReceipt checks, as the public, that the delivery receipt
// of pouch proves an important message was delivered over line call, and
// that nobody can read the message.
func (w *World) checkPublishedReceipt(ctx context.Context, receipt, pouch, call record.ID, payload []byte) error {
	r := w.Report
	c := w.Client
	v, err := c.Record(ctx, receipt, nil)
	if err != nil {
		return r.Fail("the public cannot fetch the published receipt: %v", err)
	}
	sc, err := letter.VerifyCustody(v.Signed)
	if err != nil {
		return r.Fail("published receipt: %v", err)
	}
	cu := sc.Custody
	by := sc.Record.By[0]
	if !cu.Delivered || cu.Pouch != pouch || cu.OverLine == nil || *cu.OverLine != call || by != "ru/president" || cu.From != "ir/fm" {
		return r.Fail("the published receipt does not say ru/president received pouch %s from ir/fm over line %s", pouch.Short(), call.Short())
	}
	// Its place in the log, proven; then the key that signed it held the
	// office there, by the directory the client proved from the log.
	pv, err := c.Prove(ctx, receipt, record.KindCustody, nil)
	if err != nil {
		return r.Fail("receipt inclusion proof: %v", err)
	}
	view, err := c.View(ctx, nil)
	if err != nil {
		return r.Fail("catching up with the log: %v", err)
	}
	if err := view.Directory().CheckKey(by, sc.Signed.KeyOf(0), pv.Index); err != nil {
		return r.Fail("the receipt's key did not hold %s when it was logged: %v", by, err)
	}
	r.Pass("anyone verifies the receipt: signed by %s's key of record, delivery of pouch %s from ir/fm over line %s; in the log at #%d (inclusion proof, tree of %d)",
		by, pouch.Short(), call.Short(), pv.Index, pv.Size)
	if _, err := c.Payload(ctx, pouch, nil); !errors.Is(err, httpsig.ErrUnsigned) {
		return r.Fail("the pouch's payload, asked by the public: %v, want a refusal for want of a party's signature", err)
	}
	if _, err := c.Record(ctx, pouch, nil); !errors.Is(err, httpsig.ErrUnsigned) {
		return r.Fail("the pouch's tag, asked by the public: %v, want a refusal for want of a party's signature", err)
	}
	if _, err := c.Pouch(ctx, pouch, nil); !errors.Is(err, httpsig.ErrUnsigned) {
		return r.Fail("the pouch's custody chain, asked by the public: %v, want a refusal for want of a party's signature", err)
	}
	r.Pass("nobody reads behind it: the server refuses the public the pouch's tag, payload and custody chain")
	if err := w.As("us/president").CannotOpen(ctx, pouch, payload, "a third state"); err != nil {
		return err
	}
	return w.ServerCannotRead(ctx, pouch, rouhaniLetter)
}
