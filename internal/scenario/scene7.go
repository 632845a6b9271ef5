package scenario

import (
	"context"
	"errors"
	"fmt"
	"time"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/record"
)

func init() {
	Register(Scene{N: 7, Title: "What did not happen", Source: "seed 000",
		Proves: "negative evidence with reasons; consent; evidence that travels",
		Run:    Scene7})
}

// The Secretary of State's letter on the arms embargo, and the President's
// proposal; the wording is illustrative, after seed 000.
var embargoLetter = []letter.Section{
	{Title: "To the Foreign Minister of the Islamic Republic of Iran", Text: "From the Secretary of State of the United States of America."},
	{Title: "The arms embargo", Text: "The United States asks Iran to accept the extension of the United Nations arms embargo, which expires in October under resolution 2231."},
	{Title: "Reply requested", Text: "We ask for your consent before this letter is delivered, and for a reply before the Security Council votes."},
}

var proposalLetter = []letter.Section{
	{Title: "To the President of the Islamic Republic of Iran", Text: "From the President of the United States of America."},
	{Title: "A proposal", Text: "The United States proposes talks on a new agreement, through the Swiss channel."},
}

// The refusal's words, after seed 000.
const refusalText = "Tehran firmly rejects Washington's plans: the United States, no longer a party to the JCPOA since May 2018, has no standing to extend the arms embargo."

