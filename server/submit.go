package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"pouch.dev/agreement"
	"pouch.dev/api"
	"pouch.dev/directory"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/store"
)

// KindRules are the server's rules for a record kind that the
// correspondence API does not know itself (agreements, statements, line
// records): other parts of the server register them with RegisterKind.
// Every record, whatever its kind, is first checked by the directory: its
// signers' keys must be current.
type KindRules struct {
	// Check, if set, says whether the record may be appended now. It is
	// called with the directory locked for reading.
	Check func(d *directory.Directory, s *record.Signed, r *record.Record, pos directory.Pos) error
	// Parties, if set, lists who may read a private record of this kind
	// (default: its signers).
	Parties func(r *record.Record) []record.Handle
	// Refs, if set, lists the records it refers to (indexed for lookup).
	Refs func(r *record.Record) []record.ID
}

var kindRules = map[record.Kind]KindRules{}

// RegisterKind sets the rules of kind k. Call it from an init function.
func RegisterKind(k record.Kind, rules KindRules) { kindRules[k] = rules }

// readBody reads a request body of at most limit bytes. When the client
// declares its length, the body is read into one buffer of that size,
// not into one that grows and is copied as io.ReadAll's does.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	n := r.ContentLength
	if n < 0 || n > limit {
		return io.ReadAll(body)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(body, b); err != nil {
		return nil, err
	}
	// net/http ends a body at its declared length; should a body run on
	// anyway, the rest is read, under the same limit.
	var one [1]byte
	k, err := body.Read(one[:])
	if k == 0 && err == io.EOF {
		return b, nil
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	rest, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	return append(append(b, one[:k]...), rest...), nil
}

func (c *Correspondence) handleSubmit(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r, record.MaxRecordSize)
	if err != nil {
		c.fail(w, r, errorf(http.StatusRequestEntityTooLarge, "", "record larger than %d bytes", record.MaxRecordSize))
		return
	}
	a, err := c.Submit(r.Context(), b, nil, r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSONTo(w, http.StatusCreated, a)
}

func (c *Correspondence) handleSubmitPouch(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r, c.opt.MaxPayload+record.MaxRecordSize+64)
	if err != nil {
		c.fail(w, r, errorf(http.StatusRequestEntityTooLarge, "", "pouch larger than %d bytes", c.opt.MaxPayload))
		return
	}
	var ps api.PouchSubmission
	if err := record.Unmarshal(b, &ps); err != nil {
		c.fail(w, r, errorf(http.StatusBadRequest, "send a CBOR map {tag, payload}", "pouch submission: %v", err))
		return
	}
	a, err := c.Submit(r.Context(), ps.Tag, ps.Payload, r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSONTo(w, http.StatusCreated, a)
}

// Submit checks the signed record b (with payload, for a tag) against the
// directory as of now, has the store sequence it, and applies it. hr, if
// not nil, is the HTTP request, for rate limiting.
func (c *Correspondence) Submit(ctx context.Context, b, payload []byte, hr *http.Request) (*api.Accepted, error) {
	// Tags and custody records are verified by package letter, which
	// checks their bodies too: each signature is verified once. A record
	// that comes with a payload can only be a tag, so it is parsed once,
	// by letter.VerifyTag.
	var (
		s   *record.Signed
		r   *record.Record
		pre any
		err error
	)
	if payload != nil {
		var st *letter.SignedTag
		if st, err = letter.VerifyTag(b); err == nil {
			s, r, pre = st.Signed, st.Record, st
		} else if errors.Is(err, letter.ErrNotTag) {
			err = errorf(http.StatusBadRequest, "", "only a tag carries a payload")
		}
	} else if s, r, err = record.Parse(b); err == nil {
		switch r.Kind {
		case record.KindTag:
			var st *letter.SignedTag
			if st, err = letter.VerifyTag(b); err == nil {
				s, r, pre = st.Signed, st.Record, st
			}
		case record.KindCustody:
			var sc *letter.SignedCustody
			if sc, err = letter.VerifyCustody(b); err == nil {
				s, r, pre = sc.Signed, sc.Record, sc
			}
		default:
			err = s.VerifySigs(r)
		}
	}
	if err != nil {
		c.metrics.refused(record.Kind("?"), "malformed")
		return nil, err
	}

	if hr != nil && !c.limits.allow(string(r.By[0])) {
		return nil, errorf(http.StatusTooManyRequests, "slow down and retry", "too many requests from %s", r.By[0])
	}
	if c.opt.Origin != "" && r.Origin != "" && r.Origin != c.opt.Origin {
		return nil, errorf(http.StatusBadRequest, "submit it to the log it names", "record is for log %q, this is %q", r.Origin, c.opt.Origin)
	}
	a, err := c.submit(ctx, s, r, b, pre, payload)
	if err != nil {
		c.metrics.refused(r.Kind, reasonOf(err))
		return nil, err
	}
	c.metrics.accepted(r.Kind)
	c.log.Info("record accepted", "kind", r.Kind, "id", a.ID.Short(), "index", a.Index, "by", r.By[0])
	return a, nil
}

// submit checks and appends s, whose encoding is b; pre is package
// letter's verified view of a tag or custody record.
func (c *Correspondence) submit(ctx context.Context, s *record.Signed, r *record.Record, b []byte, pre any, payload []byte) (*api.Accepted, error) {
	id := s.ID()
	// A replay is named as such, before any other rule could refuse it
	// for a less telling reason. Append refuses duplicates too, so a tag,
	// whose checks do not depend on what follows it, needs no lookup; a
	// custody record is looked up in its pouch's chain, in memory.
	if c.replayed(ctx, r, id, pre) {
		return nil, fmt.Errorf("%s record %s: %w", r.Kind, id.Short(), store.ErrDuplicate)
	}
	// b parsed strictly, so it is the deterministic encoding of s, which
	// s.Marshal would compute again.
	e := &store.Entry{ID: id, Kind: r.Kind, Signed: b, Public: !r.Private()}
	if payload != nil && r.Kind != record.KindTag {
		return nil, errorf(http.StatusBadRequest, "", "only a tag carries a payload")
	}
	switch r.Kind {
	case record.KindTag:
		return c.submitTag(ctx, s, r, e, pre.(*letter.SignedTag), payload)
	case record.KindCustody:
		return c.submitCustody(ctx, s, r, e, pre.(*letter.SignedCustody))
	case record.KindPublish:
		return c.submitPublish(ctx, s, r, e)
	}
	if agreement.IsKind(r.Kind) {
		return c.submitAgreement(ctx, s, r, e)
	}
	if directory.IsDirectoryKind(r.Kind) {
		c.dirMu.Lock()
		defer c.dirMu.Unlock()
		pos := c.nowPos()
		if err := c.dir.Check(s, r, pos); err != nil {
			return nil, err
		}
		switch r.Kind {
		case record.KindGrant:
			var g directory.Grant
			r.DecodeBody(&g)
			e.Parties = []record.Handle{r.By[0], g.To}
		case record.KindGrantRevoke:
			var g directory.GrantRevoke
			r.DecodeBody(&g)
			e.Refs = []record.ID{g.Grant}
			e.Parties = r.By
		}
		sq, err := c.append(ctx, e)
		if err != nil {
			return nil, err
		}
		if err := c.dir.Apply(s, r, directory.Pos{Index: sq.Index, Time: sq.Time}); err != nil {
			// The check passed under the same lock: this cannot happen.
			c.log.Error("directory record accepted but not applied", "index", sq.Index, "err", err)
		}
		return &api.Accepted{ID: id, Kind: r.Kind, Index: sq.Index, Time: sq.Time}, nil
	}
	c.dirMu.RLock()
	defer c.dirMu.RUnlock()
	pos := c.nowPos()
	if err := c.dir.Check(s, r, pos); err != nil {
		return nil, err
	}
	rules := kindRules[r.Kind]
	if rules.Check != nil {
		if err := rules.Check(c.dir, s, r, pos); err != nil {
			return nil, err
		}
	}
	e.Parties = r.By
	if rules.Parties != nil {
		e.Parties = rules.Parties(r)
	}
	if rules.Refs != nil {
		e.Refs = rules.Refs(r)
	}
	sq, err := c.append(ctx, e)
	if err != nil {
		return nil, err
	}
	return &api.Accepted{ID: id, Kind: r.Kind, Index: sq.Index, Time: sq.Time}, nil
}

func (c *Correspondence) nowPos() directory.Pos {
	return directory.Pos{Index: c.dir.Next(), Time: c.now().UTC()}
}

func (c *Correspondence) append(ctx context.Context, e *store.Entry) (store.Sequenced, error) {
	sq, err := c.st.Append(ctx, []*store.Entry{e})
	if err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return store.Sequenced{}, fmt.Errorf("%s record %s: %w", e.Kind, e.ID.Short(), err)
		}
		return store.Sequenced{}, err
	}
	return sq[0], nil
}

