package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/api"
	"pouch.dev/directory"
	"pouch.dev/internal/failpoint"
	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/line"
	"pouch.dev/record"
	"pouch.dev/store"
)

// KindRules are the server's rules for a record kind that the
// correspondence API does not know itself (agreements, statements, line
// records): other parts of the server register them with RegisterKind.
// Every record, whatever its kind, is first checked by the directory: its
// signers' keys must be current.
type KindRules struct {
	// Verify, if set, checks what the record says that depends on no
	// state (its body, signatures inside it) and returns its verified
	// form for Check. It is called before any lock is taken.
	Verify func(s *record.Signed, r *record.Record) (any, error)
	// Check, if set, says whether the record, verified as v, may be
	// appended at pos, its place and time of sequencing (package ledger's
	// rules). It is called inside the store's transaction, with the
	// directory locked for reading: it must be quick and must not block.
	Check func(d *directory.Directory, v any, pos directory.Pos) error
	// Parties, if set, lists who may read a private record of this kind
	// (default: its signers).
	Parties func(r *record.Record) []record.Handle
	// Refs, if set, lists the records it refers to (indexed for lookup).
	Refs func(r *record.Record) []record.ID
}

var kindRules = map[record.Kind]KindRules{}

// RegisterKind sets the rules of kind k. Call it from an init function.
func RegisterKind(k record.Kind, rules KindRules) { kindRules[k] = rules }

func (c *Correspondence) handleSubmit(w http.ResponseWriter, r *http.Request) {
	h := &hold{b: c.lim.memory}
	defer h.release()
	b, err := readAll(r.Body, r.ContentLength, record.MaxRecordSize, h, "record")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	a, err := c.Submit(r.Context(), b, nil, r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.acknowledge(w, a)
}

// acknowledge answers 201 with a, and makes sure the answer has left.
func (c *Correspondence) acknowledge(w http.ResponseWriter, a *api.Accepted) {
	writeAccepted(w, a)
	http.NewResponseController(w).Flush()
	// SPEC: spec/store.md#failpoints
	failpoint.Hit("server/acknowledged")
}

// writeAccepted answers 201 with a, in the very bytes writeJSONTo would
// write (TestWriteAccepted), without encoding/json's reflection: this
// answer is written once per record accepted. A kind or time that JSON
// would escape or refuse takes writeJSONTo.
func writeAccepted(w http.ResponseWriter, a *api.Accepted) {
	_, off := a.Time.Zone()
	if y := a.Time.Year(); y < 0 || y > 9999 || off%60 != 0 || off <= -24*3600 || off >= 24*3600 || !plainKind(a.Kind) {
		writeJSONTo(w, http.StatusCreated, a)
		return
	}
	var arr [256]byte
	b := append(arr[:0], "{\n  \"id\": \""...)
	b = hex.AppendEncode(b, a.ID[:])
	b = append(b, "\",\n  \"kind\": \""...)
	b = append(b, a.Kind...)
	b = append(b, "\",\n  \"index\": "...)
	b = strconv.AppendUint(b, a.Index, 10)
	b = append(b, ",\n  \"time\": \""...)
	b = a.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, "\"\n}\n"...)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusCreated)
	w.Write(b)
}

// plainKind reports whether k is written in JSON as it is: lower-case
// letters, digits, '-', '_', '.' and '/'.
func plainKind(k record.Kind) bool {
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '/':
		default:
			return false
		}
	}
	return true
}

// An incoming payload: in memory (data), or streamed into the store
// (staged, by w). Its size and SHA-256 are known either way.
type incoming struct {
	size   uint64
	digest [32]byte
	data   []byte
	staged *store.Staged
	w      store.PayloadWriter
	// recipientsChecked: the age header was checked before the payload
	// was streamed.
	recipientsChecked bool
}

func inMemory(p []byte) *incoming {
	return &incoming{size: uint64(len(p)), digest: letter.PayloadDigest(p), data: p}
}

