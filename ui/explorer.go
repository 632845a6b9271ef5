package ui

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// ExplorerConfig configures an Explorer.
type ExplorerConfig struct {
	// API is the pouch server whose log the explorer shows; the explorer
	// reads it through its public HTTP API, in process. Required.
	API http.Handler
	// LogKey is the log's verifier key. The explorer uses it only to
	// follow the log it draws; it never vouches for anything it shows.
	// Required.
	LogKey string
	// Dir is where the explorer keeps what it has read of the log, so
	// that each page reads only what is new; empty means a temporary
	// folder.
	Dir string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives errors; nil means slog.Default().
	Logger *slog.Logger
}

// An Explorer is the public explorer that `pouch serve` serves at /: the
// log's checkpoints and their witness cosignatures, the log's growth, the
// directory with each office's key history, published records (delivery
// receipts, disclosures) with their inclusion proofs, agreements with
// their timelines, and statements.
//
// A tick computed by the server being checked would prove nothing, so the
// explorer computes none: it shows each proof and the command that checks
// it, and a script in the visitor's browser checks the checkpoint's
// signatures and the inclusion proofs against a log key or a witness
// policy the visitor supplied or pinned (spec/ui.md#explorer). Without
// one, no tick is shown.
//
// SPEC: spec/ui.md#explorer
type Explorer struct {
	cfg Config
	c   *client.Client
	t   *templates

	mu     sync.Mutex // guards the View the explorer follows, and growth
	growth map[uint64]Point
}

// Config is the shared part of an Explorer's and a Desk's configuration.
type Config struct {
	Now    func() time.Time
	Logger *slog.Logger
}

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// NewExplorer returns an explorer of cfg.API's log.
func NewExplorer(cfg ExplorerConfig) (*Explorer, error) {
	if cfg.API == nil || cfg.LogKey == "" {
		return nil, errors.New("ui: an explorer needs the server's API handler and its log key")
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	c := client.New("http://pouch.internal")
	c.HTTP = &http.Client{Transport: handlerTransport{cfg.API}, Timeout: 30 * time.Second}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "pouch-explorer-")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	c.Trust = &client.Trust{LogKey: cfg.LogKey, Dir: dir}
	c.Now = cfg.Now
	t, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	return &Explorer{cfg: Config{Now: cfg.Now, Logger: lg}, c: c, t: t, growth: map[uint64]Point{}}, nil
}

// handlerTransport serves a client's requests with a handler, in process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.RequestURI = r.URL.RequestURI()
	r.RemoteAddr = "127.0.0.1:0"
	t.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// Mount adds the explorer's routes with handle, such as a
// server.Server's Handle: the home at /, pages under /explore/, and the
// assets under /assets/.
func (e *Explorer) Mount(handle func(pattern string, h http.Handler)) {
	for p, f := range map[string]http.HandlerFunc{
		"GET /{$}":                             e.home,
		"GET /explore/directory":               e.directory,
		"GET /explore/office/{house}/{office}": e.office,
		"GET /explore/records":                 e.records,
		"GET /explore/record/{id}":             e.record,
		"GET /explore/agreement/{id}":          e.agreementPage,
		"GET /explore/statement/{id}":          e.statement,
		"GET /assets/{file}":                   serveAsset,
	} {
		handle(p, publicHeaders(f))
	}
}

// publicHeaders sets the headers of every explorer page: no framing, no
// script or style from elsewhere, no referrer.
func publicHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

// view catches the explorer's View up with the log. It is for drawing:
// the explorer runs beside the server it shows, and vouches for nothing.
func (e *Explorer) view(ctx context.Context) (*client.View, error) {
	return e.c.View(ctx, nil)
}

// serverURL is the server's base URL as the visitor reached it, for the
// commands a page shows.
func serverURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

type cosigLine struct {
	Name string
	Hash string
	Kind string
}

