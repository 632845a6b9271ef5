package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "verify",
		args:  "[flags] X.pouch | X.evidence | ID | RECORD",
		short: "check a pouch (a file, or by ID on a server), an evidence bundle or a signed record: signatures, proofs, custody",
		long: `
pouch verify checks a .pouch file without opening it: the sender's
signature on the tag, the payload's SHA-256 and size against the tag,
that the payload is sealed to hybrid post-quantum recipients only (one
that also wraps its key to a classical X25519 recipient is a downgrade,
refused), each custody record's signature, and that the custody chain
follows the route (sender, then the envoys in order, then the addressee
or a delegate on its behalf).

A file written by "pouch fetch" carries the log's proofs of its records
and the directory records its signatures rest on: they are checked with
no network against the log's key and witness policy that you hold
(--policy, --log-key, or the key this home pinned for that log when it
first talked to its server), and the chain is replayed through the
custody rules at the places the log holds its records, grants included.

Every signer's key must be known: proven in the log that way, or the
key you imported for that handle ("pouch key import"). A pouch signed by
a key that is neither is refused, with exit status 1: anyone can make a
key and call it ir/leader.

Given an ID (or a unique prefix of at least 8 hex digits) that is no
file here, it checks the pouch on the server instead: every record
proven in the log, the chain replayed through the custody rules, as
--as sees it.

Given an evidence bundle ("pouch evidence"), it checks it with no
network against the log's key and witness policy that you hold: every
record's proof, every event of the pouch replayed through its rules at
its place in the log (custody, acceptance, refusal, access, non-delivery
and its reason), and each event's time between the witnesses'
timestamps of the checkpoints before and after it. A changed byte, a
checkpoint without its witnesses' quorum, fails it.

Given a signed record instead (such as a disclosure), it checks its
signatures, whose keys must be imported; for a disclosure, also the
author's signature on the letter header inside and every revealed
section against its commitment.

It exits with status 1 when a check fails, naming the problem.

Example, the Leader's office checks the receipt that came back, and the
President's office a pouch it fetched:

  pouch verify leader-to-president.pouch
  pouch verify --as ir/leader 3f2a9c1e
  pouch verify --log-key "$(cat log.key)" leader.pouch
  pouch verify --policy policy.txt embargo.evidence`,
		run: runVerify,
	})
}

// idArg reports whether a pouch argument names a pouch by ID (or a
// prefix of one) rather than a file: it is no file here and is 8 to 64
// hex digits.
func idArg(arg string) bool {
	if _, err := os.Stat(arg); err == nil {
		return false
	}
	return len(arg) >= 8 && len(arg) <= 64 && strings.Trim(strings.ToLower(arg), "0123456789abcdef") == ""
}

func runVerify(ctx *cmdContext, args []string) error {
	v := verbs["verify"]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("", "verify: want one .pouch file, evidence bundle, pouch ID or record file")
	}
	if idArg(pos[0]) {
		return runVerifyOnline(ctx, cf, pos[0]) // a pouch on a server: chain.go
	}
	if b, ok, err := isBundle(pos[0]); err != nil {
		if errors.Is(err, os.ErrNotExist) && len(pos[0]) < 8 && strings.Trim(strings.ToLower(pos[0]), "0123456789abcdef") == "" {
			return usagef("give at least the first 8 hex digits of the pouch ID", "verify: %q is no file here, and too short for a pouch ID", pos[0])
		}
		if errors.Is(err, os.ErrNotExist) {
			return err
		}
		return &checkError{err}
	} else if ok {
		return verifyEvidence(ctx, cf, pos[0], b)
	}
	h, err := openHome(ctx)
	if err != nil {
		h = nil // verifying needs no home; keys are compared when there is one
	}
	// A signed record is at most record.MaxRecordSize bytes: only that
	// much is read to tell one from a .pouch file, which is streamed.
	b, err := readAtMost(pos[0], record.MaxRecordSize)
	if err != nil {
		return err
	}
	if _, _, rerr := record.Parse(b); rerr == nil {
		return verifyRecord(ctx, h, b, pos[0])
	}
	pr := newProgress(ctx)
	defer pr.end()
	fc, err := checkPouchFile(h, pos[0], cf, pr, true)
	if err != nil {
		return err
	}
	pr.end()
	if len(fc.unknown) > 0 {
		return failWith(fc.d, &checkError{fc.unknownError(pos[0])})
	}
	if ctx.json {
		return emit(ctx, fc.d)
	}
	printPouch(ctx.stdout, fc.d, nil)
	switch {
	case fc.proven != nil && fc.proven.Proven() && !fc.proven.Checkpoint.Witnessed:
		fmt.Fprintln(ctx.stdout, "ok: tag, payload and custody verified, every record proven in the log, with no witness required (split views undetectable)")
	case fc.proven != nil && fc.proven.Proven():
		fmt.Fprintln(ctx.stdout, "ok: tag, payload and custody verified, every record proven in the log")
	case len(fc.d.Notes) > 0:
		fmt.Fprintln(ctx.stdout, "ok: tag, payload and custody verified, but for what the notes say was not checked")
	default:
		fmt.Fprintln(ctx.stdout, "ok: tag, payload and custody verified")
	}
	return nil
}

// readAtMost reads path whole if it holds at most n bytes, or its first
// n+1 bytes.
func readAtMost(path string, n int64) ([]byte, error) {
	f, err := openInput(path, "a .pouch file, a signed record, or a pouch ID")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n+1))
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

func verifyRecord(ctx *cmdContext, h *keys.Home, b []byte, path string) error {
	s, r, err := record.Verify(b)
	if err != nil {
		return &checkError{err}
	}
	out := &recordJSON{ID: s.ID(), Kind: r.Kind, By: r.By, Time: r.Claimed(), Private: r.Private()}
	kc := &keyCheck{notes: &out.Notes}
	for i, by := range r.By {
		if err := kc.known(h, by, s.KeyOf(i), "the "+string(r.Kind)+" record", false); err != nil {
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
		if err := kc.known(h, hd.From, vd.Header.Author(), "the letter's header", false); err != nil {
			return &checkError{err}
		}
		out.Disclosure = &disclosureJSON{Letter: hd.ID, Author: hd.From, To: hd.To, ByAuthor: vd.IsAuthor(),
			Sections: vd.Sections, Total: len(hd.Sections), Undisclosed: vd.Undisclosed}
		if !vd.IsAuthor() {
			out.Notes = append(out.Notes, fmt.Sprintf("disclosed by %s, not the author: the disclose grant is not checked offline", vd.Discloser))
		}
	}
	if len(kc.unknown) > 0 {
		return failWith(out, &checkError{kc.unknownError(path)})
	}
	if ctx.json {
		return emit(ctx, out)
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
