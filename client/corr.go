package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"pouch.dev/api"
	"pouch.dev/directory"
	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// A Letter to send.
type Letter struct {
	To       record.Handle
	Via      []record.Handle // the envoys, in order
	Readers  []record.Handle // extra readers the sender chooses
	Sections []letter.Section
	Attach   []letter.Attachment
	// Thread is set by Reply.
	Thread *record.ID
}

// Sent is the outcome of Send.
type Sent struct {
	Pouch    record.ID
	Accepted *api.Accepted
	// Readers are all who can open the letter: the addressee, its receive
	// delegates now, the extra readers and the author.
	Readers []api.ReaderView
	Sealed  *letter.Sealed
	Payload []byte
}

// Plan resolves whom a letter from from would be sealed to now: the
// addressee and its current receive delegates (from the directory), the
// extra readers and the author. It is what a client tells the user before
// sealing.
func (c *Client) Plan(ctx context.Context, from *Identity, l *Letter) ([]api.ReaderView, error) {
	sv, err := c.SealTo(ctx, from.Handle, l.To, l.Thread)
	if err != nil {
		return nil, fmt.Errorf("resolving whom to seal to: %w", err)
	}
	rs := sv.Readers
	for _, h := range l.Readers {
		if slices.ContainsFunc(rs, func(r api.ReaderView) bool { return r.Handle == h }) {
			continue
		}
		p, err := c.Principal(ctx, h, -1)
		if err != nil {
			return nil, fmt.Errorf("reader %s: %w", h, err)
		}
		if p.Current == nil {
			return nil, fmt.Errorf("reader %s has no current key", h)
		}
		rs = append(rs, api.ReaderView{Handle: h, Key: p.Current.Key, Recipient: p.Current.Recipient, Role: "reader"})
	}
	if !slices.ContainsFunc(rs, func(r api.ReaderView) bool { return r.Handle == from.Handle }) {
		rs = append(rs, api.ReaderView{Handle: from.Handle, Key: from.SigningPublic(), Recipient: from.Recipient().String(), Role: "author"})
	}
	return rs, nil
}

// Send seals l from from to the readers Plan resolves (the addressee, its
// current receive delegates, the extra readers and the author) and
// submits the pouch. confirm, if not nil, is shown the readers first and
// may refuse by returning an error.
func (c *Client) Send(ctx context.Context, from *Identity, l *Letter, confirm func([]api.ReaderView) error) (*Sent, error) {
	s, err := c.Seal(ctx, from, l, confirm)
	if err != nil {
		return nil, err
	}
	a, err := c.SubmitPouch(ctx, s.Sealed.Tag.Signed, s.Payload)
	if err != nil {
		return nil, err
	}
	s.Pouch, s.Accepted = a.ID, a
	return s, nil
}

// Seal seals l as Send does, without submitting it: the pouch can travel
// as a .pouch file, or be submitted later with SubmitPouch.
func (c *Client) Seal(ctx context.Context, from *Identity, l *Letter, confirm func([]api.ReaderView) error) (*Sent, error) {
	readers, err := c.Plan(ctx, from, l)
	if err != nil {
		return nil, err
	}
	if confirm != nil {
		if err := confirm(readers); err != nil {
			return nil, err
		}
	}
	req := &letter.SealRequest{Author: from, Via: l.Via, Thread: l.Thread, Sections: l.Sections, Attach: l.Attach,
		Time: c.now().UnixMilli(), Origin: c.Origin}
	for _, r := range readers {
		p := &keys.Public{Handle: r.Handle, Ed25519: r.Key, Age: r.Recipient}
		switch {
		case r.Handle == l.To:
			req.To = p
		case r.Handle != from.Handle:
			req.Readers = append(req.Readers, p)
		}
	}
	var buf bytes.Buffer
	sealed, err := letter.Seal(&buf, req)
	if err != nil {
		return nil, err
	}
	return &Sent{Pouch: sealed.Tag.PouchID(), Readers: readers, Sealed: sealed, Payload: buf.Bytes()}, nil
}

// Tag fetches and verifies a pouch's tag.
func (c *Client) Tag(ctx context.Context, pouch record.ID, as *Identity) (*letter.SignedTag, error) {
	v, err := c.Record(ctx, pouch, as)
	if err != nil {
		return nil, err
	}
	return letter.VerifyTag(v.Signed)
}

// A CustodyOption adds to a custody record that Take or Deliver signs.
type CustodyOption func(*letter.Custody)

// OverLine says the pouch was handed over on the secure line whose call
// record is call (custody's over_line). The call record must be in the
// log first.
//
// SPEC: spec/line.md#custody
func OverLine(call record.ID) CustodyOption {
	return func(cu *letter.Custody) { cu.OverLine = &call }
}

// custody signs and submits a custody record of pouch by me.
func (c *Client) custody(ctx context.Context, me *Identity, pouch record.ID, delivery bool, onBehalf record.Handle, opts []CustodyOption) (*api.Accepted, *api.PouchView, error) {
	pv, err := c.Pouch(ctx, pouch, me)
	if err != nil {
		return nil, nil, err
	}
	if pv.Delivered {
		return nil, pv, fmt.Errorf("pouch %s was already delivered", pouch.Short())
	}
	from := pv.From
	if n := len(pv.Custody); n > 0 {
		from = pv.Custody[n-1].By
	}
	cu := &letter.Custody{Pouch: pouch, From: from, Delivered: delivery, OnBehalf: onBehalf}
	for _, o := range opts {
		o(cu)
	}
	s, err := letter.SignCustody(cu, me.Handle, me.Signing, record.NewSalt(), c.now().UnixMilli(), c.Origin)
	if err != nil {
		return nil, pv, err
	}
	a, err := c.Submit(ctx, s)
	return a, pv, err
}

