package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"pouch.dev/api"
	"pouch.dev/directory"
	"pouch.dev/internal/httpsig"
	"pouch.dev/ledger"
	"pouch.dev/record"
	"pouch.dev/store"
)

// authenticate checks r's RFC 9421 signature and returns the principal
// who signed it. A request without a signature returns httpsig.ErrUnsigned.
//
// SPEC: spec/api.md#authentication
func (c *Correspondence) authenticate(r *http.Request) (record.Handle, error) {
	sg, err := httpsig.Parse(r)
	if err != nil {
		return "", err
	}
	h, err := record.ParseHandle(sg.KeyID)
	if err != nil {
		return "", errorf(http.StatusUnauthorized, "", "request signature keyid: %v", err)
	}
	c.dirMu.RLock()
	k, err := c.dir.CurrentKey(h, 0)
	c.dirMu.RUnlock()
	if err != nil {
		return "", errorf(http.StatusUnauthorized, "", "request signed as %s: %w", h, err)
	}
	// SPEC: spec/api.md#authentication
	if err := sg.Verify(r, c.opt.Origin, k.Key); errors.Is(err, httpsig.ErrWrongOrigin) {
		return "", errorf(http.StatusUnauthorized, "sign the request for this server's log (GET /v1/log names its origin)", "request signed as %s: %w", h, err)
	} else if err != nil {
		return "", errorf(http.StatusUnauthorized, "sign with the current key of "+string(h), "request signed as %s: %w", h, err)
	}
	if err := c.checkNonce(r.Context(), sg); errors.Is(err, httpsig.ErrReplay) || errors.Is(err, httpsig.ErrStale) {
		return "", errorf(http.StatusUnauthorized, "", "request signed as %s: %w", h, err)
	} else if err != nil {
		return "", errorf(http.StatusServiceUnavailable, "retry in a moment", "request signed as %s: checking its nonce: %v", h, err)
	}
	if !c.limits.allow(string(h)) {
		return "", errorf(http.StatusTooManyRequests, "slow down and retry", "too many requests from %s", h)
	}
	return h, nil
}

func parseIDParam(r *http.Request, name string) (record.ID, error) {
	id, err := record.ParseID(r.PathValue(name))
	if err != nil {
		return id, errorf(http.StatusBadRequest, "", "%v", err)
	}
	return id, nil
}

// mayRead reports whether h may read the private record e: a party named
// when it was stored, or, for a pouch's records, a current receive
// delegate of the addressee.
func (c *Correspondence) mayRead(ctx context.Context, h record.Handle, e *store.Stored) bool {
	if slices.Contains(e.Parties, h) {
		return true
	}
	var p *pouchState
	var err error
	switch {
	case e.Kind == record.KindTag:
		p, err = tagState(e)
	case e.Kind == record.KindCustody && len(e.Refs) > 0:
		p, err = c.loadTag(ctx, e.Refs[0])
	default:
		return false
	}
	if err != nil {
		return false
	}
	c.dirMu.RLock()
	defer c.dirMu.RUnlock()
	_, err = c.dir.MayReceive(h, p.Tag.To, p.From, p.ThreadIDs(), c.nowPos())
	return err == nil
}

// A reveal is what a read of a record shows.
type reveal int

const (
	// revealRecord is the signed record itself and its inclusion proof.
	revealRecord reveal = iota
	// revealPayload is a pouch's sealed payload.
	revealPayload
	// revealPouch is a pouch's route and the custody chain so far: the IDs,
	// signers, places and times of its custody records.
	revealPouch
)

// readable fetches record id for request r, to show what: a public record
// to anyone; a private record to a party who signs the request. A
// published private record is public as a record and nothing more: its
// signed bytes and its proof are served to anyone, while what hangs from
// it (a published tag's payload, its pouch's custody chain) stays with
// the parties. It returns the publish record's ID if id was published.
//
// SPEC: spec/api.md#publish, spec/api.md#reading
func (c *Correspondence) readable(r *http.Request, id record.ID, what reveal) (*store.Stored, *record.ID, error) {
	e, pub, _, err := c.readableBy(r, id, what)
	return e, pub, err
}

// readableBy is readable, and also returns who signed the request ("" if
// the record is public to anyone).
func (c *Correspondence) readableBy(r *http.Request, id record.ID, what reveal) (*store.Stored, *record.ID, record.Handle, error) {
	e, err := c.st.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, "", errorf(http.StatusNotFound, "", "record %s is not in the log: %w", id.Short(), err)
	} else if err != nil {
		return nil, nil, "", &storeFailure{err}
	}
	if e.Public {
		return e, nil, "", nil
	}
	pub, err := c.publishedBy(r.Context(), id, 0)
	if err != nil {
		return nil, nil, "", err
	}
	if pub != nil && what == revealRecord {
		return e, pub, "", nil
	}
	h, err := c.authenticate(r)
	if err != nil {
		if pub != nil && errors.Is(err, httpsig.ErrUnsigned) {
			return nil, nil, "", withHint(err, "record "+id.Short()+" was published, which makes the record and its proof public, not its payload or its pouch's custody: sign the request as a party")
		}
		return nil, nil, "", err
	}
	if !c.mayRead(r.Context(), h, e) {
		return nil, nil, "", errorf(http.StatusForbidden, "", "%s is not a party to private record %s: %w", h, id.Short(), ledger.ErrNotParty)
	}
	return e, pub, h, nil
}

