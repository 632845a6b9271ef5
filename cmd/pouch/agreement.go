package main

// pouch agreement: register an instrument, sign, withdraw, attest, and
// derive its status at any date from the log. The rules are package
// agreement's (spec/agreement.md); this file reads the log and submits
// records.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/record"
)

func init() {
	sub := func(name string) func(*cmdContext, []string) error {
		return func(ctx *cmdContext, args []string) error { return runAgreement(ctx, name, args) }
	}
	register(&verb{
		name:  "agreement",
		short: "register an agreement, sign, withdraw, attest, and show its status at any date",
		long: `
An agreement is an instrument registered in the log by its depositary,
with its invited parties, the offices that sign for each, its
entry-into-force rule, its verifiers and its clauses (spec/agreement.md).
Parties sign and withdraw, verifiers attest compliance, and its status
on any day is derived from the log.

Every action is checked against the agreement's history, as this client
proved it from the log, before it is submitted: one the rules refuse (a
signer not authorised for the party, a second signature, a withdrawal by
a non-party, an attestation by someone who is not a named verifier)
fails with the reason, and nothing is sent. Each prints the ID of the
record it made.

ID is the agreement's ID, or a unique prefix of at least 8 hex digits.

Example, scene 4 of the reference scenario (examples/jcpoa.json):

  pouch agreement register --as eu/hr jcpoa.json jcpoa.txt
  pouch agreement sign --as ir/fm --party ir --date 2015-07-14 5e10c7b3
  pouch agreement withdraw --as us/president --party us --date 2018-05-08 5e10c7b3
  pouch agreement status --at 2019-06-01 5e10c7b3`,
		subs: []*verb{
			{name: "agreement register", args: "[flags] AGREEMENT.json TEXT", short: "register an instrument, as its depositary", run: sub("register"), long: `
pouch agreement register signs and submits an agreement record, as its
depositary (--as). AGREEMENT.json holds the body of
spec/agreement.md#agreement in JSON, with the same field names (name,
title, parties with their signers, force, verifiers, clauses with from,
until, start-on, end-on, attest); the text digest is computed from the
file TEXT, the instrument's text. It prints the agreement's ID.

Example, the EU High Representative registers the JCPOA
(examples/jcpoa.json and examples/jcpoa.txt in the repository):

  pouch agreement register --as eu/hr jcpoa.json jcpoa.txt`},
			{name: "agreement sign", args: "[flags] --party HOUSE [--date YYYY-MM-DD] ID", short: "sign for a party", run: sub("sign"), long: `
pouch agreement sign signs the agreement for --party, as one of the
offices the agreement names for it, on --date (default: today).

Example, Iran's Foreign Minister signs the JCPOA in Vienna:

  pouch agreement sign --as ir/fm --party ir --date 2015-07-14 5e10c7b3`},
			{name: "agreement withdraw", args: "[flags] --party HOUSE --date YYYY-MM-DD ID", short: "withdraw a party, effective on a date", run: sub("withdraw"), long: `
pouch agreement withdraw withdraws --party from the agreement, effective
on --date (the first day it is no longer bound), as one of the offices
the agreement names for it.

Example, the United States leave the JCPOA:

  pouch agreement withdraw --as us/president --party us --date 2018-05-08 5e10c7b3`},
			{name: "agreement attest", args: "[flags] --party HOUSE --clause ID --from D --to D [--date D] [--note N] ID", short: "attest a party's compliance with a clause, as a named verifier", run: sub("attest"), long: `
pouch agreement attest attests, as one of the agreement's verifiers,
that --party complied with --clause from --from to --to (both
included), on --date (default: today), citing --note.

Example, the IAEA's Director General attests Iran's implementation:

  pouch agreement attest --as iaea/dg --party ir --clause nuclear \
      --from 2016-01-16 --to 2016-11-09 --date 2016-11-09 --note GOV/2016/55 5e10c7b3`},
			{name: "agreement status", args: "[--at YYYY-MM-DD] [--history] [--json] ID", short: "the agreement's status on a day, replayed from the log", run: sub("status"), long: `
pouch agreement status derives the agreement's status on a day (--at,
default: today, UTC) by replaying its records from the log, each one's
inclusion proof checked against a checkpoint this client verified
(--policy, --log-key, or the key pinned at first use): the parties in
force, the clauses active, pending or lapsed, the attestations and those
missing. --history prints its whole story instead.

Example, the JCPOA after the United States left it:

  pouch agreement status --at 2019-06-01 5e10c7b3`},
		},
	})
}

func runAgreement(ctx *cmdContext, sub string, args []string) error {
	v := verbNamed("agreement " + sub)
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
	id, err := resolvePublicID(bg, cf, pos[0], "agreement", record.KindAgreement)
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
	pl, err := newProvenLog(ctx, bg, cf, nil)
	if err != nil {
		return err
	}
	tl, err := pl.agreement(id)
	if err != nil {
		return err
	}
	if *history {
		if ctx.json {
			return usagef("use one of them", "agreement status: --history and --json exclude each other")
		}
		return agreement.History(ctx.stdout, tl, day)
	}
	st := tl.Status(day)
	if ctx.json {
		return emit(ctx, st)
	}
	printStatus(ctx.stdout, st, tl, pl)
	return nil
}