// SPEC: spec/api.md#tag
func (c *Correspondence) submitTag(ctx context.Context, s *record.Signed, r *record.Record, e *store.Entry, st *letter.SignedTag, payload []byte) (*api.Accepted, error) {
	digest := letter.PayloadDigest(payload) // before the lock
	c.dirMu.RLock()
	defer c.dirMu.RUnlock()
	if err := c.checkTag(s, r, e, st, payload, digest); err != nil {
		return nil, err
	}
	sq, err := c.append(ctx, e)
	if err != nil {
		return nil, err
	}
	return c.tagAppended(e, r, st, sq), nil
}

// checkTag checks a tag and its payload, whose SHA-256 is digest, against
// the directory as of now and fills in e. The caller holds dirMu for
// reading.
func (c *Correspondence) checkTag(s *record.Signed, r *record.Record, e *store.Entry, st *letter.SignedTag, payload []byte, digest [32]byte) error {
	b := st.Tag
	if payload == nil {
		return errorf(http.StatusBadRequest, "submit a pouch with POST /v1/pouches", "a tag must come with its payload")
	}
	if int64(len(payload)) > c.opt.MaxPayload {
		return errorf(http.StatusRequestEntityTooLarge, "", "payload of %d bytes (limit %d)", len(payload), c.opt.MaxPayload)
	}
	if err := b.CheckPayload(digest, uint64(len(payload))); err != nil {
		return errorf(http.StatusBadRequest, "the payload was altered in transit, or the tag names another one", "%v", err)
	}
	// SPEC: spec/api.md#post-pouches
	if err := letter.CheckRecipients(bytes.NewReader(payload)); err != nil {
		return errorf(http.StatusBadRequest, "seal the letter again to hybrid post-quantum (age1pq1…) recipients only, as pouch seal and pouch send do", "%w", err)
	}
	pos := c.nowPos()
	if err := c.dir.Check(s, r, pos); err != nil {
		return err
	}
	for _, h := range append([]record.Handle{b.To}, b.Via...) {
		if _, err := c.dir.CurrentKey(h, pos.Index); err != nil {
			return fmt.Errorf("route: %w", err)
		}
	}
	if b.Thread != nil {
		if _, ok := c.pouch(*b.Thread); !ok {
			return errorf(http.StatusBadRequest, "", "thread %s is not a pouch of this log", b.Thread.Short())
		}
	}
	p := &pouchState{ID: e.ID, From: r.By[0], Tag: b, Pos: pos}
	e.Parties = c.sealedParties(p)
	e.Payload = payload
	if b.Thread != nil {
		e.Refs = append(e.Refs, *b.Thread)
	}
	return nil
}

