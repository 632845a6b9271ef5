package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// A Keyring gives the desk the principals whose keys the user holds. Keys
// stay where they are: in the agent, or encrypted in the home folder and
// decrypted into this process's memory with the passphrase the user
// types. The desk never writes a key.
type Keyring interface {
	// Handles lists the principals of the user's home.
	Handles() ([]record.Handle, error)
	// Identity returns h, ready to sign and open if its key is unlocked
	// (in the agent, or by Unlock); ErrLocked otherwise.
	Identity(h record.Handle) (*client.Identity, error)
	// Unlock decrypts h's key with passphrase, for this process.
	Unlock(h record.Handle, passphrase string) (*client.Identity, error)
}

// ErrLocked is returned by a Keyring for a principal whose key is locked.
var ErrLocked = errors.New("the key is locked")

// DeskConfig configures a Desk.
type DeskConfig struct {
	// Client is the verifying client every page's checks come from.
	// Required.
	Client *client.Client
	// Keys are the user's principals. Required.
	Keys Keyring
	// As is the principal the desk opens with; empty means the first.
	As record.Handle
	// Addr is the address the desk listens on, 127.0.0.1:PORT: requests
	// naming another Host are refused. Required.
	Addr string
	// Secret is the per-start secret exchanged for the session cookie;
	// empty means a fresh random one (Desk.LoginURL prints it).
	Secret string
	Now    func() time.Time
	Logger *slog.Logger
}

// A Desk is the local UI of `pouch ui`: a principal's inbox, live, with
// what each pouch awaits; letters and their threads, opened section by
// section with each proof's status; composing and sealing, with the exact
// list of who will be able to open the letter and why before anything is
// sent; taking custody, signing delivery on behalf, disclosing sections;
// grants; and exporting a .pouch file. Every tick it shows comes from the
// verifying client (package client) on the user's machine; every
// signature is made only after the user confirms what it says.
//
// SPEC: spec/ui.md#desk
type Desk struct {
	cfg     DeskConfig
	c       *client.Client
	t       *templates
	addr    string
	secret  string
	session string
	mux     *http.ServeMux
	lg      *slog.Logger

	mu      sync.Mutex
	pending map[string]*pendingAction
}

// A pendingAction is something to sign, shown to the user and waiting for
// the confirmation that carries its nonce.
type pendingAction struct {
	as      record.Handle
	expires time.Time
	do      func(ctx context.Context, me *client.Identity) (string, error) // returns where to go next
	back    string
}

// NewDesk returns a desk.
func NewDesk(cfg DeskConfig) (*Desk, error) {
	if cfg.Client == nil || cfg.Keys == nil || cfg.Addr == "" {
		return nil, errors.New("ui: a desk needs a client, a keyring and its address")
	}
	t, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	d := &Desk{cfg: cfg, c: cfg.Client, t: t, addr: cfg.Addr, secret: cfg.Secret, session: newSecret(),
		mux: http.NewServeMux(), lg: cfg.Logger, pending: map[string]*pendingAction{}}
	if d.secret == "" {
		d.secret = newSecret()
	}
	if d.lg == nil {
		d.lg = slog.Default()
	}
	for p, f := range map[string]http.HandlerFunc{
		"GET /login":                d.login,
		"GET /{$}":                  d.inbox,
		"GET /events":               d.events,
		"GET /pouch/{id}":           d.pouch,
		"GET /pouch/{id}/export":    d.export,
		"POST /pouch/{id}/take":     d.take,
		"POST /pouch/{id}/deliver":  d.deliver,
		"POST /pouch/{id}/disclose": d.disclose,
		"GET /compose":              d.compose,
		"POST /compose":             d.composePlan,
		"GET /grants":               d.grants,
		"POST /grants":              d.grantPlan,
		"POST /grants/{id}/revoke":  d.revokePlan,
		"POST /confirm":             d.confirm,
		"POST /unlock":              d.unlock,
		"GET /assets/{file}":        serveAsset,
	} {
		d.mux.Handle(p, f)
	}
	return d, nil
}

