// Package client is the Go client of a pouch server: the library under the
// CLI, the demo and the tests.
//
// A Client talks to one server. Writes are signed records (Submit,
// SubmitPouch); reads of private data are signed as a principal with an
// RFC 9421 request signature (every method taking an *Identity). On top of
// those, the correspondence verbs: Send resolves the addressee's receive
// delegates from the directory and says who will be able to open the
// letter before sealing it; Take and Deliver sign custody; Reply threads a
// letter to an earlier one on its own route; Publish makes a private record
// public; Inbox and Follow list and stream what awaits a principal.
//
// Houses are founded with FoundHouse (open mode, or with the operator's
// key at hand) or, on a server in operator mode, with a founding request:
// RequestHouse, by the founder with the new registrar key, and
// ApproveHouse, by the operator, who checks it (CheckHouseRequest),
// countersigns it and submits it, so the operator's key stays with the
// operator.
//
// Every record the client fetches can be checked against the log: Proof
// fetches a record's inclusion proof and VerifyProof checks it against the
// log's signed checkpoint, with the log's verifier key.
//
// The verbs act only on what the client proved from the log (View, Prove,
// Chain, PlanFor, LineDirectory). A server that lies in a way the trust
// model names — directory answers, records withheld, altered or sequenced
// as private against the rules, a forked, rolled-back, uncosigned or stale
// checkpoint, misstated times, another pouch's payload, a made-up custody
// list or proof, a line peer's key — is caught with an error naming the
// lie (ErrWithheld, ErrMismatch, ErrRulesBroken, ErrNotInView,
// ErrKeyChanged; tlog.ErrFork, ErrRollback, ErrNoQuorum, ErrStale,
// ErrBadProof), and nothing is sealed, signed or kept because of it. The
// hostile-server suite (hostile_test.go, over the lying proxy of package
// internal/liar) plays each of those lies against a real server.
//
// # Readers
//
// Accept, Refuse and LogAccess sign the addressee's side's events of a
// pouch (spec/evidence.md), each proven against the rules first; Chain
// proves a pouch's events with its custody. Evidence writes a pouch's
// evidence bundle, which VerifyEvidence checks with no network.
//
// Open opens a pouch fetched by ID; Fetch writes it as a .pouch file with
// every record it rests on and their C2SP tlog-proofs, which VerifyFile
// checks with no network given the log's verifier (KeptLogKeys finds the
// key a home pinned for a log). Resolve turns the short IDs people type
// (8 hex digits or more) into the one record they name among those the
// caller may read.
//
// # Large letters
//
// A letter's attachments may hold record.MaxAttachmentsSize bytes (1 GiB)
// together, or less on a server that says so (Limits, GET /v1/limits):
// CheckSize, which Send runs first, refuses a letter over the limit before
// anything is proven, read or sealed. Payloads of any size stream: Send
// seals a large letter to a temporary file and streams it up
// (SubmitPouchFrom); OpenPayload, FetchTo and OpenFetched stream a payload
// down, hashed as it comes and checked against the proven tag at its end,
// so that memory stays bounded whatever the letter's size. Seal, Open,
// Fetch and Payload hold the payload in memory, for small letters.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/api"
	"pouch.dev/internal/httpsig"
	"pouch.dev/keys"
	"pouch.dev/record"
)

// An Identity is a principal's private keys (package keys). A house
// registrar or the operator signs only and has no Sealing identity.
type Identity = keys.Principal

