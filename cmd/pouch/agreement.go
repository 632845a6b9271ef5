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
	"os"
	"strings"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/client"
	"pouch.dev/record"
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

ID is the agreement's ID, or a unique prefix of at least 8 hex digits.

Example, scene 4 of the reference scenario:

  pouch agreement sign --as ir/fm --party ir --date 2015-07-14 5e10c7b3
  pouch agreement withdraw --as us/president --party us --date 2018-05-08 5e10c7b3
  pouch agreement status --at 2019-06-01 5e10c7b3`,
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
		if *cf.json {
			return usagef("use one of them", "agreement status: --history and --json exclude each other")
		}
		return agreement.History(ctx.stdout, tl, day)
	}
	st := tl.Status(day)
	if *cf.json {
		return printV1(ctx.stdout, "status", st)
	}
	printStatus(ctx.stdout, st, tl, pl)
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
