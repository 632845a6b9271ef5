package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"pouch.dev/api"
	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// The addressee's side of a pouch's events (spec/evidence.md#events):
// accepting a pouch that asks for consent, refusing one with a reason, and
// logging access before taking the payload of one that asks for it. Each
// proves the pouch's chain first and checks the rule with the proven
// directory; the server judges it again at the record's time of
// sequencing.

// Accept signs me's acceptance of pouch, which asks for consent: its
// delivery may follow. A receive delegate accepts on the addressee's
// behalf.
//
// SPEC: spec/evidence.md#acceptance
func (c *Client) Accept(ctx context.Context, me *Identity, pouch record.ID) (*api.Accepted, error) {
	return c.event(ctx, me, pouch, func(on record.Handle) any { return &letter.Acceptance{Pouch: pouch, OnBehalf: on} })
}

// Refuse signs me's refusal of pouch with reason and, optionally, text:
// the pouch is returned to its sender. A receive delegate refuses on the
// addressee's behalf.
//
// SPEC: spec/evidence.md#refusal
func (c *Client) Refuse(ctx context.Context, me *Identity, pouch record.ID, reason letter.RefusalReason, text string) (*api.Accepted, error) {
	return c.event(ctx, me, pouch, func(on record.Handle) any {
		return &letter.Refusal{Pouch: pouch, Reason: reason, Text: text, OnBehalf: on}
	})
}

// LogAccess signs me's access record of pouch: the log then proves when
// the addressee's side first took its sealed payload. Open and Fetch call
// it when the pouch asks for access (or consent) and me has logged none.
//
// SPEC: spec/evidence.md#access
func (c *Client) LogAccess(ctx context.Context, me *Identity, pouch record.ID) (*api.Accepted, error) {
	return c.event(ctx, me, pouch, func(on record.Handle) any { return &letter.Access{Pouch: pouch, OnBehalf: on} })
}

// event proves pouch's chain as me, builds the event body (with on, the
// addressee, when me is not it), checks it against the rules with the
// proven directory and state, and signs and submits it.
func (c *Client) event(ctx context.Context, me *Identity, pouch record.ID, body func(on record.Handle) any) (*api.Accepted, error) {
	ch, err := c.Chain(ctx, me, pouch)
	if err != nil {
		return nil, err
	}
	var on record.Handle
	if me.Handle != ch.Tag.Tag.To {
		on = ch.Tag.Tag.To
	}
	s, err := letter.SignEvent(body(on), me.Handle, me.Signing, record.NewSalt(), c.now().UnixMilli(), c.Origin)
	if err != nil {
		return nil, err
	}
	ev, err := letter.EventOf(s, mustOpen(s))
	if err != nil {
		return nil, err
	}
	// The rules, as far as this client proves them now: one that the
	// proven directory refuses signs nothing, unless a private grant it
	// cannot read may be what it stands on.
	v := ch.View
	if _, err := ledger.CheckEvent(v.Directory(), ch.Pouch, ev, v.Now(c.now())); err != nil && !(v.Opaque(v.Size()) > 0 && on != "") {
		return nil, err
	}
	return c.Submit(ctx, s)
}

func mustOpen(s *record.Signed) *record.Record {
	r, err := s.Open()
	if err != nil {
		panic("client: a record just signed does not open: " + err.Error())
	}
	return r
}

// PayloadFor fetches the payload of the pouch whose proven tag is tag, as
// me: if me stands on the addressee's side of a pouch that asks for access
// (or consent) and has not logged its access yet, it logs it first
// (LogAccess). Open and Fetch use it.
//
// SPEC: spec/evidence.md#access
func (c *Client) PayloadFor(ctx context.Context, me *Identity, tag *letter.SignedTag) ([]byte, error) {
	r, err := c.OpenPayloadFor(ctx, me, tag)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// OpenPayloadFor is PayloadFor streaming the payload (OpenPayload), for
// a payload of any size.
func (c *Client) OpenPayloadFor(ctx context.Context, me *Identity, tag *letter.SignedTag) (io.ReadCloser, error) {
	t := tag.Tag
	side := me.Handle != t.From && !slices.Contains(t.Via, me.Handle)
	if side && t.NeedsAccess() {
		ch, err := c.Chain(ctx, me, tag.PouchID())
		if err != nil {
			return nil, err
		}
		if _, ok := ch.Pouch.AccessedBy(me.Handle); !ok {
			if _, err := c.LogAccess(ctx, me, tag.PouchID()); err != nil && !errors.Is(err, ledger.ErrAccessLogged) {
				return nil, fmt.Errorf("logging access to pouch %s, whose sender asks for it: %w", tag.PouchID().Short(), err)
			}
		}
	}
	return c.OpenPayload(ctx, tag.PouchID(), me)
}

// WaitAccepted waits, at most until ctx is done, for the acceptance of
// pouch, which asks for consent, to be in the log, checking every poll
// (a second if 0); a pouch refused or past its deadline ends the wait.
// It returns the proven chain with the acceptance. A hand-over on a line
// to the addressee's side waits for it.
//
// SPEC: spec/evidence.md#acceptance
func (c *Client) WaitAccepted(ctx context.Context, me *Identity, pouch record.ID, poll time.Duration) (*Chain, error) {
	if poll <= 0 {
		poll = time.Second
	}
	for {
		ch, err := c.Chain(ctx, me, pouch)
		if err != nil {
			return nil, err
		}
		p := ch.Pouch
		if !p.Tag.Consent || p.Accepted != nil {
			return ch, nil
		}
		if e, ok := p.Closed(); ok {
			return ch, fmt.Errorf("%w: pouch %s: its %s is logged at index %d", ledger.ErrClosed, pouch.Short(), e.Kind, e.Pos.Index)
		}
		if p.Overdue(c.now()) {
			return ch, fmt.Errorf("%w: pouch %s passed its deadline unaccepted", ledger.ErrOverdue, pouch.Short())
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ch, fmt.Errorf("pouch %s asks for consent, and %s has not accepted it: %w", pouch.Short(), p.Tag.To, ctx.Err())
		case <-t.C:
		}
	}
}