// handleSubmitPouch reads a pouch submission as it arrives: the tag first,
// verified before anything else is read; then the payload, into memory if
// it is small (InlinePayload), or else, once the tag's signer is known to
// hold a current key and an upload slot is free, streamed into the store
// in chunks while its SHA-256 is computed, never held whole.
//
// SPEC: spec/api.md#post-pouches
func (c *Correspondence) handleSubmitPouch(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > c.maxPayload()+record.MaxRecordSize+64 {
		c.fail(w, r, c.payloadTooLarge(uint64(r.ContentLength)))
		return
	}
	h := &hold{b: c.lim.memory}
	defer h.release()
	cs := &cborStream{r: r.Body, what: "pouch submission"}
	tb, err := cs.submissionTag(h)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	st, err := letter.VerifyTag(tb)
	if errors.Is(err, letter.ErrNotTag) {
		err = errorf(http.StatusBadRequest, "", "only a tag carries a payload")
	}
	if err != nil {
		c.metrics.refused(record.Kind("?"), "malformed")
		c.fail(w, r, asRefusal(err))
		return
	}
	if err := c.rateLimit(st.Record); err != nil {
		c.fail(w, r, err)
		return
	}
	n, err := cs.payloadHead()
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.precheckTag(r.Context(), st, n); err != nil {
		err = asRefusal(c.replayFirst(r.Context(), record.KindTag, st.Signed.ID(), err))
		c.metrics.refused(record.KindTag, reasonOf(err))
		c.fail(w, r, err)
		return
	}
	var in *incoming
	if n <= InlinePayload {
		p, err := readN(cs.r, int64(n), InlinePayload, h, "payload")
		if err != nil {
			c.fail(w, r, c.replayFirst(r.Context(), record.KindTag, st.Signed.ID(), err))
			return
		}
		in = inMemory(p)
	} else {
		if !c.lim.uploads.take(1) {
			c.fail(w, r, c.lim.uploads.busy())
			return
		}
		defer c.lim.uploads.give(1)
		in, err = c.receivePayload(r.Context(), w, cs.r, n, h)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		defer in.w.Abort() // does nothing once the tag's Append took it
	}
	if err := expectEnd(cs.r, "pouch submission"); err != nil {
		if in.data != nil {
			err = c.replayFirst(r.Context(), record.KindTag, st.Signed.ID(), err)
		}
		c.fail(w, r, err)
		return
	}
	e := &store.Entry{ID: st.Signed.ID(), Kind: record.KindTag, Signed: tb, Public: !st.Record.Private()}
	a, err := c.submitTag(r.Context(), st.Signed, st.Record, e, st, in)
	if err != nil {
		err = asRefusal(c.replayFirst(r.Context(), record.KindTag, e.ID, err))
		c.metrics.refused(record.KindTag, reasonOf(err))
		c.fail(w, r, err)
		return
	}
	c.metrics.accepted(record.KindTag)
	c.logAccepted(r.Context(), a, st.Record.By[0])
	c.acknowledge(w, a)
}

// logAccepted logs an accepted record, at debug level: a line per record
// would cost a busy server a write to its log each (2-3 % of its CPU),
// and the counts by kind are in /metrics (pouch_records_accepted_total).
// The line's values are not even computed unless the level is enabled.
func (c *Correspondence) logAccepted(ctx context.Context, a *api.Accepted, by record.Handle) {
	if c.log.Enabled(ctx, slog.LevelDebug) {
		c.log.Debug("record accepted", "kind", a.Kind, "id", a.ID.Short(), "index", a.Index, "by", by)
	}
}

// rateLimit applies the signer's rate limit to a verified record.
func (c *Correspondence) rateLimit(r *record.Record) error {
	if !c.limits.allow(string(r.By[0])) {
		return errorf(http.StatusTooManyRequests, "slow down and retry", "too many requests from %s", r.By[0])
	}
	return nil
}

// precheckTag judges what can be judged of a verified tag before its
// payload of n bytes is read: a replay, the payload's size, and, for a
// payload that will be streamed, the tag's rules as of now (so that only
// a principal who holds a current key makes the server store anything).
// They are judged again, at the tag's place in the log, when it is
// appended.
func (c *Correspondence) precheckTag(ctx context.Context, st *letter.SignedTag, n uint64) error {
	// A replay of a large payload is refused before the payload streams
	// in. A small one is read whole anyway: the store refuses the
	// duplicate (ErrDuplicate), and replayFirst names it first whatever
	// else fails, which spares every pouch a read.
	if n > InlinePayload {
		id := st.Signed.ID()
		if _, err := c.st.Get(ctx, id); err == nil {
			return fmt.Errorf("tag record %s: %w", id.Short(), store.ErrDuplicate)
		}
	}
	if n != st.Tag.Size {
		return fmt.Errorf("%w: %d bytes, the tag says %d", letter.ErrPayload, n, st.Tag.Size)
	}
	if n > uint64(c.maxPayload()) {
		return c.payloadTooLarge(n)
	}
	if n <= InlinePayload {
		return nil
	}
	c.dirMu.RLock()
	defer c.dirMu.RUnlock()
	return ledger.CheckTag(c.dir, st, c.nowPos(), c.knownPouch(ctx))
}

