package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"pouch.dev/letter"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "seal",
		args:  "[--as H] --to H [--via H...] [--reader H...] [--attach FILE...] [--reply-to X.pouch] [-o FILE] LETTER.md",
		short: "seal a letter into a .pouch file, offline",
		long: `
pouch seal reads a Markdown letter, in which every "##" heading starts a
section (text before the first heading is a section of its own if it is
not blank), commits to each section with a salted hash in a header signed
by you, seals header, sections and attachments as one age file to the
addressee, every --reader and you, and signs the outer tag that carriers
see: sender, addressee, the envoys of --via in order, and the payload's
SHA-256.

Handles are resolved from the home's principals and contacts
("pouch key import"); envoys need no keys, as they cannot open the pouch.
--via, --reader and --attach may be repeated or take comma-separated lists.
A letter's attachments may hold 1 GiB together: a letter over the limit is
refused before anything is read. Sealing streams: memory stays small
whatever the letter's size, and a progress line shows on a terminal.
The .pouch file goes to standard output (never to a terminal) or to -o.

Example, scene 1 of the reference scenario: the Leader writes to the
President of Russia through the Speaker, who may read it:

  pouch seal --as ir/leader --to ru/president --via ir/speaker \
      --reader ir/speaker --reader ru/duma-chair letter.md > letter.pouch`,
		run: runSeal,
	})
}