// LoginURL is the address to open: it carries the per-start secret.
func (d *Desk) LoginURL() string { return "http://" + d.addr + "/login?token=" + d.secret }

// ServeHTTP implements http.Handler.
func (d *Desk) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			d.lg.Error("desk handler panicked", "path", r.URL.Path, "panic", v)
			d.refuse(w, http.StatusInternalServerError, "internal error")
		}
	}()
	d.guard(d.mux).ServeHTTP(w, r)
}

func (d *Desk) now() time.Time {
	if d.cfg.Now != nil {
		return d.cfg.Now()
	}
	return time.Now()
}

// acting returns the principal a request acts as (?as= or the form's
// "as"), which must be one of the home's.
func (d *Desk) acting(r *http.Request) (record.Handle, []record.Handle, error) {
	hs, err := d.cfg.Keys.Handles()
	if err != nil {
		return "", nil, err
	}
	if len(hs) == 0 {
		return "", nil, errors.New("no principal in this home: create one with pouch init")
	}
	as := record.Handle(r.FormValue("as"))
	if as == "" {
		as = d.cfg.As
	}
	if as == "" {
		as = hs[0]
	}
	if !slices.Contains(hs, as) {
		return "", hs, fmt.Errorf("%s is not a principal of this home", as)
	}
	return as, hs, nil
}

// page is what every desk page gets.
type page map[string]any

func (d *Desk) base(r *http.Request, title string) (page, *client.Identity, bool) {
	as, hs, err := d.acting(r)
	p := page{"Title": title, "Desk": true, "As": as, "Handles": hs, "Path": r.URL.Path}
	if err != nil {
		p["Error"] = err.Error()
		return p, nil, false
	}
	me, err := d.cfg.Keys.Identity(as)
	if errors.Is(err, ErrLocked) {
		p["Locked"] = true
		return p, nil, false
	}
	if err != nil {
		p["Error"] = err.Error()
		return p, nil, false
	}
	return p, me, true
}

// show renders a page, or the unlock form if the key is locked.
func (d *Desk) show(w http.ResponseWriter, name string, p page) {
	if p["Locked"] == true {
		d.t.render(w, http.StatusOK, "unlock", p)
		return
	}
	if p["Error"] != nil && name != "error" && p["Fatal"] == true {
		d.t.render(w, http.StatusOK, "error", p)
		return
	}
	d.t.render(w, http.StatusOK, name, p)
}

func (d *Desk) unlock(w http.ResponseWriter, r *http.Request) {
	as, _, err := d.acting(r)
	if err != nil {
		d.refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := d.cfg.Keys.Unlock(as, r.FormValue("passphrase")); err != nil {
		d.t.render(w, http.StatusOK, "unlock", page{"Title": "Unlock", "Desk": true, "As": as, "Error": err.Error()})
		return
	}
	back := r.FormValue("back")
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") {
		back = "/"
	}
	http.Redirect(w, r, withAs(back, as), http.StatusSeeOther)
}

func withAs(path string, as record.Handle) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "as=" + string(as)
}

// An inboxRow is one pouch of the inbox and what it awaits of me.
type inboxRow struct {
	api.InboxItem
	Awaits string // what I may do now: take, deliver, open
	Status string
}

func inboxRows(items []api.InboxItem, me record.Handle) []inboxRow {
	var out []inboxRow
	for _, it := range items {
		row := inboxRow{InboxItem: it}
		switch {
		case it.Awaiting && it.Role == "envoy":
			row.Awaits = "take"
			row.Status = "awaits your custody"
		case it.Awaiting:
			row.Awaits = "deliver"
			row.Status = "awaits your signature of delivery"
			if it.To != me {
				row.Status += " on behalf of " + string(it.To)
			}
		case it.Delivered && it.Role != "envoy":
			row.Awaits = "open"
			row.Status = "delivered"
		case it.Delivered:
			row.Status = "delivered"
		default:
			row.Status = "with " + holderOf(it.PouchView) + ", next " + string(it.Next)
		}
		out = append(out, row)
	}
	slices.SortStableFunc(out, func(a, b inboxRow) int { return int(b.Index) - int(a.Index) })
	return out
}

