package main

// pouch agreement: register an instrument, sign, withdraw, attest, and
// derive its status at any date from the log. The rules are package
// agreement's (spec/agreement.md); this file reads the log and submits
// records.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

func init() {
	register(&verb{
		name:  "agreement",
		args:  "register|sign|withdraw|attest|status [flags] ...",
		short: "register an agreement, sign, withdraw, attest, and show its status at any date",
		long: `
pouch agreement register [--as H] AGREEMENT.json TEXT
    registers an instrument as its depositary. AGREEMENT.json holds the
    body of spec/agreement.md#agreement in JSON (name, title, parties with
    their signers, force, verifiers, clauses); the text digest is computed
    from the file TEXT.
pouch agreement sign [--as H] --party HOUSE [--date YYYY-MM-DD] ID
    signs for a party (default date: today).
pouch agreement withdraw [--as H] --party HOUSE --date YYYY-MM-DD ID
    withdraws a party, effective on the date.
pouch agreement attest [--as H] --party HOUSE --clause C --from D --to D [--date D] [--note N] ID
    attests, as a named verifier, a party's compliance with a clause.
pouch agreement status [--at YYYY-MM-DD] [--history] [--json] ID
    derives the agreement's status on a day (default: today) by replaying
    its records from the log, each one's inclusion proof checked against
    the log's signed checkpoint; --history prints its whole story.

Every action is checked against the agreement's history before it is
submitted: one the rules refuse (a signer not authorised for the party, a
second signature, a withdrawal by a non-party, an attestation by someone
who is not a named verifier) fails with the reason, and nothing is sent.

Example, scene 4 of the reference scenario:

  pouch agreement sign --as ir/fm --party ir --date 2015-07-14 5e10c7b3...
  pouch agreement withdraw --as us/president --party us --date 2018-05-08 5e10c7b3...
  pouch agreement status --at 2019-06-01 5e10c7b3...`,
		run: runAgreement,
	})
}