func runSeal(ctx *cmdContext, args []string) error {
	v := verbs["seal"]
	fs := newFlags(ctx, v)
	as := fs.String("as", asFlag(ctx), "seal as principal `HANDLE` (env POUCH_AS)")
	to := fs.String("to", "", "the addressee's `HANDLE`")
	var via, readers handles
	var attach strs
	fs.Var(&via, "via", "an envoy's `HANDLE`, in route order (repeatable)")
	fs.Var(&readers, "reader", "another `HANDLE` to seal to (repeatable)")
	fs.Var(&attach, "attach", "attach `FILE` (repeatable)")
	replyTo := fs.String("reply-to", "", "thread the letter as a reply to the pouch in `FILE`")
	out := fs.String("o", "", "write the pouch to `FILE` instead of standard output")
	fs.Bool("json", false, "print a JSON summary to standard output (needs -o)")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("", "seal: want one LETTER.md (\"-\" for standard input)")
	}
	if *to == "" {
		return usagef("name the addressee, such as --to ru/president", "seal: --to is required")
	}
	if ctx.json && (*out == "" || *out == "-") {
		return usagef("pass -o FILE with --json", "seal: --json prints a summary, and standard output holds the pouch")
	}
	var md []byte
	if pos[0] == "-" {
		md, err = io.ReadAll(io.LimitReader(ctx.stdin, record.MaxLetterText+1))
	} else {
		md, err = readInput(pos[0], "a letter in Markdown (each \"## \" heading starts a section)")
	}
	if err != nil {
		return err
	}
	sections, err := letter.ParseMarkdown(md)
	if err != nil {
		return withHint(fmt.Errorf("%s: %w", pos[0], err), "write the letter in Markdown; each \"## \" heading starts a section")
	}

	h, err := openHome(ctx)
	if err != nil {
		return err
	}
	toPub, err := lookup(h, *to, "--to")
	if err != nil {
		return err
	}
	req := &letter.SealRequest{To: toPub, Sections: sections}
	for _, r := range readers {
		p, err := lookup(h, r, "--reader")
		if err != nil {
			return err
		}
		req.Readers = append(req.Readers, p)
	}
	for _, x := range via {
		hd, err := record.ParseHandle(x)
		if err != nil {
			return usagef("", "--via: %v", err)
		}
		req.Via = append(req.Via, hd)
	}
	if *replyTo != "" {
		f, done, err := openPouchFile(*replyTo)
		if err != nil {
			return err
		}
		req.Thread = letter.ReplyThread(f.Tag)
		done()
	}
	pr := newProgress(ctx)
	defer pr.end()
	var closeAttach func()
	if req.Attach, closeAttach, err = openAttachments(attach, pr); err != nil {
		return err
	}
	defer closeAttach()
	me, err := loadPrincipal(ctx, h, *as)
	if err != nil {
		return err
	}
	req.Author = me

	dst, err := binaryOut(ctx, *out, "a pouch")
	if err != nil {
		return err
	}
	defer dst.discard()

	// The tag, which comes first in the file, signs the payload's digest:
	// the payload is sealed to a buffer (a temporary file beside the
	// output when attachments make it large) and copied after the tag.
	var payload interface {
		io.Writer
		io.Reader
	}
	var size uint64
	if len(req.Attach) == 0 {
		payload = new(bytes.Buffer)
	} else {
		tmp, err := os.CreateTemp(tempDirFor(*out), ".pouch-seal-*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		payload = tmp
	}
	sealed, err := letter.Seal(payload, req)
	if err != nil {
		return classifySealError(err)
	}
	size = sealed.Tag.Tag.Size
	if tmp, ok := payload.(*os.File); ok {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	pr.phase("writing the pouch", int64(size))
	if err := letter.WriteFile(dst, &letter.FileHead{Tag: sealed.Tag.Signed.Marshal()}, pr.reader(payload), size); err != nil {
		return err
	}
	if err := dst.commit(); err != nil {
		return err
	}
	pr.end()
	t := sealed.Tag.Tag
	where := "to standard output"
	if *out != "" && *out != "-" {
		where = "to " + *out
	}
	say := func() {
		fmt.Fprintf(ctx.stderr, "pouch: sealed pouch %s %s: letter %s from %s to %s, %d sections, sealed to %v\n",
			sealed.Tag.PouchID().Short(), where, t.ID, t.From, t.To, len(sealed.Sections), sealed.Header.Header.Readers)
	}
	if *out == "" || *out == "-" {
		say()
		return nil
	}
	if !ctx.json {
		fmt.Fprintln(ctx.stdout, sealed.Tag.PouchID())
		say()
		return nil
	}
	f, done, err := openPouchFile(*out)
	if err != nil {
		return err
	}
	defer done()
	return emit(ctx, struct {
		*pouchJSON
		File     string          `json:"file"`
		Readers  []record.Handle `json:"readers"`
		Sections int             `json:"sections"`
	}{describePouch(f), *out, sealed.Header.Header.Readers, len(sealed.Sections)})
}

func classifySealError(err error) error {
	if errors.Is(err, record.ErrTooLarge) {
		return withHint(err, "split the letter, or send large files separately")
	}
	return err
}

// tempDirFor is where a verb writing to out keeps a large temporary file:
// beside out (on the same disk, which has room for it), or the system's
// temporary folder for standard output.
func tempDirFor(out string) string {
	if out == "" || out == "-" {
		return ""
	}
	return dirOf(out)
}

// openAttachments opens the files to attach to a letter and checks them
// against the limit on a letter's attachments before anything is read or
// asked (a passphrase, the server), so that a letter too large is refused
// at once. closeAll closes the files. Sealing reads each twice (to hash it
// for the header, then to encrypt it), which pr shows.
//
// SPEC: spec/letter.md#limits
func openAttachments(paths []string, pr *progress) (_ []letter.Attachment, closeAll func(), err error) {
	var out []letter.Attachment
	var files []*os.File
	closeFiles := func() {
		for _, f := range files {
			f.Close()
		}
	}
	defer func() {
		if err != nil {
			closeFiles()
		}
	}()
	for _, path := range paths {
		f, err := openInput(path, "a file to attach")
		if err != nil {
			return nil, nil, err
		}
		files = append(files, f)
		st, err := f.Stat()
		if err != nil {
			return nil, nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, nil, usagef("", "--attach %s: not a regular file", path)
		}
		out = append(out, letter.Attachment{Name: filepath.Base(path), Size: st.Size(), Content: f})
	}
	if err := letter.CheckAttachments(out, record.MaxAttachmentsSize); err != nil {
		return nil, nil, classifySealError(err)
	}
	sp := &sealProgress{p: pr, pass: map[int]bool{}}
	for i := range out {
		sp.total += out[i].Size
		out[i].Content = &sealCounting{sp: sp, i: i, r: pr.readerAt(out[i].Content)}
	}
	if sp.total > 0 {
		pr.phase("hashing the attachments", sp.total)
	}
	return out, closeFiles, nil
}

// sealProgress tells the two passes of sealing over the attachments
// apart: hashing, then encrypting, which starts when an attachment is read
// from its start a second time.
type sealProgress struct {
	p     *progress
	total int64
	mu    sync.Mutex
	pass  map[int]bool // attachments read once from their start
	enc   bool
}

type sealCounting struct {
	sp *sealProgress
	i  int
	r  io.ReaderAt
}

func (c *sealCounting) ReadAt(b []byte, off int64) (int, error) {
	if off == 0 {
		sp := c.sp
		sp.mu.Lock()
		if sp.pass[c.i] && !sp.enc {
			sp.enc = true
			sp.p.phase("encrypting", sp.total)
		}
		sp.pass[c.i] = true
		sp.mu.Unlock()
	}
	return c.r.ReadAt(b, off)
}