// signatureLines lists a signed note's signature lines.
func signatureLines(note []byte) []cosigLine {
	_, sigs, ok := bytes.Cut(note, []byte("\n\n"))
	if !ok {
		return nil
	}
	var out []cosigLine
	for _, l := range strings.Split(strings.TrimSpace(string(sigs)), "\n") {
		l = strings.TrimPrefix(l, "— ")
		name, b64, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) < 4 {
			continue
		}
		kind := "signature"
		switch len(raw) - 4 {
		case 64:
			kind = "Ed25519 signature"
		case 72:
			kind = "Ed25519 cosignature (cosignature/v1)"
		case 8 + 2420:
			kind = "ML-DSA-44 cosignature (subtree/v1)"
		}
		out = append(out, cosigLine{Name: name, Hash: fmt.Sprintf("%x", raw[:4]), Kind: kind})
	}
	return out
}

type agreementCard struct {
	ID      record.ID
	Title   string
	Name    string
	Through agreement.Date
	Picture AgreementPicture
	Status  *agreement.Status
}

func (e *Explorer) home(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var info api.LogInfo
	if err := e.getJSON(ctx, "/v1/log", &info); err != nil {
		e.fail(w, r, err)
		return
	}
	v, err := e.view(ctx)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	note, cp := v.Checkpoint()
	today := agreement.DateOf(e.cfg.now())
	e.mu.Lock()
	var cards []agreementCard
	reg := v.Agreements()
	for _, id := range reg.Agreements() {
		t := reg.Agreement(id)
		cards = append(cards, agreementCard{ID: id, Title: t.Agreement().Title, Name: t.Agreement().Name, Through: today,
			Picture: AgreementSVG(t, today), Status: t.Status(today)})
	}
	var statements []statementRow
	for _, id := range reg.Statements() {
		rl := reg.Statement(id)
		statements = append(statements, statementRow{ID: id, Title: rl.Statement().Title, Count: rl.Count(), Opener: rl.Opener()})
	}
	houses := len(v.Directory().Houses())
	offices := len(v.Directory().Handles())
	e.mu.Unlock()
	points := e.growthPoints(ctx, v.Size())
	e.render(w, r, "home", map[string]any{
		"Title":      "The log",
		"Info":       info,
		"Checkpoint": string(note),
		"Size":       v.Size(),
		"Root":       fmt.Sprintf("%x", cp.Hash),
		"Sigs":       signatureLines(note),
		"Growth":     GrowthSVG(points),
		"Agreements": cards,
		"Statements": statements,
		"Houses":     houses,
		"Offices":    offices,
		"Server":     serverURL(r),
	})
}

type statementRow struct {
	ID     record.ID
	Title  string
	Count  int
	Opener record.Handle
}

// growthPoints samples the log's growth from its entry bundles: the time
// of sequencing of the first leaf of up to 48 bundles, and of the last
// leaf. Full bundles never change, so they are read once.
func (e *Explorer) growthPoints(ctx context.Context, size uint64) []Point {
	if size == 0 {
		return nil
	}
	const width = 256
	n := (size + width - 1) / width
	step := max(n/48, 1)
	var want []uint64
	for i := uint64(0); i < n; i += step {
		want = append(want, i)
	}
	if want[len(want)-1] != n-1 {
		want = append(want, n-1)
	}
	var pts []Point
	for _, i := range want {
		full := (i+1)*width <= size
		e.mu.Lock()
		p, ok := e.growth[i]
		e.mu.Unlock()
		if ok && full {
			pts = append(pts, p)
			continue
		}
		w := width
		if !full {
			w = int(size - i*width)
		}
		path := "/" + tlog.TilePath{Level: tlog.EntriesLevel, Index: i, Width: tileWidth(w)}.Path()
		b, err := e.get(ctx, path)
		if err != nil {
			continue
		}
		entries, err := tlog.ParseEntryBundle(b)
		if err != nil || len(entries) == 0 {
			continue
		}
		first, err := record.ParseLeaf(entries[0])
		if err != nil {
			continue
		}
		p = Point{Size: i*width + 1, Time: first.Sequenced()}
		if full {
			e.mu.Lock()
			e.growth[i] = p
			e.mu.Unlock()
		}
		pts = append(pts, p)
		if i == n-1 {
			if last, err := record.ParseLeaf(entries[len(entries)-1]); err == nil {
				pts = append(pts, Point{Size: size, Time: last.Sequenced()})
			}
		}
	}
	return pts
}