// Scene7 plays what did not happen: the Secretary of State's letter,
// which asks for consent, refused by the Foreign Minister with its reason
// and returned; the President's letter, whose envoy never takes it, past
// its deadline, and the deployment's non-delivery with its reason; and
// each sender's evidence bundle, checked with no network.
func Scene7(ctx context.Context, w *World) error {
	r := w.Report
	r.Note("(seed 000: the United States presses the Security Council to extend the arms embargo; \"Tehran has firmly")
	r.Note("rejected Washington's plans\". The letters, their deadlines and their routes are illustrative.)")
	sec, fm, swiss, usp := w.As("us/secretary-of-state"), w.As("ir/fm"), w.As("ch/amb-tehran"), w.As("us/president")
	// Against a server whose clock the world cannot move, the second
	// letter's deadline is seconds away, and the scene waits for it.
	long, short := 7*24*time.Hour, 24*time.Hour
	if w.Remote {
		long, short = 10*time.Minute, 3*time.Second
	}

	// The Secretary of State's letter: a deadline, and consent first.
	la := &client.Letter{To: "ir/fm", Via: []record.Handle{"ch/amb-tehran"}, Sections: embargoLetter,
		DeliverBy: w.Clock.Now().Add(long), Consent: true}
	sentA, err := sec.Send(ctx, la)
	if err != nil {
		return err
	}
	a := sentA.Pouch
	w.Facts["scene7.refused"] = a
	r.Info("the tag asks for delivery by %s, and for consent first", la.DeliverBy.UTC().Format("2006-01-02 15:04 MST"))
	if err := swiss.Take(ctx, a); err != nil {
		return err
	}
	if err := swiss.CannotOpen(ctx, a, sentA.Payload, "the envoy, who carries sealed bytes"); err != nil {
		return err
	}
	if _, err := w.Client.Payload(ctx, a, fm.ID); !errors.Is(err, ledger.ErrAccessRequired) {
		return r.Fail("ir/fm asks for the payload before consenting: %v, want a refusal for want of its acceptance", err)
	}
	r.Pass("the server refuses ir/fm the payload before it consents: the log would then prove acceptance before access")
	acc, err := w.Client.Refuse(ctx, fm.ID, a, letter.RefusalDeclined, refusalText)
	if err != nil {
		return r.Fail("ir/fm could not refuse pouch %s: %v", a.Short(), err)
	}
	r.Step("ir/fm", fmt.Sprintf("refuses pouch %s (reason %s): %q", a.Short(), letter.RefusalDeclined, refusalText), acc)
	if err := w.refuse(ctx, refusalCase{who: "ch/amb-tehran", what: "hands the refused pouch to ir/fm (ir/fm signs its delivery)",
		want: ledger.ErrClosed, says: []string{"returned to its sender"},
		act: func() error {
			cu := &letter.Custody{Pouch: a, From: "ch/amb-tehran", Delivered: true}
			s, err := letter.SignCustody(cu, "ir/fm", fm.ID.Signing, record.NewSalt(), w.Clock.Now().UnixMilli(), w.Client.Origin)
			if err != nil {
				return err
			}
			_, err = w.Client.Submit(ctx, s)
			return err
		}}); err != nil {
		return err
	}
	// Returned: the sender's inbox says so, and its proven chain holds the
	// refusal.
	if err := w.outcome(ctx, sec, a, "refused", string(letter.RefusalDeclined)); err != nil {
		return err
	}

	// The President's letter: a deadline, and an envoy who never takes it.
	lb := &client.Letter{To: "ir/president", Via: []record.Handle{"ch/amb-tehran"}, Sections: proposalLetter,
		DeliverBy: w.Clock.Now().Add(short)}
	sentB, err := usp.Send(ctx, lb)
	if err != nil {
		return err
	}
	b := sentB.Pouch
	w.Facts["scene7.undelivered"] = b
	r.Info("the tag asks for delivery by %s; ch/amb-tehran never takes it", lb.DeliverBy.UTC().Format("2006-01-02 15:04:05 MST"))
	if w.Remote {
		r.Info("(against a remote server: waiting %v for the deadline, by the server's clock)", short)
		t := time.NewTimer(short + 500*time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	} else {
		if err := w.Advance(ctx, short+time.Hour); err != nil {
			return r.Fail("moving the world's clock past the deadline: %v", err)
		}
		r.Note("(the world's clock moves %v forward: past the deadline)", short+time.Hour)
	}
	ch, err := w.awaitOutcome(ctx, usp, b)
	if err != nil {
		return err
	}
	nd := ch.Pouch.NonDelivery
	if nd == nil || nd.Reason != string(letter.NonDeliveryNotTaken) || nd.By != directory.EvidenceHandle {
		return r.Fail("pouch %s: want its non-delivery for reason %s, signed by %s; got %+v", b.Short(), letter.NonDeliveryNotTaken, directory.EvidenceHandle, nd)
	}
	var ndBody *letter.NonDelivery
	for _, e := range ch.Events {
		if e.Event.NonDelivery != nil {
			ndBody = e.Event.NonDelivery
		}
	}
	r.Step(string(directory.EvidenceHandle), fmt.Sprintf("logs the non-delivery of pouch %s (reason %s): held by %s, awaiting %s",
		b.Short(), nd.Reason, ndBody.Holder, ndBody.Next), &api.Accepted{Index: nd.Pos.Index})
	k, err := ch.View.Directory().KeyAt(directory.EvidenceHandle, nd.Pos.Index)
	if err != nil {
		return r.Fail("the key of %s: %v", directory.EvidenceHandle, err)
	}
	r.Pass("us/president checks it against the records it may read: the reason is the one the rules derive (no custody: the first envoy never took it); signed by the key of %s, which the operator admitted at #%d",
		directory.EvidenceHandle, k.Admitted.Index)
	if err := w.outcome(ctx, usp, b, "not-delivered", string(letter.NonDeliveryNotTaken)); err != nil {
		return err
	}

	// Each sender's evidence, checked with no network.
	for _, e := range []struct {
		who   *Actor
		pouch record.ID
	}{{sec, a}, {usp, b}} {
		if err := w.checkEvidence(ctx, e.who, e.pouch); err != nil {
			return err
		}
	}
	return nil
}

// outcome checks that who's inbox shows pouch with outcome and reason.
func (w *World) outcome(ctx context.Context, who *Actor, pouch record.ID, outcome, reason string) error {
	items, err := w.Client.Inbox(ctx, who.ID)
	if err != nil {
		return w.Report.Fail("%s's inbox: %v", who.Handle(), err)
	}
	for _, it := range items {
		if it.ID != pouch {
			continue
		}
		if it.Outcome != outcome || it.Reason != reason || it.Awaiting {
			return w.Report.Fail("%s's inbox shows pouch %s as %q (%q), awaiting %v; want %q (%q)", who.Handle(), pouch.Short(), it.Outcome, it.Reason, it.Awaiting, outcome, reason)
		}
		w.Report.Pass("%s's inbox shows pouch %s back: %s (%s)", who.Handle(), pouch.Short(), outcome, reason)
		return nil
	}
	return w.Report.Fail("%s's inbox does not show pouch %s", who.Handle(), pouch.Short())
}

// awaitOutcome waits (at most 30 seconds) until who proves pouch's
// non-delivery in the log, and returns the proven chain.
func (w *World) awaitOutcome(ctx context.Context, who *Actor, pouch record.ID) (*client.Chain, error) {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		ch, err := w.Client.Chain(wctx, who.ID, pouch)
		if err != nil {
			return nil, w.Report.Fail("%s proves pouch %s: %v", who.Handle(), pouch.Short(), err)
		}
		if ch.Pouch.NonDelivery != nil {
			return ch, nil
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-wctx.Done():
			t.Stop()
			return nil, w.Report.Fail("no non-delivery of pouch %s in the log after its deadline: %v", pouch.Short(), wctx.Err())
		case <-t.C:
		}
	}
}