// A Client talks to one pouch server.
type Client struct {
	// URL is the server's base URL, such as "http://127.0.0.1:8080".
	URL string
	// HTTP is the HTTP client; nil means http.DefaultClient.
	HTTP *http.Client
	// Origin is the origin of the server's log. It is written into every
	// record the client signs, and every request signature covers it, so
	// that a request signed for this log is refused by any other. If it
	// is not set, signed requests name the log the client anchored on
	// (View), and fail before then.
	Origin string
	// Now is the clock for claimed record times and request signatures;
	// nil means time.Now.
	Now func() time.Time
	// Trust is what the verifying client anchors on (the log's key, the
	// witness policy) and where it keeps what it verified; nil means a
	// key pinned on first use, in memory.
	Trust *Trust
	// Progress, if set, is told how many bytes of a payload went up to
	// the server (SubmitPouchFrom) or came down from it (OpenPayload), of
	// how many (0 if the server did not say), as they move: for a
	// progress display. It is called on the goroutine that moves them.
	Progress func(done, total uint64)
	// TempDir is where Send seals a large payload before it streams it to
	// the server; empty means os.TempDir.
	TempDir string
	// WaitLogged makes every submission wait (a few seconds at most)
	// until the log's published checkpoint covers the accepted record, so
	// that a command that follows, in another process, proves it: the
	// CLI sets it.
	WaitLogged bool

	viewMu sync.Mutex
	view   *View // the last View returned

	// submitted is one past the highest index of the records this
	// client had accepted: its View waits for a checkpoint covering them,
	// so it proves what it just wrote.
	submitted atomic.Uint64

	// anchored is the origin of the log the client anchored on (anchor),
	// checked against its Trust: request signatures name it when Origin
	// is not set.
	anchored atomic.Pointer[string]
}

// accepted notes that a record this client submitted is at index, and
// with WaitLogged waits for the log to publish it.
func (c *Client) accepted(index uint64) {
	defer func() {
		if c.WaitLogged {
			c.waitIntegrated(context.Background(), index)
		}
	}()
	for {
		n := c.submitted.Load()
		if index+1 <= n || c.submitted.CompareAndSwap(n, index+1) {
			return
		}
	}
}

// New returns a client of the server at url.
func New(url string) *Client { return &Client{URL: strings.TrimRight(url, "/")} }

// An Error is a refusal from the server. It unwraps to the sentinel error
// of the rule that refused (api.ErrorOf of its Code), so errors.Is matches
// the same sentinels on either side of the wire:
// errors.Is(err, directory.ErrGrantExpired).
type Error struct {
	Status int
	Msg    string
	Hint   string
	Code   api.Code
}

// Unwrap returns the sentinel error of e's code, if the client knows it.
func (e *Error) Unwrap() error { return api.ErrorOf(e.Code) }

func (e *Error) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return e.Msg
}

// Conditions callers branch on, matched by errors.Is against an *Error.
var (
	ErrNotFound     = errors.New("not found")
	ErrForbidden    = errors.New("refused: not authorised")
	ErrReplay       = errors.New("refused: record already in the log")
	ErrUnauthorised = errors.New("request signature refused")
)

// Is maps an HTTP status to the sentinels.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrReplay:
		return e.Status == http.StatusConflict
	case ErrUnauthorised:
		return e.Status == http.StatusUnauthorized
	}
	return false
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// request builds a request, signed as as if not nil.
func (c *Client) request(ctx context.Context, method, path string, body []byte, ctype string, as *Identity) (*http.Request, error) {
	if body == nil {
		return c.requestFrom(ctx, method, path, nil, 0, ctype, as)
	}
	return c.requestFrom(ctx, method, path, bytes.NewReader(body), int64(len(body)), ctype, as)
}

// requestFrom builds a request whose body of size bytes is read from body
// as it is sent, signed as as if not nil.
func (c *Client) requestFrom(ctx context.Context, method, path string, body io.Reader, size int64, ctype string, as *Identity) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if as != nil {
		// SPEC: spec/api.md#authentication
		origin := c.Origin
		if origin == "" {
			if o := c.anchored.Load(); o != nil {
				origin = *o
			}
		}
		if origin == "" {
			return nil, errors.New("client: a signed request names the log it is for, and this client knows no log: set Client.Origin, or catch up with the log first (View)")
		}
		if err := httpsig.Sign(req, origin, string(as.Handle), as.Signing, c.now()); err != nil {
			return nil, fmt.Errorf("client: signing the request: %w", err)
		}
	}
	return req, nil
}

// maxAnswer bounds an answer read into memory whole (a tile, an entry
// bundle); payloads are streamed (OpenPayload).
const maxAnswer = 16 << 20

// do sends a request and decodes a JSON answer into out, or returns an
// *Error.
func (c *Client) do(ctx context.Context, method, path string, body []byte, ctype string, as *Identity, out any) error {
	req, err := c.request(ctx, method, path, body, ctype, as)
	if err != nil {
		return err
	}
	return c.send(req, out)
}

