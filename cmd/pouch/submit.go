package main

import (
	"context"
	"errors"
	"fmt"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/letter"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "submit",
		args:  "[flags] X.pouch",
		short: "hand a pouch sealed offline (pouch seal) to a server",
		long: `
pouch submit reads a .pouch file, checks its tag's signature and its
payload against the tag, and submits the tag and the sealed payload to
the server (POST /v1/pouches), which checks them against its directory
as it would a "pouch send", then any custody records the file carries,
in order. It prints the pouch ID. A pouch already in the log is said
so, and its custody records not yet in it are still submitted.

Nothing is signed: the tag and custody records are the file's.

Environment: POUCH_SERVER.

Example, the Leader's letter sealed on a machine with no network, handed
to the server later:

  pouch seal --as ir/leader --to ru/president --via ir/speaker letter.md > letter.pouch
  pouch submit letter.pouch`,
		run: runSubmit,
	})
}

func runSubmit(ctx *cmdContext, args []string) error {
	v := verbs["submit"]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("such as: pouch submit letter.pouch", "submit takes one .pouch file")
	}
	f, done, err := openPouchFile(pos[0])
	if err != nil {
		return err
	}
	defer done()
	bg := context.Background()
	c, err := cf.client(bg)
	if err != nil {
		return err
	}
	id := f.Tag.PouchID()
	size := f.Tag.Tag.Size
	// The server's limit, before anything is sent.
	if lim, err := c.Limits(bg); err == nil && int64(size) > lim.MaxPayload {
		return withHint(fmt.Errorf("%s: a payload of %d bytes, more than the server accepts (%d bytes, for letters whose attachments hold at most %s together): %w",
			pos[0], size, lim.MaxPayload, letter.Bytes(lim.MaxAttachments), record.ErrTooLarge),
			"hand it over another way (on a secure line, or as a file), or seal the letter again with smaller attachments")
	} else if err != nil && !errors.Is(err, client.ErrNotFound) {
		return apiError(fmt.Errorf("asking the server how large a pouch it accepts: %w", err))
	}
	var out struct {
		Pouch   record.ID       `json:"pouch"`
		Index   *uint64         `json:"index,omitempty"`
		Already bool            `json:"already"`
		Custody []*api.Accepted `json:"custody"`
	}
	out.Pouch, out.Custody = id, []*api.Accepted{}
	// The payload streams from the file to the server, hashed on the way:
	// a file changed after it was sealed is refused by the server, and
	// named as such here.
	pr := newProgress(ctx)
	defer pr.end()
	pr.phase("uploading", int64(size))
	a, err := c.SubmitPouchFrom(bg, f.Tag.Signed, pr.reader(f.Payload), size)
	pr.end()
	if err != nil && !errors.Is(err, client.ErrReplay) {
		if ferr := f.Finish(); ferr != nil {
			return pouchFileError(pos[0], ferr, true)
		}
	}
	switch {
	case errors.Is(err, client.ErrReplay):
		out.Already = true
	case err != nil:
		return apiError(fmt.Errorf("submitting pouch %s: %w", id.Short(), err))
	default:
		out.Index = &a.Index
	}
	for i, sc := range f.Custody {
		a, err := c.Submit(bg, sc.Signed)
		if errors.Is(err, client.ErrReplay) {
			continue
		}
		if err != nil {
			return apiError(fmt.Errorf("submitting custody record %d of pouch %s: %w", i+1, id.Short(), err))
		}
		out.Custody = append(out.Custody, a)
	}
	if ctx.json {
		return emit(ctx, out)
	}
	fmt.Fprintln(ctx.stdout, id)
	if out.Already {
		fmt.Fprintf(ctx.stderr, "pouch: pouch %s was already in the log\n", id.Short())
	} else {
		fmt.Fprintf(ctx.stderr, "pouch: submitted pouch %s from %s to %s (log index %d)\n", id.Short(), f.Tag.Tag.From, f.Tag.Tag.To, *out.Index)
	}
	for _, a := range out.Custody {
		fmt.Fprintf(ctx.stderr, "pouch: submitted custody record %s (log index %d)\n", a.ID.Short(), a.Index)
	}
	return nil
}
