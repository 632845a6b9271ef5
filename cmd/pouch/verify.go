package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "verify",
		args:  "[--json] X.pouch | RECORD",
		short: "check a pouch or a signed record offline: signatures, payload, custody",
		long: `
pouch verify checks a .pouch file without opening it: the sender's
signature on the tag, the payload's SHA-256 and size against the tag,
that the payload is sealed to hybrid post-quantum recipients only (one
that also wraps its key to a classical X25519 recipient is a downgrade,
refused), each custody record's signature, and that the custody chain
follows the route (sender, then the envoys in order, then the addressee
or a delegate on its behalf). Signers' keys are compared with the home's principals and
contacts where known. Delegations live in the log, so offline they are
reported, not checked.

Given a signed record instead (such as a disclosure), it checks its
signatures; for a disclosure, also the author's signature on the letter
header inside and every revealed section against its commitment.

It exits with status 1 when a check fails, naming the problem.

Example, the Leader's office checks the receipt that came back:

  pouch verify leader-to-president.pouch`,
		run: runVerify,
	})
}

func runVerify(ctx *cmdContext, args []string) error {
	if onlineVerify(args) {
		return runVerifyOnline(ctx, args) // a pouch ID on a server: chain.go
	}
	v := verbs["verify"]
	fs := newFlags(ctx, v)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("", "verify: want one .pouch file or record file")
	}
	h, err := openHome(ctx)
	if err != nil {
		h = nil // verifying needs no home; keys are compared when there is one
	}
	b, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	if _, _, rerr := record.Parse(b); rerr == nil {
		return verifyRecord(ctx, h, b, *asJSON)
	}
	d, err := verifyPouch(h, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(ctx.stdout, struct {
			OK bool `json:"ok"`
			*pouchJSON
		}{true, d})
	}
	printPouch(ctx.stdout, d)
	fmt.Fprintln(ctx.stdout, "ok: tag, payload and custody verified")
	return nil
}

// verifyPouch checks a .pouch file as described in the verb's help.
func verifyPouch(h *keys.Home, path string) (*pouchJSON, error) {
	f, done, err := openPouchFile(path)
	if err != nil {
		return nil, err
	}
	defer done()
	d := describePouch(f)
	fail := func(err error) (*pouchJSON, error) {
		return nil, &checkError{fmt.Errorf("%s: %w", path, err)}
	}
	if err := checkKnownKey(h, f.Tag.Tag.From, f.Tag.Sender(), "the tag", &d.Notes); err != nil {
		return fail(err)
	}
	st, err := letter.CheckChain(f.Tag, f.Custody, offlineHops(h, &d.Notes))
	if err != nil {
		return fail(err)
	}
	d.Delivered, d.Holder, d.Next = st.Delivered, st.Holder, st.Next
	// The payload's recipients, then its digest: a changed byte is
	// reported as such, even in the age header.
	rerr := f.CheckRecipients()
	if err := f.Finish(); err != nil {
		return fail(err)
	}
	if rerr != nil {
		return fail(pqHint(rerr))
	}
	return d, nil
}

// pqHint adds the hint for a payload that is not sealed to post-quantum
// recipients only.
func pqHint(err error) error {
	if errors.Is(err, letter.ErrNotPostQuantum) {
		return withHint(err, "do not rely on this letter's secrecy; ask its sender to seal it again with pouch, which seals to hybrid post-quantum (age1pq1…) recipients only")
	}
	return err
}

type recordJSON struct {
	OK         bool            `json:"ok"`
	V          int             `json:"v"`
	ID         record.ID       `json:"id"`
	Kind       record.Kind     `json:"kind"`
	By         []record.Handle `json:"by"`
	Time       time.Time       `json:"time"`
	Private    bool            `json:"private"`
	Disclosure *disclosureJSON `json:"disclosure,omitempty"`
	Notes      []string        `json:"notes,omitempty"`
}

type disclosureJSON struct {
	Letter      letter.ID         `json:"letter"`
	Author      record.Handle     `json:"author"`
	To          record.Handle     `json:"to"`
	ByAuthor    bool              `json:"by_author"`
	Sections    []letter.Revealed `json:"sections"`
	Total       int               `json:"total_sections"`
	Undisclosed int               `json:"undisclosed"`
}

func verifyRecord(ctx *cmdContext, h *keys.Home, b []byte, asJSON bool) error {
	s, r, err := record.Verify(b)
	if err != nil {
		return &checkError{err}
	}
	out := &recordJSON{OK: true, V: 1, ID: s.ID(), Kind: r.Kind, By: r.By, Time: r.Claimed(), Private: r.Private()}
	for i, by := range r.By {
		if err := checkKnownKey(h, by, s.KeyOf(i), string(r.Kind)+" record", &out.Notes); err != nil {
			return &checkError{err}
		}
	}
	if r.Kind == record.KindDisclosure {
		vd, err := letter.VerifyDisclosure(b)
		if err != nil {
			if errors.Is(err, letter.ErrCommitment) {
				return &checkError{withHint(err, "this disclosure does not reveal the letter its author signed")}
			}
			return &checkError{err}
		}
		hd := vd.Header.Header
		if err := checkKnownKey(h, hd.From, vd.Header.Author(), "letter header", &out.Notes); err != nil {
			return &checkError{err}
		}
		out.Disclosure = &disclosureJSON{Letter: hd.ID, Author: hd.From, To: hd.To, ByAuthor: vd.IsAuthor(),
			Sections: vd.Sections, Total: len(hd.Sections), Undisclosed: vd.Undisclosed}
		if !vd.IsAuthor() {
			out.Notes = append(out.Notes, fmt.Sprintf("disclosed by %s, not the author: the disclose grant is not checked offline", vd.Discloser))
		}
	}
	if asJSON {
		return printJSON(ctx.stdout, out)
	}
	w := ctx.stdout
	fmt.Fprintf(w, "record   %s\nkind     %s\nby       %v\ntime     %s (claimed)\n", out.ID, out.Kind, out.By, out.Time.Format(time.RFC3339))
	if d := out.Disclosure; d != nil {
		fmt.Fprintf(w, "letter   %s from %s to %s\n", d.Letter, d.Author, d.To)
		fmt.Fprintf(w, "reveals  %d of %d sections (%d stay undisclosed)\n", len(d.Sections), d.Total, d.Undisclosed)
		for _, s := range d.Sections {
			fmt.Fprintf(w, "\n## %s (section %d)\n\n%s\n", s.Title, s.Index, s.Text)
		}
		fmt.Fprintln(w)
	}
	for _, n := range out.Notes {
		fmt.Fprintf(w, "note     %s\n", n)
	}
	fmt.Fprintln(w, "ok: signatures verified")
	return nil
}
