package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"pouch.dev/api"
	"pouch.dev/directory"
	"pouch.dev/ledger"
	"pouch.dev/record"
	"pouch.dev/store"
)

// A broker wakes inbox streams when a pouch involving their principal is
// submitted or changes hands.
type broker struct {
	mu   sync.Mutex
	subs map[record.Handle]map[chan record.ID]struct{}
}

// alertsChanged, published to a principal's streams, wakes them to send
// its overdue attestations again (an "alerts" event); any other ID names a
// pouch.
var alertsChanged record.ID

func newBroker() *broker { return &broker{subs: map[record.Handle]map[chan record.ID]struct{}{}} }

func (b *broker) subscribe(h record.Handle) chan record.ID {
	ch := make(chan record.ID, 8)
	b.mu.Lock()
	if b.subs[h] == nil {
		b.subs[h] = map[chan record.ID]struct{}{}
	}
	b.subs[h][ch] = struct{}{}
	b.mu.Unlock()
	return ch
}

// any reports whether any stream is subscribed.
func (b *broker) any() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs) > 0
}

func (b *broker) unsubscribe(h record.Handle, ch chan record.ID) {
	b.mu.Lock()
	delete(b.subs[h], ch)
	if len(b.subs[h]) == 0 {
		delete(b.subs, h)
	}
	b.mu.Unlock()
}

func (b *broker) publish(hs []record.Handle, id record.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, h := range hs {
		for ch := range b.subs[h] {
			select {
			case ch <- id:
			default: // a slow reader re-lists on its next event
			}
		}
	}
}

// notifyPouch wakes the streams of everyone a pouch concerns: sender,
// addressee, envoys and the addressee's current receive delegates. The
// caller holds dirMu for reading.
func (c *Correspondence) notifyPouch(p *pouchState) {
	hs := append([]record.Handle{p.From, p.Tag.To}, p.Tag.Via...)
	for _, d := range c.dir.ReceiveDelegates(p.Tag.To, p.From, p.ThreadIDs(), c.nowPos()) {
		hs = append(hs, d.Handle)
	}
	c.broker.publish(hs, p.ID)
}

// An inboxSource is one stream of an inbox's candidates, newest first:
// the tags naming a principal as a party (q.Party), read from the store a
// page at a time.
type inboxSource struct {
	q       store.Query
	buf     []*store.Stored
	done    bool
	grantor record.Handle // for a receive delegate's source: the grantor; "" for the principal's own
}

// head returns the source's next candidate, reading a page if needed.
func (s *inboxSource) head(ctx context.Context, st store.Store) (*store.Stored, error) {
	if len(s.buf) == 0 && !s.done {
		rs, err := st.List(ctx, s.q)
		if err != nil {
			return nil, &storeFailure{err}
		}
		s.buf = rs
		if len(rs) < s.q.Limit {
			s.done = true
		} else {
			s.q.Before = rs[len(rs)-1].Index
		}
	}
	if len(s.buf) == 0 {
		return nil, nil
	}
	return s.buf[0], nil
}

// inbox returns the pouches concerning h, newest first, with its role in
// each and whether it may act on it now. The caller holds dirMu for
// reading.
//
// The candidates come from the store's parties index, newest first: the
// tags naming h (as sender, addressee, envoy, or a delegate the pouch was
// sealed to), merged by log index with, for each grant to h with Receive,
// the tags naming its grantor that are addressed to the grantor and that
// h may receive now. A page reads about its own length from each source,
// not the principal's whole history.
//
// SPEC: spec/api.md#inbox
func (c *Correspondence) inbox(ctx context.Context, h record.Handle, pos directory.Pos, q inboxQuery) ([]api.InboxItem, error) {
	page := min(max(q.limit, 16), store.MaxList)
	tags := []record.Kind{record.KindTag}
	srcs := []*inboxSource{{q: store.Query{Party: h, Kinds: tags, Before: q.before, Desc: true, Limit: page}}}
	for _, g := range c.dir.GrantsTo(h) {
		if g.Grant.Has(directory.Receive) && !slices.ContainsFunc(srcs, func(s *inboxSource) bool { return s.q.Party == g.From }) {
			srcs = append(srcs, &inboxSource{q: store.Query{Party: g.From, Kinds: tags, Before: q.before, Desc: true, Limit: page}, grantor: g.From})
		}
	}
	items := []api.InboxItem{}
	var last *uint64
	// Candidates are read from the sources in order, and their custody
	// and events a batch at a time, by a few goroutines: a page costs
	// about one indexed read per pouch, spread over the cores.
	type cand struct {
		p    *pouchState
		role string
	}
	var batch []cand
	flush := func() error {
		errs := make([]error, len(batch))
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(inboxReaders, len(batch)) {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < len(batch); i = int(next.Add(1)) - 1 {
					errs[i] = c.catchUpPouch(ctx, batch[i].p, 0)
				}
			})
		}
		wg.Wait()
		for i, x := range batch {
			if errs[i] != nil {
				return errs[i]
			}
			if len(items) == q.limit {
				break
			}
			it := c.item(h, x.p, x.role, pos)
			if q.awaiting && !it.Awaiting {
				continue
			}
			items = append(items, it)
		}
		batch = batch[:0]
		return nil
	}
	for len(items) < q.limit {
		// The newest head of all sources; the principal's own first on a
		// tie (one tag found by two sources).
		var best *inboxSource
		var be *store.Stored
		for _, s := range srcs {
			e, err := s.head(ctx, c.st)
			if err != nil {
				return nil, err
			}
			if e != nil && (be == nil || e.Index > be.Index) {
				best, be = s, e
			}
		}
		if best == nil {
			break
		}
		best.buf = best.buf[1:]
		if last != nil && *last == be.Index {
			continue
		}
		p, err := tagState(be)
		if err != nil {
			c.log.Error("stored tag does not parse", "index", be.Index, "err", err)
			continue
		}
		role := ""
		if best.grantor == "" {
			role = c.roleOf(h, p, pos)
		} else if p.Tag.To == best.grantor {
			if _, err := c.dir.MayReceive(h, p.Tag.To, p.From, p.ThreadIDs(), pos); err == nil || slices.Contains(p.Sealed, h) {
				role = "delegate"
			}
		}
		if role == "" {
			continue
		}
		idx := be.Index
		last = &idx
		batch = append(batch, cand{p, role})
		if len(items)+len(batch) == q.limit {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return items, nil
}

// inboxReaders is how many goroutines read the custody and events of an
// inbox page's pouches.
const inboxReaders = 4

// An inboxQuery selects a page of an inbox: at most limit pouches, newest
// first, sequenced before index before (if not 0), only those awaiting
// the principal if awaiting.
type inboxQuery struct {
	limit    int
	before   uint64
	awaiting bool
}

// Inbox page sizes.
const (
	DefaultInboxLimit = 100
	MaxInboxLimit     = 1000
)

func parseInboxQuery(r *http.Request) (inboxQuery, error) {
	q := inboxQuery{limit: DefaultInboxLimit, awaiting: r.URL.Query().Get("awaiting") != ""}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxInboxLimit {
			return q, errorf(http.StatusBadRequest, "", "limit %q: want 1 to %d", s, MaxInboxLimit)
		}
		q.limit = n
	}
	if s := r.URL.Query().Get("before"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return q, errorf(http.StatusBadRequest, "", "before %q: want a log index", s)
		}
		q.before = n
	}
	return q, nil
}

