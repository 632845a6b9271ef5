package main

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "inspect",
		args:  "[--json] [--payload [-o FILE]] X.pouch",
		short: "show a pouch's tag and custody without opening it",
		long: `
pouch inspect prints what a carrier sees of a pouch: the outer tag (letter
ID, sender, addressee, route, payload digest and size) and the custody
records gathered so far. It needs no key and reads no passphrase.

With --payload it writes the raw sealed payload instead: a plain age file,
which the stock age tool opens with an identity from
"pouch key export --age". It refuses to write it to a terminal.

Example, the Ambassador checks the reply he carries, and the President's
office opens its copy with age alone:

  pouch inspect reply.pouch
  pouch inspect --payload reply.pouch | age -d -i leader-advisor.key`,
		run: runInspect,
	})
}

// openPouchFile opens and reads the head of a .pouch file.
func openPouchFile(path string) (*letter.File, func(), error) {
	f, err := openInput(path, "a .pouch file, such as one pouch seal or pouch fetch wrote")
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(f, 64<<10)
	start, _ := br.Peek(3)
	pf, err := letter.ReadFile(br)
	if err != nil {
		f.Close()
		return nil, nil, pouchFileError(path, err, looksLikePouch(start))
	}
	return pf, func() { pf.Close(); f.Close() }, nil
}

// looksLikePouch reports whether a file starts as a .pouch file does: its
// head is a deterministic CBOR map whose first key is "v"
// (spec/letter.md#pouch-file). It tells a file cut short from one that is
// no pouch at all.
func looksLikePouch(start []byte) bool {
	return len(start) == 3 && start[0] >= 0xa1 && start[0] <= 0xb7 && start[1] == 0x61 && start[2] == 'v'
}

// notPouchError is a file that is no .pouch file, or no longer a whole
// one: it stands for letter.ErrMalformedFile alone, whatever the decoder
// tripped on.
type notPouchError struct{ msg string }

func (e *notPouchError) Error() string { return e.msg }
func (e *notPouchError) Unwrap() error { return letter.ErrMalformedFile }

// pouchFileError says what is wrong with a file that is not a readable
// .pouch file: not one at all, cut short, or changed.
func pouchFileError(path string, err error, pouchLike bool) error {
	switch {
	case !pouchLike:
		return &checkError{withHint(&notPouchError{fmt.Sprintf("%s is not a .pouch file (%v)", path, err)},
			"give a file written by \"pouch seal\" or \"pouch fetch\"")}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &checkError{withHint(&notPouchError{fmt.Sprintf("%s is cut short (%v)", path, err)},
			"the file is incomplete (an interrupted copy or download?): ask its sender for it again")}
	case errors.Is(err, letter.ErrPayload):
		return &checkError{withHint(fmt.Errorf("%s: %w", path, err),
			"the pouch was changed or cut short after it was sealed: ask its sender for a fresh copy")}
	}
	return &checkError{withHint(fmt.Errorf("%s: %w", path, err), "the file is damaged: ask its sender for a fresh copy")}
}

// pouchJSON is the JSON shape of a pouch's outside, the result of
// inspect and verify (spec/cli.md).
type pouchJSON struct {
	Pouch     record.ID       `json:"pouch"`
	Letter    letter.ID       `json:"letter"`
	From      record.Handle   `json:"from"`
	To        record.Handle   `json:"to"`
	Via       []record.Handle `json:"via"`
	Thread    *record.ID      `json:"thread,omitempty"`
	Payload   payloadJSON     `json:"payload"`
	Sealed    time.Time       `json:"sealed"` // claimed by the sender
	Origin    string          `json:"origin,omitempty"`
	Custody   []custodyJSON   `json:"custody"`
	Delivered bool            `json:"delivered"`
	Holder    record.Handle   `json:"holder,omitempty"`
	Next      record.Handle   `json:"next,omitempty"`
	// Index is the tag's index in the log, when proven.
	Index *uint64 `json:"index,omitempty"`
	// Log says against which log the pouch's records were proven.
	Log *logJSON `json:"log,omitempty"`
	// Verified says that every signer's key is known: imported, or
	// proven in the log (set by verify and open).
	Verified bool     `json:"verified"`
	Notes    []string `json:"notes,omitempty"`
}

// logJSON names the log a pouch's records were proven in.
type logJSON struct {
	Origin    string   `json:"origin"`
	Size      uint64   `json:"size"`   // the checkpoint the proofs are in
	Anchor    string   `json:"anchor"` // where the log's key came from
	Witnessed bool     `json:"witnessed"`
	Cosigners []string `json:"cosigners,omitempty"`
}

type payloadJSON struct {
	SHA256 string `json:"sha256"`
	Size   uint64 `json:"size"`
}

type custodyJSON struct {
	ID        record.ID     `json:"id"`
	By        record.Handle `json:"by"`
	From      record.Handle `json:"from"`
	Delivered bool          `json:"delivered,omitempty"`
	OnBehalf  record.Handle `json:"on_behalf,omitempty"`
	OverLine  *record.ID    `json:"over_line,omitempty"`
	Time      time.Time     `json:"time"`            // claimed by the holder
	Index     *uint64       `json:"index,omitempty"` // in the log, when proven
}