func holderOf(p api.PouchView) string {
	if n := len(p.Custody); n > 0 {
		return string(p.Custody[n-1].By)
	}
	return string(p.From)
}

func (d *Desk) inbox(w http.ResponseWriter, r *http.Request) {
	p, me, ok := d.base(r, "Inbox")
	if !ok {
		d.show(w, "inbox", p)
		return
	}
	items, err := d.c.Inbox(r.Context(), me)
	if err != nil {
		p["Error"] = err.Error()
	}
	p["Rows"] = inboxRows(items, me.Handle)
	d.show(w, "inbox", p)
}

// events streams the inbox, re-rendered, as server-sent events: the page
// replaces its list with each (desk.js). The stream ends with the page.
func (d *Desk) events(w http.ResponseWriter, r *http.Request) {
	_, me, ok := d.base(r, "")
	if !ok {
		http.Error(w, "locked", http.StatusForbidden)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "no streaming", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	items := map[record.ID]api.InboxItem{}
	err := d.c.Follow(r.Context(), me, func(its []api.InboxItem) error {
		for _, it := range its {
			items[it.ID] = it
		}
		var list []api.InboxItem
		for _, it := range items {
			list = append(list, it)
		}
		html, err := d.t.fragment("inbox", "rows", page{"Rows": inboxRows(list, me.Handle), "As": me.Handle})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "event: inbox\n")
		for _, l := range strings.Split(html, "\n") {
			fmt.Fprintf(w, "data: %s\n", l)
		}
		fmt.Fprintf(w, "\n")
		fl.Flush()
		return nil
	})
	if err != nil && r.Context().Err() == nil {
		fmt.Fprintf(w, "event: failed\ndata: %s\n\n", strings.ReplaceAll(err.Error(), "\n", " "))
		fl.Flush()
	}
}

// A sectionRow is one opened section and the status of its proof.
type sectionRow struct {
	Index int
	Title string
	Text  string
	State State
	Proof string
}

