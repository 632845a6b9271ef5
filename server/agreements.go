package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"pouch.dev/agreement"
	"pouch.dev/api"
	"pouch.dev/directory"
	"pouch.dev/record"
	"pouch.dev/store"
)

// This file enforces the agreement and statement rules of package
// agreement (spec/agreement.md) on the records the server sequences, and
// serves what they derive: an agreement's status on a day, a statement's
// roll of signatories at a log size.
//
// The server keeps an agreement.Registry fed with every record of
// agreement.Kinds in log order: from the store when it starts, then as it
// sequences them, and those other server processes append as it follows
// the log (projection.go). A record of these kinds is checked against
// the registry before it is appended and applied after, under one lock, so
// two actions cannot both pass the check against the same state (two
// signatures by one party, say).
//
// SPEC: spec/agreement.md#command-line-and-server

// agreementBook is the server's registry of agreements and statements.
type agreementBook struct {
	mu   sync.Mutex // guards reg and next; taken after dirMu
	reg  *agreement.Registry
	next uint64 // the log index after the last record applied
	// alertDay is the day for which the inbox streams were last woken
	// about overdue attestations (alertAgreements).
	alertDay agreement.Date
}

func newAgreementBook(dir *directory.Directory) *agreementBook {
	return &agreementBook{reg: agreement.NewRegistry(agreement.Offices(dir))}
}

// applyStored applies a stored record during rebuild. Records the rules
// refuse (the store should hold none) are skipped, as every client's
// replay skips them. Signatures were verified when the record was
// submitted, as the directory's rebuild assumes too; keys are checked
// again.
func (b *agreementBook) applyStored(s *record.Signed, pos directory.Pos) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next = max(b.next, pos.Index+1)
	return b.reg.Apply(agreement.Entry{Signed: s, Index: pos.Index, Time: pos.Time.UnixMilli(), SigsChecked: true})
}

// applied returns the log index after the last record applied.
func (b *agreementBook) applied() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.next
}

// submitAgreement checks an agreement, agreement-sign, agreement-withdraw,
// attest, statement or cosign record against the directory and the
// registry as of now, appends it and applies it. Its signatures have been
// verified by Submit.
//
// SPEC: spec/agreement.md#replay
func (c *Correspondence) submitAgreement(ctx context.Context, s *record.Signed, r *record.Record, e *store.Entry) (*api.Accepted, error) {
	e.Parties = r.By
	e.Refs = agreement.Refs(r)
	return c.retryStale(ctx, func() (*api.Accepted, error) {
		c.dirMu.RLock()
		defer c.dirMu.RUnlock()
		b := c.agreements
		b.mu.Lock()
		defer b.mu.Unlock()
		// Judged at the record's place and time of sequencing: no
		// directory record of this process can come between (dirMu is
		// held), and no agreement record either (b.mu is held); one of
		// another process is caught up with first (changedBelow).
		e.Check = func(sq store.Sequenced) error {
			if err := c.changedBelow(sq.Index, projectionChanged); err != nil {
				return err
			}
			if err := c.dir.Check(s, r, posOf(sq)); err != nil {
				return err
			}
			ent := agreement.Entry{Signed: s, Index: sq.Index, Time: sq.Time.UnixMilli(), SigsChecked: true}
			if err := b.reg.Check(ent); err != nil {
				return refusalError(err)
			}
			return nil
		}
		sq, err := c.append(ctx, e)
		if err != nil {
			return nil, err
		}
		b.next = sq.Index + 1
		ent := agreement.Entry{Signed: s, Index: sq.Index, Time: sq.Time.UnixMilli(), SigsChecked: true}
		if err := b.reg.Apply(ent); err != nil {
			// Checked at this very place under the same locks: this cannot
			// happen.
			c.log.Error("agreement record sequenced but refused on apply", "index", sq.Index, "kind", r.Kind, "err", err)
		}
		c.proj.advance(sq.Index + 1)
		return &api.Accepted{ID: e.ID, Kind: r.Kind, Index: sq.Index, Time: sq.Time}, nil
	})
}

