package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"pouch.dev/api"
	"pouch.dev/keys"
	"pouch.dev/ledger"
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
	// The sender's requests for evidence (spec/evidence.md): a deadline
	// for delivery (zero: none), consent before delivery, and an access
	// record before the addressee's side takes the payload (implied by
	// consent).
	DeliverBy time.Time
	Consent   bool
	Access    bool
}

// Sent is the outcome of Send.
type Sent struct {
	Pouch    record.ID
	Accepted *api.Accepted
	// Plan is whom the letter is sealed to, as the client proved it: the
	// addressee, its receive delegates now, the extra readers and the
	// author; and how many private grants it could not read.
	Plan    *Plan
	Readers []Reader
	Sealed  *letter.Sealed
	// Payload is the sealed payload, but for a letter Send sent whose
	// attachments hold more than SpoolAbove bytes: that one was streamed
	// from a temporary file, and Payload is nil.
	Payload []byte
}

// SpoolAbove is the size of attachments above which Send seals a letter
// into a temporary file (Client.TempDir) and streams it to the server from
// there, so that its memory stays bounded whatever the letter's size.
const SpoolAbove = 8 << 20

// Send seals l from from to the readers the client proves from the log
// (PlanFor: the addressee, its current receive delegates, the extra
// readers and the author) and submits the pouch. confirm, if not nil, is
// shown the plan first and may refuse by returning an error.
//
// The letter's attachments are checked against the server's limit
// (GET /v1/limits) before anything else: a letter the server would
// refuse for its size is refused here, with an *letter.AttachmentsSizeError,
// before any of it is read.
func (c *Client) Send(ctx context.Context, from *Identity, l *Letter, confirm func(*Plan) error) (*Sent, error) {
	var total int64
	for _, a := range l.Attach {
		total += a.Size
	}
	if total <= SpoolAbove {
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
	tmp, err := os.CreateTemp(c.TempDir, "pouch-send-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	s, err := c.seal(ctx, from, l, confirm, tmp)
	if err != nil {
		return nil, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	a, err := c.SubmitPouchFrom(ctx, s.Sealed.Tag.Signed, tmp, s.Sealed.Tag.Tag.Size)
	if err != nil {
		return nil, err
	}
	s.Pouch, s.Accepted = a.ID, a
	return s, nil
}

// CheckSize checks the attachments of l against the limits: the protocol's
// (record.MaxAttachmentsSize) and, for a letter with attachments, the
// server's (GET /v1/limits; a server too old to say is taken at the
// protocol's word). It reads none of them. Errors are
// *letter.AttachmentsSizeError (record.ErrTooLarge) or the server's.
//
// SPEC: spec/letter.md#limits
func (c *Client) CheckSize(ctx context.Context, l *Letter) error {
	if err := letter.CheckAttachments(l.Attach, record.MaxAttachmentsSize); err != nil || len(l.Attach) == 0 {
		return err
	}
	lim, err := c.Limits(ctx)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("asking the server how large a letter it accepts: %w", err)
	}
	return letter.CheckAttachments(l.Attach, lim.MaxAttachments)
}

// Seal seals l as Send does, without submitting it: the pouch can travel
// as a .pouch file, or be submitted later with SubmitPouch. The payload is
// held in memory (Sent.Payload).
func (c *Client) Seal(ctx context.Context, from *Identity, l *Letter, confirm func(*Plan) error) (*Sent, error) {
	var buf bytes.Buffer
	s, err := c.seal(ctx, from, l, confirm, &buf)
	if err != nil {
		return nil, err
	}
	s.Payload = buf.Bytes()
	return s, nil
}

// seal checks l's size, proves whom to seal it to, and seals its payload
// to w.
func (c *Client) seal(ctx context.Context, from *Identity, l *Letter, confirm func(*Plan) error, w io.Writer) (*Sent, error) {
	if err := c.CheckSize(ctx, l); err != nil {
		return nil, err
	}
	plan, err := c.PlanFor(ctx, from, l)
	if err != nil {
		return nil, err
	}
	if confirm != nil {
		if err := confirm(plan); err != nil {
			return nil, err
		}
	}
	req := &letter.SealRequest{Author: from, Via: l.Via, Thread: l.Thread, Sections: l.Sections, Attach: l.Attach,
		Time: c.now().UnixMilli(), Origin: c.Origin, Consent: l.Consent, Access: l.Access}
	if !l.DeliverBy.IsZero() {
		req.DeliverBy = l.DeliverBy.UnixMilli()
	}
	for _, r := range plan.Readers {
		p := &keys.Public{Handle: r.Handle, Ed25519: r.Key, Age: r.Recipient}
		switch {
		case r.Handle == l.To:
			req.To = p
		case r.Handle != from.Handle:
			req.Readers = append(req.Readers, p)
		}
	}
	sealed, err := letter.Seal(w, req)
	if err != nil {
		return nil, err
	}
	return &Sent{Pouch: sealed.Tag.PouchID(), Plan: plan, Readers: plan.Readers, Sealed: sealed}, nil
}

// Tag fetches and verifies a pouch's tag: its bytes, its signature, its
// leaf in the log, and its signer's key at its place (ProvenTag).
func (c *Client) Tag(ctx context.Context, pouch record.ID, as *Identity) (*letter.SignedTag, error) {
	st, _, err := c.ProvenTag(ctx, pouch, as)
	return st, err
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

// custody proves the pouch's chain as me (Chain), checks with the proven
// directory that me may take it next, and only then signs and submits a
// custody record naming the holder the chain proves.
func (c *Client) custody(ctx context.Context, me *Identity, pouch record.ID, delivery bool, onBehalf record.Handle, opts []CustodyOption) (*api.Accepted, *Chain, error) {
	ch, err := c.Chain(ctx, me, pouch)
	if err != nil {
		return nil, nil, err
	}
	p := ch.Pouch
	if p.Delivered() {
		return nil, ch, fmt.Errorf("pouch %s was already delivered", pouch.Short())
	}
	if as, d := p.Next(); d != delivery {
		if delivery {
			return nil, ch, fmt.Errorf("pouch %s cannot be delivered yet: %s carries it next", pouch.Short(), as)
		}
		return nil, ch, fmt.Errorf("pouch %s awaits its delivery to %s, not an envoy's custody (pouch deliver)", pouch.Short(), as)
	}
	cu := &letter.Custody{Pouch: pouch, From: p.Holder(), Delivered: delivery, OnBehalf: onBehalf}
	for _, o := range opts {
		o(cu)
	}
	s, err := letter.SignCustody(cu, me.Handle, me.Signing, record.NewSalt(), c.now().UnixMilli(), c.Origin)
	if err != nil {
		return nil, ch, err
	}
	// The rules, as far as this client can prove them now (the server
	// judges them again at the record's time of sequencing): a principal
	// the proven directory does not let take the pouch signs nothing,
	// unless a private grant it cannot read may be what it stands on.
	v := ch.View
	if _, err := ledger.MayTakeNext(v.Directory(), p, me.Handle, v.Now(c.now())); err != nil && v.Opaque(v.Size()) == 0 {
		return nil, ch, err
	}
	a, err := c.Submit(ctx, s)
	return a, ch, err
}

// Take signs that me, the next envoy on the pouch's route, now holds it.
// onBehalf names the envoy when me carries for it under a carry grant. The
// chain is proven first; nothing is signed if it does not prove.
func (c *Client) Take(ctx context.Context, me *Identity, pouch record.ID, onBehalf record.Handle, opts ...CustodyOption) (*api.Accepted, error) {
	a, _, err := c.custody(ctx, me, pouch, false, onBehalf, opts)
	return a, err
}

// Deliver signs the pouch's delivery: by its addressee, or by a receive
// delegate on the addressee's behalf. The chain is proven first; nothing
// is signed if it does not prove.
func (c *Client) Deliver(ctx context.Context, me *Identity, pouch record.ID, opts ...CustodyOption) (*api.Accepted, error) {
	st, _, err := c.ProvenTag(ctx, pouch, me)
	if err != nil {
		return nil, err
	}
	var on record.Handle
	if me.Handle != st.Tag.To {
		on = st.Tag.To
	}
	a, _, err := c.custody(ctx, me, pouch, true, on, opts)
	return a, err
}

// Open fetches a pouch's tag and payload and opens it as me: the tag is
// proven in the log and its signer's key held the author's office then
// (ProvenTag), the payload is the one the tag names (a server handing
// over another pouch's payload is caught here), and the letter's signed
// header must agree with the tag.
func (c *Client) Open(ctx context.Context, me *Identity, pouch record.ID) (*letter.Opened, *letter.SignedTag, error) {
	tag, err := c.Tag(ctx, pouch, me)
	if err != nil {
		return nil, nil, err
	}
	payload, err := c.PayloadFor(ctx, me, tag)
	if err != nil {
		return nil, tag, err
	}
	return OpenPayload(me, tag, payload)
}

// OpenPayload opens a pouch's payload held in memory, as me.
func OpenPayload(me *Identity, tag *letter.SignedTag, payload []byte) (*letter.Opened, *letter.SignedTag, error) {
	if err := tag.Tag.CheckPayload(letter.PayloadDigest(payload), uint64(len(payload))); err != nil {
		return nil, tag, fmt.Errorf("%w: %w", ErrMismatch, err)
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
func (c *Client) Reply(ctx context.Context, me *Identity, pouch record.ID, l *Letter, confirm func(*Plan) error) (*Sent, error) {
	tag, err := c.Tag(ctx, pouch, me)
	if err != nil {
		return nil, err
	}
	l.To = tag.Tag.From
	l.Thread = letter.ReplyThread(tag)
	return c.Send(ctx, me, l, confirm)
}