// tileWidth is the width of a bundle holding w entries: 256 for a full
// one (no .p/ suffix), else w.
func tileWidth(w int) int {
	if w >= 256 {
		return 0
	}
	return w
}

func (e *Explorer) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", e.c.URL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return b, nil
}

func (e *Explorer) getJSON(ctx context.Context, path string, out any) error {
	b, err := e.get(ctx, path)
	if err != nil {
		return err
	}
	return jsonUnmarshal(b, out)
}

type officeRow struct {
	Handle  record.Handle
	Holder  string
	Keys    int
	Current bool
}

type houseRow struct {
	House   string
	Name    string
	Index   uint64
	Offices []officeRow
}

func (e *Explorer) directory(w http.ResponseWriter, r *http.Request) {
	v, err := e.view(r.Context())
	if err != nil {
		e.fail(w, r, err)
		return
	}
	e.mu.Lock()
	d := v.Directory()
	var hs []houseRow
	for _, h := range d.Houses() {
		row := houseRow{House: h.House, Name: h.Name, Index: h.Pos.Index}
		for _, hd := range d.Handles() {
			if hd.House() != h.House {
				continue
			}
			hist := d.History(hd)
			last := hist[len(hist)-1]
			row.Offices = append(row.Offices, officeRow{Handle: hd, Holder: last.Holder, Keys: len(hist), Current: last.ValidAt(v.Size())})
		}
		hs = append(hs, row)
	}
	e.mu.Unlock()
	e.render(w, r, "directory", map[string]any{"Title": "The directory", "Houses": hs, "Size": v.Size()})
}

type keyRow struct {
	Fingerprint string
	Holder      string
	Admitted    directory.Pos
	Admit       record.ID
	Ended       string
}

type grantRow struct {
	ID        record.ID
	From, To  record.Handle
	Abilities string
	Scope     string
	Until     string
	Index     uint64
	Revoked   bool
}

func (e *Explorer) office(w http.ResponseWriter, r *http.Request) {
	h := record.Handle(r.PathValue("house") + "/" + r.PathValue("office"))
	v, err := e.view(r.Context())
	if err != nil {
		e.fail(w, r, err)
		return
	}
	e.mu.Lock()
	d := v.Directory()
	hist := d.History(h)
	var keys []keyRow
	for _, k := range hist {
		kr := keyRow{Fingerprint: fmt.Sprintf("%x", k.Key[:8]), Holder: k.Holder, Admitted: k.Admitted, Admit: k.ID}
		switch {
		case k.Revoked != nil:
			kr.Ended = fmt.Sprintf("revoked at #%d (%s)", k.Revoked.Index, k.Revoked.Time.UTC().Format(time.DateOnly))
		case k.Superseded != nil:
			kr.Ended = fmt.Sprintf("superseded at #%d (%s)", k.Superseded.Index, k.Superseded.Time.UTC().Format(time.DateOnly))
		default:
			kr.Ended = "current"
		}
		keys = append(keys, kr)
	}
	grants := grantRows(append(slices.Clone(d.GrantsTo(h)), d.GrantsFrom(h)...))
	opaque := v.Opaque(v.Size())
	e.mu.Unlock()
	if len(hist) == 0 {
		e.notFound(w, r, fmt.Sprintf("the log holds no office %s", h))
		return
	}
	e.render(w, r, "office", map[string]any{"Title": string(h), "Handle": h, "Keys": keys, "Grants": grants, "Opaque": opaque, "Server": serverURL(r)})
}