// knownPouch reports whether the log holds a pouch of ID id, for a
// reply's thread.
func (c *Correspondence) knownPouch(ctx context.Context) func(id record.ID) bool {
	return func(id record.ID) bool {
		e, err := c.st.Get(ctx, id)
		return err == nil && e.Kind == record.KindTag
	}
}

// receivePayload streams a payload of n bytes from body into the store,
// computing its SHA-256: first its age header (at most MaxAgeHeader
// bytes), which must name post-quantum recipients only, then the rest,
// each UploadProgress bytes within UploadStallTimeout. It holds a read
// buffer and the store writer's chunk, taken from h.
func (c *Correspondence) receivePayload(ctx context.Context, w http.ResponseWriter, body io.Reader, n uint64, h *hold) (*incoming, error) {
	if !h.grow(UploadProgress + store.ChunkSize) {
		return nil, h.b.busy()
	}
	pr := newProgressReader(body, w, UploadProgress, UploadStallTimeout)
	headLen := min(n, MaxAgeHeader)
	head, err := readN(pr, int64(headLen), MaxAgeHeader, h, "payload")
	if err != nil {
		return nil, err
	}
	if err := letter.CheckRecipients(bytes.NewReader(head)); err != nil {
		if !errors.Is(err, letter.ErrNotPostQuantum) && headLen < n {
			err = fmt.Errorf("%w: its age header is not complete in its first %d bytes", letter.ErrMalformedLetter, MaxAgeHeader)
		}
		return nil, errorf(http.StatusBadRequest, recipientsHint, "%w", err)
	}
	pw, err := c.st.StagePayload(ctx)
	if err != nil {
		return nil, err
	}
	in := &incoming{size: n, w: pw, recipientsChecked: true}
	fail := func(err error) (*incoming, error) {
		pw.Abort()
		return nil, err
	}
	sum := sha256.New()
	sum.Write(head)
	if _, err := pw.Write(head); err != nil {
		return fail(err)
	}
	buf := make([]byte, UploadProgress)
	for left := n - headLen; left > 0; {
		k, err := pr.Read(buf[:min(uint64(len(buf)), left)])
		sum.Write(buf[:k])
		if _, werr := pw.Write(buf[:k]); werr != nil {
			return fail(werr)
		}
		left -= uint64(k)
		if err == io.EOF && left > 0 {
			err = io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return fail(readError("payload", err))
		}
	}
	if in.staged, err = pw.Commit(); err != nil {
		return fail(err)
	}
	sum.Sum(in.digest[:0])
	// The rest of the body, the end of the map, is read under the
	// server's read timeout again, and the answer has its whole write
	// timeout, however long the upload took.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(ReadTimeout))
	rc.SetWriteDeadline(time.Now().Add(WriteTimeout))
	return in, nil
}

const recipientsHint = "seal the letter again to hybrid post-quantum (age1pq1…) recipients only, as pouch seal and pouch send do"

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
		case record.KindAcceptance, record.KindRefusal, record.KindAccess, record.KindNonDelivery:
			var ev *letter.Event
			if ev, err = letter.VerifyEvent(b); err == nil {
				s, r, pre = ev.Signed, ev.Record, ev
			}
		default:
			err = s.VerifySigs(r)
		}
	}
	if err != nil {
		c.metrics.refused(record.Kind("?"), "malformed")
		return nil, asRefusal(err)
	}

	if hr != nil {
		if err := c.rateLimit(r); err != nil {
			return nil, err
		}
	}
	// The record's origin is the directory's rule (spec/directory.md#authority),
	// judged with every other: one place, whatever the path.
	var in *incoming
	if payload != nil {
		in = inMemory(payload)
	}
	a, err := c.submit(ctx, s, r, b, pre, in)
	if err != nil {
		err = asRefusal(c.replayFirst(ctx, r.Kind, s.ID(), err))
		c.metrics.refused(r.Kind, reasonOf(err))
		return nil, err
	}
	c.metrics.accepted(r.Kind)
	c.logAccepted(ctx, a, r.By[0])
	return a, nil
}

