package main

// The addressee's side of a pouch's events (pouch accept, pouch refuse),
// and evidence that travels: pouch evidence writes a pouch's evidence
// bundle, which pouch verify checks with no network (spec/evidence.md).

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/evidence"
	"pouch.dev/letter"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "accept",
		args:  "[flags] ID",
		short: "consent to a pouch that asks for it, so that it may be delivered",
		long: `
pouch accept signs your acceptance of pouch ID, whose sender asked for
consent (pouch send --consent): its delivery, and your reading of its
payload, may follow. As a receive delegate you accept on the addressee's
behalf. The log then proves that acceptance came before delivery.

Environment: POUCH_SERVER, POUCH_AS, POUCH_HOME, POUCH_PASSPHRASE.

Example (the Foreign Minister consents to a letter):

  pouch accept --as ir/fm 3f2a9c1e`,
		run: func(ctx *cmdContext, args []string) error { return runEvent(ctx, "accept", args) },
	})
	register(&verb{
		name:  "refuse",
		args:  "[flags] --reason CODE [--text TEXT] ID",
		short: "refuse a pouch, with a reason: it returns to its sender",
		long: `
pouch refuse signs your refusal of pouch ID, as its addressee or a receive
delegate of it, with a reason code — declined, wrong-addressee, unreadable,
or other (say which in --text) — and, optionally, words. The pouch returns
to its sender's inbox; no envoy may carry it further, nor may it be
delivered; at its deadline, if it has one, the deployment logs its
non-delivery, reason refused.

Environment: POUCH_SERVER, POUCH_AS, POUCH_HOME, POUCH_PASSPHRASE.

Example (scene 7):

  pouch refuse --as ir/fm --reason declined \
      --text "Tehran firmly rejects Washington's plans" 3f2a9c1e`,
		run: func(ctx *cmdContext, args []string) error { return runEvent(ctx, "refuse", args) },
	})
	register(&verb{
		name:  "evidence",
		args:  "[flags] ID [-o X.evidence]",
		short: "write a pouch's evidence bundle, which pouch verify checks with no network",
		long: `
pouch evidence proves pouch ID (or one of its records: a custody,
acceptance, refusal, access or non-delivery record) as --as sees it, and
writes its evidence bundle: every event of the pouch you may read — its
tag, custody, acceptance, refusal, access, non-delivery, and the publish
records of those made public — the directory records their signatures
rest on, each record's inclusion proof in C2SP tlog-proof form against
one cosigned checkpoint, and for each event the log's cosigned checkpoints
just before and after it, whose witnesses' timestamps bound its time from
both sides. "pouch verify X.evidence" checks it anywhere, given only the
log's key and witness policy (--log-key, --policy, or the key a home
pinned for that log).

With --public it is made as the public: it carries the record ID names,
which must be public (a published delivery receipt, say), and proves who
signed it, with which key of their office, and when; not the pouch's route.

The bundle goes to -o (written only once complete) or to standard output
(never to a terminal).

Environment: POUCH_SERVER, POUCH_AS, POUCH_HOME, POUCH_PASSPHRASE,
POUCH_POLICY, POUCH_LOG_KEY.

Example (scene 7: the Secretary of State keeps the evidence of a refusal;
anyone keeps the evidence of scene 3's published receipt):

  pouch evidence --as us/secretary-of-state 3f2a9c1e -o embargo.evidence
  pouch evidence --public 9c1e07d4 -o receipt.evidence
  pouch verify embargo.evidence`,
		run: runEvidence,
	})
}

func runEvent(ctx *cmdContext, name string, args []string) error {
	v := verbs[name]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	var reason, text *string
	if name == "refuse" {
		reason = fs.String("reason", "", "the reason `CODE`: declined, wrong-addressee, unreadable or other")
		text = fs.String("text", "", "the reason in words (`TEXT`, at most 1024 bytes; required with --reason other)")
	}
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("", "%s takes one pouch ID", name)
	}
	if err := idSyntax(pos[0], name); err != nil {
		return err
	}
	var rr letter.RefusalReason
	if name == "refuse" {
		rr = letter.RefusalReason(*reason)
		known := false
		for _, x := range letter.RefusalReasons {
			known = known || x == rr
		}
		if !known {
			return usagef("such as: pouch refuse --reason declined --text \"...\" ID", "--reason %q: want one of %v", *reason, letter.RefusalReasons)
		}
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
	id, err := resolveID(bg, c, me, pos[0], "pouch", record.KindTag)
	if err != nil {
		return err
	}
	if name == "accept" {
		a, err := c.Accept(bg, me, id)
		if err != nil {
			return apiError(err)
		}
		return recorded(ctx, a.ID, eventResult{Accepted: a, Pouch: id, By: me.Handle},
			"%s accepted pouch %s (acceptance %s, log index %d): it may be delivered", me.Handle, id.Short(), a.ID.Short(), a.Index)
	}
	a, err := c.Refuse(bg, me, id, rr, *text)
	if err != nil {
		return apiError(err)
	}
	return recorded(ctx, a.ID, eventResult{Accepted: a, Pouch: id, By: me.Handle, Reason: string(rr), Text: *text},
		"%s refused pouch %s, reason %s (refusal %s, log index %d): it returns to its sender", me.Handle, id.Short(), rr, a.ID.Short(), a.Index)
}