// checkEvidence has who build the evidence bundle of pouch and checks it
// with no network against the log's key and witness policy, printing
// each event with the witnesses' bounds of its time.
func (w *World) checkEvidence(ctx context.Context, who *Actor, pouch record.ID) error {
	r := w.Report
	bt, err := w.Client.Evidence(ctx, who.ID, pouch)
	if err != nil {
		return r.Fail("%s's evidence bundle of pouch %s: %v", who.Handle(), pouch.Short(), err)
	}
	// Offline: the bytes, the log's verifier (its key and the witness
	// policy), nothing else.
	ve, err := client.VerifyEvidence(bt.Bundle, w.Verifier, 0)
	if err != nil {
		return r.Fail("%s's evidence bundle of pouch %s does not verify offline: %v", who.Handle(), pouch.Short(), err)
	}
	r.Step(string(who.Handle()), fmt.Sprintf("keeps the evidence bundle of pouch %s: %d bytes, %d events, checked offline against the log's key%s",
		pouch.Short(), len(bt.Bundle), len(ve.Events), witnessedBy(ve.Checkpoint.Witnessed)), nil)
	for _, e := range ve.Events {
		when := ""
		switch {
		case !e.NotBefore.IsZero() && !e.NotAfter.IsZero():
			when = fmt.Sprintf(" (logged between %s and %s by the witness's clock)", e.NotBefore.UTC().Format("2006-01-02 15:04:05"), e.NotAfter.UTC().Format("15:04:05 MST"))
		case !e.NotAfter.IsZero():
			when = fmt.Sprintf(" (logged by %s by the witness's clock)", e.NotAfter.UTC().Format("2006-01-02 15:04:05 MST"))
		}
		line := fmt.Sprintf("#%-4d %s%s", e.At.Index, e.What, when)
		if e.Unproven != "" {
			r.Info("%s; NOT CHECKED: %s", line, e.Unproven)
			continue
		}
		r.Pass("%s", line)
	}
	if ve.State == nil {
		return r.Fail("the bundle of pouch %s does not carry its tag", pouch.Short())
	}
	return nil
}

func witnessedBy(witnessed bool) string {
	if witnessed {
		return " and the witness policy"
	}
	return " (no witness required)"
}