// refusalError gives an *agreement.Refusal its HTTP status and a hint.
func refusalError(err error) error {
	var rf *agreement.Refusal
	if !errors.As(err, &rf) {
		return err
	}
	status, hint := http.StatusUnprocessableEntity, ""
	switch {
	case errors.Is(rf.Reason, agreement.ErrMalformed), errors.Is(rf.Reason, agreement.ErrPrivate),
		errors.Is(rf.Reason, agreement.ErrWrongLog), errors.Is(rf.Reason, agreement.ErrBadSignature):
		status = http.StatusBadRequest
	case errors.Is(rf.Reason, agreement.ErrReplayed):
		status, hint = http.StatusConflict, "this record is already in the log: a replay is refused; sign a new record"
	case errors.Is(rf.Reason, agreement.ErrWrongAgreement):
		status, hint = http.StatusNotFound, "check the agreement or statement ID"
	case errors.Is(rf.Reason, agreement.ErrNotAuthorised):
		status, hint = http.StatusForbidden, "sign with one of the offices the agreement names for the party"
	case errors.Is(rf.Reason, agreement.ErrWrongKey):
		status, hint = http.StatusForbidden, "the signer's key is not current in the directory; ask the house registrar"
	case errors.Is(rf.Reason, agreement.ErrNotVerifier):
		status, hint = http.StatusForbidden, "only the agreement's named verifiers attest"
	case errors.Is(rf.Reason, agreement.ErrNotParty), errors.Is(rf.Reason, agreement.ErrNotInvited):
		status = http.StatusForbidden
	case errors.Is(rf.Reason, agreement.ErrAlreadySigned):
		hint = "a party withdraws before it signs again"
	case errors.Is(rf.Reason, agreement.ErrAlreadyCosigned):
		hint = "each principal co-signs a statement once"
	}
	return &apiError{status: status, err: rf, hint: hint}
}

func (c *Correspondence) registerAgreements(mux Mux) {
	mux.Handle("GET /v1/agreements", c.instrument("agreements.list", c.handleAgreements))
	mux.Handle("GET /v1/agreements/{id}", c.instrument("agreements.get", c.handleAgreement))
	mux.Handle("GET /v1/agreements/{id}/status", c.instrument("agreements.status", c.handleAgreementStatus))
	mux.Handle("GET /v1/statements/{id}", c.instrument("statements.get", c.handleStatement))
}

func (c *Correspondence) handleAgreements(w http.ResponseWriter, r *http.Request) {
	today := agreement.DateOf(c.now())
	b := c.agreements
	b.mu.Lock()
	out := []api.AgreementSummary{}
	for _, id := range b.reg.Agreements() {
		t := b.reg.Agreement(id)
		ag := t.Agreement()
		out = append(out, api.AgreementSummary{ID: id, Kind: record.KindAgreement, Name: ag.Name, Title: ag.Title,
			By: t.Depositary(), Index: t.Registered().Index, Count: len(t.PartiesAt(today))})
	}
	for _, id := range b.reg.Statements() {
		s := b.reg.Statement(id)
		out = append(out, api.AgreementSummary{ID: id, Kind: record.KindStatement, Title: s.Statement().Title,
			By: s.Opener(), Index: s.Opened().Index, Count: s.Count()})
	}
	b.mu.Unlock()
	writeJSONTo(w, http.StatusOK, out)
}

// timeline runs f with the timeline of the agreement named in r's path,
// under the registry's lock.
func (c *Correspondence) timeline(w http.ResponseWriter, r *http.Request, f func(t *agreement.Timeline)) {
	id, err := parseIDParam(r, "id")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	b := c.agreements
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.reg.Agreement(id)
	if t == nil {
		c.fail(w, r, errorf(http.StatusNotFound, "list them with GET /v1/agreements", "no agreement %s in this log", id.Short()))
		return
	}
	f(t)
}

