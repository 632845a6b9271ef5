package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// GrantSpec describes a grant an actor makes.
type GrantSpec struct {
	To           record.Handle
	Abilities    []directory.Ability
	Counterparts []record.Handle
	Thread       *record.ID
	Letter       []byte // a letter's ID, for a disclose grant scoped to that letter
	Purpose      string
	For          time.Duration // validity from now; 0 means no expiry
	Private      bool
}

// Grant makes a grant and returns its ID.
func (a *Actor) Grant(ctx context.Context, g GrantSpec) (record.ID, error) {
	body := &directory.Grant{To: g.To, Abilities: g.Abilities, Counterparts: g.Counterparts, Thread: g.Thread, Letter: g.Letter, Purpose: g.Purpose}
	until := ""
	if g.For > 0 {
		t := a.w.Clock.Now().Add(g.For)
		body.NotAfter = t.UnixMilli()
		until = " until " + t.UTC().Format("2006-01-02 15:04 MST")
	}
	acc, err := a.w.Client.Grant(ctx, a.ID, body, g.Private)
	if err != nil {
		return record.ID{}, a.w.Report.Fail("%s could not grant %s: %v", a.Handle(), g.To, err)
	}
	scope := ""
	if len(g.Counterparts) > 0 {
		scope = fmt.Sprintf(" for letters from %s", joinHandles(g.Counterparts))
	}
	if g.Thread != nil {
		scope += " in the thread of pouch " + g.Thread.Short()
	}
	if g.Letter != nil {
		scope += fmt.Sprintf(" on letter %x", g.Letter[:6])
	}
	vis := "public"
	if g.Private {
		vis = "private"
	}
	a.w.Report.Step(string(a.Handle()), fmt.Sprintf("grants %s %s%s%s (%s)", g.To, joinAbilities(g.Abilities), scope, until, vis), acc)
	return acc.ID, nil
}

// Send seals and sends a letter, printing who will be able to open it.
func (a *Actor) Send(ctx context.Context, l *client.Letter) (*client.Sent, error) {
	var readers []client.Reader
	s, err := a.w.Client.Send(ctx, a.ID, l, func(p *client.Plan) error { readers = p.Readers; return nil })
	if err != nil {
		return nil, a.w.Report.Fail("%s could not send to %s: %v", a.Handle(), l.To, err)
	}
	a.reportSent(s, l, "writes", readers)
	return s, nil
}

func (a *Actor) reportSent(s *client.Sent, l *client.Letter, verb string, readers []client.Reader) {
	route := ""
	if len(l.Via) > 0 {
		route = " via " + joinHandles(l.Via)
	}
	what := fmt.Sprintf("%s a letter of %s to %s%s, seals it", verb, plural(len(l.Sections), "section"), l.To, route)
	a.w.Report.Step(string(a.Handle()), what, s.Accepted)
	var who []string
	for _, r := range readers {
		d := string(r.Handle) + " (" + r.Role
		if r.Grant != nil {
			d += ", grant " + r.Grant.ID.Short()
		}
		who = append(who, d+")")
	}
	a.w.Report.Info("can open it: %s (proven from the log)", strings.Join(who, ", "))
	if s.Plan != nil && s.Plan.Unreadable > 0 {
		a.w.Report.Info("not sealed to any delegate under the %d private grants %s cannot read", s.Plan.Unreadable, a.Handle())
	}
	a.w.Report.Info("pouch %s: tag signed by %s, payload %d bytes of age ciphertext", s.Pouch.Short(), a.Handle(), len(s.Payload))
}

// Reply replies to pouch on route via.
func (a *Actor) Reply(ctx context.Context, pouch record.ID, l *client.Letter) (*client.Sent, error) {
	var readers []client.Reader
	s, err := a.w.Client.Reply(ctx, a.ID, pouch, l, func(p *client.Plan) error { readers = p.Readers; return nil })
	if err != nil {
		return nil, a.w.Report.Fail("%s could not reply to %s: %v", a.Handle(), pouch.Short(), err)
	}
	a.reportSent(s, l, "replies (thread "+l.Thread.Short()+") with", readers)
	return s, nil
}

// Take takes custody of pouch as the next envoy.
func (a *Actor) Take(ctx context.Context, pouch record.ID) error {
	acc, err := a.w.Client.Take(ctx, a.ID, pouch, "")
	if err != nil {
		return a.w.Report.Fail("%s could not take custody of %s: %v", a.Handle(), pouch.Short(), err)
	}
	a.w.Report.Step(string(a.Handle()), fmt.Sprintf("takes custody of pouch %s (signed custody record)", pouch.Short()), acc)
	return nil
}

// Deliver signs delivery of pouch, on behalf of the addressee if a is a
// delegate.
func (a *Actor) Deliver(ctx context.Context, pouch record.ID, addressee record.Handle) error {
	acc, err := a.w.Client.Deliver(ctx, a.ID, pouch)
	if err != nil {
		return a.w.Report.Fail("%s could not sign delivery of %s: %v", a.Handle(), pouch.Short(), err)
	}
	what := fmt.Sprintf("signs delivery of pouch %s", pouch.Short())
	if a.Handle() != addressee {
		what += " on behalf of " + string(addressee)
	}
	a.w.Report.Step(string(a.Handle()), what, acc)
	return nil
}