func runAgreement(ctx *cmdContext, args []string) error {
	v := verbs["agreement"]
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 0 {
			return usagef("see \"pouch agreement --help\"", "agreement: want register, sign, withdraw, attest or status")
		}
		printVerbHelp(ctx.stdout, v)
		return nil
	}
	sub, args := args[0], args[1:]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	var (
		party, clause, from, to, date, note, at *string
		history                                 *bool
	)
	switch sub {
	case "register":
	case "sign", "withdraw", "attest":
		party = fs.String("party", "", "the party, a `HOUSE` such as ir")
		date = fs.String("date", "", "the `DATE`, YYYY-MM-DD (sign, attest: default today)")
		if sub == "attest" {
			clause = fs.String("clause", "", "the clause `ID`")
			from = fs.String("from", "", "first day of the period attested, `YYYY-MM-DD`")
			to = fs.String("to", "", "last day of the period attested, `YYYY-MM-DD`")
			note = fs.String("note", "", "a reference, such as a report `NUMBER`")
		}
	case "status":
		at = fs.String("at", "", "the day, `YYYY-MM-DD` (default: today, UTC)")
		history = fs.Bool("history", false, "print the agreement's whole history")
	default:
		return usagef("want register, sign, withdraw, attest or status", "agreement: unknown subcommand %q", sub)
	}
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	bg, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if sub == "register" {
		if len(pos) != 2 {
			return usagef("pouch agreement register [--as H] AGREEMENT.json TEXT", "agreement register: want AGREEMENT.json and TEXT, got %d arguments", len(pos))
		}
		body, err := readAgreementJSON(pos[0], pos[1])
		if err != nil {
			return err
		}
		return submitAction(ctx, bg, cf, record.KindAgreement, body, nil, "registered agreement %q")
	}
	if len(pos) != 1 {
		return usagef("give the agreement's ID", "agreement %s: want one agreement ID, got %d arguments", sub, len(pos))
	}
	id, err := parseID(pos[0])
	if err != nil {
		return err
	}
	today := agreement.DateOf(time.Now())
	dateOr := func(s *string, def agreement.Date, what string) (agreement.Date, error) {
		if s == nil || *s == "" {
			if def == "" {
				return "", usagef("write it as --"+what+" 2018-05-08", "agreement %s: --%s is required", sub, what)
			}
			return def, nil
		}
		d, err := agreement.ParseDate(*s)
		if err != nil {
			return "", usagef("", "--%s: %v", what, err)
		}
		return d, nil
	}
	needParty := func() error {
		if *party == "" {
			return usagef("write it as --party ir", "agreement %s: --party is required", sub)
		}
		return nil
	}
	switch sub {
	case "sign":
		if err := needParty(); err != nil {
			return err
		}
		d, err := dateOr(date, today, "date")
		if err != nil {
			return err
		}
		return submitAction(ctx, bg, cf, record.KindAgreementSign, &agreement.Sign{Agreement: id, Party: *party, Date: d}, &id, "signed for "+*party)
	case "withdraw":
		if err := needParty(); err != nil {
			return err
		}
		d, err := dateOr(date, "", "date")
		if err != nil {
			return err
		}
		return submitAction(ctx, bg, cf, record.KindAgreementWithdraw, &agreement.Withdraw{Agreement: id, Party: *party, Date: d}, &id, "withdrew "+*party)
	case "attest":
		if err := needParty(); err != nil {
			return err
		}
		if *clause == "" {
			return usagef("write it as --clause nuclear", "agreement attest: --clause is required")
		}
		f, err := dateOr(from, "", "from")
		if err != nil {
			return err
		}
		t, err := dateOr(to, "", "to")
		if err != nil {
			return err
		}
		d, err := dateOr(date, today, "date")
		if err != nil {
			return err
		}
		return submitAction(ctx, bg, cf, record.KindAttest, &agreement.Attest{Agreement: id, Party: *party, Clause: *clause, From: f, To: t, Date: d, Note: *note}, &id, "attested "+*party+" on "+*clause)
	}
	// status
	day, err := dateOr(at, today, "at")
	if err != nil {
		return err
	}
	lr, err := newLogReader(bg, cf)
	if err != nil {
		return err
	}
	es, err := lr.history(bg, id, record.KindAgreement)
	if err != nil {
		return err
	}
	tl, err := agreement.Replay(lr.directory(bg), es)
	if err != nil {
		return &checkError{err}
	}
	if *history {
		if *cf.json {
			return usagef("use one of them", "agreement status: --history and --json exclude each other")
		}
		return agreement.History(ctx.stdout, tl, day)
	}
	st := tl.Status(day)
	if *cf.json {
		return printV1(ctx.stdout, "status", st)
	}
	printStatus(ctx.stdout, st, tl, lr)
	return nil
}

// readAgreementJSON reads an agreement body from JSON, strictly, and sets
// its text digest from the text file.
func readAgreementJSON(path, textPath string) (*agreement.Agreement, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text, err := os.ReadFile(textPath)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var body agreement.Agreement
	if err := dec.Decode(&body); err != nil {
		return nil, withHint(fmt.Errorf("%s: %w", path, err), "see spec/agreement.md#agreement for the fields")
	}
	body.Text = agreement.Digest(text)
	if err := body.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &body, nil
}

// submitAction signs body as the acting principal, checks it against the
// history of the agreement or statement it names (target; nil for an
// agreement or statement record), and submits it. A refused action is
// not submitted.
func submitAction(ctx *cmdContext, bg context.Context, cf *clientFlags, kind record.Kind, body any, target *record.ID, done string) error {
	me, err := cf.me(ctx)
	if err != nil {
		return err
	}
	lr, err := newLogReader(bg, cf)
	if err != nil {
		return err
	}
	s, err := record.Sign(&record.Record{Kind: kind, Origin: lr.c.Origin, By: []record.Handle{me.Handle}, Time: time.Now().UnixMilli()}, body, me.Signing)
	if err != nil {
		return err
	}
	e := agreement.Entry{Signed: s, Index: lr.info.Size, Time: time.Now().UnixMilli()}
	dir := lr.directory(bg)
	switch {
	case target == nil && kind == record.KindAgreement:
		_, err = agreement.New(dir, e)
	case target == nil:
		_, err = agreement.OpenStatement(dir, e)
	case kind == record.KindCosign:
		es, herr := lr.history(bg, *target, record.KindStatement)
		if herr != nil {
			return herr
		}
		var roll *agreement.Roll
		if roll, err = agreement.ReplayStatement(dir, es); err == nil {
			err = roll.Check(e)
		}
	default:
		es, herr := lr.history(bg, *target, record.KindAgreement)
		if herr != nil {
			return herr
		}
		var tl *agreement.Timeline
		if tl, err = agreement.Replay(dir, es); err == nil {
			err = tl.Check(e)
		}
	}
	if err != nil {
		return &checkError{fmt.Errorf("%w (nothing was submitted)", err)}
	}
	a, err := lr.c.Submit(bg, s)
	if err != nil {
		return apiError(err)
	}
	if *cf.json {
		return printV1(ctx.stdout, "accepted", a)
	}
	msg := done
	if kind == record.KindAgreement {
		msg = fmt.Sprintf(done, body.(*agreement.Agreement).Name)
	}
	fmt.Fprintf(ctx.stdout, "%s %s: %s record %s, log index %d\n", me.Handle, msg, kind, a.ID, a.Index)
	return nil
}