// readAgreementJSON reads an agreement body from JSON, strictly, and sets
// its text digest from the text file.
func readAgreementJSON(path, textPath string) (*agreement.Agreement, error) {
	b, err := readInput(path, "an agreement's body in JSON (spec/agreement.md#agreement; examples/jcpoa.json is one)")
	if err != nil {
		return nil, err
	}
	text, err := readInput(textPath, "the instrument's text, whose SHA-256 the agreement records")
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var body agreement.Agreement
	if err := dec.Decode(&body); err != nil {
		return nil, usagef("write the body of spec/agreement.md#agreement in JSON, with its field names (examples/jcpoa.json is one)", "%s: %v", path, err)
	}
	if dec.More() {
		return nil, usagef("give one JSON object", "%s: more than one JSON value", path)
	}
	body.Text = agreement.Digest(text)
	if err := body.Check(); err != nil {
		return nil, withHint(fmt.Errorf("%s: %w", path, err), "see spec/agreement.md#agreement for what each field may hold")
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
	pl, err := newProvenLog(ctx, bg, cf, me)
	if err != nil {
		return err
	}
	s, err := record.Sign(&record.Record{Kind: kind, Origin: pl.c.Origin, By: []record.Handle{me.Handle}, Time: time.Now().UnixMilli()}, body, me.Signing)
	if err != nil {
		return err
	}
	// Checked against the agreement as the client proved it from the log,
	// as if it were sequenced next, now: the server judges it again at its
	// time of sequencing.
	e := agreement.Entry{Signed: s, Index: pl.v.Size(), Time: time.Now().UnixMilli()}
	dir := agreement.Offices(pl.v.Directory())
	switch {
	case target == nil && kind == record.KindAgreement:
		_, err = agreement.New(dir, e)
	case target == nil:
		_, err = agreement.OpenStatement(dir, e)
	case kind == record.KindCosign:
		var roll *agreement.Roll
		if roll, err = pl.statement(*target); err != nil {
			return err
		}
		err = roll.Check(e)
	default:
		var tl *agreement.Timeline
		if tl, err = pl.agreement(*target); err != nil {
			return err
		}
		err = tl.Check(e)
	}
	if err != nil {
		return &checkError{fmt.Errorf("%w (nothing was submitted)", err)}
	}
	a, err := pl.c.Submit(bg, s)
	if err != nil {
		return apiError(err)
	}
	msg := done
	if kind == record.KindAgreement {
		msg = fmt.Sprintf(done, body.(*agreement.Agreement).Name)
	}
	out := struct {
		*api.Accepted
		By        record.Handle `json:"by"`
		Agreement *record.ID    `json:"agreement,omitempty"`
		Statement *record.ID    `json:"statement,omitempty"`
	}{Accepted: a, By: me.Handle}
	switch kind {
	case record.KindCosign:
		out.Statement = target
	case record.KindAgreementSign, record.KindAgreementWithdraw, record.KindAttest:
		out.Agreement = target
	}
	return recorded(ctx, a.ID, out, "%s %s: %s record %s, log index %d", me.Handle, msg, kind, a.ID.Short(), a.Index)
}

func printStatus(w io.Writer, st *agreement.Status, tl *agreement.Timeline, pl *provenLog) {
	state := "not in force"
	if st.InForce {
		state = "in force since " + string(st.Entered)
	} else if st.Ended != "" {
		state = "ceased to be in force on " + string(st.Ended)
	}
	fmt.Fprintf(w, "%s (%s) on %s: %s\n", st.Title, st.Name, st.At, state)
	fmt.Fprintf(w, "  agreement %s, depositary %s; %s\n", st.Agreement, st.Depositary, st.Rule)
	fmt.Fprintf(w, "  replayed from its %d records in the log of size %d, every record of the agreement the log holds (%s)", len(tl.Actions())+1, pl.v.Size(), pl.v.Witnessing(time.Now()))
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

// A provenLog is the verifying client's View of a server's log: the
// agreements and statements in it, every record of theirs the log holds
// (the client reads every leaf, so none can be hidden), replayed by the
// rules with the directory the client proved from the log.
type provenLog struct {
	c *client.Client
	v *client.View
}

func newProvenLog(ctx *cmdContext, bg context.Context, cf *clientFlags, as *client.Identity) (*provenLog, error) {
	c, err := cf.client(bg)
	if err != nil {
		return nil, err
	}
	v, err := c.View(bg, as)
	if err != nil {
		return nil, &checkError{apiError(err)}
	}
	return &provenLog{c: c, v: v}, nil
}

// agreement returns agreement id as proven from the log.
func (pl *provenLog) agreement(id record.ID) (*agreement.Timeline, error) {
	if tl := pl.v.Agreements().Agreement(id); tl != nil {
		return tl, nil
	}
	return nil, withHint(fmt.Errorf("no agreement record %s in the log %s (size %d)", id.Short(), pl.v.Origin, pl.v.Size()),
		"check the ID and --server (POUCH_SERVER)")
}

// statement returns statement id as proven from the log.
func (pl *provenLog) statement(id record.ID) (*agreement.Roll, error) {
	if r := pl.v.Agreements().Statement(id); r != nil {
		return r, nil
	}
	return nil, withHint(fmt.Errorf("no statement record %s in the log %s (size %d)", id.Short(), pl.v.Origin, pl.v.Size()),
		"check the ID and --server (POUCH_SERVER)")
}

// resolvePublicID resolves an ID argument among the public records of
// kinds, asking the server (no signature needed): a full ID, or a unique
// prefix of at least 8 hex digits.
func resolvePublicID(bg context.Context, cf *clientFlags, s, what string, kinds ...record.Kind) (record.ID, error) {
	if err := idSyntax(s, what); err != nil {
		return record.ID{}, err
	}
	if len(s) == 2*len(record.ID{}) {
		return parseID(strings.ToLower(s))
	}
	c, err := cf.client(bg)
	if err != nil {
		return record.ID{}, err
	}
	return resolveID(bg, c, nil, s, what, kinds...)
}
