package server

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"

	"pouch.dev/directory"
	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/store"
)

// This file derives a pouch's state from the store, on demand: its tag
// record and the records that refer to it (custody, acceptance, refusal,
// access, non-delivery), replayed through package ledger's rules in log
// order. Nothing of a pouch is kept in memory between requests, so the
// server's start-up time and memory do not grow with the pouches it holds
// (spec/store.md#reads names the indexes this relies on).

// A pouchState is what the server knows of one pouch: the rules' view of
// it (its tag and the custody and events accepted so far) and who may
// read it.
type pouchState struct {
	*ledger.Pouch
	From   record.Handle   // the sender, Tag.From
	Sealed []record.Handle // parties at submission: sender, addressee, envoys, delegates, readers
	// next is the log index after the last record of the pouch read.
	next uint64
}

// pouchKinds are the kinds of record that change a pouch after its tag.
var pouchKinds = []record.Kind{record.KindCustody, record.KindAcceptance, record.KindRefusal, record.KindAccess, record.KindNonDelivery}

// errNoPouch: the ID names no pouch of this log.
var errNoPouch = fmt.Errorf("no such pouch: %w", store.ErrNotFound)

// storedTag parses a stored tag record. Its signature was verified when it
// was submitted; its body is read again.
func storedTag(e *store.Stored) (*letter.SignedTag, error) {
	s, r, err := record.Parse(e.Signed)
	if err != nil {
		return nil, err
	}
	if r.Kind != record.KindTag {
		return nil, fmt.Errorf("%w: record %s is a %s record", errNoPouch, e.ID.Short(), r.Kind)
	}
	var t letter.Tag
	if err := r.DecodeBody(&t); err != nil {
		return nil, fmt.Errorf("stored tag %s: %w", e.ID.Short(), err)
	}
	return &letter.SignedTag{Signed: s, Record: r, Tag: &t}, nil
}

// readersOf returns who a stored record is served to as a reader: its
// parties, but for a tag, without the evidence office that a deadline
// adds to them (sealedOf). The office watches such a pouch; it is not one
// of its parties, and may not publish its tag.
func readersOf(e *store.Stored) ([]record.Handle, error) {
	if e.Kind != record.KindTag {
		return e.Parties, nil
	}
	st, err := storedTag(e)
	if err != nil {
		return nil, err
	}
	return sealedOf(e.Parties, st.Tag), nil
}

// sealedOf returns who a pouch's private records are served to, from the
// parties its tag was stored with: they are the sealed parties
// (sealedParties), and, for a pouch with a deadline, the deployment's
// evidence office, named so that the deadline watcher finds the pouch by
// the parties index (watchedParties); the office is not one of the
// pouch's readers unless its route names it.
func sealedOf(parties []record.Handle, t *letter.Tag) []record.Handle {
	if !slices.Contains(parties, directory.EvidenceHandle) || t.From == directory.EvidenceHandle ||
		t.To == directory.EvidenceHandle || slices.Contains(t.Via, directory.EvidenceHandle) {
		return parties
	}
	return slices.DeleteFunc(slices.Clone(parties), func(h record.Handle) bool { return h == directory.EvidenceHandle })
}

// tagState returns the pouch of the stored tag e, with none of its
// custody or events.
func tagState(e *store.Stored) (*pouchState, error) {
	st, err := storedTag(e)
	if err != nil {
		return nil, err
	}
	p := ledger.NewPouch(st, posOf(e.Sequenced))
	return &pouchState{Pouch: p, From: st.Tag.From, Sealed: sealedOf(e.Parties, st.Tag), next: e.Index + 1}, nil
}

// loadTag returns pouch id with none of its custody or events: what its
// tag says (route, sender, readers).
func (c *Correspondence) loadTag(ctx context.Context, id record.ID) (*pouchState, error) {
	e, err := c.st.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoPouch
	} else if err != nil {
		return nil, &storeFailure{err}
	}
	if e.Kind != record.KindTag {
		return nil, errNoPouch
	}
	return tagState(e)
}

// loadPouch returns pouch id as its records in the store give it now.
func (c *Correspondence) loadPouch(ctx context.Context, id record.ID) (*pouchState, error) {
	p, err := c.loadTag(ctx, id)
	if err != nil {
		return nil, err
	}
	return p, c.catchUpPouch(ctx, p, 0)
}

