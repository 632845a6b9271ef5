package server

import (
	"container/heap"
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"pouch.dev/api"
	"pouch.dev/directory"
	"pouch.dev/keys"
	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/store"
)

// This file is the server's part of a pouch's events besides custody
// (spec/evidence.md#events): it sequences acceptance, refusal and access
// records under package ledger's rules, and watches deadlines, logging the
// non-delivery of every pouch that passes its deadline undelivered, signed
// by the deployment's evidence office.
//
// The watcher's state is small and kept behind a few functions
// (deadlineWatch): the pouches with a deadline that have neither their
// delivery nor their non-delivery, by deadline. It is loaded from the log
// in the background when the server starts, and then follows the log
// (loadDeadlines): a tag with a deadline names the evidence office as a
// party, so the parties index finds them without reading every pouch. A
// deadline that passes while the server is down is reported when it comes
// back.

// submitEvent checks an acceptance, refusal, access or non-delivery record
// against its pouch and the directory at its place and time of
// sequencing, and appends it.
//
// SPEC: spec/evidence.md#events
func (c *Correspondence) submitEvent(ctx context.Context, r *record.Record, e *store.Entry, ev *letter.Event) (*api.Accepted, error) {
	return c.submitToPouch(ctx, r, e, ev.Pouch(), func(p *ledger.Pouch, pos ledger.Pos) error {
		_, err := ledger.CheckEvent(c.dir, p, ev, pos)
		return err
	})
}

// A deadlineWatch holds the pouches whose deadline the server watches:
// those with a deadline, not known to be delivered or reported, each
// under the time it is next due (its deadline, or a retry after a failed
// report).
type deadlineWatch struct {
	mu      sync.Mutex
	h       dueHeap
	watched map[record.ID]bool // the pouches in h
	wake    chan struct{}      // signalled when an earlier deadline is added
	// loaded is closed once the pouches stored at start-up are watched.
	loaded chan struct{}
}

type due struct {
	at    time.Time
	pouch record.ID
	tries int
}

type dueHeap []due

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(due)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newDeadlineWatch() *deadlineWatch {
	return &deadlineWatch{watched: map[record.ID]bool{}, wake: make(chan struct{}, 1), loaded: make(chan struct{})}
}

