package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pouch.dev/api"
	"pouch.dev/directory"
	"pouch.dev/internal/httpsig"
	"pouch.dev/keys"
	"pouch.dev/ledger"
	"pouch.dev/line"
	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/tlog"
)

// CorrOptions configure the correspondence API.
type CorrOptions struct {
	Store store.Store
	// Directory is the founding rule the deployment expects. The log's
	// genesis record (index 0) fixes it: NewCorrespondence writes that
	// record into an empty store, and refuses a store whose genesis
	// disagrees.
	Directory directory.Config
	// OperatorKey signs the genesis record when the store is empty. It is
	// required then in operator mode (and must be the key of
	// Directory.Operator); in open mode a key made for the purpose signs
	// it. It is not used afterwards and need not be given.
	OperatorKey ed25519.PrivateKey
	// Origin is the log's origin, which its genesis record names: records
	// and request signatures for another log are refused. It is required
	// to found a log in an empty store; on a store that holds a log it may
	// be left empty, and must otherwise be that log's.
	Origin string
	// Log, if set, serves inclusion proofs of records.
	Log    *tlog.Log
	Logger *slog.Logger
	// Registerer receives the API's metrics; nil means none.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time
	// MaxAttachments is the most bytes the attachments of one letter may
	// hold together (default and at most record.MaxAttachmentsSize): the
	// server accepts payloads of up to record.PayloadLimit of it, and
	// advertises both at GET /v1/limits.
	MaxAttachments int64
	// Rate and Burst limit requests per principal (signed or submitting)
	// or per remote address; Rate 0 means no limit.
	Rate  float64
	Burst int
	// LineTap, if set, sees every chunk of bytes the secure line relay
	// forwards (line.Relay.Tap): tests and the demo show it is ciphertext.
	LineTap func(from, to record.Handle, p []byte)
	// OnLineClose, if set, is told what the relay knew of each line that
	// ended: who, when, how long, how many bytes.
	OnLineClose func(line.Session)
	// Limits are the budgets the API's requests take from (memory for
	// bodies, uploads, downloads); nil means NewLimits(Registerer). The
	// same Limits serve the connection cap (Limits.Listen).
	Limits *Limits
	// Evidence holds the keys of the deployment's evidence office
	// (directory.EvidenceHandle), which signs the non-delivery of a pouch
	// that passes its deadline undelivered (spec/evidence.md). A new log
	// admits it after its genesis record; a log whose office holds
	// another key admits it anew when the operator's key is given
	// (OperatorKey). Without it, or without the office, the server logs
	// no non-delivery and refuses pouches with a deadline.
	Evidence *keys.Principal
	// Advertise is the base URL (http://host:port) at which the other
	// replicas of a deployment reach this one, when its store is shared
	// (store.Replicas): where the ends of a secure line that reach
	// different replicas meet.
	Advertise string

	// noFollow leaves out the goroutine that follows the log (tests).
	noFollow bool
}

// Correspondence is the part of the pouch server that accepts and serves
// records: the directory, pouches, custody, delivery, a pouch's other
// events (acceptance, refusal, access, non-delivery), publishing, the
// inbox. It keeps the directory and the agreements in memory, replayed
// from their records in the store when it starts and kept caught up with
// the log by a goroutine that follows it (projection.go); every pouch is
// read from the store when a request needs it (pouches.go). It checks
// every record against that state as of the record's place in the log,
// which the store gives it as it sequences the record. Its deadline
// watcher (Watch, Sweep) logs the non-delivery of pouches past their
// deadline, signed by the deployment's evidence office (spec/evidence.md).
//
// SPEC: spec/api.md
type Correspondence struct {
	opt CorrOptions
	st  store.Store
	log *slog.Logger
	now func() time.Time

	// dirMu guards dir. Directory records hold it for writing across
	// check, append and apply, so that they apply in log order; other
	// records hold it for reading.
	dirMu sync.RWMutex
	dir   *directory.Directory
	// proj tells how far dir and agreements have come in the log.
	proj projection

	// pouchLocks serialise the records that change one pouch, and the
	// publishing of one record, from check to append.
	pouchLocks *pouchLocks

	// agreements holds the agreements and statements (agreements.go).
	agreements *agreementBook

	// deadlines is the deadline watcher's state (events.go).
	deadlines *deadlineWatch

	replay  httpsig.Replay
	limits  *limiter
	lim     *Limits
	broker  *broker
	metrics *corrMetrics
}