func grantRows(gs []*directory.GrantEntry) []grantRow {
	slices.SortFunc(gs, func(a, b *directory.GrantEntry) int { return int(a.Pos.Index) - int(b.Pos.Index) })
	var out []grantRow
	for _, g := range gs {
		gr := grantRow{ID: g.ID, From: g.From, To: g.Grant.To, Index: g.Pos.Index, Revoked: g.Revoked != nil}
		var as []string
		for _, a := range g.Grant.Abilities {
			as = append(as, string(a))
		}
		gr.Abilities = strings.Join(as, ", ")
		var scope []string
		if len(g.Grant.Counterparts) > 0 {
			var cs []string
			for _, c := range g.Grant.Counterparts {
				cs = append(cs, string(c))
			}
			scope = append(scope, "letters from "+strings.Join(cs, ", "))
		}
		if g.Grant.Thread != nil {
			scope = append(scope, "thread "+g.Grant.Thread.Short())
		}
		if g.Grant.Letter != nil {
			scope = append(scope, fmt.Sprintf("letter %x", g.Grant.Letter[:6]))
		}
		if g.Grant.Purpose != "" {
			scope = append(scope, g.Grant.Purpose)
		}
		if len(scope) == 0 {
			scope = append(scope, "any")
		}
		gr.Scope = strings.Join(scope, "; ")
		if t := g.NotAfter(); !t.IsZero() {
			gr.Until = t.Format("2006-01-02 15:04 MST")
		} else {
			gr.Until = "no expiry"
		}
		out = append(out, gr)
	}
	return out
}

type publishedRow struct {
	ID    record.ID
	Kind  record.Kind
	Index uint64
	Time  time.Time
	What  string
}

func (e *Explorer) records(w http.ResponseWriter, r *http.Request) {
	var page api.RecordsPage
	if err := e.getJSON(r.Context(), "/v1/log/records?kind=custody,disclosure", &page); err != nil {
		e.fail(w, r, err)
		return
	}
	var rows []publishedRow
	for _, rv := range page.Records {
		rows = append(rows, publishedRow{ID: rv.ID, Kind: rv.Kind, Index: rv.Index, Time: rv.Time, What: describe(rv.Signed)})
	}
	slices.Reverse(rows)
	e.render(w, r, "records", map[string]any{"Title": "Published records", "Records": rows})
}

// describe says what a public record is, for a listing.
func describe(signed []byte) string {
	s, rec, err := record.Parse(signed)
	if err != nil {
		return "unreadable record: " + err.Error()
	}
	switch rec.Kind {
	case record.KindCustody:
		sc, err := letter.VerifyCustody(s.Marshal())
		if err != nil {
			return "custody record (signature does not verify: " + err.Error() + ")"
		}
		cu := sc.Custody
		if cu.Delivered {
			if cu.OnBehalf != "" {
				return fmt.Sprintf("delivery receipt: pouch %s delivered to %s on behalf of %s", cu.Pouch.Short(), sc.Holder(), cu.OnBehalf)
			}
			return fmt.Sprintf("delivery receipt: pouch %s delivered to %s", cu.Pouch.Short(), sc.Holder())
		}
		return fmt.Sprintf("custody: %s took pouch %s from %s", sc.Holder(), cu.Pouch.Short(), cu.From)
	case record.KindDisclosure:
		return fmt.Sprintf("disclosure by %s", rec.Signer())
	}
	return fmt.Sprintf("%s record signed by %s", rec.Kind, rec.Signer())
}

type sectionView struct {
	Index int
	Title string
	Text  string
}

