package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"pouch.dev/api"
	"pouch.dev/directory"
	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/line"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// A Proven record is one the log holds: its leaf, with the record's kind,
// ID, time of sequencing and privacy, is at Index in the tree of the
// View's checkpoint of size Size. The time is the leaf's, which the proof
// proves, never the server's JSON.
type Proven struct {
	record.Leaf
	Index uint64
	Size  uint64
}

// Pos returns the record's place for the rules.
func (p *Proven) Pos() ledger.Pos { return ledger.Pos{Index: p.Index, Time: p.Sequenced()} }

// Prove proves that the log holds record id of kind kind, against the
// checkpoint of the client's View (caught up first if the record is newer),
// and returns its leaf. The inclusion proof is fetched from the server
// and checked here; a proof for another leaf is ErrMismatch, one that does
// not verify tlog.ErrBadProof.
//
// SPEC: spec/api.md#proofs
func (c *Client) Prove(ctx context.Context, id record.ID, kind record.Kind, as *Identity) (*Proven, error) {
	v, err := c.currentView(ctx, as)
	if err != nil {
		return nil, err
	}
	p, err := c.proveIn(ctx, v, id, kind)
	if errors.Is(err, ErrNotInView) {
		// A record newer than the View: have the server wait for a
		// checkpoint that covers it, and catch up once.
		var inc api.InclusionProof
		c.do(ctx, "GET", "/v1/log/proof/inclusion?"+url.Values{"id": {id.String()}, "wait": {"1"}}.Encode(), nil, "", nil, &inc)
		if v, err = c.View(ctx, as); err != nil {
			return nil, err
		}
		p, err = c.proveIn(ctx, v, id, kind)
	}
	return p, err
}

// ErrNotInView: a record is not (yet) in the tree of the client's View.
var ErrNotInView = errors.New("record not in the tree the client holds")

func (c *Client) proveIn(ctx context.Context, v *View, id record.ID, kind record.Kind) (*Proven, error) {
	_, cp := v.Checkpoint()
	if cp == nil || cp.Size == 0 {
		return nil, ErrNotInView
	}
	q := url.Values{"id": {id.String()}, "size": {fmt.Sprint(cp.Size)}}
	var inc api.InclusionProof
	if err := c.do(ctx, "GET", "/v1/log/proof/inclusion?"+q.Encode(), nil, "", nil, &inc); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == 404 {
			return nil, fmt.Errorf("%w: %s record %s: %v", ErrNotInView, kind, id.Short(), err)
		}
		return nil, fmt.Errorf("proving %s record %s: %w", kind, id.Short(), err)
	}
	l, err := record.ParseLeaf(inc.Leaf)
	if err != nil {
		return nil, fmt.Errorf("%w: the proof of %s record %s: %v", ErrMismatch, kind, id.Short(), err)
	}
	if l.ID != id || l.Kind != kind || inc.Size != cp.Size {
		return nil, fmt.Errorf("%w: asked to prove %s record %s in the tree of %d, the server proved %s record %s in the tree of %d",
			ErrMismatch, kind, id.Short(), cp.Size, l.Kind, l.ID.Short(), inc.Size)
	}
	if err := tlog.VerifyInclusion(cp, inc.Index, inc.Leaf, inc.Proof); err != nil {
		return nil, fmt.Errorf("%s record %s: %w", kind, id.Short(), err)
	}
	return &Proven{Leaf: l, Index: inc.Index, Size: cp.Size}, nil
}

// currentView returns the View this client caught up with during this
// process, or catches up.
func (c *Client) currentView(ctx context.Context, as *Identity) (*View, error) {
	c.viewMu.Lock()
	v := c.view
	c.viewMu.Unlock()
	if v != nil && (as == nil || v.asOf[as.Handle] >= v.Size()) {
		return v, nil
	}
	return c.View(ctx, as)
}

// fetchRecord fetches record id as as and checks that its bytes are the
// record: they hash to id.
func (c *Client) fetchRecord(ctx context.Context, id record.ID, as *Identity) (*record.Signed, *record.Record, error) {
	rv, err := c.Record(ctx, id, as)
	if err != nil {
		return nil, nil, err
	}
	s, r, err := record.Verify(rv.Signed)
	if err != nil {
		return nil, nil, err
	}
	return s, r, nil
}