// NewCorrespondence returns the API over opt.Store, replaying the
// directory and agreement records already stored. The pouches are not
// read: the deadline watcher finds those with a deadline in the
// background (Watching and Sweep wait for it).
func NewCorrespondence(ctx context.Context, opt CorrOptions) (*Correspondence, error) {
	if opt.Store == nil {
		return nil, errors.New("server: no store")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxAttachments <= 0 || opt.MaxAttachments > record.MaxAttachmentsSize {
		opt.MaxAttachments = record.MaxAttachmentsSize
	}
	if opt.Limits == nil {
		opt.Limits = NewLimits(opt.Registerer)
	}
	// A zero Directory (operator mode, no key) takes the founding rule
	// from the log's genesis record: a replica of a founded log needs
	// neither the operator's key nor its public half (found refuses to
	// found a log without the key).
	c := &Correspondence{
		opt:        opt,
		st:         opt.Store,
		log:        opt.Logger,
		now:        opt.Now,
		dir:        directory.New(opt.Directory),
		pouchLocks: newPouchLocks(),
		deadlines:  newDeadlineWatch(),
		limits:     newLimiter(opt.Rate, opt.Burst),
		lim:        opt.Limits,
		broker:     newBroker(),
		metrics:    newCorrMetrics(opt.Registerer),
	}
	c.metrics.observe(opt.Registerer, opt.Store)
	c.agreements = newAgreementBook(c.dir)
	if err := c.found(ctx); err != nil {
		return nil, err
	}
	start := time.Now()
	n, err := c.replayProjection(ctx)
	if err != nil {
		return nil, err
	}
	c.log.Info("directory rebuilt from the log", "records", n, "houses", len(c.dir.Houses()), "took", time.Since(start))
	g, ok := c.dir.Genesis()
	if !ok {
		return nil, fmt.Errorf("server: the log's first record is not a valid genesis record; this store was written by an earlier version of pouch, whose formats changed: start from an empty data folder")
	}
	// The genesis record names the log's origin: records and request
	// signatures are judged against it.
	if c.opt.Origin != "" && c.opt.Origin != g.Genesis.Origin {
		return nil, fmt.Errorf("server: this store holds log %q, not %q; start it with its own origin, or from an empty data folder", g.Genesis.Origin, c.opt.Origin)
	}
	c.opt.Origin = g.Genesis.Origin
	if err := c.admitEvidence(ctx); err != nil {
		return nil, err
	}
	// Both end when the store closes.
	if !c.opt.noFollow {
		go c.follow()
	}
	go c.loadDeadlines()
	return c, nil
}

// found writes the log's genesis record into an empty store.
//
// SPEC: spec/directory.md#genesis
func (c *Correspondence) found(ctx context.Context) error {
	st, err := c.st.State(ctx)
	if err != nil {
		return err
	}
	if st.Size > 0 {
		return nil
	}
	if c.opt.Origin == "" {
		return errors.New("server: a new log needs its origin (CorrOptions.Origin) for its genesis record")
	}
	key := c.opt.OperatorKey
	switch {
	case key == nil && c.opt.Directory.Mode == directory.ModeOpen:
		if _, key, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return err
		}
	case key == nil:
		return errors.New("server: founding a log in operator mode needs the operator key (CorrOptions.OperatorKey)")
	case c.opt.Directory.Mode == directory.ModeOperator && !key.Public().(ed25519.PublicKey).Equal(c.opt.Directory.Operator):
		return errors.New("server: CorrOptions.OperatorKey is not the key of Directory.Operator")
	}
	// The key that signs the genesis record admits the deployment's
	// evidence office next (admitEvidence).
	c.opt.OperatorKey = key
	g, err := directory.GenesisRecord(c.opt.Origin, c.opt.Directory.Mode, key, c.now().UnixMilli())
	if err != nil {
		return err
	}
	_, err = c.st.Append(ctx, []*store.Entry{{ID: g.ID(), Kind: record.KindGenesis, Signed: g.Marshal(), Public: true}})
	if err != nil && !errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("server: writing the genesis record: %w", err)
	}
	c.log.Info("log founded", "origin", c.opt.Origin, "mode", c.opt.Directory.Mode, "operator", fmt.Sprintf("%x", key.Public()))
	return nil
}

// sealedParties lists who a pouch's private records are served to, as of
// its submission: sender, addressee, envoys and the addressee's receive
// delegates then. The caller holds dirMu for reading.
func (c *Correspondence) sealedParties(p *ledger.Pouch) []record.Handle {
	hs := []record.Handle{p.Tag.From, p.Tag.To}
	hs = append(hs, p.Tag.Via...)
	for _, d := range c.dir.ReceiveDelegates(p.Tag.To, p.Tag.From, p.ThreadIDs(), p.Pos) {
		hs = append(hs, d.Handle)
	}
	slices.Sort(hs)
	return slices.Compact(hs)
}

// An apiError is an error with its HTTP status and a hint.
type apiError struct {
	status int
	err    error
	hint   string
}

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

func errorf(status int, hint string, format string, a ...any) error {
	return &apiError{status: status, err: fmt.Errorf(format, a...), hint: hint}
}

// A hinted error is a rule's error with a hint for the client; its status
// and code are the rule's.
type hinted struct {
	err  error
	hint string
}

func (e *hinted) Error() string { return e.err.Error() }
func (e *hinted) Unwrap() error { return e.err }

func withHint(err error, hint string) error { return &hinted{err: err, hint: hint} }

