package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"pouch.dev/api"
	"pouch.dev/directory"
	"pouch.dev/evidence"
	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/line"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// Evidence that travels (spec/evidence.md#evidence-bundle): Evidence
// builds the evidence bundle of a pouch from what the client proved, and
// VerifyEvidence checks one with no network, given the log's verifier.

// A Built bundle: its bytes, and what verifying them proved.
type Built struct {
	Bundle   []byte
	Verified *VerifiedEvidence
}

// Evidence builds the evidence bundle of the pouch that id names — the
// pouch itself (its tag), or one of its events (a custody, acceptance,
// refusal, access or non-delivery record) — as me, or as the public if me
// is nil. It carries every event of the pouch that me may read, proven
// (Chain), or, for someone who may not read the pouch (the public), the
// event id alone, which must be public (published); with each, the
// publish record that made it public if any, the directory records their
// signatures rest on and the call records custody cites; every record's
// inclusion proof in the tree of the View's checkpoint; and for each
// event the log's cosigned checkpoints just before and after it, each
// with its consistency proof to that checkpoint. What Evidence returns
// was verified by VerifyEvidence.
//
// SPEC: spec/evidence.md#evidence-bundle
func (c *Client) Evidence(ctx context.Context, me *Identity, id record.ID) (*Built, error) {
	// The View first: it anchors the client on the log its requests are
	// signed for.
	if _, err := c.currentView(ctx, me); err != nil {
		return nil, err
	}
	s, r, err := c.fetchRecord(ctx, id, me)
	if err != nil {
		return nil, err
	}
	pouch, err := pouchOf(s, r)
	if err != nil {
		return nil, err
	}
	type item struct {
		s    *record.Signed
		kind record.Kind
	}
	var events []item
	var offices []record.Handle
	var grants []*directory.GrantEntry
	var calls []record.ID
	var ch *Chain
	if me != nil {
		ch, err = c.Chain(ctx, me, pouch)
		if err != nil && id == pouch {
			return nil, err
		}
		if errors.Is(err, ErrForbidden) || errors.Is(err, ErrUnauthorised) {
			ch, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	if ch != nil {
		t := ch.Tag.Tag
		events = append(events, item{ch.Tag.Signed, record.KindTag})
		offices = append(offices, t.From, t.To)
		offices = append(offices, t.Via...)
		if _, ok := t.Deadline(); ok {
			// A deadline rests on the deployment's evidence office.
			offices = append(offices, directory.EvidenceHandle)
		}
		for _, st := range ch.Steps {
			events = append(events, item{st.Custody.Signed, record.KindCustody})
			offices = append(offices, st.Custody.Holder())
			if g := st.Hop.Grant; g != nil {
				grants = append(grants, g)
			}
			if ol := st.Custody.Custody.OverLine; ol != nil && st.Unproven == "" {
				calls = append(calls, *ol)
			}
		}
		for _, e := range ch.Events {
			events = append(events, item{e.Event.Signed, e.Event.Kind()})
			offices = append(offices, e.Event.By())
			if g := e.Done.Grant; g != nil {
				grants = append(grants, g)
			}
		}
	} else {
		if r.Kind == record.KindTag {
			return nil, fmt.Errorf("%w: the evidence of pouch %s is for its parties: sign the request as one (or name one of its published records)", ErrForbidden, pouch.Short())
		}
		events = append(events, item{s, r.Kind})
		offices = append(offices, r.By...)
	}
	// The publish records that made events public.
	var pubs []item
	for _, e := range events {
		rv, err := c.Record(ctx, e.s.ID(), me)
		if err != nil {
			return nil, err
		}
		if rv.PublishedBy == nil {
			continue
		}
		ps, pr, err := c.fetchRecord(ctx, *rv.PublishedBy, nil)
		if err != nil {
			return nil, err
		}
		if b, err := ledger.ParsePublish(pr); err != nil || b.Record != e.s.ID() {
			return nil, fmt.Errorf("%w: the server names record %s as the publish record of %s", ErrMismatch, rv.PublishedBy.Short(), e.s.ID().Short())
		}
		pubs = append(pubs, item{ps, record.KindPublish})
		offices = append(offices, pr.By...)
	}
	events = append(events, pubs...)

	// Every record, proven in the tree of the View's checkpoint (caught up
	// by the proofs above).
	v, err := c.currentView(ctx, me)
	if err != nil {
		return nil, err
	}
	note, cp := v.Checkpoint()
	type proven struct {
		s     *record.Signed
		kind  record.Kind
		inc   *api.InclusionProof
		event bool
	}
	var all []proven
	add := func(s *record.Signed, kind record.Kind, event bool) error {
		inc, err := c.inclusion(ctx, cp, s.ID(), kind)
		if err != nil {
			return err
		}
		all = append(all, proven{s, kind, inc, event})
		return nil
	}
	for _, e := range events {
		if err := add(e.s, e.kind, true); err != nil {
			return nil, err
		}
	}
	for _, id := range calls {
		s, r, err := c.fetchRecord(ctx, id, me)
		if err != nil {
			return nil, fmt.Errorf("the call record %s: %w", id.Short(), err)
		}
		if err := add(s, r.Kind, false); err != nil {
			return nil, err
		}
	}
	recs, err := directoryRecords(v, offices, grants)
	if err != nil {
		return nil, err
	}
	for _, pr := range recs {
		s, r, err := record.Parse(pr.Signed)
		if err != nil {
			return nil, err
		}
		if err := add(s, r.Kind, false); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(all, func(a, b proven) int { return cmpIndex(a.inc.Index, b.inc.Index) })
	bd := &evidence.Bundle{Pouch: pouch, Records: [][]byte{}, Proofs: [][]byte{}, Bounds: []evidence.Bound{}}
	for _, p := range all {
		bd.Records = append(bd.Records, p.s.Marshal())
		bd.Proofs = append(bd.Proofs, (&tlog.Proof{Index: p.inc.Index, Hashes: p.inc.Proof, Checkpoint: note, Extra: p.inc.Leaf}).Marshal())
		if p.event {
			bo, err := c.bound(ctx, v, cp, p.inc.Index)
			if err != nil {
				return nil, err
			}
			bd.Bounds = append(bd.Bounds, *bo)
		}
	}
	if len(bd.Records) > record.MaxBundleRecords || len(bd.Bounds) > record.MaxBundleTimes {
		return nil, fmt.Errorf("the evidence of pouch %s is %d records and %d events, more than a bundle carries: %w", pouch.Short(), len(bd.Records), len(bd.Bounds), record.ErrTooLarge)
	}
	b, err := bd.Marshal()
	if err != nil {
		return nil, err
	}
	ve, err := VerifyEvidence(b, v.Verifier(), c.Trust.maxSkew())
	if err != nil {
		return nil, fmt.Errorf("the evidence bundle built for pouch %s does not verify: %w", pouch.Short(), err)
	}
	return &Built{Bundle: b, Verified: ve}, nil
}

// pouchOf returns the pouch a tag, custody or event record is of.
func pouchOf(s *record.Signed, r *record.Record) (record.ID, error) {
	switch {
	case r.Kind == record.KindTag:
		return s.ID(), nil
	case r.Kind == record.KindCustody:
		sc, err := letter.VerifyCustody(s.Marshal())
		if err != nil {
			return record.ID{}, err
		}
		return sc.Custody.Pouch, nil
	case letter.IsEventKind(r.Kind):
		ev, err := letter.EventOf(s, r)
		if err != nil {
			return record.ID{}, err
		}
		return ev.Pouch(), nil
	}
	return record.ID{}, fmt.Errorf("record %s is a %s record: name a pouch, or one of its custody, acceptance, refusal, access or non-delivery records", s.ID().Short(), r.Kind)
}

// bound returns the bound of the event at index: the log's last
// checkpoint without it and its first with it, as the server serves them
// (GET /v1/log/checkpoints?around=I), each kept only if it verifies with
// the View's verifier (signature and quorum) and is consistent with cp;
// without a first checkpoint that does, cp itself bounds the event.
func (c *Client) bound(ctx context.Context, v *View, cp *tlog.Checkpoint, index uint64) (*evidence.Bound, error) {
	var around api.CheckpointsAround
	if err := c.do(ctx, "GET", "/v1/log/checkpoints?"+url.Values{"around": {fmt.Sprint(index)}}.Encode(), nil, "", nil, &around); err != nil {
		return nil, fmt.Errorf("the checkpoints around index %d: %w", index, err)
	}
	bo := &evidence.Bound{Index: index, After: cp.Note}
	use := func(sc *api.SizedCheckpoint, ok func(size uint64) bool) ([]byte, [][]byte) {
		if sc == nil {
			return nil, nil
		}
		o, err := v.Verifier().Open([]byte(sc.Checkpoint))
		if err != nil || !ok(o.Size) || o.Size > cp.Size {
			return nil, nil
		}
		var p [][]byte
		if o.Size < cp.Size && o.Size > 0 {
			var cons api.ConsistencyProof
			q := url.Values{"from": {fmt.Sprint(o.Size)}, "to": {fmt.Sprint(cp.Size)}}
			if err := c.do(ctx, "GET", "/v1/log/proof/consistency?"+q.Encode(), nil, "", nil, &cons); err != nil {
				return nil, nil
			}
			p = cons.Proof
		}
		if err := tlog.VerifyConsistency(o, cp, p); err != nil {
			return nil, nil
		}
		if p == nil {
			p = [][]byte{}
		}
		return o.Note, p
	}
	bo.Before, bo.BeforeProof = use(around.Before, func(size uint64) bool { return size <= index })
	if a, p := use(around.After, func(size uint64) bool { return size > index }); a != nil {
		bo.After, bo.AfterProof = a, p
	}
	if len(bo.BeforeProof) == 0 {
		bo.BeforeProof = nil
	}
	if len(bo.AfterProof) == 0 {
		bo.AfterProof = nil
	}
	return bo, nil
}

// directoryRecords returns the View's records that signatures by offices
// rest on, in index order: the genesis; each office's house; every admit
// and key-revoke of those offices; the grants (and their revocations).
func directoryRecords(v *View, offices []record.Handle, grants []*directory.GrantEntry) ([]provenRecord, error) {
	d := v.Directory()
	idx := map[uint64]bool{}
	g, ok := d.Genesis()
	if !ok {
		return nil, fmt.Errorf("%w: the log has no genesis record", ErrRulesBroken)
	}
	idx[g.Pos.Index] = true
	for _, gr := range grants {
		offices = append(offices, gr.From, gr.Grant.To)
		idx[gr.Pos.Index] = true
		if gr.Revoked != nil {
			idx[gr.Revoked.Index] = true
		}
	}
	offices = slices.Clone(offices)
	slices.Sort(offices)
	for _, h := range slices.Compact(offices) {
		if hs, ok := d.House(h.House()); ok {
			idx[hs.Pos.Index] = true
		}
		for _, e := range d.History(h) {
			idx[e.Admitted.Index] = true
			if e.Revoked != nil {
				idx[e.Revoked.Index] = true
			}
		}
	}
	var out []provenRecord
	for _, pr := range v.records {
		if idx[pr.Index] {
			out = append(out, pr)
			delete(idx, pr.Index)
		}
	}
	if len(idx) > 0 {
		return nil, fmt.Errorf("%w: the directory names records at indexes the View does not hold", ErrMismatch)
	}
	return out, nil
}

// VerifiedEvidence is what VerifyEvidence proved of a bundle.
type VerifiedEvidence struct {
	Pouch record.ID
	// Checkpoint is the checkpoint every proof is against: what the
	// bundle says of keys and revocations holds up to its tree.
	Checkpoint *tlog.Checkpoint
	// Directory is the directory replayed from the bundle's records.
	Directory *directory.Directory
	// Tag is the pouch's tag, if the bundle carries it; State is then the
	// rules' view of the pouch after every event.
	Tag   *letter.SignedTag
	State *ledger.Pouch
	// Events are the bundle's events, in log order.
	Events []ProvenEvent
	// Notes say what the bundle does not prove, for people.
	Notes []string
}

// A ProvenEvent is one event record of a verified bundle.
type ProvenEvent struct {
	Signed *record.Signed
	Record *record.Record
	At     Proven
	// What says what the record states, for people: "custody by ir/fm,
	// from ir/president", "refusal by ir/fm (declined): …".
	What string
	// NotBefore and NotAfter bound the event's entry into the log by the
	// witnesses' clocks: the quorum of the checkpoint before it had not
	// seen it as of NotBefore (zero: no checkpoint before it), that of the
	// checkpoint after it had by NotAfter. Both are zero when the verifier
	// requires no witness.
	NotBefore, NotAfter time.Time
	// Unproven, if not empty, says what of the event the bundle does not
	// prove.
	Unproven string
}

// VerifyEvidence verifies an evidence bundle with no network against the
// log whose checkpoints v verifies (the log's key and the witness
// policy): its structure (evidence.Parse); every proof (the checkpoint's
// signature and quorum, the leaf's inclusion); the records in log order
// through the rules at their proven places — the directory's, the tag's,
// custody's, each event's (package ledger) — or, for a bundle without the
// tag (one made for the public), each event's signer's key held its
// office at its place; and each event's bound: both checkpoints verify,
// are consistent with the bundle's, and the event's time of sequencing
// lies between their witnesses' times (within maxSkew of clock
// difference). Anything that fails fails the whole bundle.
//
// SPEC: spec/evidence.md#verifying-a-bundle
func VerifyEvidence(b []byte, v *tlog.Verifier, maxSkew time.Duration) (*VerifiedEvidence, error) {
	if v == nil {
		return nil, errors.New("client: VerifyEvidence needs the log's verifier")
	}
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	p, err := evidence.Parse(b)
	if err != nil {
		return nil, err
	}
	pouch := p.Bundle.Pouch
	ve := &VerifiedEvidence{Pouch: pouch, Directory: directory.New(directory.Config{Partial: true})}
	// 1. The proofs, against one checkpoint.
	cp, err := v.Open(p.Checkpoint)
	if err != nil {
		return nil, fmt.Errorf("the bundle's checkpoint: %w", err)
	}
	ve.Checkpoint = cp
	at := map[record.ID]Proven{}
	for _, s := range p.Records {
		fp := p.Proofs[s.ID()]
		if err := tlog.VerifyInclusion(cp, fp.Index, fp.Extra, fp.Hashes); err != nil {
			return nil, fmt.Errorf("the proof of %s record %s: %w", fp.Leaf.Kind, s.ID().Short(), err)
		}
		at[s.ID()] = Proven{Leaf: fp.Leaf, Index: fp.Index, Size: cp.Size}
	}
	if !cp.Witnessed {
		ve.Notes = append(ve.Notes, "no witness was required: the times of the events are the log's word, unbounded by witnesses, and a split view is undetectable")
	}
	ve.Notes = append(ve.Notes, fmt.Sprintf("keys and grants are shown as the log held them up to its checkpoint of %d: a later revocation is not in the bundle, and that none the bundle leaves out came before an event is the log's word (verify against the server to check it)", cp.Size))

	// 2. The records in log order, through the rules at their places.
	d := ve.Directory
	hasTag := slices.ContainsFunc(p.Opened, func(r *record.Record) bool { return r.Kind == record.KindTag })
	calls := map[record.ID]*ledger.Cited{}
	var state *ledger.Pouch
	parties := map[record.Handle]bool{}
	for i, s := range p.Records {
		r := p.Opened[i]
		pr := at[s.ID()]
		pos := pr.Pos()
		if r.Origin != "" && r.Origin != cp.Origin {
			return nil, fmt.Errorf("%w: the %s record %s names log %s, the bundle's proofs are from %s", ErrMismatch, r.Kind, s.ID().Short(), r.Origin, cp.Origin)
		}
		broken := func(err error) error {
			return fmt.Errorf("%w: the %s record %s at index %d: %w", ErrRulesBroken, r.Kind, s.ID().Short(), pos.Index, err)
		}
		if directory.IsDirectoryKind(r.Kind) {
			if err := d.Apply(s, r, pos); err != nil {
				return nil, broken(err)
			}
			continue
		}
		if r.Kind == record.KindLine {
			ct := &ledger.Cited{ID: s.ID(), Kind: r.Kind, Pos: pos}
			ct.Call, _ = line.CheckCall(s, r)
			calls[s.ID()] = ct
			continue
		}
		pe := ProvenEvent{Signed: s, Record: r, At: at[s.ID()]}
		if hasTag && state == nil && r.Kind != record.KindTag {
			return nil, fmt.Errorf("%w: the %s record %s at index %d comes before the pouch's tag", ErrMismatch, r.Kind, s.ID().Short(), pos.Index)
		}
		switch r.Kind {
		case record.KindTag:
			st, err := letter.VerifyTag(s.Marshal())
			if err != nil {
				return nil, broken(err)
			}
			if st.PouchID() != pouch || state != nil {
				return nil, fmt.Errorf("%w: the bundle of pouch %s carries the tag of pouch %s", ErrMismatch, pouch.Short(), st.PouchID().Short())
			}
			if err := ledger.CheckTag(d, st, pos, func(record.ID) bool { return true }); err != nil {
				return nil, broken(err)
			}
			ve.Tag, state = st, ledger.NewPouch(st, pos)
			t := st.Tag
			for _, h := range append([]record.Handle{t.From, t.To}, t.Via...) {
				parties[h] = true
			}
			pe.What = tagWhat(st)
			if t.Thread != nil {
				ve.Notes = append(ve.Notes, fmt.Sprintf("that its thread %s is a pouch of the log is not checked offline", t.Thread.Short()))
			}
		case record.KindCustody:
			sc, err := letter.VerifyCustody(s.Marshal())
			if err != nil {
				return nil, broken(err)
			}
			if sc.Custody.Pouch != pouch {
				return nil, fmt.Errorf("%w: custody record %s is of pouch %s, not the bundle's %s", ErrMismatch, s.ID().Short(), sc.Custody.Pouch.Short(), pouch.Short())
			}
			pe.What = custodyWhat(sc)
			if state == nil {
				if err := d.Check(s, r, pos); err != nil {
					return nil, broken(err)
				}
				break
			}
			step := FileStep{Custody: sc, At: &pe.At}
			if err := checkFileStep(d, state, &step, calls); err != nil {
				return nil, err
			}
			state.Accept(s.ID(), pos, step.Hop)
			pe.Unproven = step.Unproven
			parties[sc.Holder()] = true
		case record.KindPublish:
			b, err := ledger.ParsePublish(r)
			if err != nil {
				return nil, broken(err)
			}
			if tp, ok := at[b.Record]; !ok || tp.Index >= pos.Index {
				return nil, fmt.Errorf("%w: publish record %s names record %s, which the bundle does not carry before it", ErrMismatch, s.ID().Short(), b.Record.Short())
			}
			if err := d.Check(s, r, pos); err != nil {
				return nil, broken(err)
			}
			pe.What = fmt.Sprintf("%s publishes record %s", r.By[0], b.Record.Short())
			if !parties[r.By[0]] {
				pe.Unproven = fmt.Sprintf("that %s is a party of the record it publishes (the server judged it)", r.By[0])
			}
		default:
			ev, err := letter.EventOf(s, r)
			if err != nil {
				return nil, broken(err)
			}
			if ev.Pouch() != pouch {
				return nil, fmt.Errorf("%w: %s record %s is of pouch %s, not the bundle's %s", ErrMismatch, r.Kind, s.ID().Short(), ev.Pouch().Short(), pouch.Short())
			}
			pe.What = eventWhat(ev)
			if state == nil {
				if err := d.Check(s, r, pos); err != nil {
					return nil, broken(err)
				}
				break
			}
			done, err := ledger.CheckEvent(d, state, ev, pos)
			var ge *directory.GrantError
			if err != nil && ev.OnBehalf() == state.Tag.To && (errors.Is(err, ledger.ErrNotAddressee) || errors.As(err, &ge)) {
				// A delegate whose grant the bundle does not carry.
				if kerr := d.Check(s, r, pos); kerr != nil {
					return nil, broken(kerr)
				}
				done, err = ledger.Event{ID: s.ID(), Kind: r.Kind, Pos: pos, By: r.By[0]}, nil
				if ev.Refusal != nil {
					done.Reason = string(ev.Refusal.Reason)
				}
				pe.Unproven = fmt.Sprintf("%s's standing for %s (the bundle carries no grant that allows it)", r.By[0], ev.OnBehalf())
			}
			if err != nil {
				return nil, broken(err)
			}
			state.Apply(done)
			parties[r.By[0]] = true
		}
		// 3. Its bound in time.
		bo := p.Bounds[pos.Index]
		if err := checkBound(v, cp, bo, &pe, maxSkew); err != nil {
			return nil, err
		}
		ve.Events = append(ve.Events, pe)
	}
	if state == nil {
		ve.Notes = append(ve.Notes, "the bundle does not carry the pouch's tag: it proves who signed each event and when, not the pouch's route, nor that the events follow its rules")
	}
	ve.State = state
	return ve, nil
}

// checkBound checks the bound of event pe against cp: both checkpoints
// verify and are consistent with cp, and the event's time of sequencing
// lies between their witnesses' times.
//
// SPEC: spec/evidence.md#time-bounds
func checkBound(v *tlog.Verifier, cp *tlog.Checkpoint, bo *evidence.Bound, pe *ProvenEvent, maxSkew time.Duration) error {
	idx := pe.At.Index
	after, err := v.Open(bo.After)
	if err != nil {
		return fmt.Errorf("the checkpoint after the event at index %d: %w", idx, err)
	}
	if after.Size <= idx {
		return fmt.Errorf("%w: the checkpoint after the event at index %d is of size %d", ErrMismatch, idx, after.Size)
	}
	if err := tlog.VerifyConsistency(after, cp, bo.AfterProof); err != nil {
		return fmt.Errorf("the checkpoint after the event at index %d: %w", idx, err)
	}
	t := pe.At.Sequenced()
	if after.Witnessed && !after.SequencedBy.IsZero() {
		pe.NotAfter = after.SequencedBy
		if t.After(after.SequencedBy.Add(maxSkew)) {
			return fmt.Errorf("%w: the event at index %d was sequenced at %s by the log's word, after its witnesses saw it in the log (%s)",
				ErrRulesBroken, idx, t.Format(time.RFC3339), after.SequencedBy.Format(time.RFC3339))
		}
	}
	if bo.Before == nil {
		return nil
	}
	before, err := v.Open(bo.Before)
	if err != nil {
		return fmt.Errorf("the checkpoint before the event at index %d: %w", idx, err)
	}
	if before.Size > idx {
		return fmt.Errorf("%w: the checkpoint before the event at index %d is of size %d", ErrMismatch, idx, before.Size)
	}
	if err := tlog.VerifyConsistency(before, cp, bo.BeforeProof); err != nil {
		return fmt.Errorf("the checkpoint before the event at index %d: %w", idx, err)
	}
	if before.Witnessed && !before.FreshAsOf.IsZero() {
		pe.NotBefore = before.FreshAsOf
		if t.Before(before.FreshAsOf.Add(-maxSkew)) {
			return fmt.Errorf("%w: the event at index %d was sequenced at %s by the log's word, before its witnesses saw the log without it (%s)",
				ErrRulesBroken, idx, t.Format(time.RFC3339), before.FreshAsOf.Format(time.RFC3339))
		}
	}
	return nil
}

func tagWhat(st *letter.SignedTag) string {
	t := st.Tag
	s := fmt.Sprintf("pouch %s from %s to %s", st.PouchID().Short(), t.From, t.To)
	if len(t.Via) > 0 {
		vs := make([]string, len(t.Via))
		for i, h := range t.Via {
			vs[i] = string(h)
		}
		s += " via " + strings.Join(vs, ", ")
	}
	var asks []string
	if dl, ok := t.Deadline(); ok {
		asks = append(asks, "delivery by "+dl.Format("2006-01-02 15:04 UTC"))
	}
	if t.Consent {
		asks = append(asks, "consent first")
	} else if t.Access {
		asks = append(asks, "proof of access")
	}
	if len(asks) > 0 {
		s += "; asks for " + strings.Join(asks, ", ")
	}
	return s
}

func custodyWhat(sc *letter.SignedCustody) string {
	c := sc.Custody
	verb := "custody"
	if c.Delivered {
		verb = "delivery"
	}
	s := fmt.Sprintf("%s by %s, from %s", verb, sc.Holder(), c.From)
	if c.OnBehalf != "" {
		s += ", on behalf of " + string(c.OnBehalf)
	}
	if c.OverLine != nil {
		s += ", over line " + c.OverLine.Short()
	}
	return s
}

func eventWhat(ev *letter.Event) string {
	s := fmt.Sprintf("%s by %s", ev.Kind(), ev.By())
	if on := ev.OnBehalf(); on != "" {
		s += " on behalf of " + string(on)
	}
	switch {
	case ev.Refusal != nil:
		s += " (" + string(ev.Refusal.Reason) + ")"
		if ev.Refusal.Text != "" {
			s += ": " + ev.Refusal.Text
		}
	case ev.NonDelivery != nil:
		n := ev.NonDelivery
		s += fmt.Sprintf(" (%s): held by %s, awaiting %s", n.Reason, n.Holder, n.Next)
	}
	return s
}