// MustFailEvidence plays the cases of negative evidence and consent that
// must fail, after scene 7: a non-delivery of a pouch delivered in time, a
// refusal by someone neither addressee nor delegate, an access record by a
// carrier. Each is refused by the rule it names, and the log does not
// grow.
func MustFailEvidence(ctx context.Context, w *World) error {
	w.Report.Scene(92, "What must fail: negative evidence and consent", "", "")
	refused, ok := w.Facts["scene7.refused"]
	if !ok {
		return w.Report.Fail("the cases need scene 7's refused pouch")
	}
	// A fresh pouch, with a deadline, that the Swiss envoy carries.
	sent, err := w.As("us/secretary-of-state").Send(ctx, &client.Letter{To: "ir/fm", Via: []record.Handle{"ch/amb-tehran"},
		Sections: proposalLetter, DeliverBy: w.Clock.Now().Add(30 * 24 * time.Hour)})
	if err != nil {
		return err
	}
	open := sent.Pouch
	if err := w.As("ch/amb-tehran").Take(ctx, open); err != nil {
		return err
	}
	// And one with a deadline, delivered in time.
	sent, err = w.As("us/secretary-of-state").Send(ctx, &client.Letter{To: "ir/fm", Sections: proposalLetter,
		DeliverBy: w.Clock.Now().Add(30 * 24 * time.Hour)})
	if err != nil {
		return err
	}
	delivered := sent.Pouch
	if err := w.As("ir/fm").Deliver(ctx, delivered, "ir/fm"); err != nil {
		return err
	}
	event := func(body any, by *Actor) (*record.Signed, error) {
		return letter.SignEvent(body, by.Handle(), by.ID.Signing, record.NewSalt(), w.Clock.Now().UnixMilli(), w.Client.Origin)
	}
	submit := func(s *record.Signed, err error) error {
		if err != nil {
			return err
		}
		_, err = w.Client.Submit(ctx, s)
		return err
	}
	cases := []refusalCase{
		{who: "ir/speaker", what: "refuses a pouch addressed to ir/fm (neither addressee nor delegate)", want: ledger.ErrNotAddressee,
			says: []string{"only its addressee ir/fm or a receive delegate of it may"},
			act: func() error {
				return submit(event(&letter.Refusal{Pouch: open, Reason: letter.RefusalDeclined}, w.As("ir/speaker")))
			}},
		{who: "ch/amb-tehran", what: "logs access to the pouch it carries", want: ledger.ErrNotAddressee,
			says: []string{"is an envoy, who carries it"},
			act:  func() error { return submit(event(&letter.Access{Pouch: open}, w.As("ch/amb-tehran"))) }},
		{who: "us/secretary-of-state", what: "refuses its own letter", want: ledger.ErrNotAddressee,
			says: []string{"is its sender"},
			act: func() error {
				return submit(event(&letter.Refusal{Pouch: open, Reason: letter.RefusalOther, Text: "withdrawn"}, w.As("us/secretary-of-state")))
			}},
		{who: "ir/fm", what: "accepts the pouch it refused", want: ledger.ErrClosed,
			says: []string{"no acceptance follows"},
			act:  func() error { return submit(event(&letter.Acceptance{Pouch: refused}, w.As("ir/fm"))) }},
	}
	if w.Evidence != nil {
		// Only the deployment holds its evidence key: this case is played
		// in-process.
		cases = append(cases, refusalCase{who: string(directory.EvidenceHandle), what: "logs the non-delivery of a pouch delivered in time",
			want: directory.ErrDelivered, says: []string{"before its deadline"},
			act: func() error {
				nd := &letter.NonDelivery{Pouch: delivered, Reason: letter.NonDeliveryNotDelivered, Holder: "us/secretary-of-state", Next: "ir/fm"}
				return submit(letter.SignEvent(nd, directory.EvidenceHandle, w.Evidence.Signing, record.NewSalt(), w.Clock.Now().UnixMilli(), w.Client.Origin))
			}})
		cases = append(cases, refusalCase{who: string(directory.EvidenceHandle), what: "logs the non-delivery of a pouch before its deadline",
			want: ledger.ErrNotOverdue, says: []string{"is to be delivered by"},
			act: func() error {
				nd := &letter.NonDelivery{Pouch: open, Reason: letter.NonDeliveryNotDelivered, Holder: "ch/amb-tehran", Next: "ir/fm"}
				return submit(letter.SignEvent(nd, directory.EvidenceHandle, w.Evidence.Signing, record.NewSalt(), w.Clock.Now().UnixMilli(), w.Client.Origin))
			}})
	} else {
		w.Report.Info("(against a remote server: the non-delivery cases need the deployment's evidence key, which only the server holds)")
	}
	for _, c := range cases {
		if err := w.refuse(ctx, c); err != nil {
			return err
		}
	}
	return nil
}
