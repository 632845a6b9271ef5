package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"pouch.dev/client"
	"pouch.dev/letter"
	"pouch.dev/record"
)

var errDryRun = fmt.Errorf("dry run: nothing sealed or sent")

func init() {
	register(&verb{
		name:  "send",
		args:  "[flags] --to HOUSE/OFFICE [--via H...] [--attach FILE...] LETTER.md",
		short: "seal a letter and submit it through the server",
		long: `
pouch send reads LETTER.md (each "##" heading starts a section), asks the
directory whom a letter to --to must be sealed to now — the addressee and its
current receive delegates — adds the --reader principals and you, prints
that list, then seals the letter to exactly them and submits the pouch with
its route (--via, the envoys in order). Carriers and the server see only the
tag. --dry-run prints the list and stops.

The sender may ask for evidence (spec/evidence.md): --deliver-by sets a
deadline, past which the deployment logs the pouch's non-delivery with
its reason (not taken by the first envoy, stuck at an envoy, refused,
...); --consent asks the addressee's side to accept the letter before it
may be delivered or read (pouch accept), or refuse it (pouch refuse);
--access asks it to log an access record before it takes the sealed
letter (pouch open does so). "pouch evidence ID" then writes the
pouch's evidence, which "pouch verify" checks with no network.

--attach adds files to the letter. A letter's attachments may hold 1 GiB
together, or less if the server says so (GET /v1/limits): a letter over
the limit is refused before anything is read. A large letter is sealed
to a temporary file (in $TMPDIR) and streamed to the server; a progress
line shows on a terminal.

Environment: POUCH_SERVER, POUCH_AS, POUCH_HOME, POUCH_PASSPHRASE.

Example (scene 1):

  pouch send --as ir/leader --to ru/president --via ir/speaker --reader ir/speaker message.md

Example (scene 7):

  pouch send --as us/secretary-of-state --to ir/fm --via ch/amb-tehran \
      --deliver-by 168h --consent embargo.md`,
		run: func(ctx *cmdContext, args []string) error { return runSend(ctx, "send", args) },
	})
	register(&verb{
		name:  "reply",
		args:  "[flags] [--attach FILE...] ID LETTER.md",
		short: "reply to a pouch, threaded to it, on a route of your choice",
		long: `
pouch reply seals LETTER.md to the sender of pouch ID (and its receive
delegates now), threaded to the original, on its own route (--via).

Environment: POUCH_SERVER, POUCH_AS, POUCH_HOME, POUCH_PASSPHRASE.

Example (scene 2):

  pouch reply --as ru/president --via ru/amb-tehran 3f2a9c1e reply.md`,
		run: func(ctx *cmdContext, args []string) error { return runSend(ctx, "reply", args) },
	})
}