// send sends req and decodes a JSON answer into out, or returns an
// *Error.
func (c *Client) send(req *http.Request, out any) error {
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("reaching the pouch server: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return readError(resp)
	}
	if out == nil {
		return nil
	}
	if b, ok := out.(*[]byte); ok {
		*b, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
		if err == nil && len(*b) > maxAnswer {
			err = fmt.Errorf("the server's answer to %s %s is larger than %d bytes", req.Method, req.URL.Path, maxAnswer)
		}
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("reading the server's answer to %s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

func readError(resp *http.Response) error {
	var eb api.ErrorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
		eb.Error = strings.TrimSpace(string(b))
	}
	return &Error{Status: resp.StatusCode, Msg: eb.Error, Hint: eb.Hint, Code: eb.Code}
}

// Submit sends a signed record and returns its place in the log.
func (c *Client) Submit(ctx context.Context, s *record.Signed) (*api.Accepted, error) {
	var a api.Accepted
	if err := c.do(ctx, "POST", "/v1/records", s.Marshal(), "application/cbor", nil, &a); err != nil {
		return nil, err
	}
	if err := acceptedAs(&a, s.ID()); err != nil {
		return nil, err
	}
	c.accepted(a.Index)
	return &a, nil
}

// acceptedAs checks that the server's answer to a submission names the
// record submitted, id, which the client computed itself.
func acceptedAs(a *api.Accepted, id record.ID) error {
	if a.ID != id {
		return fmt.Errorf("%w: the server says it accepted record %s; the record sent is %s", ErrMismatch, a.ID.Short(), id.Short())
	}
	return nil
}

// SubmitPouch sends a signed tag with its sealed payload.
func (c *Client) SubmitPouch(ctx context.Context, tag *record.Signed, payload []byte) (*api.Accepted, error) {
	return c.SubmitPouchFrom(ctx, tag, bytes.NewReader(payload), uint64(len(payload)))
}

// SubmitPouchFrom sends a signed tag with its sealed payload of size
// bytes, read from payload as it is sent: a payload of any size is
// streamed, never held in memory. Once it returns, it reads payload no
// more. The server checks the payload's size
// against the tag's before it reads any of it, and its digest once it
// has read it all (spec/api.md#post-pouches).
func (c *Client) SubmitPouchFrom(ctx context.Context, tag *record.Signed, payload io.Reader, size uint64) (*api.Accepted, error) {
	// The deterministic encoding of api.PouchSubmission, {"tag",
	// "payload"}, ends with the payload: its head is followed by the
	// payload's bytes as they are read.
	head, err := record.Marshal(&api.PouchSubmission{Tag: tag.Marshal(), Payload: []byte{}})
	if err != nil {
		return nil, err
	}
	head = record.AppendCBORHead(head[:len(head)-1], 2, size) // replace the empty byte string's head
	body := &closingBody{r: io.MultiReader(bytes.NewReader(head), c.counting(payload, size)), closed: make(chan struct{})}
	req, err := c.requestFrom(ctx, "POST", "/v1/pouches", body, int64(len(head))+int64(size), "application/cbor", nil)
	if err != nil {
		return nil, err
	}
	var a api.Accepted
	err = c.send(req, &a)
	// The transport may go on reading the body after the answer came
	// (a refusal before the payload was read): once it closes the body,
	// payload is the caller's again.
	<-body.closed
	if err != nil {
		return nil, err
	}
	if err := acceptedAs(&a, tag.ID()); err != nil {
		return nil, err
	}
	c.accepted(a.Index)
	return &a, nil
}

// closingBody is a request body that says when the transport closed it.
type closingBody struct {
	r      io.Reader
	once   sync.Once
	closed chan struct{}
}

func (b *closingBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *closingBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// counting returns r, counted for Progress if it is set.
func (c *Client) counting(r io.Reader, total uint64) io.Reader {
	if c.Progress == nil {
		return r
	}
	return &progressReader{r: r, total: total, f: c.Progress}
}

// progressReader tells f how many bytes were read, of total.
type progressReader struct {
	r     io.Reader
	done  uint64
	total uint64
	f     func(done, total uint64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.done += uint64(n)
		p.f(p.done, p.total)
	}
	return n, err
}

// Limits asks the server how large a letter it accepts (GET /v1/limits).
// A server too old to say answers ErrNotFound.
func (c *Client) Limits(ctx context.Context) (*api.Limits, error) {
	var l api.Limits
	if err := c.do(ctx, "GET", "/v1/limits", nil, "", nil, &l); err != nil {
		return nil, err
	}
	if l.MaxAttachments <= 0 || l.MaxPayload < l.MaxAttachments {
		return nil, fmt.Errorf("the server's limits make no sense: attachments of %d bytes, payloads of %d", l.MaxAttachments, l.MaxPayload)
	}
	return &l, nil
}

// Record fetches a record by ID, signing the request as as (nil for a
// public record). It checks that the record's bytes hash to id and that its
// signatures verify: another record, or bytes that do not verify, are
// ErrMismatch.
func (c *Client) Record(ctx context.Context, id record.ID, as *Identity) (*api.RecordView, error) {
	var v api.RecordView
	if err := c.do(ctx, "GET", "/v1/records/"+id.String(), nil, "", as, &v); err != nil {
		return nil, err
	}
	s, _, err := record.Verify(v.Signed)
	if err != nil {
		return nil, fmt.Errorf("%w: record %s from the server: %w", ErrMismatch, id.Short(), err)
	}
	if s.ID() != id {
		return nil, fmt.Errorf("%w: the server answered record %s with another record (%s)", ErrMismatch, id.Short(), s.ID().Short())
	}
	return &v, nil
}

// Payload fetches a pouch's sealed payload into memory; OpenPayload
// streams it.
func (c *Client) Payload(ctx context.Context, id record.ID, as *Identity) ([]byte, error) {
	r, err := c.OpenPayload(ctx, id, as)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// OpenPayload fetches a pouch's sealed payload as a stream, which the
// caller reads and closes. It yields at most record.MaxPayloadSize bytes,
// and fails on more; nothing is checked against the tag here: the caller
// hashes what it reads (letter.ReadFile and File.Finish do).
func (c *Client) OpenPayload(ctx context.Context, id record.ID, as *Identity) (io.ReadCloser, error) {
	req, err := c.request(ctx, "GET", "/v1/records/"+id.String()+"/payload", nil, "", as)
	if err != nil {
		return nil, err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("reaching the pouch server: %w", err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, readError(resp)
	}
	if resp.ContentLength > record.MaxPayloadSize {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: the server announces a payload of %d bytes, more than any pouch holds (%d)", ErrMismatch, resp.ContentLength, record.MaxPayloadSize)
	}
	total := uint64(max(resp.ContentLength, 0))
	return &payloadBody{Reader: c.counting(&limitedBody{r: resp.Body, left: record.MaxPayloadSize}, total), c: resp.Body}, nil
}

type payloadBody struct {
	io.Reader
	c io.Closer
}

func (p *payloadBody) Close() error { return p.c.Close() }

// limitedBody fails once more than left bytes are read.
type limitedBody struct {
	r    io.Reader
	left int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, fmt.Errorf("%w: the server sent a payload larger than any pouch holds (%d bytes)", ErrMismatch, record.MaxPayloadSize)
	}
	return n, err
}

// Pouch fetches a pouch's tag view and custody so far.
func (c *Client) Pouch(ctx context.Context, id record.ID, as *Identity) (*api.PouchView, error) {
	var v api.PouchView
	if err := c.do(ctx, "GET", "/v1/pouches/"+id.String(), nil, "", as, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Principal fetches an office's keys; index ≥ 0 also asks which key held it
// at that log index.
func (c *Client) Principal(ctx context.Context, h record.Handle, index int64) (*api.PrincipalView, error) {
	p := "/v1/directory/principals/" + string(h)
	if index >= 0 {
		p += fmt.Sprintf("?index=%d", index)
	}
	var v api.PrincipalView
	if err := c.do(ctx, "GET", p, nil, "", nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Houses lists the founded houses.
func (c *Client) Houses(ctx context.Context) ([]api.HouseView, error) {
	var v []api.HouseView
	err := c.do(ctx, "GET", "/v1/directory/houses", nil, "", nil, &v)
	return v, err
}

// Grants lists the grants to and by h (private ones too if as is a party).
func (c *Client) Grants(ctx context.Context, h record.Handle, as *Identity) ([]api.GrantView, error) {
	var v []api.GrantView
	err := c.do(ctx, "GET", "/v1/directory/grants/"+string(h), nil, "", as, &v)
	return v, err
}

// SealTo asks whom a letter from from to to (in thread, if not nil) must be
// sealed to now.
func (c *Client) SealTo(ctx context.Context, from, to record.Handle, thread *record.ID) (*api.SealView, error) {
	q := url.Values{"from": {string(from)}, "to": {string(to)}}
	if thread != nil {
		q.Set("thread", thread.String())
	}
	var v api.SealView
	if err := c.do(ctx, "GET", "/v1/directory/seal?"+q.Encode(), nil, "", nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Inbox lists as's pouches: as sender, addressee, delegate or envoy.
func (c *Client) Inbox(ctx context.Context, as *Identity) ([]api.InboxItem, error) {
	var v []api.InboxItem
	err := c.do(ctx, "GET", "/v1/inbox", nil, "", as, &v)
	return v, err
}

// InboxPage lists a page of as's inbox: at most limit pouches (0: the
// server's default), newest first, those sequenced before log index
// before if it is not 0 (GET /v1/inbox?limit=&before=).
//
// SPEC: spec/api.md#inbox
func (c *Client) InboxPage(ctx context.Context, as *Identity, limit int, before uint64) ([]api.InboxItem, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if before > 0 {
		q.Set("before", strconv.FormatUint(before, 10))
	}
	path := "/v1/inbox"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var v []api.InboxItem
	err := c.do(ctx, "GET", path, nil, "", as, &v)
	return v, err
}

// Alerts lists as's overdue attestations: those the clauses of
// agreements expect that have not come by their due day, which concern as
// as depositary, signer of a party in force, or the verifier that owes
// them (GET /v1/inbox/alerts). They are the server's derivation from
// public records; a client that must not trust it replays the agreement
// from its View (agreement.Timeline.Alerts).
//
// SPEC: spec/agreement.md#overdue-alerts
func (c *Client) Alerts(ctx context.Context, as *Identity) ([]agreement.Alert, error) {
	var v []agreement.Alert
	err := c.do(ctx, "GET", "/v1/inbox/alerts", nil, "", as, &v)
	return v, err
}

// Follow streams as's inbox: f is called with the whole list first, then
// with every pouch that arrives or changes hands, until ctx is done or f
// returns an error.
func (c *Client) Follow(ctx context.Context, as *Identity, f func(items []api.InboxItem) error) error {
	req, err := c.request(ctx, "GET", "/v1/inbox?follow=1", nil, "", as)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("reaching the pouch server: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readError(resp)
	}
	return readEvents(resp.Body, func(event string, data []byte) error {
		switch event {
		case "inbox":
			var items []api.InboxItem
			if err := json.Unmarshal(data, &items); err != nil {
				return err
			}
			return f(items)
		case "pouch":
			var it api.InboxItem
			if err := json.Unmarshal(data, &it); err != nil {
				return err
			}
			return f([]api.InboxItem{it})
		}
		return nil
	})
}

// readEvents parses a text/event-stream.
func readEvents(r io.Reader, f func(event string, data []byte) error) error {
	br := newLineReader(r)
	var event string
	var data []byte
	for {
		line, err := br.line()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		switch {
		case line == "":
			if event != "" || data != nil {
				if err := f(event, data); err != nil {
					return err
				}
			}
			event, data = "", nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")...)
		}
	}
}

// SubmitPouches sends up to api.MaxPouchBatch pouches in one request;
// the server checks each as SubmitPouch would and commits those that pass
// in one transaction. The results are in order.
func (c *Client) SubmitPouches(ctx context.Context, subs []api.PouchSubmission) ([]api.BatchResult, error) {
	b, err := record.Marshal(subs)
	if err != nil {
		return nil, err
	}
	var res []api.BatchResult
	if err := c.do(ctx, "POST", "/v1/pouches/batch", b, "application/cbor", nil, &res); err != nil {
		return nil, err
	}
	if len(res) != len(subs) {
		return nil, fmt.Errorf("the server answered %d results for %d pouches", len(res), len(subs))
	}
	for i, r := range res {
		if r.Accepted == nil {
			continue
		}
		tag, _, err := record.Parse(subs[i].Tag)
		if err == nil {
			err = acceptedAs(r.Accepted, tag.ID())
		}
		if err != nil {
			return nil, fmt.Errorf("pouch %d of the batch: %w", i, err)
		}
		c.accepted(r.Index)
	}
	return res, nil
}
