package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "open",
		args:  "[--as H] [--json] [--save DIR] [--unverified] X.pouch | ID",
		short: "verify a pouch, then open and print its letter",
		long: `
pouch open checks a pouch as "pouch verify" does, decrypts it with your
sealing key, checks the author's signature on the letter's header, that
the header names the same letter, author and addressee as the tag, and
every section and attachment against its commitment, then prints the
letter as Markdown. Attachments are listed; --save DIR writes them there
(only once everything checked out). Nothing is printed or written if a
check fails.

Given an ID (or a unique prefix of at least 8 hex digits) that is no
file here, it fetches the pouch from the server (--server) with a
request signed as you, and proves it before opening it: the tag and
every custody record in the log, the sender's key as the log holds it
at the tag's place, the payload's digest against the proven tag.

Every signer's key must be known: proven in the log, or imported ("pouch
key import"). A letter from a key that is neither is refused, since
anyone can call themselves ir/leader; --unverified shows it anyway,
marked UNVERIFIED on every line that names its signer.

A pouch not sealed to you is refused with what you are to it: an envoy
carries a pouch but cannot open it. A payload sealed to anything but
hybrid post-quantum recipients (one that also wraps its key to a
classical X25519 recipient, say: a downgrade) is refused unopened.

Example, scene 1: the Duma chairman, the President's delegate, opens the
Leader's letter, from a file and from the server:

  pouch open --as ru/duma-chair letter.pouch
  pouch open --as ru/duma-chair 3f2a9c1e`,
		run: runOpen,
	})
}

type openedJSON struct {
	*pouchJSON
	Header      headerJSON             `json:"header"`
	Sections    []letter.Section       `json:"sections"`
	Attachments []letter.AttachmentRef `json:"attachments"`
	Saved       map[string]string      `json:"saved,omitempty"`
	// Unverified names the signers whose keys are neither imported nor
	// proven, with --unverified.
	Unverified []string `json:"unverified,omitempty"`
}

type headerJSON struct {
	ID      record.ID       `json:"id"`
	Written time.Time       `json:"written"` // claimed by the author
	Readers []record.Handle `json:"readers"`
}

func runOpen(ctx *cmdContext, args []string) error {
	v := verbs["open"]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	save := fs.String("save", "", "write the attachments to `DIR`")
	unverified := fs.Bool("unverified", false, "show the letter even if a signer's key is neither imported nor proven, marked UNVERIFIED")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("", "open: want one .pouch file or pouch ID")
	}
	h, err := openHome(ctx)
	if err != nil {
		return err
	}
	var (
		d    *pouchJSON
		kc   keyCheck
		f    *letter.File
		me   *keys.Principal
		done = func() {}
	)
	// Without --save, the attachments are read through and checked
	// against their commitments, never held in memory.
	saveFn := func(letter.AttachmentRef, io.Reader) error { return nil }
	var sv *savedAttachments
	if *save != "" {
		if st, err := os.Stat(*save); err != nil || !st.IsDir() {
			return usagef("create it first", "--save %s: not a folder", *save)
		}
		sv = &savedAttachments{dir: *save}
		defer sv.discard()
		saveFn = sv.save
	}
	pr := newProgress(ctx)
	defer pr.end()
	if idArg(pos[0]) {
		// From the server, proven by the verifying client, the payload
		// streamed and opened as it comes.
		if me, err = loadPrincipal(ctx, h, *cf.as); err != nil {
			return err
		}
		if d, f, done, err = fetchForOpen(ctx, cf, me, pos[0]); err != nil {
			return err
		}
	} else {
		// Custody, keys and proofs first, as pouch verify does; the
		// payload's recipients and digest as it is opened.
		fc, err := checkPouchFile(h, pos[0], cf, nil, false)
		if err != nil {
			return err
		}
		if len(fc.unknown) > 0 && !*unverified {
			return failWith(fc.d, &checkError{fc.unknownError(pos[0])})
		}
		d, kc = fc.d, fc.keyCheck
		if me, err = loadPrincipal(ctx, h, *cf.as); err != nil {
			return err
		}
		if f, done, err = openPouchFile(pos[0]); err != nil {
			return err
		}
	}
	defer done()

	pr.phase("opening", int64(f.Tag.Tag.Size))
	f.Payload = pr.reader(f.Payload)
	o, err := letter.OpenPouch(f, me, saveFn)
	pr.end()
	if err != nil {
		var ns *letter.NotSealedError
		if errors.As(err, &ns) {
			hint := "only its readers can open it; ask its sender"
			if ns.Role == "a carrier" {
				hint = "hand it on: \"pouch inspect\" shows its route"
			}
			return &checkError{withHint(err, "%s", hint)}
		}
		return &checkError{pqHint(fmt.Errorf("%s: %w", pos[0], err))}
	}
	// Everything checked: the attachments may appear.
	var saved map[string]string
	if sv != nil {
		if saved, err = sv.place(); err != nil {
			return err
		}
	}
	hd := o.Header.Header
	if ctx.json {
		out := &openedJSON{pouchJSON: d, Sections: o.Sections, Attachments: hd.Attachments, Saved: saved, Unverified: kc.unknown,
			Header: headerJSON{ID: o.Header.Signed.ID(), Written: o.Header.Record.Claimed(), Readers: hd.Readers}}
		if out.Attachments == nil {
			out.Attachments = []letter.AttachmentRef{}
		}
		return emit(ctx, out)
	}
	w := ctx.stdout
	banner := ""
	if len(kc.unknown) > 0 {
		banner = "UNVERIFIED: " + errUnknownSigner.Error() + ": " + strings.Join(kc.unknown, ", ")
		fmt.Fprintln(w, banner)
	}
	printPouch(w, d, kc.unknownBy)
	mark := ""
	if kc.unknownBy[hd.From] {
		mark = unverifiedMark
	}
	fmt.Fprintf(w, "written  %s (claimed) by %s%s\n", o.Header.Record.Claimed().Format(time.RFC3339), hd.From, mark)
	fmt.Fprintf(w, "readers  %v\n", hd.Readers)
	for _, a := range hd.Attachments {
		where := ""
		if p, ok := saved[a.Name]; ok {
			where = ", saved to " + p
		}
		fmt.Fprintf(w, "attached %s (%d bytes%s)%s\n", a.Name, a.Size, where, mark)
	}
	if banner != "" {
		fmt.Fprintln(w, banner)
	} else {
		fmt.Fprintln(w, "ok: letter verified against the author's signed header")
	}
	fmt.Fprintln(w)
	_, err = w.Write(letter.Markdown(o.Sections))
	return err
}