// eventResult is the result of accept and refuse.
type eventResult struct {
	*api.Accepted
	Pouch  record.ID     `json:"pouch"`
	By     record.Handle `json:"by"`
	Reason string        `json:"reason,omitempty"`
	Text   string        `json:"text,omitempty"`
}

func runEvidence(ctx *cmdContext, args []string) error {
	v := verbs["evidence"]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	out := fs.String("o", "", "write the bundle to `FILE` instead of standard output")
	public := fs.Bool("public", false, "make it as the public, of a public (published) record")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("such as: pouch evidence --as ir/leader 3f2a9c1e -o letter.evidence", "evidence takes one ID")
	}
	if err := idSyntax(pos[0], "evidence"); err != nil {
		return err
	}
	if ctx.json && (*out == "" || *out == "-") {
		return usagef("pass -o FILE with --json", "evidence: --json prints a summary, and standard output holds the bundle")
	}
	var me *client.Identity
	if !*public {
		if me, err = cf.me(ctx); err != nil {
			return err
		}
	}
	bg := context.Background()
	c, err := cf.client(bg)
	if err != nil {
		return err
	}
	id, err := resolveID(bg, c, me, pos[0], "record")
	if err != nil {
		return err
	}
	bt, err := c.Evidence(bg, me, id)
	if err != nil {
		return &checkError{apiError(fmt.Errorf("the evidence of %s: %w", id.Short(), err))}
	}
	dst, err := binaryOut(ctx, *out, "an evidence bundle")
	if err != nil {
		return err
	}
	defer dst.discard()
	if _, err := dst.Write(bt.Bundle); err != nil {
		return err
	}
	if err := dst.commit(); err != nil {
		return err
	}
	if *out == "" || *out == "-" {
		return nil
	}
	ve := bt.Verified
	cp := ve.Checkpoint
	if ctx.json {
		return emit(ctx, struct {
			Pouch     record.ID `json:"pouch"`
			File      string    `json:"file"`
			Bytes     int       `json:"bytes"`
			Events    int       `json:"events"`
			Origin    string    `json:"origin"`
			Size      uint64    `json:"size"`
			Witnessed bool      `json:"witnessed"`
			Cosigners []string  `json:"cosigners,omitempty"`
		}{ve.Pouch, *out, len(bt.Bundle), len(ve.Events), cp.Origin, cp.Size, cp.Witnessed, cp.Cosigners})
	}
	fmt.Fprintf(ctx.stdout, "wrote the evidence of pouch %s to %s: %d events, each with its proof in the log %s at size %d and the checkpoints around it (%s)\n",
		ve.Pouch, *out, len(ve.Events), cp.Origin, cp.Size, witnessing(cp.Witnessed, cp.Cosigners))
	return nil
}

func witnessing(witnessed bool, cosigners []string) string {
	if !witnessed {
		return "no witness was required: split views undetectable"
	}
	return fmt.Sprintf("cosigned by %v", cosigners)
}