// submit checks and appends s, whose encoding is b; pre is package
// letter's verified view of a tag or custody record.
//
// The rules are package ledger's. Those that depend on time (a grant's
// window, a statement's closing day) are judged at the record's time of
// sequencing, the time its leaf commits to: the store calls each entry's
// Check with the place and time it is about to give it (store.Entry.Check),
// while this goroutine holds the locks that keep the state the rules read
// from changing.
func (c *Correspondence) submit(ctx context.Context, s *record.Signed, r *record.Record, b []byte, pre any, payload *incoming) (*api.Accepted, error) {
	id := s.ID()
	// A replay is named as such, before any other rule could refuse it
	// for a less telling reason. Append refuses duplicates too, so a tag,
	// whose checks do not depend on what follows it, needs no lookup.
	if c.replayed(ctx, r, id) {
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
		return c.submitCustody(ctx, r, e, pre.(*letter.SignedCustody))
	case record.KindPublish:
		return c.submitPublish(ctx, s, r, e)
	case record.KindAcceptance, record.KindRefusal, record.KindAccess, record.KindNonDelivery:
		return c.submitEvent(ctx, r, e, pre.(*letter.Event))
	}
	if agreement.IsKind(r.Kind) {
		return c.submitAgreement(ctx, s, r, e)
	}
	if directory.IsDirectoryKind(r.Kind) {
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
		return c.retryStale(ctx, func() (*api.Accepted, error) { return c.submitDirectory(ctx, s, r, e) })
	}
	// The kinds above have their own paths; the others are logged only if
	// this server has rules for them. A kind without rules is not taken
	// on the directory's word alone: a letter's signed header, for one,
	// travels inside its payload or a disclosure, never on its own.
	//
	// SPEC: spec/api.md#post-v1records
	rules, ok := kindRules[r.Kind]
	if !ok {
		return nil, fmt.Errorf("%w: a %s record is not submitted on its own", ledger.ErrNotLogged, r.Kind)
	}
	var v any
	if rules.Verify != nil {
		var err error
		if v, err = rules.Verify(s, r); err != nil {
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
	return c.retryStale(ctx, func() (*api.Accepted, error) {
		c.dirMu.RLock()
		defer c.dirMu.RUnlock()
		e.Check = func(sq store.Sequenced) error {
			if err := c.changedBelow(sq.Index, dirChanged); err != nil {
				return err
			}
			pos := posOf(sq)
			if err := c.dir.Check(s, r, pos); err != nil {
				return err
			}
			if rules.Check != nil {
				return rules.Check(c.dir, v, pos)
			}
			return nil
		}
		sq, err := c.append(ctx, e)
		if err != nil {
			return nil, err
		}
		return &api.Accepted{ID: id, Kind: r.Kind, Index: sq.Index, Time: sq.Time}, nil
	})
}

// submitDirectory checks, appends and applies a directory record, holding
// dirMu for writing throughout, so that directory records apply in log
// order and no other record of this process is appended beside one.
func (c *Correspondence) submitDirectory(ctx context.Context, s *record.Signed, r *record.Record, e *store.Entry) (*api.Accepted, error) {
	c.dirMu.Lock()
	defer c.dirMu.Unlock()
	e.Check = func(sq store.Sequenced) error {
		if err := c.changedBelow(sq.Index, dirChanged); err != nil {
			return err
		}
		return c.dir.Check(s, r, posOf(sq))
	}
	sq, err := c.append(ctx, e)
	if err != nil {
		return nil, err
	}
	if err := c.dir.Apply(s, r, posOf(sq)); err != nil {
		// The check passed at this very place, under the same lock:
		// this cannot happen.
		c.log.Error("directory record accepted but not applied", "index", sq.Index, "err", err)
	}
	c.proj.advance(sq.Index + 1)
	return &api.Accepted{ID: e.ID, Kind: r.Kind, Index: sq.Index, Time: sq.Time}, nil
}

// posOf is the rules' view of a place in the log.
func posOf(sq store.Sequenced) ledger.Pos { return ledger.Pos{Index: sq.Index, Time: sq.Time} }

// nowPos is the place a record submitted now would get, as far as the
// directory can tell (the directory does not change under dirMu), with
// the server's clock: for the rules that depend on keys alone, and for
// answers that are not records (the inbox's "awaiting").
func (c *Correspondence) nowPos() directory.Pos {
	return directory.Pos{Index: c.dir.Next(), Time: c.now().UTC()}
}

// append has the store sequence e. An error is e's Check refusing it,
// ErrDuplicate, or the store failing (a *storeFailure).
func (c *Correspondence) append(ctx context.Context, e *store.Entry) (store.Sequenced, error) {
	var refused error
	if check := e.Check; check != nil {
		e.Check = func(sq store.Sequenced) error {
			refused = check(sq)
			return refused
		}
	}
	sq, err := c.st.Append(ctx, []*store.Entry{e})
	switch {
	case err == nil:
		return sq[0], nil
	case errors.Is(err, store.ErrDuplicate):
		return store.Sequenced{}, fmt.Errorf("%s record %s: %w", e.Kind, e.ID.Short(), err)
	case refused != nil && errors.Is(err, refused):
		return store.Sequenced{}, err
	}
	return store.Sequenced{}, &storeFailure{err}
}

// A storeFailure is the store failing to do what was asked of it, as
// opposed to a rule refusing a record: the one kind of error a submission
// answers with a 5xx.
type storeFailure struct{ err error }

func (e *storeFailure) Error() string { return e.err.Error() }
func (e *storeFailure) Unwrap() error { return e.err }

// A refusal is a rule's error that names no rule the client knows
// (api.CodeOf finds no code): a bug to mend by giving the rule a
// sentinel, but a refusal all the same, answered with 400 and the code
// "refused", never with a 500 (which would let anyone who can sign a
// malformed record flood the server's error log).
type refusal struct{ err error }

func (e *refusal) Error() string   { return e.err.Error() }
func (e *refusal) Unwrap() []error { return []error{e.err, api.ErrRefused} }

// asRefusal returns err marked as a refusal if it is a rule's error that
// carries no code: neither an *apiError, nor a store failure, nor the
// request's context ending.
func asRefusal(err error) error {
	var ae *apiError
	var sf *storeFailure
	switch {
	case err == nil, errors.As(err, &ae), errors.As(err, &sf), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	if code, _ := api.CodeOf(err); code != "" {
		return err
	}
	return &refusal{err}
}

// replayFirst names a refused record that is already in the log as a
// replay, whatever rule refused it: a tag replayed after its sender's key
// was rotated is a replay, not a key that is not current. The lookup is
// made for refusals only, so an accepted record costs none.
//
// SPEC: spec/directory.md#authority
func (c *Correspondence) replayFirst(ctx context.Context, kind record.Kind, id record.ID, err error) error {
	var sf *storeFailure
	if errors.Is(err, store.ErrDuplicate) || errors.As(err, &sf) {
		return err
	}
	if _, gerr := c.st.Get(ctx, id); gerr == nil {
		return fmt.Errorf("%s record %s: %w", kind, id.Short(), store.ErrDuplicate)
	}
	return err
}

// SPEC: spec/api.md#post-pouches
func (c *Correspondence) submitTag(ctx context.Context, s *record.Signed, r *record.Record, e *store.Entry, st *letter.SignedTag, payload *incoming) (*api.Accepted, error) {
	return c.retryStale(ctx, func() (*api.Accepted, error) {
		c.dirMu.RLock()
		defer c.dirMu.RUnlock()
		if err := c.checkTag(ctx, s, r, e, st, payload); err != nil {
			return nil, err
		}
		sq, err := c.append(ctx, e)
		if err != nil {
			return nil, err
		}
		return c.tagAppended(e, r, st, sq), nil
	})
}

// checkTag checks a tag and its payload against the directory as of now
// and fills in e. The caller holds dirMu for reading. A tag's rules
// depend on keys alone, which no record of this process can change while
// dirMu is held, so they are judged now, before the append (a batch of
// tags is then one transaction); its Check refuses it with errStale if a
// directory record of another process came between (changedBelow).
func (c *Correspondence) checkTag(ctx context.Context, s *record.Signed, r *record.Record, e *store.Entry, st *letter.SignedTag, payload *incoming) error {
	b := st.Tag
	if payload == nil {
		return errorf(http.StatusBadRequest, "submit a pouch with POST /v1/pouches", "a tag must come with its payload")
	}
	if payload.size > uint64(c.maxPayload()) {
		return c.payloadTooLarge(payload.size)
	}
	if err := b.CheckPayload(payload.digest, payload.size); err != nil {
		return withHint(err, "the payload was altered in transit, or the tag names another one")
	}
	// SPEC: spec/api.md#post-pouches
	if !payload.recipientsChecked {
		if err := letter.CheckRecipients(bytes.NewReader(payload.data)); err != nil {
			return errorf(http.StatusBadRequest, recipientsHint, "%w", err)
		}
	}
	pos := c.nowPos()
	if err := ledger.CheckTag(c.dir, st, pos, c.knownPouch(ctx)); err != nil {
		return err
	}
	// A deadline is watched by this server, which must be able to sign
	// the pouch's non-delivery.
	dl, hasDeadline := b.Deadline()
	if hasDeadline && c.opt.Evidence == nil {
		return errorf(http.StatusForbidden, "send it without --deliver-by, or ask the operator to start the server with the evidence office's keys",
			"%w: this server does not hold the key of the office %s, so it cannot report a non-delivery and takes no deadline", directory.ErrNotAuthorised, directory.EvidenceHandle)
	}
	e.Check = func(sq store.Sequenced) error {
		if err := c.changedBelow(sq.Index, dirChanged); err != nil {
			return err
		}
		// The deadline is judged again at the tag's time of sequencing,
		// the time its leaf commits to, as every verifier judges it.
		if hasDeadline && !dl.After(sq.Time) {
			return fmt.Errorf("%w: pouch with a deadline of %s, sequenced at %s: a deadline must be after the pouch is logged",
				ledger.ErrOverdue, dl.Format("2006-01-02T15:04:05.000Z"), sq.Time.UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		return nil
	}
	e.Parties = c.sealedParties(ledger.NewPouch(st, pos))
	if hasDeadline && !slices.Contains(e.Parties, directory.EvidenceHandle) {
		// The deadline watcher finds the pouch by this party (sealedOf).
		//
		// SPEC: spec/evidence.md#deadlines
		e.Parties = append(e.Parties, directory.EvidenceHandle)
		slices.Sort(e.Parties)
	}
	e.Payload, e.Staged = payload.data, payload.staged
	e.Refs = nil
	if b.Thread != nil {
		e.Refs = []record.ID{*b.Thread}
	}
	return nil
}

// tagAppended watches an appended tag's deadline and wakes its inbox
// streams.
func (c *Correspondence) tagAppended(e *store.Entry, r *record.Record, st *letter.SignedTag, sq store.Sequenced) *api.Accepted {
	p := &pouchState{Pouch: ledger.NewPouch(st, posOf(sq)), From: st.Tag.From, Sealed: sealedOf(e.Parties, st.Tag), next: sq.Index + 1}
	c.watchDeadline(p.Pouch)
	c.notifyPouch(p)
	return &api.Accepted{ID: e.ID, Kind: r.Kind, Index: sq.Index, Time: sq.Time}
}

// SPEC: spec/api.md#custody
func (c *Correspondence) submitCustody(ctx context.Context, r *record.Record, e *store.Entry, sc *letter.SignedCustody) (*api.Accepted, error) {
	b := sc.Custody
	var cited *ledger.Cited
	if b.OverLine != nil {
		cited = c.cite(ctx, *b.OverLine)
	}
	return c.submitToPouch(ctx, r, e, b.Pouch, func(p *ledger.Pouch, pos ledger.Pos) error {
		_, err := ledger.CheckCustody(c.dir, p, sc, pos, cited)
		return err
	})
}

// submitToPouch checks and appends a record that changes pouch pid (a
// custody record or an event), judged by check against the pouch as its
// records stand at the record's place in the log, and the directory
// then. The pouch's lock keeps this process's other records of the pouch
// out of the same group commit; the store's Append serialises those of
// other processes (spec/store.md#append).
func (c *Correspondence) submitToPouch(ctx context.Context, r *record.Record, e *store.Entry, pid record.ID, check func(p *ledger.Pouch, pos ledger.Pos) error) (*api.Accepted, error) {
	unlock := c.pouchLocks.lock(pid)
	defer unlock()
	p, err := c.loadTag(ctx, pid)
	if errors.Is(err, errNoPouch) {
		return nil, fmt.Errorf("%w: pouch %s", ledger.ErrUnknownPouch, pid.Short())
	} else if err != nil {
		return nil, err
	}
	by := r.By[0]
	e.Parties = append(slices.Clone(p.Sealed), by)
	slices.Sort(e.Parties)
	e.Parties = slices.Compact(e.Parties)
	e.Refs = []record.ID{pid}
	var now *pouchState
	a, err := c.retryStale(ctx, func() (*api.Accepted, error) {
		c.dirMu.RLock()
		defer c.dirMu.RUnlock()
		e.Check = func(sq store.Sequenced) error {
			if err := c.changedBelow(sq.Index, dirChanged); err != nil {
				return err
			}
			q, err := c.pouchAt(p, sq.Index)
			if err != nil {
				return err
			}
			if err := check(q.Pouch, posOf(sq)); err != nil {
				return err
			}
			now = q
			return nil
		}
		sq, err := c.append(ctx, e)
		if err != nil {
			return nil, err
		}
		return &api.Accepted{ID: e.ID, Kind: r.Kind, Index: sq.Index, Time: sq.Time}, nil
	})
	if err != nil {
		return nil, err
	}
	c.dirMu.RLock()
	c.notifyPouch(now)
	c.dirMu.RUnlock()
	return a, nil
}

// cite returns the record id as the log holds it, for a custody record's
// over_line; nil if the log holds none.
func (c *Correspondence) cite(ctx context.Context, id record.ID) *ledger.Cited {
	e, err := c.st.Get(ctx, id)
	if err != nil {
		return nil
	}
	ct := &ledger.Cited{ID: id, Kind: e.Kind, Pos: posOf(e.Sequenced)}
	if e.Kind == record.KindLine {
		if s, r, err := record.Parse(e.Signed); err == nil {
			ct.Call, _ = line.CheckCall(s, r)
		}
	}
	return ct
}

// SPEC: spec/api.md#publish
func (c *Correspondence) submitPublish(ctx context.Context, s *record.Signed, r *record.Record, e *store.Entry) (*api.Accepted, error) {
	b, err := parsePublish(r)
	if err != nil {
		return nil, err
	}
	target, err := c.st.Get(ctx, b.Record)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("publish: record %s: %w", b.Record.Short(), err)
	} else if err != nil {
		return nil, &storeFailure{err}
	}
	// A record is published once: its publish records are serialised in
	// this process, and each one's check reads the others from the store.
	unlock := c.pouchLocks.lock(b.Record)
	defer unlock()
	done, err := c.publishedBy(ctx, b.Record, 0)
	if err != nil {
		return nil, err
	}
	parties, err := readersOf(target)
	if err != nil {
		return nil, err
	}
	if err := ledger.CheckPublish(b.Record, parties, target.Public || done != nil, r.By[0]); err != nil {
		return nil, err
	}
	e.Refs = []record.ID{b.Record}
	return c.retryStale(ctx, func() (*api.Accepted, error) {
		c.dirMu.RLock()
		defer c.dirMu.RUnlock()
		e.Check = func(sq store.Sequenced) error {
			if err := c.changedBelow(sq.Index, dirChanged); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), checkReadTimeout)
			defer cancel()
			done, err := c.publishedBy(ctx, b.Record, sq.Index)
			if err != nil {
				return err
			}
			if err := ledger.CheckPublish(b.Record, parties, target.Public || done != nil, r.By[0]); err != nil {
				return err
			}
			return c.dir.Check(s, r, posOf(sq))
		}
		sq, err := c.append(ctx, e)
		if err != nil {
			return nil, err
		}
		return &api.Accepted{ID: e.ID, Kind: r.Kind, Index: sq.Index, Time: sq.Time}, nil
	})
}

// replayed reports whether record id is already in the log, for the kinds
// whose other rules would refuse a replay for another reason. Append
// refuses duplicates too, so a tag, whose checks do not depend on what
// follows it, needs no lookup.
func (c *Correspondence) replayed(ctx context.Context, r *record.Record, id record.ID) bool {
	if r.Kind == record.KindTag {
		return false
	}
	_, err := c.st.Get(ctx, id)
	return err == nil
}