// pouchOfTag returns the pouch of the stored tag e as its records in the
// store give it now.
func (c *Correspondence) pouchOfTag(ctx context.Context, e *store.Stored) (*pouchState, error) {
	p, err := tagState(e)
	if err != nil {
		return nil, err
	}
	return p, c.catchUpPouch(ctx, p, 0)
}

// catchUpPouch applies to p the records of the pouch stored from p.next
// on, below index before if it is not 0, in log order.
func (c *Correspondence) catchUpPouch(ctx context.Context, p *pouchState, before uint64) error {
	for {
		rs, err := c.st.List(ctx, store.Query{Ref: &p.ID, Kinds: pouchKinds, From: p.next, Before: before})
		if err != nil {
			return &storeFailure{err}
		}
		for _, e := range rs {
			if err := applyToPouch(p.Pouch, e); err != nil {
				c.log.Error("stored record of a pouch does not apply", "index", e.Index, "kind", e.Kind, "pouch", p.ID.Short(), "err", err)
			}
			p.next = e.Index + 1
		}
		if len(rs) < store.MaxList {
			return nil
		}
	}
}

// applyToPouch applies a stored custody record or event to p. Its
// signature was verified and its rules checked when it was submitted.
func applyToPouch(p *ledger.Pouch, e *store.Stored) error {
	s, r, err := record.Parse(e.Signed)
	if err != nil {
		return err
	}
	pos := posOf(e.Sequenced)
	if r.Kind == record.KindCustody {
		var b letter.Custody
		if err := r.DecodeBody(&b); err != nil {
			return err
		}
		hop := ledger.Hop{By: r.By[0], Delivery: b.Delivered, As: b.OnBehalf}
		if hop.As == "" {
			hop.As = r.By[0]
		}
		p.Accept(e.ID, pos, hop)
		return nil
	}
	ev, err := letter.EventOf(s, r)
	if err != nil {
		return err
	}
	done := ledger.Event{ID: e.ID, Kind: r.Kind, Pos: pos, By: r.By[0]}
	switch {
	case ev.Refusal != nil:
		done.Reason = string(ev.Refusal.Reason)
	case ev.NonDelivery != nil:
		done.Reason = string(ev.NonDelivery.Reason)
	}
	p.Apply(done)
	return nil
}

// pouchAt returns a copy of p caught up with the pouch's records stored
// below index idx: what the rules judge a record of the pouch sequenced
// at idx against. A store calls Check with every record below idx
// committed but those of the same group commit, which, for the same
// pouch, the pouch's lock keeps out (lockPouch; spec/store.md#append).
func (c *Correspondence) pouchAt(p *pouchState, idx uint64) (*pouchState, error) {
	q := *p
	q.Pouch = p.Pouch.Clone()
	ctx, cancel := context.WithTimeout(context.Background(), checkReadTimeout)
	defer cancel()
	if err := c.catchUpPouch(ctx, &q, idx); err != nil {
		return nil, err
	}
	return &q, nil
}

// publishedBy returns the ID of the publish record of record id sequenced
// below index before (if not 0), if any.
func (c *Correspondence) publishedBy(ctx context.Context, id record.ID, before uint64) (*record.ID, error) {
	rs, err := c.st.List(ctx, store.Query{Ref: &id, Kinds: []record.Kind{record.KindPublish}, Before: before, Limit: 1})
	if err != nil {
		return nil, &storeFailure{err}
	}
	if len(rs) == 0 {
		return nil, nil
	}
	return &rs[0].ID, nil
}

// pouchLocks serialise, within this process, the records that change one
// pouch (custody, events) or publish one record, from their check to
// their append: two of them are then never in one group commit, and each
// one's check reads the others from the store. Across processes the
// store's Append serialises them (spec/store.md#append).
type pouchLocks struct {
	seed  maphash.Seed
	locks [256]sync.Mutex
}

func newPouchLocks() *pouchLocks { return &pouchLocks{seed: maphash.MakeSeed()} }

// lock locks id's stripe and returns its unlock.
func (l *pouchLocks) lock(id record.ID) func() {
	m := &l.locks[maphash.Bytes(l.seed, id[:])%uint64(len(l.locks))]
	m.Lock()
	return m.Unlock
}