// statusOf maps an error to an HTTP status, a hint and the code of the
// rule that refused (api.CodeOf).
func statusOf(err error) (int, string, api.Code) {
	code, status := api.CodeOf(err)
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, ae.hint, code
	}
	var h *hinted
	if errors.As(err, &h) && status != 0 {
		return status, h.hint, code
	}
	switch {
	case errors.Is(err, store.ErrDuplicate):
		return status, "this record is already in the log: a replay is refused; sign a new record", code
	case errors.Is(err, record.ErrBadSignature), errors.Is(err, record.ErrMissingSig), errors.Is(err, record.ErrUnknownAlg):
		return status, "the record's signatures do not verify; sign it again", code
	case errors.Is(err, directory.ErrKeyRevoked), errors.Is(err, directory.ErrKeyNotCurrent):
		return status, "the signer's key is not current in the directory; ask the house registrar", code
	case errors.Is(err, directory.ErrUnknownPrincipal), errors.Is(err, directory.ErrUnknownHouse):
		return status, "admit the principal first (pouch admit)", code
	case errors.Is(err, httpsig.ErrUnsigned):
		return status, "sign the request as a party (the pouch client does this with --as)", code
	case errors.Is(err, store.ErrFull):
		return status, "retry later: the server's disk is full, and its operator must free space", code
	case errors.Is(err, store.ErrIO):
		return status, "retry later", code
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "", code
	case status != 0:
		return status, "", code
	}
	return http.StatusInternalServerError, "", code
}

func (c *Correspondence) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, hint, code := statusOf(err)
	switch {
	case status == http.StatusServiceUnavailable && errors.Is(err, api.ErrBusy):
		c.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	case status >= 500:
		c.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	default:
		c.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	retryAfter(w, status)
	if r.Method == http.MethodPost && r.ContentLength != 0 {
		// The body may not have been read to its end.
		evictFirst(r)
	}
	writeJSONTo(w, status, api.ErrorBody{Error: publicMessage(err), Hint: hint, Code: code})
}

// publicMessage is the sentence an error is answered with: the error's
// own, but for storage failures, whose raw text (the database's) is for
// the server's log.
func publicMessage(err error) string {
	switch {
	case errors.Is(err, store.ErrFull):
		return "the server's storage is full: nothing was written"
	case errors.Is(err, store.ErrIO):
		return "the server's storage failed to write: nothing was written"
	}
	return err.Error()
}

// Limits returns the budgets the API takes from, for Limits.Listen and
// Limits.HTTPServer.
func (c *Correspondence) Limits() *Limits { return c.lim }

// writeJSONTo answers v, indented, with its Content-Length. The length
// matters: without it an answer flushed before the handler returns (an
// acknowledgement) is sent chunked, its last chunk in a second write, and
// a client that stops reading at the JSON's end (Go's json.Decoder)
// closes the connection instead of using it again, so every request
// would cost the server a new connection.
func writeJSONTo(w http.ResponseWriter, status int, v any) {
	buf := answerBufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledAnswer {
			buf.Reset()
			answerBufs.Put(buf)
		}
	}()
	enc := json.NewEncoder(buf)
	enc.SetIndent("", "  ")
	enc.Encode(v)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// answerBufs are writeJSONTo's buffers; those that grew past
// maxPooledAnswer (a long list) are left to the collector.
var answerBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledAnswer = 64 << 10

// Register adds the API's routes to mux.
func (c *Correspondence) Register(mux Mux) {
	h := func(name string, f http.HandlerFunc) http.Handler { return c.instrument(name, f) }
	mux.Handle("POST /v1/records", h("records.submit", c.handleSubmit))
	mux.Handle("GET /v1/records", h("records.find", c.handleFindRecords))
	mux.Handle("GET /v1/records/{id}", h("records.get", c.handleGetRecord))
	mux.Handle("GET /v1/log/records", h("log.records", c.handleLogRecords))
	mux.Handle("GET /v1/records/{id}/proof", h("records.proof", c.handleProof))
	mux.Handle("GET /v1/records/{id}/payload", h("records.payload", c.handlePayload))
	mux.Handle("POST /v1/pouches", h("pouches.submit", c.handleSubmitPouch))
	mux.Handle("POST /v1/pouches/batch", h("pouches.batch", c.handleSubmitBatch))
	mux.Handle("GET /v1/pouches/{id}", h("pouches.get", c.handleGetPouch))
	mux.Handle("GET /v1/inbox", h("inbox", c.handleInbox))
	mux.Handle("GET /v1/inbox/alerts", h("inbox.alerts", c.handleAlerts))
	mux.Handle("GET /v1/directory/houses", h("directory.houses", c.handleHouses))
	mux.Handle("GET /v1/directory/principals/{house}/{office}", h("directory.principal", c.handlePrincipal))
	mux.Handle("GET /v1/directory/seal", h("directory.seal", c.handleSealTo))
	mux.Handle("GET /v1/directory/grants/{house}/{office}", h("directory.grants", c.handleGrants))
	mux.Handle("GET /v1/limits", h("limits", c.handleLimits))
	mux.Handle("GET /v1/openapi.json", h("openapi", serveOpenAPI))
	c.registerAgreements(mux)
	c.registerLine(mux)
}