// evidenceJSON is the result of pouch verify of a bundle (spec/cli.md).
type evidenceJSON struct {
	Pouch    record.ID       `json:"pouch"`
	Log      *logJSON        `json:"log"`
	Outcome  string          `json:"outcome,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	Events   []evidenceEvent `json:"events"`
	Notes    []string        `json:"notes,omitempty"`
	Verified bool            `json:"verified"`
}

type evidenceEvent struct {
	Index     uint64          `json:"index"`
	ID        record.ID       `json:"id"`
	Kind      record.Kind     `json:"kind"`
	By        []record.Handle `json:"by"`
	What      string          `json:"what"`
	Time      time.Time       `json:"time"` // the log's time of sequencing
	NotBefore *time.Time      `json:"not_before,omitempty"`
	NotAfter  *time.Time      `json:"not_after,omitempty"`
	Unproven  string          `json:"unproven,omitempty"`
}

// verifyEvidence checks an evidence bundle read from path with no network,
// against the log key and policy the user holds.
//
// SPEC: spec/evidence.md#verifying-a-bundle
func verifyEvidence(ctx *cmdContext, cf *clientFlags, path string, b []byte) error {
	p, err := evidence.Parse(b)
	if err != nil {
		return &checkError{fmt.Errorf("%s: %w", path, err)}
	}
	origin := ""
	if fp := p.Proofs[p.Records[0].ID()]; fp != nil {
		origin = checkpointOrigin(fp.Checkpoint)
	}
	lv, how, err := cf.logVerifier(origin)
	if err != nil {
		return err
	}
	if lv == nil {
		return &checkError{withHint(fmt.Errorf("%s: the bundle's proofs are from the log %s, and this home holds no key for it", path, origin),
			"give the log's key (--log-key, POUCH_LOG_KEY) or its witness policy (--policy, POUCH_POLICY)")}
	}
	t, err := cf.trust()
	if err != nil {
		return err
	}
	ve, err := client.VerifyEvidence(b, lv, t.MaxSkew)
	if err != nil {
		return &checkError{fmt.Errorf("%s: %w", path, err)}
	}
	cp := ve.Checkpoint
	out := &evidenceJSON{Pouch: ve.Pouch, Notes: ve.Notes, Verified: true, Events: []evidenceEvent{},
		Log: &logJSON{Origin: cp.Origin, Size: cp.Size, Anchor: how, Witnessed: cp.Witnessed, Cosigners: cp.Cosigners}}
	if st := ve.State; st != nil {
		switch {
		case st.Delivered():
			out.Outcome = "delivered"
		case st.NonDelivery != nil:
			out.Outcome, out.Reason = "not-delivered", st.NonDelivery.Reason
		case st.Refused != nil:
			out.Outcome, out.Reason = "refused", st.Refused.Reason
		}
	}
	for _, e := range ve.Events {
		ej := evidenceEvent{Index: e.At.Index, ID: e.Signed.ID(), Kind: e.Record.Kind, By: e.Record.By, What: e.What, Time: e.At.Sequenced(), Unproven: e.Unproven}
		if !e.NotBefore.IsZero() {
			nb := e.NotBefore
			ej.NotBefore = &nb
		}
		if !e.NotAfter.IsZero() {
			na := e.NotAfter
			ej.NotAfter = &na
		}
		if e.Unproven != "" {
			out.Verified = false
		}
		out.Events = append(out.Events, ej)
	}
	if ctx.json {
		return emit(ctx, out)
	}
	w := ctx.stdout
	fmt.Fprintf(w, "evidence of pouch %s\n", ve.Pouch)
	fmt.Fprintf(w, "log       %s, checkpoint of %d (%s; its key from %s)\n", cp.Origin, cp.Size, witnessing(cp.Witnessed, cp.Cosigners), how)
	if out.Outcome != "" {
		o := out.Outcome
		if out.Reason != "" {
			o += " (" + out.Reason + ")"
		}
		fmt.Fprintf(w, "outcome   %s\n", o)
	}
	for _, e := range out.Events {
		when := e.Time.UTC().Format("2006-01-02 15:04:05.000 MST")
		var bounds []string
		if e.NotBefore != nil {
			bounds = append(bounds, "after "+e.NotBefore.UTC().Format(time.RFC3339))
		}
		if e.NotAfter != nil {
			bounds = append(bounds, "by "+e.NotAfter.UTC().Format(time.RFC3339))
		}
		if len(bounds) > 0 {
			when += ", witnessed " + strings.Join(bounds, " and ")
		}
		mark := "✓"
		if e.Unproven != "" {
			mark = "?"
		}
		fmt.Fprintf(w, "%s #%-5d %s\n          logged %s\n", mark, e.Index, e.What, when)
		if e.Unproven != "" {
			fmt.Fprintf(w, "          not checked: %s\n", e.Unproven)
		}
	}
	for _, n := range out.Notes {
		fmt.Fprintf(w, "note      %s\n", n)
	}
	fmt.Fprintln(w, "ok: every record proven in the log and replayed through its rules, every event bounded by its witnesses' checkpoints, with no network")
	return nil
}

// checkpointOrigin returns the origin a signed checkpoint names, or "".
func checkpointOrigin(note []byte) string {
	origin, _, _ := strings.Cut(string(note), "\n")
	return origin
}

// isBundle reports whether the file at path is an evidence bundle, and
// returns its bytes if so.
func isBundle(path string) ([]byte, bool, error) {
	f, err := openInput(path, "a .pouch file, an evidence bundle, a signed record, or a pouch ID")
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	head := make([]byte, 16)
	n, _ := f.Read(head)
	if !evidence.Sniff(head[:n]) {
		return nil, false, nil
	}
	st, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	if st.Size() > record.MaxBundleSize {
		return nil, true, fmt.Errorf("%s: an evidence bundle of %d bytes: %w (limit %d)", path, st.Size(), record.ErrTooLarge, record.MaxBundleSize)
	}
	b, err := os.ReadFile(path)
	return b, true, err
}