func printStatus(w io.Writer, st *agreement.Status, tl *agreement.Timeline, lr *logReader) {
	state := "not in force"
	if st.InForce {
		state = "in force since " + string(st.Entered)
	} else if st.Ended != "" {
		state = "ceased to be in force on " + string(st.Ended)
	}
	fmt.Fprintf(w, "%s (%s) on %s: %s\n", st.Title, st.Name, st.At, state)
	fmt.Fprintf(w, "  agreement %s, depositary %s; %s\n", st.Agreement, st.Depositary, st.Rule)
	fmt.Fprintf(w, "  derived from %d records in a log of size %d, each inclusion proof checked against its signed checkpoint", len(tl.Actions())+1, lr.info.Size)
	if st.Rejected > 0 {
		fmt.Fprintf(w, "; %d action(s) in the log refused by the rules", st.Rejected)
	}
	fmt.Fprintf(w, "\n\nParties: %d of %d in force\n", st.PartiesInForce, len(st.Parties))
	for _, p := range st.Parties {
		switch p.State {
		case agreement.StateParty:
			until := ""
			if p.Until != "" {
				until = ", withdrawing effective " + string(p.Until)
			}
			fmt.Fprintf(w, "  %-8s party since %s (signed by %s%s)\n", p.House, p.Since, p.By, until)
		case agreement.StateWithdrawn:
			fmt.Fprintf(w, "  %-8s withdrawn effective %s (by %s)\n", p.House, p.Since, p.By)
		default:
			fmt.Fprintf(w, "  %-8s invited, not signed\n", p.House)
		}
	}
	if len(st.Clauses) > 0 {
		fmt.Fprintf(w, "\nClauses\n")
		for _, c := range st.Clauses {
			fmt.Fprintf(w, "  %-20s %-8s %s\n", c.ID, c.State, c.Reason)
		}
	}
	if len(st.Attestations) > 0 {
		fmt.Fprintf(w, "\nLatest attestations\n")
		for _, a := range st.Attestations {
			fmt.Fprintf(w, "  %s: %s complied with %s from %s to %s (attested %s, record %s)\n", a.By, a.Party, a.Clause, a.From, a.To, a.Date, a.ID.Short())
		}
	}
	if len(st.Missing) > 0 {
		fmt.Fprintf(w, "\nMissing attestations\n")
		for _, m := range st.Missing {
			fmt.Fprintf(w, "  %s\n", m)
		}
	}
}

// A logReader reads the records of one agreement or statement from a
// server: it asks the server which records they are (or scans the log's
// entry bundles, C2SP tlog-tiles, for records of the agreement kinds),
// fetches them, checks that each acts on the agreement, and checks each
// one's inclusion proof against the log's signed checkpoint.
// The log's key is taken from the server (trust on first use).
type logReader struct {
	c    *client.Client
	info api.LogInfo
	v    *tlog.Verifier
	keys map[record.Handle][]api.KeyView
}

// entriesPerBundle is the width of a full C2SP entry bundle.
const entriesPerBundle = 256

