package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"

	"pouch.dev/api"
	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/store"
)

// handleSubmitBatch accepts a CBOR array of pouch submissions: each is
// checked exactly as by POST /v1/pouches, and those that pass are
// committed in one store transaction. The answer lists each pouch's
// outcome, in order.
//
// The body is read as it arrives, each pouch's parts under their limits.
// A tag that verifies, signed by a current key, authenticates the batch;
// until one has, each pouch is judged on its tag before its payload is
// read, and one refused keeps no memory.
//
// SPEC: spec/api.md#post-pouches-batch
func (c *Correspondence) handleSubmitBatch(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > MaxBatchBody {
		c.fail(w, r, withHint(errBodyTooLarge("pouch batch", MaxBatchBody), "send fewer pouches per batch"))
		return
	}
	h := &hold{b: c.lim.memory}
	defer h.release()
	cs := &cborStream{r: http.MaxBytesReader(w, r.Body, MaxBatchBody), what: "pouch batch"}
	n, err := cs.expect(cborArray, "a pouch batch")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if n == 0 || n > api.MaxPouchBatch {
		c.fail(w, r, errorf(http.StatusBadRequest, "", "a batch holds 1 to %d pouches, not %d", api.MaxPouchBatch, n))
		return
	}
	subs := make([]api.PouchSubmission, 0, n)
	early := make([]*earlyRefusal, 0, n)
	authenticated := false
	for range n {
		tag, err := cs.submissionTag(h)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		// Until a tag authenticates the batch, each one is checked before
		// its payload is read; one that does not is refused, and its
		// bytes are not kept.
		var refused *earlyRefusal
		if !authenticated {
			if refused = c.authenticateTag(tag); refused == nil {
				authenticated = true
			}
		}
		size, err := cs.payloadHead()
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if size > MaxBatchPayload {
			c.fail(w, r, withHint(errBodyTooLarge("a payload in a batch", MaxBatchPayload), "send a large pouch alone, with POST /v1/pouches"))
			return
		}
		if refused != nil {
			h.shrink(int64(cap(tag)))
			if _, err := io.CopyN(io.Discard, cs.r, int64(size)); err != nil {
				c.fail(w, r, readError("pouch batch", err))
				return
			}
			subs = append(subs, api.PouchSubmission{})
			early = append(early, refused)
			continue
		}
		p, err := readN(cs.r, int64(size), MaxBatchPayload, h, "payload")
		if err != nil {
			c.fail(w, r, err)
			return
		}
		subs = append(subs, api.PouchSubmission{Tag: tag, Payload: p})
		early = append(early, nil)
	}
	if err := expectEnd(cs.r, "pouch batch"); err != nil {
		c.fail(w, r, err)
		return
	}
	res := c.submitBatch(r.Context(), subs, early)
	writeJSONTo(w, http.StatusOK, res)
}

// An earlyRefusal is a pouch of a batch refused on its tag, before its
// payload was read: the tag's ID, if it verified, and the rule's error.
type earlyRefusal struct {
	id  *record.ID
	err error
}

// authenticateTag checks a tag of a batch before its payload is read: its
// signature, and that its signer holds a current key for this log, as of
// now. It returns nil if the tag authenticates the batch.
func (c *Correspondence) authenticateTag(tag []byte) *earlyRefusal {
	st, err := letter.VerifyTag(tag)
	if err != nil {
		return &earlyRefusal{err: err}
	}
	c.dirMu.RLock()
	defer c.dirMu.RUnlock()
	if err := c.dir.Check(st.Signed, st.Record, c.nowPos()); err != nil {
		id := st.PouchID()
		return &earlyRefusal{id: &id, err: err}
	}
	return nil
}

// SubmitBatch checks and commits a batch of pouches; see handleSubmitBatch.
func (c *Correspondence) SubmitBatch(ctx context.Context, subs []api.PouchSubmission) []api.BatchResult {
	return c.submitBatch(ctx, subs, nil)
}