// tagAppended records an appended tag's pouch and wakes its inbox streams.
func (c *Correspondence) tagAppended(e *store.Entry, r *record.Record, st *letter.SignedTag, sq store.Sequenced) *api.Accepted {
	pos := directory.Pos{Index: sq.Index, Time: sq.Time}
	c.addPouch(&pouchState{ID: e.ID, From: r.By[0], Tag: st.Tag, Pos: pos, Sealed: e.Parties})
	c.notifyPouch(e.ID)
	return &api.Accepted{ID: e.ID, Kind: r.Kind, Index: sq.Index, Time: sq.Time}
}

// SPEC: spec/api.md#custody
func (c *Correspondence) submitCustody(ctx context.Context, s *record.Signed, r *record.Record, e *store.Entry, sc *letter.SignedCustody) (*api.Accepted, error) {
	b := sc.Custody
	c.custodyMu.Lock()
	defer c.custodyMu.Unlock()
	c.dirMu.RLock()
	defer c.dirMu.RUnlock()
	p, ok := c.pouch(b.Pouch)
	if !ok {
		return nil, errorf(http.StatusNotFound, "", "pouch %s is not in the log", b.Pouch.Short())
	}
	pos := c.nowPos()
	if err := c.dir.Check(s, r, pos); err != nil {
		return nil, err
	}
	c.pmu.RLock()
	done := slices.Clone(p.Hops)
	c.pmu.RUnlock()
	by := r.By[0]
	hop, err := c.dir.NextHop(p.route(), done, by, pos)
	if err != nil {
		return nil, err
	}
	prev := p.From
	if len(done) > 0 {
		prev = done[len(done)-1].By
	}
	if b.From != prev {
		return nil, errorf(http.StatusForbidden, fmt.Sprintf("name %s as the one you received it from", prev),
			"custody of pouch %s: %s says it received it from %s, but %s holds it", b.Pouch.Short(), by, b.From, prev)
	}
	switch {
	case hop.Delivery && !b.Delivered:
		return nil, errorf(http.StatusForbidden, "sign a delivery (pouch deliver)", "the next custody of pouch %s is its delivery to %s", b.Pouch.Short(), p.Tag.To)
	case !hop.Delivery && b.Delivered:
		return nil, errorf(http.StatusForbidden, "", "pouch %s cannot be delivered yet: envoy %s has not carried it", b.Pouch.Short(), hop.As)
	case by != hop.As && b.OnBehalf != hop.As:
		return nil, errorf(http.StatusForbidden, fmt.Sprintf("sign on behalf of %s", hop.As), "%s stands in for %s, so the record must say on_behalf %s", by, hop.As, hop.As)
	case by == hop.As && b.OnBehalf != "" && b.OnBehalf != by:
		return nil, errorf(http.StatusForbidden, "", "%s takes custody for itself, not on behalf of %s", by, b.OnBehalf)
	}
	if err := c.checkOverLine(ctx, b, by); err != nil {
		return nil, err
	}
	e.Parties = append(slices.Clone(p.Sealed), by)
	slices.Sort(e.Parties)
	e.Parties = slices.Compact(e.Parties)
	e.Refs = []record.ID{b.Pouch}
	sq, err := c.append(ctx, e)
	if err != nil {
		return nil, err
	}
	c.pmu.Lock()
	p.Hops = append(p.Hops, hop)
	p.Custody = append(p.Custody, custodyStep{ID: e.ID, Pos: directory.Pos{Index: sq.Index, Time: sq.Time}, Hop: hop})
	c.pmu.Unlock()
	c.notifyPouch(b.Pouch)
	return &api.Accepted{ID: e.ID, Kind: r.Kind, Index: sq.Index, Time: sq.Time}, nil
}