// ProvenTag fetches the tag of pouch as as, checks it (its bytes hash to
// the pouch's ID, its signature), proves its leaf, and checks it against
// the rules at its place with the proven directory: its signer's key held
// its office then.
func (c *Client) ProvenTag(ctx context.Context, pouch record.ID, as *Identity) (*letter.SignedTag, *Proven, error) {
	s, _, err := c.fetchRecord(ctx, pouch, as)
	if err != nil {
		return nil, nil, err
	}
	st, err := letter.VerifyTag(s.Marshal())
	if err != nil {
		return nil, nil, fmt.Errorf("%w: pouch %s: %v", ErrMismatch, pouch.Short(), err)
	}
	p, err := c.Prove(ctx, pouch, record.KindTag, as)
	if err != nil {
		return nil, nil, err
	}
	v, err := c.currentView(ctx, as)
	if err != nil {
		return nil, nil, err
	}
	known := func(id record.ID) bool { _, err := c.Prove(ctx, id, record.KindTag, as); return err == nil }
	if err := ledger.CheckTag(v.Directory(), st, p.Pos(), known); err != nil {
		return nil, nil, fmt.Errorf("%w: the tag of pouch %s: %w", ErrRulesBroken, pouch.Short(), err)
	}
	return st, p, nil
}

// A Chain is a pouch's chain of custody as the verifying client proved
// it: the tag and every custody record the server showed, each proven in
// the log and replayed through the custody rule (package ledger) at its
// place, with the directory the client proved.
type Chain struct {
	Tag   *letter.SignedTag
	TagAt *Proven
	// Pouch is the rules' view of the pouch after the chain: its custody
	// steps, who holds it, what it awaits.
	Pouch *ledger.Pouch
	Steps []Step
	// Events are the pouch's other events the server listed, each proven
	// and replayed through its rule (ledger.CheckEvent) at its place, in
	// log order among the custody records.
	Events []EventStep
	View   *View
}

// An EventStep is one pouch event of a chain: an acceptance, a refusal,
// an access or a non-delivery.
type EventStep struct {
	Event *letter.Event
	At    *Proven
	Done  ledger.Event
	// Unproven, if not empty, says what of this event the client could
	// not check (a delegate's standing on a private grant it may not
	// read).
	Unproven string
}

// A Step is one custody record of a chain.
type Step struct {
	Custody *letter.SignedCustody
	At      *Proven
	Hop     ledger.Hop
	// Unproven, if not empty, says what of this step the client could
	// not check, and why (a stand-in's private grant it may not read, a
	// call record it is not a party to). Everything else was checked.
	Unproven string
}

// Delivered reports whether the chain ends with the pouch's delivery.
func (ch *Chain) Delivered() bool { return ch.Pouch.Delivered() }

// Unproven reports whether any step or event holds something unchecked.
func (ch *Chain) Unproven() bool {
	for _, s := range ch.Steps {
		if s.Unproven != "" {
			return true
		}
	}
	for _, e := range ch.Events {
		if e.Unproven != "" {
			return true
		}
	}
	return false
}