// submitBatch is SubmitBatch, with the pouches refused before their
// payload was read (early[i] not nil).
func (c *Correspondence) submitBatch(ctx context.Context, subs []api.PouchSubmission, early []*earlyRefusal) []api.BatchResult {
	res := make([]api.BatchResult, len(subs))
	refuse := func(i int, kind record.Kind, err error) {
		err = asRefusal(err)
		status, hint, code := statusOf(err)
		res[i] = api.BatchResult{Error: &api.ErrorBody{Error: publicMessage(err), Hint: hint, Code: code}, Status: status}
		c.metrics.refused(kind, reasonOf(err))
	}
	// Signatures and payload digests are checked on every core at once,
	// each pouch by one goroutine; what depends on order (rate limits,
	// the directory, duplicates) follows in order.
	tags := make([]*letter.SignedTag, len(subs))
	errs := make([]error, len(subs))
	digests := make([][32]byte, len(subs))
	for i, er := range early {
		if er == nil {
			continue
		}
		errs[i] = er.err
		if er.id != nil {
			// As by POST /v1/pouches: a replay is named first.
			errs[i] = c.replayFirst(ctx, record.KindTag, *er.id, er.err)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(subs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(subs) {
					return
				}
				if errs[i] != nil {
					continue
				}
				tags[i], errs[i] = letter.VerifyTag(subs[i].Tag)
				if errs[i] == nil {
					digests[i] = letter.PayloadDigest(subs[i].Payload)
				}
			}
		})
	}
	wg.Wait()
	var ok []batchItem
	for i, sub := range subs {
		st, err := tags[i], errs[i]
		if err != nil {
			refuse(i, record.KindTag, err)
			continue
		}
		if !c.limits.allow(string(st.Record.By[0])) {
			refuse(i, record.KindTag, errorf(http.StatusTooManyRequests, "slow down and retry", "too many requests from %s", st.Record.By[0]))
			continue
		}
		e := &store.Entry{ID: st.PouchID(), Kind: record.KindTag, Signed: sub.Tag, Public: false}
		ok = append(ok, batchItem{i, st.Signed, st.Record, st, e})
	}
	// A directory record of another server sequenced among the batch
	// (errStale) has the batch judged again once this server caught up.
	for try := 0; ; try++ {
		stale := c.commitBatch(ctx, subs, ok, digests, res, refuse)
		if len(stale) == 0 {
			return res
		}
		if try < maxStaleRetries {
			if _, err := c.catchUp(ctx); err == nil {
				ok = stale
				continue
			}
		}
		for _, it := range stale {
			refuse(it.i, record.KindTag, errorf(http.StatusServiceUnavailable, "retry: the directory is changing fast", "%w", errStale))
		}
		return res
	}
}

// A batchItem is a pouch of a batch whose tag verified.
type batchItem struct {
	i  int
	s  *record.Signed
	r  *record.Record
	st *letter.SignedTag
	e  *store.Entry
}

// commitBatch checks the pouches ok of a batch against the directory and
// commits those that pass in one transaction, filling in res. It returns
// the pouches to judge again (errStale), with nothing of them written.
func (c *Correspondence) commitBatch(ctx context.Context, subs []api.PouchSubmission, ok []batchItem, digests [][32]byte, res []api.BatchResult, refuse func(int, record.Kind, error)) []batchItem {
	c.dirMu.RLock()
	defer c.dirMu.RUnlock()
	var entries []*store.Entry
	var items []batchItem
	seen := map[record.ID]bool{}
	for _, it := range ok {
		if seen[it.e.ID] {
			refuse(it.i, record.KindTag, fmt.Errorf("tag record %s appears twice in the batch: %w", it.e.ID.Short(), store.ErrDuplicate))
			continue
		}
		seen[it.e.ID] = true
		in := &incoming{size: uint64(len(subs[it.i].Payload)), digest: digests[it.i], data: subs[it.i].Payload}
		if err := c.checkTag(ctx, it.s, it.r, it.e, it.st, in); err != nil {
			// As by POST /v1/pouches: a replay is named first.
			refuse(it.i, record.KindTag, c.replayFirst(ctx, record.KindTag, it.e.ID, err))
			continue
		}
		entries = append(entries, it.e)
		items = append(items, it)
	}
	if len(entries) == 0 {
		return nil
	}
	sqs, err := c.st.Append(ctx, entries)
	if errors.Is(err, errStale) {
		return items
	}
	if errors.Is(err, store.ErrDuplicate) || errors.Is(err, ledger.ErrOverdue) {
		// A replay inside the batch fails the whole transaction, as does a
		// deadline that passed by the time of sequencing: commit one by
		// one, so that only those are refused.
		var stale []batchItem
		for _, it := range items {
			sq, err := c.append(ctx, it.e)
			if errors.Is(err, errStale) {
				stale = append(stale, it)
				continue
			}
			if err != nil {
				refuse(it.i, record.KindTag, err)
				continue
			}
			res[it.i] = api.BatchResult{Accepted: c.tagAppended(it.e, it.r, it.st, sq), Status: http.StatusCreated}
			c.metrics.accepted(record.KindTag)
		}
		return stale
	}
	if err != nil {
		for _, it := range items {
			refuse(it.i, record.KindTag, &storeFailure{err})
		}
		return nil
	}
	for k, it := range items {
		res[it.i] = api.BatchResult{Accepted: c.tagAppended(it.e, it.r, it.st, sqs[k]), Status: http.StatusCreated}
		c.metrics.accepted(record.KindTag)
	}
	return nil
}