// Take signs that me, the next envoy on the pouch's route, now holds it.
// onBehalf names the envoy when me carries for it under a carry grant.
func (c *Client) Take(ctx context.Context, me *Identity, pouch record.ID, onBehalf record.Handle, opts ...CustodyOption) (*api.Accepted, error) {
	a, _, err := c.custody(ctx, me, pouch, false, onBehalf, opts)
	return a, err
}

// Deliver signs the pouch's delivery: by its addressee, or by a receive
// delegate on the addressee's behalf.
func (c *Client) Deliver(ctx context.Context, me *Identity, pouch record.ID, opts ...CustodyOption) (*api.Accepted, error) {
	pv, err := c.Pouch(ctx, pouch, me)
	if err != nil {
		return nil, err
	}
	var on record.Handle
	if me.Handle != pv.To {
		on = pv.To
	}
	a, _, err := c.custody(ctx, me, pouch, true, on, opts)
	return a, err
}

// Open fetches a pouch's tag and payload and opens it as me: the payload
// must match the tag, and the letter's signed header must agree with it.
func (c *Client) Open(ctx context.Context, me *Identity, pouch record.ID) (*letter.Opened, *letter.SignedTag, error) {
	tag, err := c.Tag(ctx, pouch, me)
	if err != nil {
		return nil, nil, err
	}
	payload, err := c.Payload(ctx, pouch, me)
	if err != nil {
		return nil, tag, err
	}
	return OpenPayload(me, tag, payload)
}

// OpenPayload opens a pouch's payload held in memory, as me.
func OpenPayload(me *Identity, tag *letter.SignedTag, payload []byte) (*letter.Opened, *letter.SignedTag, error) {
	if err := tag.Tag.CheckPayload(letter.PayloadDigest(payload), uint64(len(payload))); err != nil {
		return nil, tag, err
	}
	o, err := letter.Open(bytes.NewReader(payload), me, nil)
	if err != nil {
		return nil, tag, err
	}
	if err := tag.CheckHeader(o.Header); err != nil {
		return nil, tag, err
	}
	return o, tag, nil
}

// Reply sends a letter back to the sender of pouch, threaded to it, on the
// route l.Via (which may differ from the original's). l.To is set to the
// original sender.
func (c *Client) Reply(ctx context.Context, me *Identity, pouch record.ID, l *Letter, confirm func([]api.ReaderView) error) (*Sent, error) {
	tag, err := c.Tag(ctx, pouch, me)
	if err != nil {
		return nil, err
	}
	l.To = tag.Tag.From
	l.Thread = letter.ReplyThread(tag)
	return c.Send(ctx, me, l, confirm)
}

// Chain is a pouch's verified chain of custody.
type Chain struct {
	Tag     *letter.SignedTag
	Custody []*letter.SignedCustody
	State   *letter.ChainState
	View    *api.PouchView
}

// Chain fetches a pouch's tag and custody records, verifies every
// signature and checks the chain against the route; stand-ins (receive
// and carry delegates) are checked against the grants the directory
// shows to me.
func (c *Client) Chain(ctx context.Context, me *Identity, pouch record.ID) (*Chain, error) {
	tag, err := c.Tag(ctx, pouch, me)
	if err != nil {
		return nil, err
	}
	pv, err := c.Pouch(ctx, pouch, me)
	if err != nil {
		return nil, err
	}
	ch := &Chain{Tag: tag, View: pv}
	for _, h := range pv.Custody {
		v, err := c.Record(ctx, h.ID, me)
		if err != nil {
			return nil, err
		}
		sc, err := letter.VerifyCustody(v.Signed)
		if err != nil {
			return nil, err
		}
		ch.Custody = append(ch.Custody, sc)
	}
	allow := func(q letter.HopQuery) error {
		idx := pv.Custody[q.Index].Index
		at := pv.Custody[q.Index].Time
		// The signer's key held its office when the record was logged.
		p, err := c.Principal(ctx, q.By, int64(idx))
		if err != nil {
			return err
		}
		if p.HeldAt == nil || !bytes.Equal(p.HeldAt.Key, q.Custody.Signed.KeyOf(0)) {
			return fmt.Errorf("the key that signed it did not hold %s at log index %d", q.By, idx)
		}
		if q.By == q.As {
			return nil
		}
		gs, err := c.Grants(ctx, q.By, me)
		if err != nil {
			return err
		}
		for _, g := range gs {
			if g.From != q.As || g.To != q.By || g.Index >= idx {
				continue
			}
			if g.RevokedAt != nil && *g.RevokedAt <= idx {
				continue
			}
			if g.NotAfter != nil && !at.Before(*g.NotAfter) {
				continue
			}
			if g.NotBefore != nil && at.Before(*g.NotBefore) {
				continue
			}
			want := directory.Carry
			if q.As == tag.Tag.To {
				want = directory.Receive
			}
			if slices.Contains(g.Abilities, want) {
				return nil
			}
		}
		return fmt.Errorf("%s holds no grant from %s valid at log index %d", q.By, q.As, idx)
	}
	st, err := letter.CheckChain(tag, ch.Custody, allow)
	if err != nil {
		return nil, err
	}
	ch.State = st
	return ch, nil
}

// IsNotSealedToYou reports whether err says a payload was not sealed to
// the identity that tried to open it.
func IsNotSealedToYou(err error) bool { return errors.Is(err, letter.ErrNotSealedToYou) }