// Chain fetches a pouch's tag and custody records as me and proves them:
// each record's bytes, signatures and leaf in the log, and the chain
// against the custody rule at each record's place and time of sequencing,
// with the directory (keys, grants with their scope and windows) the
// client proved. The server's list of the pouch's custody records is a
// claim: a record of another pouch in it, or records out of the log's
// order, are ErrMismatch; one the log does not hold, ErrNotInView; a
// record received from another holder than the list's last, ErrWithheld. Where the log cannot prove a step to me (the stand-in's
// grant is private to others), the step says so in Unproven; anything the
// rules refuse is ErrRulesBroken.
//
// SPEC: spec/api.md#verifying-client
func (c *Client) Chain(ctx context.Context, me *Identity, pouch record.ID) (*Chain, error) {
	st, at, err := c.ProvenTag(ctx, pouch, me)
	if err != nil {
		return nil, err
	}
	pv, err := c.Pouch(ctx, pouch, me)
	if err != nil {
		return nil, err
	}
	v, err := c.currentView(ctx, me)
	if err != nil {
		return nil, err
	}
	ch := &Chain{Tag: st, TagAt: at, Pouch: ledger.NewPouch(st, at.Pos()), View: v}
	// The server's list is a claim: every record in it must be a custody
	// record of this pouch, in the log, listed in the log's order. Only
	// then are the records judged by the rules, so that a list the server
	// made up is named as such, not as a record the log holds against
	// the rules.
	type listed struct {
		sc *letter.SignedCustody
		ev *letter.Event
		at *Proven
	}
	var list []listed
	for _, h := range pv.Custody {
		s, _, err := c.fetchRecord(ctx, h.ID, me)
		if err != nil {
			return nil, err
		}
		sc, err := letter.VerifyCustody(s.Marshal())
		if err != nil {
			return nil, fmt.Errorf("%w: custody record %s: %v", ErrMismatch, h.ID.Short(), err)
		}
		if sc.Custody.Pouch != pouch {
			return nil, fmt.Errorf("%w: the server lists custody record %s of pouch %s as custody of pouch %s",
				ErrMismatch, h.ID.Short(), sc.Custody.Pouch.Short(), pouch.Short())
		}
		p, err := c.Prove(ctx, h.ID, record.KindCustody, me)
		if err != nil {
			return nil, err
		}
		if p.Index <= at.Index || (len(list) > 0 && p.Index <= list[len(list)-1].at.Index) {
			return nil, fmt.Errorf("%w: the server lists custody record %s, at index %d, out of the chain's order", ErrMismatch, h.ID.Short(), p.Index)
		}
		list = append(list, listed{sc: sc, at: p})
	}
	// The pouch's other events, proven the same way, then put in the log's
	// order among the custody records.
	for _, h := range pv.Events {
		s, _, err := c.fetchRecord(ctx, h.ID, me)
		if err != nil {
			return nil, err
		}
		ev, err := letter.VerifyEvent(s.Marshal())
		if err != nil || ev.Kind() != h.Kind {
			return nil, fmt.Errorf("%w: %s record %s: %v", ErrMismatch, h.Kind, h.ID.Short(), err)
		}
		if ev.Pouch() != pouch {
			return nil, fmt.Errorf("%w: the server lists %s record %s of pouch %s as an event of pouch %s",
				ErrMismatch, ev.Kind(), h.ID.Short(), ev.Pouch().Short(), pouch.Short())
		}
		p, err := c.Prove(ctx, h.ID, ev.Kind(), me)
		if err != nil {
			return nil, err
		}
		if p.Index <= at.Index {
			return nil, fmt.Errorf("%w: the server lists %s record %s, at index %d, before its pouch's tag", ErrMismatch, ev.Kind(), h.ID.Short(), p.Index)
		}
		list = append(list, listed{ev: ev, at: p})
	}
	// Proving may have caught the View up: the rules are judged with the
	// directory that holds every record proven.
	if v, err = c.currentView(ctx, me); err != nil {
		return nil, err
	}
	ch.View = v
	slices.SortStableFunc(list, func(a, b listed) int { return cmpIndex(a.at.Index, b.at.Index) })
	for i := 1; i < len(list); i++ {
		if list[i].at.Index == list[i-1].at.Index {
			return nil, fmt.Errorf("%w: the server lists record %s twice", ErrMismatch, list[i].at.ID.Short())
		}
	}
	for _, l := range list {
		if l.ev != nil {
			step, err := c.checkEvent(v, ch.Pouch, l.ev, l.at)
			if err != nil {
				return nil, err
			}
			ch.Pouch.Apply(step.Done)
			ch.Events = append(ch.Events, step)
			continue
		}
		// Every custody record names the holder it received the pouch
		// from, which the rules check before the log sequences it: one
		// that names another than the list's last holder means records
		// left out of the list.
		if from, holder := l.sc.Custody.From, ch.Pouch.Holder(); from != holder {
			return nil, fmt.Errorf("%w: custody record %s, at index %d, says it received pouch %s from %s, but in the custody the server lists %s holds it then: the server left custody records out (or the log holds one the rules refuse)",
				ErrWithheld, l.sc.Signed.ID().Short(), l.at.Index, pouch.Short(), from, holder)
		}
		step, err := c.checkStep(ctx, v, ch.Pouch, l.sc, l.at, me)
		if err != nil {
			return nil, err
		}
		ch.Pouch.Accept(l.sc.Signed.ID(), l.at.Pos(), step.Hop)
		ch.Steps = append(ch.Steps, step)
	}
	return ch, nil
}