func newLogReader(ctx context.Context, cf *clientFlags) (*logReader, error) {
	c, err := cf.client(ctx)
	if err != nil {
		return nil, err
	}
	var info api.LogInfo
	if err := getJSON(ctx, c.URL+"/v1/log", &info); err != nil {
		return nil, err
	}
	v, err := tlog.NewVerifier(info.Key, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("the server's log key: %w", err)
	}
	return &logReader{c: c, info: info, v: v, keys: map[record.Handle][]api.KeyView{}}, nil
}

func getJSON(ctx context.Context, url string, v any) error {
	b, err := getBytes(ctx, url)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	return nil
}

func getBytes(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, withHint(fmt.Errorf("cannot reach the server: %w", err), "start one with \"pouch serve\", or point --server (POUCH_SERVER) at yours")
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}

// history returns the records of the agreement or statement id (whose
// record is of kind head) in log order, with their log index and
// sequencing time, each proven in the log. It asks the server which
// records they are (GET /v1/agreements/{id}, /v1/statements/{id}), then
// fetches each one, checks that it hashes to its ID, that it acts on id,
// and its inclusion proof against the log's signed checkpoint. Against a
// server without those endpoints it scans the log's entry bundles.
func (lr *logReader) history(ctx context.Context, id record.ID, head record.Kind) ([]agreement.Entry, error) {
	var ids []record.ID
	var err error
	if head == record.KindStatement {
		var v *api.StatementView
		if v, err = lr.c.Statement(ctx, id, -1); err == nil {
			ids = append(ids, id)
			for _, s := range v.Signatories {
				ids = append(ids, s.ID)
			}
		}
	} else {
		var v *api.AgreementView
		if v, err = lr.c.Agreement(ctx, id); err == nil {
			ids = append(ids, id)
			for _, a := range v.Actions {
				ids = append(ids, a.ID)
			}
		}
	}
	if errors.Is(err, client.ErrNotFound) {
		rv, rerr := lr.c.Record(ctx, id, nil)
		switch {
		case errors.Is(rerr, client.ErrNotFound):
			return nil, withHint(fmt.Errorf("no %s record %s in the log of %s", head, id.Short(), lr.c.URL),
				"check the ID and --server (POUCH_SERVER)")
		case rerr != nil:
			return nil, apiError(rerr)
		case rv.Kind != head:
			return nil, &checkError{fmt.Errorf("record %s is a %s record, not a %s", id.Short(), rv.Kind, head)}
		}
		return lr.scanHistory(ctx, id, head) // a server that keeps no index of agreements
	}
	if err != nil {
		return nil, apiError(err)
	}
	es := make([]agreement.Entry, 0, len(ids))
	for i, rid := range ids {
		rv, err := lr.c.Record(ctx, rid, nil)
		if err != nil {
			return nil, apiError(err)
		}
		s, r, err := record.Parse(rv.Signed)
		if err != nil || s.ID() != rid {
			return nil, &checkError{fmt.Errorf("the server's record %s does not match its ID", rid.Short())}
		}
		if t, ok := agreement.Target(r); i == 0 && r.Kind != head || i > 0 && (!ok || t != id) {
			return nil, &checkError{fmt.Errorf("the server lists record %s (%s) as part of %s %s, which it is not", rid.Short(), r.Kind, head, id.Short())}
		}
		pv, err := lr.c.ProveRecord(ctx, lr.v, rid, r.Kind, nil)
		if err != nil {
			return nil, &checkError{fmt.Errorf("inclusion proof of %s record %s: %w", r.Kind, rid.Short(), err)}
		}
		if pv.Index != rv.Index || i > 0 && pv.Index <= es[i-1].Index {
			return nil, &checkError{fmt.Errorf("record %s: the server says log index %d, its proof %d", rid.Short(), rv.Index, pv.Index)}
		}
		es = append(es, agreement.Entry{Signed: s, Index: pv.Index, Time: rv.Time.UnixMilli()})
	}
	return es, nil
}

