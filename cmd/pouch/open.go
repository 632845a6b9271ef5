package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"pouch.dev/letter"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "open",
		args:  "[--as H] [--json] [--save DIR] X.pouch",
		short: "verify a pouch, then open and print its letter",
		long: `
pouch open checks a pouch as "pouch verify" does, decrypts it with your
sealing key, checks the author's signature on the letter's header, that
the header names the same letter, author and addressee as the tag, and
every section and attachment against its commitment, then prints the
letter as Markdown. Attachments are listed; --save DIR writes them there
(only once everything checked out). Nothing is printed or written if a
check fails.

A pouch not sealed to you is refused with what you are to it: an envoy
carries a pouch but cannot open it. A payload sealed to anything but
hybrid post-quantum recipients (one that also wraps its key to a
classical X25519 recipient, say: a downgrade) is refused unopened.

Example, scene 1: the Duma chairman, the President's delegate, opens the
Leader's letter:

  pouch open --as ru/duma-chair letter.pouch`,
		run: runOpen,
	})
}

type openedJSON struct {
	*pouchJSON
	Header      headerJSON             `json:"header"`
	Sections    []letter.Section       `json:"sections"`
	Attachments []letter.AttachmentRef `json:"attachments"`
	Saved       map[string]string      `json:"saved,omitempty"`
}

type headerJSON struct {
	ID      record.ID       `json:"id"`
	Written time.Time       `json:"written"` // claimed by the author
	Readers []record.Handle `json:"readers"`
}

func runOpen(ctx *cmdContext, args []string) error {
	v := verbs["open"]
	fs := newFlags(ctx, v)
	as := fs.String("as", asFlag(ctx), "open as principal `HANDLE` (env POUCH_AS)")
	asJSON := fs.Bool("json", false, "print JSON")
	save := fs.String("save", "", "write the attachments to `DIR`")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("", "open: want one .pouch file")
	}
	h, err := openHome(ctx)
	if err != nil {
		return err
	}
	// Custody, keys and the payload digest first, as pouch verify does.
	d, err := verifyPouch(h, pos[0])
	if err != nil {
		return err
	}
	me, err := loadPrincipal(ctx, h, *as)
	if err != nil {
		return err
	}
	f, done, err := openPouchFile(pos[0])
	if err != nil {
		return err
	}
	defer done()

	var saved map[string]string
	var saveFn letter.SaveFunc
	var temps []string
	defer func() {
		for _, t := range temps {
			os.Remove(t)
		}
	}()
	if *save != "" {
		if st, err := os.Stat(*save); err != nil || !st.IsDir() {
			return usagef("create it first", "--save %s: not a folder", *save)
		}
		saved = map[string]string{}
		saveFn = func(ref letter.AttachmentRef, r io.Reader) error {
			dst := filepath.Join(*save, ref.Name)
			if _, err := os.Lstat(dst); err == nil {
				return fmt.Errorf("%s exists; nothing was written", dst)
			}
			tf, err := os.CreateTemp(*save, ".pouch-attachment-*")
			if err != nil {
				return err
			}
			temps = append(temps, tf.Name())
			_, err = io.Copy(tf, r)
			if cerr := tf.Close(); err == nil {
				err = cerr
			}
			saved[ref.Name] = tf.Name()
			return err
		}
	}
	o, err := letter.OpenPouch(f, me, saveFn)
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
	if err := checkKnownKey(h, o.Header.Header.From, o.Header.Author(), "the letter header", &d.Notes); err != nil {
		return &checkError{err}
	}
	// Everything checked: the attachments may appear.
	for name, tmp := range saved {
		dst := filepath.Join(*save, name)
		if err := os.Link(tmp, dst); err != nil {
			return fmt.Errorf("saving attachment %s: %w", name, err)
		}
		saved[name] = dst
	}
	hd := o.Header.Header
	if *asJSON {
		out := &openedJSON{pouchJSON: d, Sections: o.Sections, Attachments: hd.Attachments, Saved: saved,
			Header: headerJSON{ID: o.Header.Signed.ID(), Written: o.Header.Record.Claimed(), Readers: hd.Readers}}
		if out.Attachments == nil {
			out.Attachments = []letter.AttachmentRef{}
		}
		return printJSON(ctx.stdout, out)
	}
	w := ctx.stdout
	printPouch(w, d)
	fmt.Fprintf(w, "written  %s (claimed) by %s\n", o.Header.Record.Claimed().Format(time.RFC3339), hd.From)
	fmt.Fprintf(w, "readers  %v\n", hd.Readers)
	for _, a := range hd.Attachments {
		where := ""
		if p, ok := saved[a.Name]; ok {
			where = ", saved to " + p
		}
		fmt.Fprintf(w, "attached %s (%d bytes%s)\n", a.Name, a.Size, where)
	}
	fmt.Fprintln(w, "ok: letter verified against the author's signed header")
	fmt.Fprintln(w)
	_, err = w.Write(letter.Markdown(o.Sections))
	return err
}