// checkEvent checks one pouch event of a chain at its proven place. A
// delegate's standing that rests on a private grant this client cannot
// read is reported as not checked, as for custody.
func (c *Client) checkEvent(v *View, p *ledger.Pouch, ev *letter.Event, at *Proven) (EventStep, error) {
	step := EventStep{Event: ev, At: at}
	done, err := ledger.CheckEvent(v.Directory(), p, ev, at.Pos())
	if err == nil {
		step.Done = done
		return step, nil
	}
	var ge *directory.GrantError
	standIn := ev.OnBehalf() != "" && ev.OnBehalf() == p.Tag.To
	if standIn && (errors.Is(err, ledger.ErrNotAddressee) || errors.As(err, &ge)) && v.Opaque(at.Index) > 0 {
		// Checked as if signed by the addressee, the rest of the rule.
		if kerr := v.Directory().Check(ev.Signed, ev.Record, at.Pos()); kerr != nil {
			return step, fmt.Errorf("%w: %s record %s: %w", ErrRulesBroken, ev.Kind(), ev.ID().Short(), kerr)
		}
		step.Done = ledger.Event{ID: ev.ID(), Kind: ev.Kind(), Pos: at.Pos(), By: ev.By()}
		if ev.Refusal != nil {
			step.Done.Reason = string(ev.Refusal.Reason)
		}
		step.Unproven = fmt.Sprintf("%s's standing for %s (no grant this client can read allows it; the log holds %d private grants it cannot read)",
			ev.By(), ev.OnBehalf(), v.Opaque(at.Index))
		return step, nil
	}
	return step, fmt.Errorf("%w: %s record %s at index %d: %w", ErrRulesBroken, ev.Kind(), ev.ID().Short(), at.Index, err)
}

// checkStep checks one custody record of a chain at its proven place.
func (c *Client) checkStep(ctx context.Context, v *View, p *ledger.Pouch, sc *letter.SignedCustody, at *Proven, me *Identity) (Step, error) {
	step := Step{Custody: sc, At: at}
	var cited *ledger.Cited
	if ol := sc.Custody.OverLine; ol != nil {
		call, err := c.citedCall(ctx, *ol, me)
		switch {
		case errors.Is(err, ErrForbidden), errors.Is(err, ErrUnauthorised):
			// The call record is private to the line's two ends: check
			// the rest, and say so.
			step.Unproven = fmt.Sprintf("the hand-over on line %s (its call record is private to the line's ends)", ol.Short())
			cp := *sc
			cu := *sc.Custody
			cu.OverLine = nil
			cp.Custody = &cu
			sc = &cp
		case err != nil:
			return step, err
		default:
			cited = call
		}
	}
	hop, err := ledger.CheckCustody(v.Directory(), p, sc, at.Pos(), cited)
	if err == nil {
		step.Hop = hop
		step.Custody = sc
		return step, nil
	}
	// A stand-in the proven directory does not let through: if the log
	// holds private grants this client cannot read from before the step,
	// one of them may be what it stood on. Check the route alone, and say
	// what could not be checked.
	var ge *directory.GrantError
	standIn := sc.Holder() != sc.Custody.OnBehalf && sc.Custody.OnBehalf != ""
	if standIn && (errors.Is(err, directory.ErrNotOnRoute) || errors.As(err, &ge)) && v.Opaque(at.Index) > 0 {
		hop, rerr := ledger.CheckRoute(p, sc)
		if rerr != nil {
			return step, fmt.Errorf("%w: custody record %s: %w", ErrRulesBroken, sc.Signed.ID().Short(), rerr)
		}
		if kerr := v.Directory().Check(sc.Signed, sc.Record, at.Pos()); kerr != nil {
			return step, fmt.Errorf("%w: custody record %s: %w", ErrRulesBroken, sc.Signed.ID().Short(), kerr)
		}
		step.Hop = hop
		if step.Unproven != "" {
			step.Unproven += "; "
		}
		step.Unproven += fmt.Sprintf("%s's standing for %s (no grant this client can read allows it; the log holds %d private grants it cannot read)",
			sc.Holder(), sc.Custody.OnBehalf, v.Opaque(at.Index))
		return step, nil
	}
	if errors.Is(err, ledger.ErrConsent) {
		// A delivery the rules hold back for an acceptance the server did
		// not list: the server left it out (or the log holds a delivery
		// the rules refuse).
		return step, fmt.Errorf("%w: custody record %s, at index %d, delivers pouch %s, which asks for consent, and the server lists no acceptance before it: the server left it out (or the log holds a record the rules refuse): %w",
			ErrWithheld, sc.Signed.ID().Short(), at.Index, p.ID.Short(), err)
	}
	return step, fmt.Errorf("%w: custody record %s at index %d: %w", ErrRulesBroken, sc.Signed.ID().Short(), at.Index, err)
}