// Open opens pouch and checks it holds want sections.
func (a *Actor) Open(ctx context.Context, pouch record.ID, want int) (*letter.Opened, error) {
	o, _, err := a.w.Client.Open(ctx, a.ID, pouch)
	if err != nil {
		return nil, a.w.Report.Fail("%s cannot open pouch %s: %v", a.Handle(), pouch.Short(), err)
	}
	if len(o.Sections) != want {
		return nil, a.w.Report.Fail("%s opened pouch %s: %d sections, want %d", a.Handle(), pouch.Short(), len(o.Sections), want)
	}
	a.w.Report.Pass("%s opens it: %d sections, author's signature and every section commitment verified", a.Handle(), len(o.Sections))
	return o, nil
}

// CannotOpen checks that a cannot open pouch: the server refuses it the
// payload, and the payload itself (given, as a carrier holds it) is not
// sealed to it.
func (a *Actor) CannotOpen(ctx context.Context, pouch record.ID, payload []byte, why string) error {
	_, _, err := a.w.Client.Open(ctx, a.ID, pouch)
	if err == nil {
		return a.w.Report.Fail("%s opened pouch %s: %v", a.Handle(), pouch.Short(), errUnexpected)
	}
	served := !errors.Is(err, client.ErrForbidden) && !errors.Is(err, client.ErrUnauthorised)
	if payload != nil {
		_, oerr := letter.Open(bytes.NewReader(payload), a.ID, nil)
		if !errors.Is(oerr, letter.ErrNotSealedToYou) {
			return a.w.Report.Fail("%s with the payload in hand: want %q, got %v", a.Handle(), letter.ErrNotSealedToYou, oerr)
		}
	}
	how := "the server refuses it the payload, and the age file is not sealed to it"
	if served {
		how = "the age file is not sealed to it"
	}
	a.w.Report.Pass("%s cannot open it (%s): %s", a.Handle(), why, how)
	return nil
}

// Disclose discloses sections of an opened letter that came in pouch.
func (a *Actor) Disclose(ctx context.Context, pouch record.ID, o *letter.Opened, indexes []int) (record.ID, error) {
	s, err := letter.Disclose(o, indexes, a.Handle(), a.ID.Signing, &pouch, a.w.Clock.Now().UnixMilli(), a.w.Client.Origin)
	if err != nil {
		return record.ID{}, a.w.Report.Fail("disclose: %v", err)
	}
	acc, err := a.w.Client.Submit(ctx, s)
	if err != nil {
		return record.ID{}, a.w.Report.Fail("%s could not disclose: %v", a.Handle(), err)
	}
	var titles []string
	for _, i := range indexes {
		titles = append(titles, fmt.Sprintf("%q", o.Sections[i].Title))
	}
	a.w.Report.Step(string(a.Handle()), "discloses section "+strings.Join(titles, ", ")+" (public record)", acc)
	return acc.ID, nil
}

// VerifyPouch checks, as a, the pouch's whole chain of custody — every
// record's signature and leaf in the log (inclusion proofs against the
// client's verified checkpoint), the route, the stand-ins' grants at each
// record's time of sequencing — with the directory the client proved. It
// prints the chain.
func (a *Actor) VerifyPouch(ctx context.Context, pouch record.ID) (*client.Chain, error) {
	w := a.w
	ch, err := w.Client.Chain(ctx, a.ID, pouch)
	if err != nil {
		return nil, w.Report.Fail("custody chain of %s: %v", pouch.Short(), err)
	}
	if !ch.Delivered() {
		return nil, w.Report.Fail("pouch %s is not delivered", pouch.Short())
	}
	w.Report.Step(string(a.Handle()), fmt.Sprintf("verifies the chain of custody of pouch %s (%s):", pouch.Short(), ch.View.Witnessing(w.Clock.Now())), nil)
	w.Report.Pass("sealed by %-16s tag %s, in the log at #%d (inclusion proof, tree of %d)", ch.Tag.Tag.From, pouch.Short(), ch.TagAt.Index, ch.TagAt.Size)
	for _, st := range ch.Steps {
		what := "carried by"
		if st.Hop.Delivery {
			what = "delivered to"
		}
		who := string(st.Hop.By)
		if st.Hop.By != st.Hop.As {
			who += " for " + string(st.Hop.As)
		}
		line := fmt.Sprintf("%-12s %-28s custody %s, in the log at #%d (inclusion proof, tree of %d)", what, who, st.At.ID.Short(), st.At.Index, st.At.Size)
		if st.Unproven != "" {
			w.Report.Info("%s; NOT CHECKED: %s", line, st.Unproven)
			continue
		}
		w.Report.Pass("%s", line)
	}
	return ch, nil
}

func joinHandles(hs []record.Handle) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = string(h)
	}
	return strings.Join(s, ", ")
}

func joinAbilities(as []directory.Ability) string {
	s := make([]string, len(as))
	for i, x := range as {
		s[i] = string(x)
	}
	return strings.Join(s, "+")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