func (c *Correspondence) handleGetRecord(w http.ResponseWriter, r *http.Request) {
	id, err := parseIDParam(r, "id")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	e, pub, err := c.readable(r, id, revealRecord)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSONTo(w, http.StatusOK, api.RecordView{ID: e.ID, Kind: e.Kind, Index: e.Index, Time: e.Time, Public: e.Public || pub != nil, PublishedBy: pub, Signed: e.Signed})
}

func (c *Correspondence) handlePayload(w http.ResponseWriter, r *http.Request) {
	id, err := parseIDParam(r, "id")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	e, _, h, err := c.readableBy(r, id, revealPayload)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.mayFetch(r.Context(), e, h); err != nil {
		c.fail(w, r, err)
		return
	}
	if !c.lim.downloads.take(1) {
		c.fail(w, r, c.lim.downloads.busy())
		return
	}
	defer c.lim.downloads.give(1)
	p, err := c.st.OpenPayload(r.Context(), id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	defer p.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(p.Size(), 10))
	// A chunk at a time, each written within WriteTimeout.
	rc := http.NewResponseController(w)
	buf := make([]byte, 64<<10)
	for {
		n, err := p.Read(buf)
		if n > 0 {
			rc.SetWriteDeadline(time.Now().Add(WriteTimeout))
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			// The status is sent: cut the answer short, so the client
			// sees it is not whole.
			c.log.Error("reading a payload", "id", id.Short(), "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// mayFetch applies the rule of access (ledger.MayFetch) to h, a party of
// the pouch whose tag is e: the sender and the envoys have its payload;
// the addressee's side, of a pouch that asks for access or consent, once
// h's access record is logged.
//
// SPEC: spec/evidence.md#access
func (c *Correspondence) mayFetch(ctx context.Context, e *store.Stored, h record.Handle) error {
	if e.Kind != record.KindTag || h == "" {
		return nil
	}
	p, err := c.pouchOfTag(ctx, e)
	if errors.Is(err, errNoPouch) {
		return nil
	} else if err != nil {
		return err
	}
	side := h != p.From && !slices.Contains(p.Tag.Via, h)
	if err := ledger.MayFetch(p.Pouch, h, side); err != nil {
		return withHint(err, "pouch open and pouch fetch log the access record themselves; pouch accept gives consent")
	}
	return nil
}

func (c *Correspondence) handleGetPouch(w http.ResponseWriter, r *http.Request) {
	id, err := parseIDParam(r, "id")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	e, _, err := c.readable(r, id, revealPouch)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if e.Kind != record.KindTag {
		c.fail(w, r, errorf(http.StatusNotFound, "", "%s is not a pouch", id.Short()))
		return
	}
	p, err := c.pouchOfTag(r.Context(), e)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSONTo(w, http.StatusOK, p.view())
}

func (c *Correspondence) handleHouses(w http.ResponseWriter, r *http.Request) {
	c.dirMu.RLock()
	var hs []api.HouseView
	for _, h := range c.dir.Houses() {
		hs = append(hs, api.HouseView{House: h.House, Name: h.Name, Registrar: h.Registrar, ID: h.ID, Index: h.Pos.Index, Time: h.Pos.Time})
	}
	c.dirMu.RUnlock()
	writeJSONTo(w, http.StatusOK, hs)
}

func handleOf(r *http.Request) (record.Handle, error) {
	h, err := record.ParseHandle(r.PathValue("house") + "/" + r.PathValue("office"))
	if err != nil {
		return "", errorf(http.StatusBadRequest, "", "%v", err)
	}
	return h, nil
}

// SPEC: spec/api.md#endpoints
func (c *Correspondence) handlePrincipal(w http.ResponseWriter, r *http.Request) {
	h, err := handleOf(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.dirMu.RLock()
	defer c.dirMu.RUnlock()
	hist := c.dir.History(h)
	if len(hist) == 0 {
		c.fail(w, r, errorf(http.StatusNotFound, "admit it with pouch admit", "%s is not in the directory", h))
		return
	}
	v := api.PrincipalView{Handle: h, History: []api.KeyView{}}
	for _, e := range hist {
		v.History = append(v.History, keyView(e))
	}
	if k, err := c.dir.CurrentKey(h, 0); err == nil {
		kv := keyView(k)
		v.Current = &kv
	}
	if s := r.URL.Query().Get("index"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			c.fail(w, r, errorf(http.StatusBadRequest, "", "index %q: want a log index", s))
			return
		}
		k, err := c.dir.KeyAt(h, n)
		if err != nil {
			c.fail(w, r, errorf(http.StatusNotFound, "", "%v", err))
			return
		}
		kv := keyView(k)
		v.HeldAt = &kv
	}
	writeJSONTo(w, http.StatusOK, v)
}

// SPEC: spec/api.md#seal-to
func (c *Correspondence) handleSealTo(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	to, err := record.ParseHandle(q.Get("to"))
	if err != nil {
		c.fail(w, r, errorf(http.StatusBadRequest, "", "to: %v", err))
		return
	}
	from, err := record.ParseHandle(q.Get("from"))
	if err != nil {
		c.fail(w, r, errorf(http.StatusBadRequest, "", "from: %v", err))
		return
	}
	var ids []record.ID
	if t := q.Get("thread"); t != "" {
		id, err := record.ParseID(t)
		if err != nil {
			c.fail(w, r, errorf(http.StatusBadRequest, "", "thread: %v", err))
			return
		}
		ids = append(ids, id)
	}
	c.dirMu.RLock()
	rs, err := c.dir.SealTo(to, from, ids, c.nowPos())
	c.dirMu.RUnlock()
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := api.SealView{From: from, To: to}
	for _, x := range rs {
		rv := api.ReaderView{Handle: x.Handle, Key: x.Key.Key, Recipient: x.Recipient, Role: x.Role}
		if x.Grant != nil {
			id := x.Grant.ID
			rv.Grant = &id
			if t := x.Grant.NotAfter(); !t.IsZero() {
				rv.NotAfter = &t
			}
		}
		v.Readers = append(v.Readers, rv)
	}
	writeJSONTo(w, http.StatusOK, v)
}

// handleGrants lists the grants made to and by a principal: public ones
// to anyone, private ones to their parties.
func (c *Correspondence) handleGrants(w http.ResponseWriter, r *http.Request) {
	h, err := handleOf(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var who record.Handle
	if r.Header.Get("Signature-Input") != "" {
		if who, err = c.authenticate(r); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	c.dirMu.RLock()
	all := append(slices.Clone(c.dir.GrantsTo(h)), c.dir.GrantsFrom(h)...)
	c.dirMu.RUnlock()
	slices.SortFunc(all, func(a, b *directory.GrantEntry) int { return int(a.Pos.Index) - int(b.Pos.Index) })
	vs := []api.GrantView{}
	for _, g := range all {
		if g.Private && who != g.From && who != g.Grant.To {
			continue
		}
		vs = append(vs, grantView(g))
	}
	writeJSONTo(w, http.StatusOK, vs)
}

// handleLogRecords lists the records of the kinds asked for (?kind=K,...)
// at indexes from ?from=A to before ?to=B (default: the log's size), in
// index order, a page at a time: public ones to anyone, or, with
// ?private=1 and a signed request, the private ones the requester is a
// party to. It is how a verifying client catches up on the records it
// tracks (the directory, agreements): the leaves it reads from the log's
// entry bundles tell it which records exist, of which kind, and which are
// public, so it can tell a page that leaves one out.
//
// SPEC: spec/api.md#log-records
func (c *Correspondence) handleLogRecords(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var kinds []record.Kind
	for _, s := range strings.Split(q.Get("kind"), ",") {
		if s == "" {
			continue
		}
		k := record.Kind(s)
		if !k.Known() {
			c.fail(w, r, errorf(http.StatusBadRequest, "", "kind %q: %v", s, record.ErrUnknownKind))
			return
		}
		kinds = append(kinds, k)
	}
	if len(kinds) == 0 {
		c.fail(w, r, errorf(http.StatusBadRequest, "name the kinds: ?kind=admit,grant", "no kind asked for"))
		return
	}
	var from, to uint64
	var err error
	if from, err = strconv.ParseUint(q.Get("from"), 10, 64); q.Get("from") != "" && err != nil {
		c.fail(w, r, errorf(http.StatusBadRequest, "", "from %q: want a log index", q.Get("from")))
		return
	}
	if s := q.Get("to"); s != "" {
		if to, err = strconv.ParseUint(s, 10, 64); err != nil {
			c.fail(w, r, errorf(http.StatusBadRequest, "", "to %q: want a log index", s))
			return
		}
	}
	sq := store.Query{Kinds: kinds, From: from, Public: true, Limit: api.MaxRecordsPage}
	private := q.Get("private") == "1"
	if private {
		h, err := c.authenticate(r)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		sq.Public, sq.Party = false, h
	}
	es, err := c.st.List(r.Context(), sq)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	page := api.RecordsPage{Records: []api.RecordView{}}
	for _, e := range es {
		if to > 0 && e.Index >= to {
			break
		}
		if private && e.Public {
			continue
		}
		page.Records = append(page.Records, api.RecordView{ID: e.ID, Kind: e.Kind, Index: e.Index, Time: e.Time, Public: e.Public, Signed: e.Signed})
	}
	if len(es) == api.MaxRecordsPage {
		if last := es[len(es)-1].Index + 1; to == 0 || last < to {
			page.Next = last
		}
	}
	writeJSONTo(w, http.StatusOK, page)
}