// citedCall fetches and proves the call record a custody record cites.
func (c *Client) citedCall(ctx context.Context, id record.ID, me *Identity) (*ledger.Cited, error) {
	s, r, err := c.fetchRecord(ctx, id, me)
	if err != nil {
		return nil, err
	}
	p, err := c.Prove(ctx, id, r.Kind, me)
	if err != nil {
		return nil, err
	}
	ct := &ledger.Cited{ID: id, Kind: r.Kind, Pos: p.Pos()}
	if r.Kind == record.KindLine {
		ct.Call, _ = line.CheckCall(s, r)
	}
	return ct, nil
}

// A Reader is one principal a letter is sealed to, as the client proved
// it from the log: its key and age recipient from its admit record, and
// for a delegate the receive grant that makes it one.
type Reader struct {
	Handle    record.Handle
	Key       ed25519.PublicKey
	Recipient string
	Role      string // "addressee", "delegate", "reader" or "author"
	Grant     *directory.GrantEntry
}

// A Plan is whom a letter will be sealed to, proven from the log, and
// what the client could not prove.
type Plan struct {
	Readers []Reader
	// Unreadable counts the private grants in the log this client cannot
	// read: delegates under them, if any, are not sealed to.
	Unreadable int
	View       *View
}

// PlanFor resolves whom a letter from from would be sealed to now, from
// the client's proven directory: the addressee and its current receive
// delegates for that sender and thread (spec/directory.md#seal-to), the
// extra readers and the author. The server's own answer (GET
// /v1/directory/seal) is never used.
func (c *Client) PlanFor(ctx context.Context, from *Identity, l *Letter) (*Plan, error) {
	v, err := c.View(ctx, from)
	if err != nil {
		return nil, err
	}
	d := v.Directory()
	pos := v.Now(c.now())
	var ids []record.ID
	if l.Thread != nil {
		ids = append(ids, *l.Thread)
	}
	rs, err := d.SealTo(l.To, from.Handle, ids, pos)
	if err != nil {
		return nil, err
	}
	for _, h := range l.Via {
		if _, err := d.KeyAt(h, pos.Index); err != nil {
			return nil, fmt.Errorf("envoy: %w", err)
		}
	}
	plan := &Plan{Unreadable: v.Opaque(pos.Index), View: v}
	for _, r := range rs {
		plan.Readers = append(plan.Readers, Reader{Handle: r.Handle, Key: ed25519.PublicKey(r.Key.Key), Recipient: r.Recipient, Role: r.Role, Grant: r.Grant})
	}
	for _, h := range l.Readers {
		if slices.ContainsFunc(plan.Readers, func(r Reader) bool { return r.Handle == h }) {
			continue
		}
		k, err := d.KeyAt(h, pos.Index)
		if err != nil {
			return nil, fmt.Errorf("reader: %w", err)
		}
		plan.Readers = append(plan.Readers, Reader{Handle: h, Key: ed25519.PublicKey(k.Key), Recipient: k.Recipient, Role: "reader"})
	}
	if !slices.ContainsFunc(plan.Readers, func(r Reader) bool { return r.Handle == from.Handle }) {
		k, err := d.KeyAt(from.Handle, pos.Index)
		if err != nil {
			return nil, fmt.Errorf("author: %w", err)
		}
		if !ed25519.PublicKey(k.Key).Equal(from.SigningPublic()) {
			return nil, fmt.Errorf("author: your key is not the key the log holds for %s", from.Handle)
		}
		plan.Readers = append(plan.Readers, Reader{Handle: from.Handle, Key: from.SigningPublic(), Recipient: k.Recipient, Role: "author"})
	}
	return plan, nil
}

// LineDirectory returns the secure line's directory as the client proved
// it: the peer's certificate key must be the one the log holds for its
// office now, never the server's word.
func (c *Client) LineDirectory(as *Identity) line.Directory { return lineDir{c, as} }

type lineDir struct {
	c  *Client
	as *Identity
}

func (d lineDir) CurrentKey(ctx context.Context, h record.Handle) (ed25519.PublicKey, error) {
	v, err := d.c.View(ctx, d.as)
	if err != nil {
		return nil, err
	}
	e, err := v.Directory().KeyAt(h, v.Size())
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(e.Key), nil
}

// Witnessing says, for people, what the View's checkpoint proves against
// a split view: the witnesses that cosigned it and how fresh it is, or
// that no witness was required.
func (v *View) Witnessing(now time.Time) string {
	_, cp := v.Checkpoint()
	if cp == nil || !cp.Witnessed {
		return "no witness was required (split views undetectable)"
	}
	return fmt.Sprintf("checkpoint of %d cosigned by %v, fresh as of %s ago", cp.Size, cp.Cosigners, now.Sub(cp.FreshAsOf).Round(time.Second))
}