// item returns p as an item of h's inbox. The caller holds dirMu for
// reading.
func (c *Correspondence) item(h record.Handle, p *pouchState, role string, pos directory.Pos) api.InboxItem {
	it := api.InboxItem{PouchView: p.view(), Role: role}
	if !it.Delivered {
		_, err := ledger.MayTakeNext(c.dir, p.Pouch, h, pos)
		it.Awaiting = err == nil
	}
	return it
}

// roleOf returns h's role in p, or "" if p does not concern h. The caller
// holds dirMu for reading.
func (c *Correspondence) roleOf(h record.Handle, p *pouchState, pos directory.Pos) string {
	switch {
	case h == p.Tag.To:
		return "addressee"
	case h == p.From:
		return "sender"
	case slices.Contains(p.Tag.Via, h):
		return "envoy"
	}
	if _, err := c.dir.MayReceive(h, p.Tag.To, p.From, p.ThreadIDs(), pos); err == nil || slices.Contains(p.Sealed, h) {
		return "delegate"
	}
	return ""
}

// handleInbox lists the signed requester's inbox (newest first, a page of
// ?limit=N before ?before=INDEX), or with ?follow=1 (or Accept:
// text/event-stream) streams it as server-sent events: an "inbox" event
// with that page, then a "pouch" event for every pouch that arrives or
// changes hands.
func (c *Correspondence) handleInbox(w http.ResponseWriter, r *http.Request) {
	h, err := c.authenticate(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	q, err := parseInboxQuery(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	list := func() ([]api.InboxItem, error) {
		c.dirMu.RLock()
		defer c.dirMu.RUnlock()
		return c.inbox(r.Context(), h, c.nowPos(), q)
	}
	if r.URL.Query().Get("follow") == "" && r.Header.Get("Accept") != "text/event-stream" {
		items, err := list()
		if err != nil {
			c.fail(w, r, err)
			return
		}
		writeJSONTo(w, http.StatusOK, items)
		return
	}
	first, err := list()
	if err != nil {
		c.fail(w, r, err)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		c.fail(w, r, errorf(http.StatusInternalServerError, "", "streaming unsupported"))
		return
	}
	// A stream lasts as long as the client stays: no read deadline, and
	// each event written within WriteTimeout.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	ch := c.broker.subscribe(h)
	defer c.broker.unsubscribe(h, ch)
	c.metrics.streams.Inc()
	defer c.metrics.streams.Dec()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) bool {
		b, _ := json.Marshal(v)
		rc.SetWriteDeadline(time.Now().Add(WriteTimeout))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	if !send("inbox", first) {
		return
	}
	if as := c.alerts(h); len(as) > 0 && !send("alerts", as) {
		return
	}
	keep := time.NewTicker(30 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			rc.SetWriteDeadline(time.Now().Add(WriteTimeout))
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		case id := <-ch:
			if id == alertsChanged {
				if !send("alerts", c.alerts(h)) {
					return
				}
				continue
			}
			var it *api.InboxItem
			if p, err := c.loadPouch(r.Context(), id); err == nil {
				c.dirMu.RLock()
				pos := c.nowPos()
				if role := c.roleOf(h, p, pos); role != "" {
					x := c.item(h, p, role, pos)
					it = &x
				}
				c.dirMu.RUnlock()
			}
			if it != nil && !send("pouch", it) {
				return
			}
		}
	}
}