// scanHistory is history read from the log's entry bundles (C2SP
// tlog-tiles): every leaf of the agreement kinds is looked at, so it needs
// no index on the server.
func (lr *logReader) scanHistory(ctx context.Context, id record.ID, head record.Kind) ([]agreement.Entry, error) {
	size := lr.info.Size
	var es []agreement.Entry
	for n := uint64(0); n*entriesPerBundle < size; n++ {
		w := min(size-n*entriesPerBundle, entriesPerBundle)
		b, err := getBytes(ctx, lr.c.URL+"/"+tlog.TilePath{Level: tlog.EntriesLevel, Index: n, Width: int(w)}.Path())
		if err != nil {
			return nil, err
		}
		leaves, err := tlog.ParseEntryBundle(b)
		if err != nil {
			return nil, &checkError{fmt.Errorf("entry bundle %d: %w", n, err)}
		}
		for i, data := range leaves {
			index := n*entriesPerBundle + uint64(i)
			leaf, err := record.ParseLeaf(data)
			if err != nil || !agreement.IsKind(leaf.Kind) {
				continue
			}
			if leaf.ID != id && leaf.Kind != record.KindAgreementSign && leaf.Kind != record.KindAgreementWithdraw &&
				leaf.Kind != record.KindAttest && leaf.Kind != record.KindCosign {
				continue
			}
			rv, err := lr.c.Record(ctx, leaf.ID, nil)
			if err != nil {
				return nil, apiError(err)
			}
			s, r, err := record.Parse(rv.Signed)
			if err != nil || s.ID() != leaf.ID || r.Kind != leaf.Kind || rv.Index != index {
				return nil, &checkError{fmt.Errorf("the server's record %s does not match log leaf %d", leaf.ID.Short(), index)}
			}
			if t, ok := agreement.Target(r); leaf.ID != id && (!ok || t != id) {
				continue
			}
			if leaf.ID == id && leaf.Kind != head {
				return nil, &checkError{fmt.Errorf("record %s is a %s record, not a %s", id.Short(), leaf.Kind, head)}
			}
			if _, err := lr.c.ProveRecord(ctx, lr.v, leaf.ID, leaf.Kind, nil); err != nil {
				return nil, &checkError{fmt.Errorf("inclusion proof of %s record %s: %w", leaf.Kind, leaf.ID.Short(), err)}
			}
			es = append(es, agreement.Entry{Signed: s, Index: index, Time: rv.Time.UnixMilli()})
		}
	}
	if len(es) == 0 || es[0].Signed.ID() != id {
		return nil, withHint(fmt.Errorf("no %s record %s in the log of %s (size %d)", head, id.Short(), lr.c.URL, size),
			"check the ID and --server (POUCH_SERVER)")
	}
	return es, nil
}

// directory returns the agreement rules' view of the server's directory:
// keys from each office's history, fetched once; an office acts for its
// own house.
func (lr *logReader) directory(ctx context.Context) agreement.Directory {
	return agreement.Offices(keyHistory{lr, ctx})
}

type keyHistory struct {
	lr  *logReader
	ctx context.Context
}

// CheckKey reports whether key held h at log index, from h's key history:
// admitted before index, and neither superseded nor revoked by then.
//
// SPEC: spec/directory.md#admit
func (k keyHistory) CheckKey(h record.Handle, key []byte, index uint64) error {
	hist, ok := k.lr.keys[h]
	if !ok {
		pv, err := k.lr.c.Principal(k.ctx, h, -1)
		if err != nil {
			var ce *client.Error
			if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
				k.lr.keys[h] = nil
				return fmt.Errorf("%s is not in the directory", h)
			}
			return err
		}
		hist = pv.History
		k.lr.keys[h] = hist
	}
	for _, kv := range hist {
		if !ed25519.PublicKey(kv.Key).Equal(ed25519.PublicKey(key)) {
			continue
		}
		switch {
		case kv.Index >= index:
			return fmt.Errorf("key of %s admitted only at log index %d", h, kv.Index)
		case kv.RevokedAt != nil && *kv.RevokedAt <= index:
			return fmt.Errorf("key of %s was revoked at log index %d", h, *kv.RevokedAt)
		case kv.SupersededAt != nil && *kv.SupersededAt <= index:
			return fmt.Errorf("key of %s was superseded at log index %d", h, *kv.SupersededAt)
		}
		return nil
	}
	return fmt.Errorf("the key is not one of %s's keys", h)
}