func (e *Explorer) record(w http.ResponseWriter, r *http.Request) {
	id, err := record.ParseID(r.PathValue("id"))
	if err != nil {
		e.notFound(w, r, "not a record ID: "+err.Error())
		return
	}
	ctx := r.Context()
	rv, err := e.c.Record(ctx, id, nil)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	pv, err := e.c.Proof(ctx, id, nil)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	leaf, _ := record.ParseLeaf(pv.Leaf)
	var hashes []string
	for _, h := range pv.Hashes {
		hashes = append(hashes, base64.StdEncoding.EncodeToString(h))
	}
	data := map[string]any{
		"Title":      fmt.Sprintf("%s record %s", rv.Kind, id.Short()),
		"ID":         id,
		"Kind":       rv.Kind,
		"What":       describe(rv.Signed),
		"Proof":      pv,
		"Leaf":       leaf,
		"LeafB64":    base64.StdEncoding.EncodeToString(pv.Leaf),
		"Hashes":     hashes,
		"HashesData": strings.Join(hashes, " "),
		"Server":     serverURL(r),
	}
	if rv.Kind == record.KindDisclosure {
		if d, err := letter.VerifyDisclosure(rv.Signed); err == nil {
			var secs []sectionView
			for _, s := range d.Sections {
				secs = append(secs, sectionView{Index: int(s.Index), Title: s.Title, Text: s.Text})
			}
			data["Sections"] = secs
			data["Undisclosed"] = d.Undisclosed
			data["Author"] = d.Header.Header.From
		} else {
			data["DisclosureError"] = err.Error()
		}
	}
	e.render(w, r, "record", data)
}

func (e *Explorer) agreementPage(w http.ResponseWriter, r *http.Request) {
	id, err := record.ParseID(r.PathValue("id"))
	if err != nil {
		e.notFound(w, r, "not a record ID: "+err.Error())
		return
	}
	v, err := e.view(r.Context())
	if err != nil {
		e.fail(w, r, err)
		return
	}
	through := agreement.DateOf(e.cfg.now())
	if s := r.URL.Query().Get("at"); s != "" {
		if d, err := agreement.ParseDate(s); err == nil {
			through = d
		}
	}
	e.mu.Lock()
	t := v.Agreements().Agreement(id)
	if t == nil {
		e.mu.Unlock()
		e.notFound(w, r, "the log holds no agreement "+id.Short())
		return
	}
	card := agreementCard{ID: id, Title: t.Agreement().Title, Name: t.Agreement().Name, Through: through, Picture: AgreementSVG(t, through), Status: t.Status(through)}
	actions := slices.Clone(t.Actions())
	body := *t.Agreement()
	reg := t.Registered()
	rule := t.Rule()
	dep := t.Depositary()
	e.mu.Unlock()
	e.render(w, r, "agreement", map[string]any{"Title": card.Title, "Card": card, "Actions": actions, "Body": body,
		"Registered": reg, "Rule": rule, "Depositary": dep, "Server": serverURL(r)})
}

func (e *Explorer) statement(w http.ResponseWriter, r *http.Request) {
	id, err := record.ParseID(r.PathValue("id"))
	if err != nil {
		e.notFound(w, r, "not a record ID: "+err.Error())
		return
	}
	v, err := e.view(r.Context())
	if err != nil {
		e.fail(w, r, err)
		return
	}
	e.mu.Lock()
	rl := v.Agreements().Statement(id)
	if rl == nil {
		e.mu.Unlock()
		e.notFound(w, r, "the log holds no statement "+id.Short())
		return
	}
	data := map[string]any{"Title": rl.Statement().Title, "ID": id, "Statement": rl.Statement(), "Opener": rl.Opener(),
		"Signatories": slices.Clone(rl.Signatories()), "Count": rl.Count(), "Server": serverURL(r)}
	e.mu.Unlock()
	e.render(w, r, "statement", data)
}

func (e *Explorer) render(w http.ResponseWriter, r *http.Request, page string, data map[string]any) {
	data["Explorer"] = true
	e.t.render(w, http.StatusOK, page, data)
}

func (e *Explorer) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ce *client.Error
	if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
		e.notFound(w, r, err.Error())
		return
	}
	e.cfg.Logger.Error("explorer", "path", r.URL.Path, "err", err)
	e.t.render(w, http.StatusInternalServerError, "error", map[string]any{"Title": "Error", "Explorer": true, "Error": err.Error()})
}

func (e *Explorer) notFound(w http.ResponseWriter, r *http.Request, msg string) {
	e.t.render(w, http.StatusNotFound, "error", map[string]any{"Title": "Not found", "Explorer": true, "Error": msg})
}

var _ = template.HTML("")