func describePouch(f *letter.File) *pouchJSON {
	t := f.Tag.Tag
	out := &pouchJSON{
		Pouch: f.Tag.PouchID(), Letter: t.ID, From: t.From, To: t.To, Via: t.Via, Thread: t.Thread,
		Payload: payloadJSON{SHA256: hex.EncodeToString(t.Payload[:]), Size: t.Size},
		Sealed:  f.Tag.Record.Claimed(), Origin: f.Tag.Record.Origin, Custody: []custodyJSON{},
	}
	if out.Via == nil {
		out.Via = []record.Handle{}
	}
	for _, c := range f.Custody {
		out.Custody = append(out.Custody, custodyJSON{
			ID: c.Signed.ID(), By: c.Holder(), From: c.Custody.From, Delivered: c.Custody.Delivered,
			OnBehalf: c.Custody.OnBehalf, OverLine: c.Custody.OverLine, Time: c.Record.Claimed(),
		})
	}
	return out
}

// unverifiedMark ends every line that names a signer whose key the home
// neither imported nor can prove.
const unverifiedMark = "  [UNVERIFIED]"

func printPouch(w io.Writer, p *pouchJSON, unknown map[record.Handle]bool) {
	mark := func(h record.Handle) string {
		if unknown[h] {
			return unverifiedMark
		}
		return ""
	}
	at := func(i *uint64) string {
		if i == nil {
			return ""
		}
		return fmt.Sprintf(", log index %d", *i)
	}
	fmt.Fprintf(w, "pouch    %s\n", p.Pouch)
	fmt.Fprintf(w, "letter   %s\n", p.Letter)
	fmt.Fprintf(w, "from     %s%s\n", p.From, mark(p.From))
	fmt.Fprintf(w, "to       %s\n", p.To)
	if len(p.Via) > 0 {
		fmt.Fprintf(w, "via      %s\n", strings.Join(handleStrings(p.Via), " -> "))
	}
	if p.Thread != nil {
		fmt.Fprintf(w, "thread   %s\n", p.Thread)
	}
	fmt.Fprintf(w, "sealed   %s (claimed)%s%s\n", p.Sealed.Format(time.RFC3339), at(p.Index), mark(p.From))
	fmt.Fprintf(w, "payload  %d bytes, sha256 %s\n", p.Payload.Size, p.Payload.SHA256)
	if len(p.Custody) == 0 {
		fmt.Fprintf(w, "custody  none yet: the sender %s holds it\n", p.From)
	}
	for i, c := range p.Custody {
		what := "took custody"
		if c.Delivered {
			what = "signed delivery"
		}
		if c.OnBehalf != "" {
			what += " on behalf of " + string(c.OnBehalf)
		}
		fmt.Fprintf(w, "custody  %d. %s %s from %s, %s (claimed)%s%s\n", i+1, c.By, what, c.From, c.Time.Format(time.RFC3339), at(c.Index), mark(c.By))
	}
	switch {
	case p.Delivered:
		fmt.Fprintf(w, "state    delivered\n")
	case p.Next != "":
		fmt.Fprintf(w, "state    in transit: held by %s, next %s\n", p.Holder, p.Next)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note     %s\n", n)
	}
}

func runInspect(ctx *cmdContext, args []string) error {
	v := verbs["inspect"]
	fs := newFlags(ctx, v)
	fs.Bool("json", false, "print JSON (spec/cli.md)")
	payload := fs.Bool("payload", false, "write the raw age payload instead")
	out := fs.String("o", "", "with --payload, write to `FILE` instead of standard output")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("", "inspect: want one .pouch file")
	}
	f, done, err := openPouchFile(pos[0])
	if err != nil {
		return err
	}
	defer done()
	if !*payload {
		d := describePouch(f)
		if p, err := ledger.RouteChain(f.Tag, f.Custody); err == nil {
			d.Delivered, d.Holder = p.Delivered(), p.Holder()
			d.Next, _ = p.Next()
			for _, st := range p.Custody {
				if st.Hop.By != st.Hop.As {
					d.Notes = append(d.Notes, fmt.Sprintf("%s signed on behalf of %s: the grant is not checked offline (verify against the server's log)", st.Hop.By, st.Hop.As))
				}
			}
		} else {
			d.Notes = append(d.Notes, "custody does not follow the route: "+err.Error())
		}
		// The payload is read to its end, so that a file cut short or
		// changed after sealing is said so, even by inspect.
		n, err := io.Copy(io.Discard, f.Payload)
		if err != nil {
			return pouchFileError(pos[0], err, true)
		}
		if size := f.Tag.Tag.Size; uint64(n) < size {
			f.Finish()
			return &checkError{withHint(&notPouchError{fmt.Sprintf("%s is cut short: its payload has %d of the %d bytes its tag names", pos[0], n, size)},
				"the file is incomplete (an interrupted copy or download?): ask its sender for it again")}
		}
		if err := f.Finish(); err != nil {
			return pouchFileError(pos[0], err, true)
		}
		if ctx.json {
			return emit(ctx, d)
		}
		printPouch(ctx.stdout, d, nil)
		return nil
	}
	if ctx.json {
		return usagef("drop --json: --payload writes the age file", "inspect: --payload and --json exclude each other")
	}
	o, err := binaryOut(ctx, *out, "an age payload")
	if err != nil {
		return err
	}
	defer o.discard()
	if _, err := io.Copy(o, f.Payload); err != nil {
		return pouchFileError(pos[0], err, true)
	}
	if err := f.Finish(); err != nil {
		return pouchFileError(pos[0], err, true)
	}
	return o.commit()
}

// errKeyMismatch is returned when a record is signed by a key other than
// the one the home knows for its signer.
var errKeyMismatch = errors.New("signed by a key that is not the one known for its signer")