// SPEC: spec/api.md#publish
func (c *Correspondence) submitPublish(ctx context.Context, s *record.Signed, r *record.Record, e *store.Entry) (*api.Accepted, error) {
	b, err := parsePublish(r)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "", "%v", err)
	}
	target, err := c.st.Get(ctx, b.Record)
	if err != nil {
		return nil, fmt.Errorf("publish: record %s: %w", b.Record.Short(), err)
	}
	c.pmu.RLock()
	_, done := c.published[b.Record]
	c.pmu.RUnlock()
	if target.Public || done {
		return nil, errorf(http.StatusConflict, "", "record %s is public already", b.Record.Short())
	}
	c.dirMu.RLock()
	defer c.dirMu.RUnlock()
	if err := c.dir.Check(s, r, c.nowPos()); err != nil {
		return nil, err
	}
	if !slices.Contains(target.Parties, r.By[0]) {
		return nil, errorf(http.StatusForbidden, "", "%s is not a party to record %s and cannot publish it", r.By[0], b.Record.Short())
	}
	e.Refs = []record.ID{b.Record}
	sq, err := c.append(ctx, e)
	if err != nil {
		return nil, err
	}
	c.pmu.Lock()
	c.published[b.Record] = e.ID
	c.pmu.Unlock()
	return &api.Accepted{ID: e.ID, Kind: r.Kind, Index: sq.Index, Time: sq.Time}, nil
}

func (c *Correspondence) pouch(id record.ID) (*pouchState, bool) {
	c.pmu.RLock()
	defer c.pmu.RUnlock()
	p, ok := c.pouches[id]
	return p, ok
}

// replayed reports whether record id is already in the log, for the kinds
// whose other rules would refuse a replay for another reason.
func (c *Correspondence) replayed(ctx context.Context, r *record.Record, id record.ID, pre any) bool {
	switch r.Kind {
	case record.KindTag:
		return false
	case record.KindCustody:
		p, ok := c.pouch(pre.(*letter.SignedCustody).Custody.Pouch)
		if !ok {
			return false
		}
		c.pmu.RLock()
		defer c.pmu.RUnlock()
		for _, st := range p.Custody {
			if st.ID == id {
				return true
			}
		}
		return false
	}
	_, err := c.st.Get(ctx, id)
	return err == nil
}