func (d *Desk) pouch(w http.ResponseWriter, r *http.Request) {
	p, me, ok := d.base(r, "Letter")
	if !ok {
		d.show(w, "letter", p)
		return
	}
	id, err := record.ParseID(r.PathValue("id"))
	if err != nil {
		p["Error"], p["Fatal"] = "not a pouch ID: "+err.Error(), true
		d.show(w, "letter", p)
		return
	}
	ctx := r.Context()
	p["ID"] = id
	p["Title"] = "Pouch " + id.Short()
	ch, err := d.c.Chain(ctx, me, id)
	if err != nil {
		// The failure is the page: a server that lies gets no tick.
		p["Failed"] = err.Error()
		p["Timeline"] = CustodySVG("Custody of pouch "+id.Short()+": the check failed", []Hop{{Who: "", What: "custody could not be verified", State: Failed, Note: err.Error()}})
		d.show(w, "letter", p)
		return
	}
	hops := chainHops(ch)
	p["Hops"] = hops
	p["Timeline"] = CustodySVG("Custody of pouch "+id.Short(), hops)
	p["Tag"] = ch.Tag.Tag
	p["TagAt"] = ch.TagAt
	p["Witnessing"] = ch.View.Witnessing(d.now())
	p["AllVerified"] = !ch.Unproven()
	next, delivery := ch.Pouch.Next()
	switch {
	case next == "":
	case !delivery && next == me.Handle:
		p["CanTake"] = true
	case delivery && (next == me.Handle || d.mayReceive(ch, me.Handle)):
		p["CanDeliver"] = true
	}
	// Open it, if it is sealed to me. A pouch whose sender asks for proof
	// of access (or consent) is opened by the addressee's side only with a
	// logged access record, which the desk does not sign behind a page
	// view.
	t := ch.Tag.Tag
	_, accessed := ch.Pouch.AccessedBy(me.Handle)
	side := me.Handle != t.From && !slices.Contains(t.Via, me.Handle)
	if side && t.NeedsAccess() && !accessed {
		asks := "proof of access"
		if t.Consent && ch.Pouch.Accepted == nil {
			asks = "consent (pouch accept) and proof of access"
		}
		p["OpenError"] = fmt.Sprintf("the sender asks for %s: opening it logs your signed access record, which this page does not sign for you; open it with \"pouch open --as %s %s\"",
			asks, me.Handle, id.Short())
	} else if o, _, err := d.c.Open(ctx, me, id); err == nil {
		var secs []sectionRow
		for i, s := range o.Sections {
			secs = append(secs, sectionRow{Index: i, Title: s.Title, Text: s.Text, State: Verified,
				Proof: fmt.Sprintf("matches commitment %d of the header signed by %s, whose tag the log holds at #%d", i, o.Header.Header.From, ch.TagAt.Index)})
		}
		p["Sections"] = secs
		p["Readers"] = o.Header.Header.Readers
		p["Thread"] = threadOf(ch)
	} else if errors.Is(err, letter.ErrNotSealedToYou) {
		p["NotSealed"] = fmt.Sprintf("This letter is not sealed to %s: you may see its tag and custody, not its contents.", me.Handle)
	} else {
		p["OpenError"] = err.Error()
	}
	// The thread: my other pouches in it.
	if items, err := d.c.Inbox(ctx, me); err == nil {
		th := id
		if ch.Tag.Tag.Thread != nil {
			th = *ch.Tag.Tag.Thread
		}
		var rel []api.InboxItem
		for _, it := range items {
			if it.ID != id && (it.ID == th || (it.Thread != nil && *it.Thread == th)) {
				rel = append(rel, it)
			}
		}
		p["Related"] = rel
	}
	d.show(w, "letter", p)
}

func threadOf(ch *client.Chain) record.ID {
	if ch.Tag.Tag.Thread != nil {
		return *ch.Tag.Tag.Thread
	}
	return ch.Tag.PouchID()
}

// mayReceive reports whether me holds a receive grant, as the client
// proved it, for the pouch's addressee and sender now.
func (d *Desk) mayReceive(ch *client.Chain, me record.Handle) bool {
	v := ch.View
	_, err := v.Directory().MayReceive(me, ch.Tag.Tag.To, ch.Tag.Tag.From, ch.Pouch.ThreadIDs(), v.Now(d.now()))
	return err == nil
}

// chainHops turns a proven chain into the timeline's hops.
func chainHops(ch *client.Chain) []Hop {
	hops := []Hop{{Who: ch.Tag.Tag.From, What: "sealed and sent it", Time: ch.TagAt.Sequenced(), Index: ch.TagAt.Index, State: Verified}}
	for _, s := range ch.Steps {
		h := Hop{Who: s.Hop.By, Time: s.At.Sequenced(), Index: s.At.Index, State: Verified}
		if s.Hop.Delivery {
			h.What = "signed its delivery"
		} else {
			h.What = "took custody"
		}
		if s.Hop.As != s.Hop.By {
			h.For = s.Hop.As
		}
		if s.Unproven != "" {
			h.State, h.Note = Unproven, "not checked: "+s.Unproven
		}
		hops = append(hops, h)
	}
	if next, delivery := ch.Pouch.Next(); next != "" {
		what := "is to take custody next"
		if delivery {
			what = "is to sign its delivery (or a receive delegate)"
		}
		hops = append(hops, Hop{Who: next, What: what, State: Pending})
	}
	return hops
}