func (c *Correspondence) handleAgreement(w http.ResponseWriter, r *http.Request) {
	c.timeline(w, r, func(t *agreement.Timeline) {
		acts := t.Actions()
		if acts == nil {
			acts = []*agreement.Action{}
		}
		writeJSONTo(w, http.StatusOK, api.AgreementView{ID: t.ID(), Index: t.Registered().Index, Depositary: t.Depositary(),
			Agreement: t.Agreement(), Actions: acts, Rejected: len(t.Rejected())})
	})
}

// handleAgreementStatus serves the status of an agreement on the day ?at
// (default: the server's today, UTC).
//
// SPEC: spec/agreement.md#status
func (c *Correspondence) handleAgreementStatus(w http.ResponseWriter, r *http.Request) {
	day := agreement.DateOf(c.now())
	if at := r.URL.Query().Get("at"); at != "" {
		d, err := agreement.ParseDate(at)
		if err != nil {
			c.fail(w, r, errorf(http.StatusBadRequest, "write it as ?at=2019-06-01", "at: %v", err))
			return
		}
		day = d
	}
	c.timeline(w, r, func(t *agreement.Timeline) {
		writeJSONTo(w, http.StatusOK, t.Status(day))
	})
}

// handleStatement serves a statement and its signatories in a log of size
// ?at (default: every co-signature accepted so far).
//
// SPEC: spec/agreement.md#cosign
func (c *Correspondence) handleStatement(w http.ResponseWriter, r *http.Request) {
	id, err := parseIDParam(r, "id")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var size uint64
	hasSize := false
	if at := r.URL.Query().Get("at"); at != "" {
		n, err := strconv.ParseUint(at, 10, 64)
		if err != nil {
			c.fail(w, r, errorf(http.StatusBadRequest, "give a log size, such as ?at=120", "at: %v", err))
			return
		}
		size, hasSize = n, true
	}
	b := c.agreements
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.reg.Statement(id)
	if s == nil {
		c.fail(w, r, errorf(http.StatusNotFound, "list them with GET /v1/agreements", "no statement %s in this log", id.Short()))
		return
	}
	if !hasSize {
		size = b.next
	}
	sigs := s.SignatoriesAt(size)
	if sigs == nil {
		sigs = []agreement.Signatory{}
	}
	writeJSONTo(w, http.StatusOK, api.StatementView{ID: id, Index: s.Opened().Index, Opener: s.Opener(), Statement: s.Statement(),
		Size: size, Count: len(sigs), Signatories: sigs})
}

// alerts returns the overdue attestations of every agreement on the
// server's today that concern h (agreement.Timeline.Alerts).
//
// SPEC: spec/agreement.md#overdue-alerts
func (c *Correspondence) alerts(h record.Handle) []agreement.Alert {
	today := agreement.DateOf(c.now())
	b := c.agreements
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []agreement.Alert{}
	for _, id := range b.reg.Agreements() {
		out = append(out, agreement.For(b.reg.Agreement(id).Alerts(today), h)...)
	}
	return out
}

// handleAlerts serves the signed requester's overdue attestations, as
// its inbox reports them.
//
// SPEC: spec/api.md#inbox
func (c *Correspondence) handleAlerts(w http.ResponseWriter, r *http.Request) {
	h, err := c.authenticate(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSONTo(w, http.StatusOK, c.alerts(h))
}

// alertAgreements wakes the inbox streams of everyone an overdue
// attestation concerns when the server's day changes: the deadline
// watcher calls it.
func (c *Correspondence) alertAgreements() {
	today := agreement.DateOf(c.now())
	b := c.agreements
	b.mu.Lock()
	if today == b.alertDay {
		b.mu.Unlock()
		return
	}
	b.alertDay = today
	var hs []record.Handle
	for _, id := range b.reg.Agreements() {
		for _, a := range b.reg.Agreement(id).Alerts(today) {
			for _, n := range a.Notify {
				hs = append(hs, n.Handle)
			}
		}
	}
	b.mu.Unlock()
	slices.Sort(hs)
	c.broker.publish(slices.Compact(hs), alertsChanged)
}