func runSend(ctx *cmdContext, name string, args []string) error {
	v := verbs[name]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	to := new(string)
	if name == "send" {
		to = fs.String("to", "", "the addressee `HOUSE/OFFICE`")
	}
	var via, readers handles
	var attach strs
	fs.Var(&via, "via", "the envoys in order, `HANDLE` (repeatable, or comma-separated)")
	fs.Var(&readers, "reader", "also seal to `HANDLE` (repeatable)")
	fs.Var(&attach, "attach", "attach `FILE` (repeatable)")
	dry := fs.Bool("dry-run", false, "print who would be able to open it, and stop")
	deliverBy := fs.String("deliver-by", "", "the deadline for delivery: a `TIME` (RFC 3339, or a date, UTC), or a duration from now such as 48h; past it undelivered, the deployment logs the pouch's non-delivery and why")
	consent := fs.Bool("consent", false, "ask the addressee's side to accept the letter (pouch accept) before it may be delivered or read")
	access := fs.Bool("access", false, "ask for proof of access: the addressee's side logs an access record before it takes the sealed letter")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	var orig record.ID
	origArg := ""
	switch {
	case name == "send" && (len(pos) != 1 || *to == ""):
		return usagef("such as: pouch send --as ir/leader --to ru/president --via ir/speaker message.md", "send takes --to and one LETTER.md")
	case name == "reply" && len(pos) != 2:
		return usagef("such as: pouch reply --as ru/president --via ru/amb-tehran ID reply.md", "reply takes the pouch ID and one LETTER.md")
	case name == "reply":
		if err := idSyntax(pos[0], "reply"); err != nil {
			return err
		}
	}
	if name == "reply" {
		origArg, pos = pos[0], pos[1:]
	}
	md, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	sections, err := letter.ParseMarkdown(md)
	if err != nil {
		return withHint(err, "write the letter in Markdown, each section under a \"## Title\" heading")
	}
	pr := newProgress(ctx)
	defer pr.end()
	l := &client.Letter{Sections: sections, Consent: *consent, Access: *access && !*consent}
	if *deliverBy != "" {
		if l.DeliverBy, err = parseDeadline(*deliverBy, time.Now()); err != nil {
			return usagef("such as --deliver-by 2020-10-18T00:00:00Z, --deliver-by 2020-10-18 or --deliver-by 48h", "--deliver-by: %v", err)
		}
	}
	var closeAttach func()
	if l.Attach, closeAttach, err = openAttachments(attach, pr); err != nil {
		return err
	}
	defer closeAttach()
	if name == "send" {
		if l.To, err = record.ParseHandle(*to); err != nil {
			return usagef("", "--to: %v", err)
		}
	}
	for _, s := range via {
		h, err := record.ParseHandle(s)
		if err != nil {
			return usagef("", "--via: %v", err)
		}
		l.Via = append(l.Via, h)
	}
	for _, s := range readers {
		h, err := record.ParseHandle(s)
		if err != nil {
			return usagef("", "--reader: %v", err)
		}
		l.Readers = append(l.Readers, h)
	}
	me, err := cf.me(ctx)
	if err != nil {
		return err
	}
	bg := context.Background()
	c, err := cf.client(bg)
	if err != nil {
		return err
	}
	if name == "reply" {
		if orig, err = resolveID(bg, c, me, origArg, "pouch", record.KindTag); err != nil {
			return err
		}
	}
	show := func(p *client.Plan) error {
		if *dry && ctx.json {
			if err := emit(ctx, map[string]any{"dry_run": true, "to": l.To, "via": viaOf(l), "readers": readersJSON(p.Readers), "unreadable_grants": p.Unreadable}); err != nil {
				return err
			}
		}
		if !ctx.json {
			var who []string
			for _, r := range p.Readers {
				d := string(r.Handle) + " (" + r.Role
				if r.Grant != nil {
					if na := r.Grant.NotAfter(); !na.IsZero() {
						d += ", grant until " + na.Format("2006-01-02")
					} else {
						d += ", grant " + r.Grant.ID.Short()
					}
				}
				who = append(who, d+")")
			}
			fmt.Fprintf(ctx.stderr, "pouch: sealing to: %s (proven from the log, %s)\n", strings.Join(who, ", "), p.View.Witnessing(time.Now()))
			if p.Unreadable > 0 {
				fmt.Fprintf(ctx.stderr, "pouch: the log holds %d private grants %s cannot read: a delegate under one of them is not sealed to\n", p.Unreadable, me.Handle)
			}
		}
		if *dry {
			return errDryRun
		}
		return nil
	}
	// The server's limit on attachments is checked before anything is
	// proven or read (Send does it too, for callers of the library).
	if err := c.CheckSize(bg, l); err != nil {
		if errors.Is(err, record.ErrTooLarge) {
			return withHint(fmt.Errorf("%w, on the server at %s", err, c.URL), "split the letter, or send large files separately")
		}
		return apiError(err)
	}
	var sent *client.Sent
	upload := false
	c.Progress = func(done, total uint64) {
		if !upload {
			upload = true
			pr.phase("uploading", int64(total))
		}
		pr.set(done, total)
	}
	if name == "reply" {
		sent, err = c.Reply(bg, me, orig, l, show)
	} else {
		sent, err = c.Send(bg, me, l, show)
	}
	c.Progress = nil
	pr.end()
	if err == errDryRun {
		return nil
	}
	if err != nil {
		return apiError(err)
	}
	route := ""
	if len(l.Via) > 0 {
		route = " via " + strings.Join(via, ", ")
	}
	tag := sent.Sealed.Tag.Tag
	tagVia := tag.Via
	if tagVia == nil {
		tagVia = []record.Handle{}
	}
	return recorded(ctx, sent.Pouch, map[string]any{"id": sent.Pouch, "kind": record.KindTag, "index": sent.Accepted.Index, "time": sent.Accepted.Time,
		"readers": readersJSON(sent.Readers), "unreadable_grants": sent.Plan.Unreadable, "via": tagVia, "to": tag.To},
		"sent pouch %s to %s%s (log index %d)", sent.Pouch.Short(), tag.To, route, sent.Accepted.Index)
}

// readersJSON lists whom a letter is sealed to, and why, for --json.
func readersJSON(rs []client.Reader) []map[string]any {
	out := []map[string]any{}
	for _, r := range rs {
		m := map[string]any{"handle": r.Handle, "role": r.Role, "recipient": r.Recipient}
		if r.Grant != nil {
			m["grant"] = r.Grant.ID
		}
		out = append(out, m)
	}
	return out
}

func viaOf(l *client.Letter) []record.Handle {
	if l.Via == nil {
		return []record.Handle{}
	}
	return l.Via
}

// parseDeadline reads a --deliver-by value: an RFC 3339 time, a date
// (midnight UTC), or a duration from now.
func parseDeadline(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%q is not in the future", s)
		}
		return now.Add(d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			if !t.After(now) {
				return time.Time{}, fmt.Errorf("%s is not in the future", t.UTC().Format(time.RFC3339))
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a time (RFC 3339), a date (YYYY-MM-DD) nor a duration", s)
}