// stash keeps an action to sign until the user confirms it, and renders
// the confirmation page that says exactly what will be signed.
func (d *Desk) stash(w http.ResponseWriter, p page, as record.Handle, back string, do func(ctx context.Context, me *client.Identity) (string, error)) {
	nonce := newSecret()
	d.mu.Lock()
	now := d.now()
	for k, a := range d.pending {
		if now.After(a.expires) {
			delete(d.pending, k)
		}
	}
	d.pending[nonce] = &pendingAction{as: as, expires: now.Add(15 * time.Minute), do: do, back: back}
	d.mu.Unlock()
	p["Nonce"] = nonce
	p["Back"] = back
	d.show(w, "confirm", p)
}

// confirm signs what the user confirmed: the action its nonce names, once.
func (d *Desk) confirm(w http.ResponseWriter, r *http.Request) {
	nonce := r.FormValue("nonce")
	d.mu.Lock()
	a := d.pending[nonce]
	delete(d.pending, nonce)
	d.mu.Unlock()
	if a == nil || d.now().After(a.expires) {
		d.refuse(w, http.StatusBadRequest, "nothing awaits this confirmation (already done, or expired): start again")
		return
	}
	me, err := d.cfg.Keys.Identity(a.as)
	if err != nil {
		d.refuse(w, http.StatusForbidden, fmt.Sprintf("%s: %v", a.as, err))
		return
	}
	next, err := a.do(r.Context(), me)
	if err != nil {
		d.t.render(w, http.StatusOK, "error", page{"Title": "Not done", "Desk": true, "As": a.as, "Error": err.Error(), "Back": withAs(a.back, a.as),
			"Note": "Nothing was signed, or what was signed was refused; nothing changed."})
		return
	}
	http.Redirect(w, r, withAs(next, a.as), http.StatusSeeOther)
}

func (d *Desk) take(w http.ResponseWriter, r *http.Request)    { d.custodyPlan(w, r, false) }
func (d *Desk) deliver(w http.ResponseWriter, r *http.Request) { d.custodyPlan(w, r, true) }