// savedAttachments writes a letter's attachments to temporary files in dir
// as the letter is opened, and gives them their names (place) only once
// everything checked out: nothing unverified, and nothing half-written,
// is ever left under an attachment's name.
type savedAttachments struct {
	dir   string
	temps map[string]string // attachment name -> its temporary file
	order []string
}

// save is the letter.SaveFunc: the attachment goes to a temporary file,
// synced.
func (s *savedAttachments) save(ref letter.AttachmentRef, r io.Reader) error {
	dst := filepath.Join(s.dir, ref.Name)
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s exists; nothing was written", dst)
	}
	tf, err := os.CreateTemp(s.dir, ".pouch-attachment-*")
	if err != nil {
		return err
	}
	if s.temps == nil {
		s.temps = map[string]string{}
	}
	s.temps[ref.Name] = tf.Name()
	s.order = append(s.order, ref.Name)
	_, err = io.Copy(tf, r)
	if err == nil {
		err = tf.Sync()
	}
	if cerr := tf.Close(); err == nil {
		err = cerr
	}
	return err
}

// place gives every attachment its name (a hard link, which never
// replaces a file), or none: if one cannot be placed, those placed are
// removed. It returns where each went.
func (s *savedAttachments) place() (map[string]string, error) {
	saved := map[string]string{}
	for _, name := range s.order {
		dst := filepath.Join(s.dir, name)
		if err := os.Link(s.temps[name], dst); err != nil {
			for _, p := range saved {
				os.Remove(p)
			}
			return nil, fmt.Errorf("saving attachment %s: %w; no attachment was saved", name, err)
		}
		saved[name] = dst
	}
	if d, err := os.Open(s.dir); err == nil {
		d.Sync()
		d.Close()
	}
	return saved, nil
}

// discard removes the temporary files.
func (s *savedAttachments) discard() {
	for _, t := range s.temps {
		os.Remove(t)
	}
}

// fetchForOpen fetches pouch arg (an ID or a prefix) from the server as me
// and proves it with the verifying client: the tag and every custody
// record in the log, replayed through the rules. It returns the pouch's
// description and the pouch as a .pouch file whose payload streams from
// the server, which OpenPouch then checks against the proven tag as it
// opens it; done closes the stream.
func fetchForOpen(ctx *cmdContext, cf *clientFlags, me *keys.Principal, arg string) (*pouchJSON, *letter.File, func(), error) {
	bg := context.Background()
	c, err := cf.client(bg)
	if err != nil {
		return nil, nil, nil, err
	}
	id, err := resolveID(bg, c, me, arg, "pouch", record.KindTag)
	if err != nil {
		return nil, nil, nil, err
	}
	fd, f, done, err := c.OpenFetched(bg, me, id)
	if err != nil {
		return nil, nil, nil, &checkError{apiError(fmt.Errorf("pouch %s: %w", id.Short(), err))}
	}
	ch := fd.Chain
	d := describePouch(f)
	_, cp := ch.View.Checkpoint()
	d.Log = &logJSON{Origin: cp.Origin, Size: cp.Size, Anchor: "the server's log, as this client verified it", Witnessed: cp.Witnessed, Cosigners: cp.Cosigners}
	d.Index = &ch.TagAt.Index
	for i, st := range ch.Steps {
		d.Custody[i].Index = &st.At.Index
		if st.Unproven != "" {
			d.Notes = append(d.Notes, fmt.Sprintf("custody record %d: not proven to %s: %s", i+1, me.Handle, st.Unproven))
		}
	}
	d.Delivered, d.Holder = ch.Pouch.Delivered(), ch.Pouch.Holder()
	d.Next, _ = ch.Pouch.Next()
	d.Verified = true
	d.Notes = append(d.Notes, fmt.Sprintf("proven in the log %s: %s", cp.Origin, ch.View.Witnessing(time.Now())))
	return d, f, done, nil
}