// add watches pouch, due at at, unless it is watched already.
func (w *deadlineWatch) add(d due) {
	w.mu.Lock()
	if w.watched[d.pouch] {
		w.mu.Unlock()
		return
	}
	w.watched[d.pouch] = true
	earliest := w.h.Len() == 0 || d.at.Before(w.h[0].at)
	heap.Push(&w.h, d)
	w.mu.Unlock()
	if earliest {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// take removes and returns the pouches due at now.
func (w *deadlineWatch) take(now time.Time) []due {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []due
	for w.h.Len() > 0 && !w.h[0].at.After(now) {
		d := heap.Pop(&w.h).(due)
		delete(w.watched, d.pouch)
		out = append(out, d)
	}
	return out
}

// next returns when the next pouch is due.
func (w *deadlineWatch) next() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.h.Len() == 0 {
		return time.Time{}, false
	}
	return w.h[0].at, true
}

// Watching returns how many pouches the deadline watcher holds, once it
// has loaded those stored when the server started.
func (c *Correspondence) Watching() int {
	<-c.deadlines.loaded
	c.deadlines.mu.Lock()
	defer c.deadlines.mu.Unlock()
	return c.deadlines.h.Len()
}

// watchDeadline adds p to the watcher if it has a deadline and no
// outcome yet.
func (c *Correspondence) watchDeadline(p *ledger.Pouch) {
	dl, ok := p.Tag.Deadline()
	if !ok || p.Delivered() || p.NonDelivery != nil {
		return
	}
	c.deadlines.add(due{at: dl, pouch: p.ID})
}

// sweepRetry is how long the watcher waits before it tries again to log a
// non-delivery that failed, at most.
const sweepRetry = time.Minute

// Sweep logs the non-delivery of every watched pouch whose deadline has
// passed by the server's clock and that has neither its delivery nor its
// non-delivery: a record signed by the deployment's evidence office, with
// the reason its records give (ledger.NonDeliveryFor), sequenced through
// the same rules as any record. It returns how many it logged. A report
// that fails is tried again later (the error is returned, and logged);
// a deployment without its evidence key logs none.
//
// The sequencing process runs it (Watch); tests that move the clock call
// it directly.
//
// SPEC: spec/evidence.md#non-delivery
func (c *Correspondence) Sweep(ctx context.Context) (int, error) {
	if c.opt.Evidence == nil {
		return 0, nil
	}
	select {
	case <-c.deadlines.loaded:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	now := c.now()
	n := 0
	var errs []error
	for _, d := range c.deadlines.take(now) {
		p, err := c.loadPouch(ctx, d.pouch)
		if err == nil && (p.Delivered() || p.NonDelivery != nil) {
			continue
		}
		if err == nil {
			var a *api.Accepted
			if a, err = c.reportNonDelivery(ctx, p); err == nil {
				n++
				c.log.Info("non-delivery logged", "pouch", d.pouch.Short(), "index", a.Index)
				continue
			}
		}
		switch {
		case errors.Is(err, errNoPouch):
		case errors.Is(err, ledger.ErrClosed), errors.Is(err, directory.ErrDelivered), errors.Is(err, store.ErrDuplicate):
			// Settled meanwhile.
		default:
			d.tries++
			d.at = now.Add(min(sweepRetry, time.Duration(d.tries)*time.Second))
			c.deadlines.add(d)
			errs = append(errs, fmt.Errorf("the non-delivery of pouch %s: %w", d.pouch.Short(), err))
		}
	}
	return n, errors.Join(errs...)
}

// reportNonDelivery signs p's non-delivery as its records give it now and
// submits it.
func (c *Correspondence) reportNonDelivery(ctx context.Context, p *pouchState) (*api.Accepted, error) {
	c.dirMu.RLock()
	nd := ledger.NonDeliveryFor(c.dir, p.Pouch, c.nowPos())
	c.dirMu.RUnlock()
	ev := c.opt.Evidence
	s, err := letter.SignEvent(nd, ev.Handle, ev.Signing, record.NewSalt(), c.now().UnixMilli(), c.opt.Origin)
	if err != nil {
		return nil, err
	}
	return c.Submit(ctx, s.Marshal(), nil, nil)
}

// loadDeadlines watches the pouches with a deadline and no outcome, found
// by the evidence office's entry in the parties index (checkTag names it
// on every tag with a deadline): first those stored when the server
// started, then, following the log, those any server process appends. It
// runs until the store closes.
//
// SPEC: spec/evidence.md#deadlines
func (c *Correspondence) loadDeadlines() {
	loaded := false
	done := func() {
		if !loaded {
			loaded = true
			close(c.deadlines.loaded)
		}
	}
	defer done()
	if c.opt.Evidence == nil {
		return
	}
	ctx := context.Background()
	var from uint64
	for {
		st, err := c.st.State(ctx)
		if err == nil {
			err = c.watchTags(ctx, &from, st.Size)
		}
		if err == nil {
			done()
			from = max(from, st.Size)
			// The tags this server appends are watched as they are
			// (tagAppended); those of other servers a moment later.
			time.Sleep(50 * time.Millisecond)
			_, err = c.st.WaitSize(ctx, from)
		}
		if errors.Is(err, store.ErrClosed) {
			return
		}
		if err != nil {
			c.log.Error("deadline watcher: reading the pouches with a deadline", "err", err)
			time.Sleep(time.Second)
		}
	}
}

// watchTags watches the pouches with a deadline whose tags are stored
// from index *from on and below size, and moves *from past those read.
func (c *Correspondence) watchTags(ctx context.Context, from *uint64, size uint64) error {
	for {
		rs, err := c.st.List(ctx, store.Query{Party: directory.EvidenceHandle, Kinds: []record.Kind{record.KindTag}, From: *from, Before: size})
		if err != nil {
			return err
		}
		for _, e := range rs {
			p, err := c.pouchOfTag(ctx, e)
			if err != nil && !errors.Is(err, errNoPouch) {
				return err
			}
			if p != nil {
				c.watchDeadline(p.Pouch)
			}
			*from = e.Index + 1
		}
		if len(rs) < store.MaxList {
			return nil
		}
	}
}

// DefaultWatchEvery is how often the deadline watcher looks at the clock
// when no deadline is nearer: a clock that jumps is noticed that late.
const DefaultWatchEvery = time.Second

// Watch runs the deadline watcher until ctx is done: it sweeps (Sweep)
// when the earliest watched deadline passes, and at least every every
// (DefaultWatchEvery if 0). The process that sequences the log runs it,
// one per deployment.
//
// SPEC: spec/evidence.md#deadlines
func (c *Correspondence) Watch(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultWatchEvery
	}
	for {
		if _, err := c.Sweep(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("deadline watcher", "err", err)
		}
		c.alertAgreements()
		wait := every
		if at, ok := c.deadlines.next(); ok {
			wait = min(wait, max(at.Sub(c.now()), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-c.deadlines.wake:
			t.Stop()
		}
	}
}

// admitEvidence has the operator admit the deployment's evidence office
// with the key of opt.Evidence, unless that key holds it already. It
// needs the operator's key (opt.OperatorKey, the genesis record's); without
// it, a deployment whose office holds another key (or none) says so and
// takes no deadlines.
//
// SPEC: spec/directory.md#the-deployments-house
func (c *Correspondence) admitEvidence(ctx context.Context) error {
	ev := c.opt.Evidence
	if ev == nil {
		return nil
	}
	c.dirMu.Lock()
	defer c.dirMu.Unlock()
	if k, err := c.dir.CurrentKey(directory.EvidenceHandle, 0); err == nil && k.Key.Equal(ev.SigningPublic()) {
		return nil
	}
	op := c.opt.OperatorKey
	g, _ := c.dir.Genesis()
	if op == nil || g == nil || !op.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(g.Genesis.Operator)) {
		c.opt.Evidence = nil
		c.log.Warn("the deployment's evidence office does not hold this server's evidence key, and the operator key that admits it is not at hand: pouches with a deadline are refused",
			"office", directory.EvidenceHandle)
		return nil
	}
	s, err := evidenceAdmit(c.opt.Origin, ev, op, c.now().UnixMilli())
	if err != nil {
		return err
	}
	r, err := s.Open()
	if err != nil {
		return err
	}
	e := &store.Entry{ID: s.ID(), Kind: record.KindAdmit, Signed: s.Marshal(), Public: true}
	e.Check = func(sq store.Sequenced) error {
		if err := c.changedBelow(sq.Index, dirChanged); err != nil {
			return err
		}
		return c.dir.Check(s, r, posOf(sq))
	}
	sq, err := c.append(ctx, e)
	if err != nil {
		return fmt.Errorf("server: admitting the evidence office %s: %w", directory.EvidenceHandle, err)
	}
	if err := c.dir.Apply(s, r, posOf(sq)); err != nil {
		return err
	}
	c.proj.advance(sq.Index + 1)
	c.log.Info("evidence office admitted", "office", directory.EvidenceHandle, "index", sq.Index)
	return nil
}

// evidenceAdmit signs the operator's admit of the evidence office's keys
// ev.
func evidenceAdmit(origin string, ev *keys.Principal, op crypto.Signer, claimed int64) (*record.Signed, error) {
	if ev.Handle != directory.EvidenceHandle {
		return nil, fmt.Errorf("server: the evidence keys are for %s, not %s", ev.Handle, directory.EvidenceHandle)
	}
	r := &record.Record{Kind: record.KindAdmit, Origin: origin, By: []record.Handle{directory.OperatorHandle}, Time: claimed}
	return record.Sign(r, &directory.Admit{Handle: directory.EvidenceHandle, Key: ev.SigningPublic(), Recipient: ev.Recipient().String(),
		Holder: "the deployment, for the evidence it gives"}, op)
}