// custodyPlan proves the chain, then shows the custody record that would
// be signed and waits for the user's confirmation.
func (d *Desk) custodyPlan(w http.ResponseWriter, r *http.Request, delivery bool) {
	p, me, ok := d.base(r, "Confirm")
	if !ok {
		d.show(w, "confirm", p)
		return
	}
	id, err := record.ParseID(r.PathValue("id"))
	if err != nil {
		d.refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	ch, err := d.c.Chain(r.Context(), me, id)
	if err != nil {
		p["Error"], p["Fatal"] = "the chain of custody does not verify, so nothing will be signed: "+err.Error(), true
		d.show(w, "error", p)
		return
	}
	back := "/pouch/" + id.String()
	holder := ch.Pouch.Holder()
	var what []string
	if delivery {
		p["Title"] = "Sign delivery"
		on := ""
		if me.Handle != ch.Tag.Tag.To {
			on = " on behalf of " + string(ch.Tag.Tag.To)
		}
		what = append(what, fmt.Sprintf("You, %s, sign that pouch %s was delivered to you%s, received from %s.", me.Handle, id.Short(), on, holder))
	} else {
		p["Title"] = "Take custody"
		what = append(what, fmt.Sprintf("You, %s, sign that you now hold pouch %s, received from %s.", me.Handle, id.Short(), holder))
	}
	what = append(what, fmt.Sprintf("The pouch is from %s to %s; its chain so far was verified by your client (%s).", ch.Tag.Tag.From, ch.Tag.Tag.To, ch.View.Witnessing(d.now())),
		"The record is signed with your key and sequenced in the log: it cannot be taken back.")
	p["What"] = what
	d.stash(w, p, me.Handle, back, func(ctx context.Context, me *client.Identity) (string, error) {
		var err error
		if delivery {
			_, err = d.c.Deliver(ctx, me, id)
		} else {
			_, err = d.c.Take(ctx, me, id, "")
		}
		return back, err
	})
}

func (d *Desk) disclose(w http.ResponseWriter, r *http.Request) {
	p, me, ok := d.base(r, "Disclose")
	if !ok {
		d.show(w, "confirm", p)
		return
	}
	id, err := record.ParseID(r.PathValue("id"))
	if err != nil {
		d.refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	r.ParseForm()
	var idx []int
	for _, s := range r.Form["section"] {
		n, err := strconv.Atoi(s)
		if err != nil {
			d.refuse(w, http.StatusBadRequest, "section "+s+": not a number")
			return
		}
		idx = append(idx, n)
	}
	back := "/pouch/" + id.String()
	if len(idx) == 0 {
		d.refuse(w, http.StatusBadRequest, "choose at least one section to disclose")
		return
	}
	o, _, err := d.c.Open(r.Context(), me, id)
	if err != nil {
		p["Error"], p["Fatal"] = err.Error(), true
		d.show(w, "error", p)
		return
	}
	what := []string{fmt.Sprintf("You, %s, publish these sections of letter %s, from %s, for anyone to read and check against the author's signed header:", me.Handle, id.Short(), o.Header.Header.From)}
	for _, i := range idx {
		if i < 0 || i >= len(o.Sections) {
			d.refuse(w, http.StatusBadRequest, fmt.Sprintf("the letter has no section %d", i))
			return
		}
		what = append(what, fmt.Sprintf("section %d, %q", i, o.Sections[i].Title))
	}
	what = append(what, fmt.Sprintf("The other %d sections stay sealed. A disclosure is public and cannot be taken back.", len(o.Sections)-len(idx)))
	p["What"] = what
	d.stash(w, p, me.Handle, back, func(ctx context.Context, me *client.Identity) (string, error) {
		s, err := letter.Disclose(o, idx, me.Handle, me.Signing, &id, d.now().UnixMilli(), d.c.Origin)
		if err != nil {
			return back, err
		}
		_, err = d.c.Submit(ctx, s)
		return back, err
	})
}

func (d *Desk) export(w http.ResponseWriter, r *http.Request) {
	_, me, ok := d.base(r, "")
	if !ok {
		d.refuse(w, http.StatusForbidden, "unlock this principal first")
		return
	}
	id, err := record.ParseID(r.PathValue("id"))
	if err != nil {
		d.refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	b, err := d.pouchFile(r.Context(), me, id)
	if err != nil {
		d.refuse(w, http.StatusBadGateway, "exporting pouch "+id.Short()+": "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.pouch"`, id.String()[:16]))
	w.Write(b)
}

// pouchFile builds the .pouch file of a pouch with the verifying
// client's Fetch: the tag and custody records, the records their
// signatures rest on, each record's inclusion proof (C2SP tlog-proof), and
// the payload; checked as a verifier would before it is returned.
//
// SPEC: spec/ui.md#export
func (d *Desk) pouchFile(ctx context.Context, me *client.Identity, id record.ID) ([]byte, error) {
	f, err := d.c.Fetch(ctx, me, id)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := letter.WriteFile(&b, f.Head, bytes.NewReader(f.Payload), uint64(len(f.Payload))); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (d *Desk) compose(w http.ResponseWriter, r *http.Request) {
	p, me, ok := d.base(r, "Compose")
	if !ok {
		d.show(w, "compose", p)
		return
	}
	p["Sections"] = []letter.Section{{}}
	if s := r.FormValue("reply"); s != "" {
		id, err := record.ParseID(s)
		if err == nil {
			if tag, err := d.c.Tag(r.Context(), id, me); err == nil {
				p["Reply"] = id
				p["To"] = tag.Tag.From
			} else {
				p["Error"] = "the pouch replied to does not verify: " + err.Error()
			}
		}
	}
	d.show(w, "compose", p)
}

func handles(s string) []record.Handle {
	var out []record.Handle
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, record.Handle(f))
	}
	return out
}

// composePlan proves from the log whom the letter would be sealed to, and
// shows it, with why each may open it, before anything is sealed.
func (d *Desk) composePlan(w http.ResponseWriter, r *http.Request) {
	p, me, ok := d.base(r, "Who will be able to open it")
	if !ok {
		d.show(w, "compose", p)
		return
	}
	l := &client.Letter{To: record.Handle(strings.TrimSpace(r.FormValue("to"))), Via: handles(r.FormValue("via")), Readers: handles(r.FormValue("readers"))}
	if md := r.FormValue("body"); strings.TrimSpace(md) != "" {
		secs, err := letter.ParseMarkdown([]byte(md))
		if err != nil {
			p["Error"] = "the letter: " + err.Error()
		}
		l.Sections = secs
	}
	var reply *record.ID
	if s := r.FormValue("reply"); s != "" {
		id, err := record.ParseID(s)
		if err != nil {
			p["Error"] = err.Error()
		} else {
			reply = &id
			tag, err := d.c.Tag(r.Context(), id, me)
			if err != nil {
				p["Error"] = "the pouch replied to does not verify: " + err.Error()
			} else {
				l.To = tag.Tag.From
				l.Thread = letter.ReplyThread(tag)
			}
		}
	}
	p["To"], p["Via"], p["ReadersIn"], p["Body"], p["Reply"] = l.To, r.FormValue("via"), r.FormValue("readers"), r.FormValue("body"), reply
	if p["Error"] == nil && len(l.Sections) == 0 {
		p["Error"] = "the letter is empty: write at least one section (a line starting with ## titles each)"
	}
	if p["Error"] != nil {
		d.show(w, "compose", p)
		return
	}
	plan, err := d.c.PlanFor(r.Context(), me, l)
	if err != nil {
		p["Error"] = "whom to seal it to could not be proven from the log, so nothing was sealed: " + err.Error()
		d.show(w, "compose", p)
		return
	}
	p["Plan"] = planRows(plan, l)
	p["Unreadable"] = plan.Unreadable
	p["Witnessing"] = plan.View.Witnessing(d.now())
	route := "directly"
	if len(l.Via) > 0 {
		route = "via " + joinHandles(l.Via)
	}
	p["What"] = []string{fmt.Sprintf("You, %s, seal a letter of %d sections to %s, carried %s, and sign its tag.", me.Handle, len(l.Sections), l.To, route)}
	shown := readerSet(plan)
	d.stash(w, p, me.Handle, "/compose", func(ctx context.Context, me *client.Identity) (string, error) {
		s, err := d.c.Send(ctx, me, l, func(now *client.Plan) error {
			if readerSet(now) != shown {
				return errors.New("the readers proven from the log changed since you confirmed them (a grant was made, expired or revoked): compose it again and check the new list")
			}
			return nil
		})
		if err != nil {
			return "/compose", err
		}
		return "/pouch/" + s.Pouch.String(), nil
	})
}

func readerSet(p *client.Plan) string {
	var s []string
	for _, r := range p.Readers {
		s = append(s, string(r.Handle)+"/"+r.Role+"/"+r.Recipient)
	}
	slices.Sort(s)
	return strings.Join(s, ";")
}

type planRow struct {
	Handle record.Handle
	Role   string
	Why    string
	Key    string
}

func planRows(plan *client.Plan, l *client.Letter) []planRow {
	var out []planRow
	for _, r := range plan.Readers {
		row := planRow{Handle: r.Handle, Role: r.Role, Key: fmt.Sprintf("%x", r.Key[:8])}
		switch r.Role {
		case "addressee":
			row.Why = "the addressee"
		case "delegate":
			row.Why = "a receive delegate of " + string(l.To)
			if g := r.Grant; g != nil {
				row.Why += fmt.Sprintf(" under grant %s (logged at #%d", g.ID.Short(), g.Pos.Index)
				if t := g.NotAfter(); !t.IsZero() {
					row.Why += ", until " + t.Format("2006-01-02 15:04 MST")
				}
				row.Why += ")"
			}
		case "reader":
			row.Why = "a reader you chose"
		case "author":
			row.Why = "you, the author"
		}
		out = append(out, row)
	}
	return out
}

func joinHandles(hs []record.Handle) string {
	var s []string
	for _, h := range hs {
		s = append(s, string(h))
	}
	return strings.Join(s, ", ")
}

func (d *Desk) grants(w http.ResponseWriter, r *http.Request) {
	p, me, ok := d.base(r, "Grants")
	if !ok {
		d.show(w, "grants", p)
		return
	}
	v, err := d.c.View(r.Context(), me)
	if err != nil {
		p["Error"] = "the directory could not be proven from the log: " + err.Error()
		d.show(w, "grants", p)
		return
	}
	dir := v.Directory()
	p["To"] = grantRows(slices.Clone(dir.GrantsTo(me.Handle)))
	p["From"] = grantRows(slices.Clone(dir.GrantsFrom(me.Handle)))
	p["Witnessing"] = v.Witnessing(d.now())
	d.show(w, "grants", p)
}

func (d *Desk) grantPlan(w http.ResponseWriter, r *http.Request) {
	p, me, ok := d.base(r, "Grant")
	if !ok {
		d.show(w, "grants", p)
		return
	}
	r.ParseForm()
	g := &directory.Grant{To: record.Handle(strings.TrimSpace(r.FormValue("to"))), Counterparts: handles(r.FormValue("counterparts")), Purpose: strings.TrimSpace(r.FormValue("purpose"))}
	for _, a := range r.Form["ability"] {
		g.Abilities = append(g.Abilities, directory.Ability(a))
	}
	days, _ := strconv.Atoi(r.FormValue("days"))
	until := "with no expiry"
	if days > 0 {
		t := d.now().Add(time.Duration(days) * 24 * time.Hour)
		g.NotAfter = t.UnixMilli()
		until = "until " + t.UTC().Format("2006-01-02 15:04 MST")
	}
	private := r.FormValue("private") == "1"
	if g.To == "" || len(g.Abilities) == 0 {
		d.refuse(w, http.StatusBadRequest, "name the grantee and at least one ability")
		return
	}
	var abs []string
	for _, a := range g.Abilities {
		abs = append(abs, string(a))
	}
	scope := "for any counterpart"
	if len(g.Counterparts) > 0 {
		scope = "for letters from " + joinHandles(g.Counterparts)
	}
	vis := "public: anyone can read it in the log"
	if private {
		vis = "private: only you and the grantee can read it"
	}
	p["What"] = []string{fmt.Sprintf("You, %s, grant %s the abilities %s, %s, %s.", me.Handle, g.To, strings.Join(abs, ", "), scope, until),
		"The grant is " + vis + ".", "It takes effect when the log sequences it; you can revoke it later."}
	d.stash(w, p, me.Handle, "/grants", func(ctx context.Context, me *client.Identity) (string, error) {
		_, err := d.c.Grant(ctx, me, g, private)
		return "/grants", err
	})
}

func (d *Desk) revokePlan(w http.ResponseWriter, r *http.Request) {
	p, me, ok := d.base(r, "Revoke")
	if !ok {
		d.show(w, "grants", p)
		return
	}
	id, err := record.ParseID(r.PathValue("id"))
	if err != nil {
		d.refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	reason := strings.TrimSpace(r.FormValue("reason"))
	p["What"] = []string{fmt.Sprintf("You, %s, revoke grant %s.", me.Handle, id.Short()), "The revocation is logged and takes effect when it is sequenced."}
	d.stash(w, p, me.Handle, "/grants", func(ctx context.Context, me *client.Identity) (string, error) {
		_, err := d.c.RevokeGrant(ctx, me, id, reason)
		return "/grants", err
	})
}
