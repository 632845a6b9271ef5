package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "fetch",
		args:  "[flags] ID [-o X.pouch]",
		short: "fetch a pouch from the server as a .pouch file that verifies offline",
		long: `
pouch fetch proves pouch ID (or a unique prefix of at least 8 hex digits)
as "pouch verify ID" does, then writes it as a .pouch file with
everything needed to verify it with no network: the tag, the custody
records, the payload, the directory records their signatures rest on
(the log's genesis, the houses, the key history of every office on the
route, the grants a delegate relied on) and, for each record, its
inclusion proof in C2SP tlog-proof form with the log's cosigned
checkpoint. "pouch verify X.pouch" then checks it anywhere, given the
log's key and witness policy (--log-key, --policy, or the key a home
pinned for that log).

The file goes to -o (written only once complete) or to standard output
(never to a terminal). Only the pouch's parties may fetch it: its sender,
addressee, envoys and the addressee's receive delegates.

Environment: POUCH_SERVER, POUCH_AS, POUCH_HOME, POUCH_PASSPHRASE,
POUCH_POLICY, POUCH_LOG_KEY.

Example, the President's office keeps the Leader's letter with its
proofs:

  pouch fetch --as ru/president 3f2a9c1e -o leader.pouch
  pouch verify leader.pouch`,
		run: runFetch,
	})
}

func runFetch(ctx *cmdContext, args []string) error {
	v := verbs["fetch"]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	out := fs.String("o", "", "write the .pouch file to `FILE` instead of standard output")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("such as: pouch fetch --as ru/president 3f2a9c1e -o leader.pouch", "fetch takes one pouch ID")
	}
	if err := idSyntax(pos[0], "fetch"); err != nil {
		return err
	}
	if ctx.json && (*out == "" || *out == "-") {
		return usagef("pass -o FILE with --json", "fetch: --json prints a summary, and standard output holds the pouch")
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
	dst, err := binaryOut(ctx, *out, "a pouch")
	if err != nil {
		return err
	}
	defer dst.discard()
	// The file is written as the payload streams down, and its digest is
	// known at its end: to -o, it appears only once it verified; to
	// standard output, it goes through a temporary file first, so that
	// nothing that failed a check is ever written there.
	w := io.Writer(dst)
	var spool *os.File
	if dst.f == nil {
		if spool, err = os.CreateTemp("", ".pouch-fetch-*"); err != nil {
			return err
		}
		defer os.Remove(spool.Name())
		defer spool.Close()
		w = spool
	}
	pr := newProgress(ctx)
	defer pr.end()
	pr.phase("fetching", 0)
	c.Progress = pr.set
	fd, err := c.FetchTo(bg, me, id, w)
	c.Progress = nil
	pr.end()
	if err != nil {
		return &checkError{apiError(fmt.Errorf("pouch %s: %w", id.Short(), err))}
	}
	if spool != nil {
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.Copy(dst, spool); err != nil {
			return err
		}
	}
	if err := dst.commit(); err != nil {
		return err
	}
	if *out == "" || *out == "-" {
		return nil
	}
	cp := fd.Checkpoint
	unproven := 0
	for _, st := range fd.Chain.Steps {
		if st.Unproven != "" {
			unproven++
		}
	}
	if ctx.json {
		return emit(ctx, struct {
			Pouch         record.ID `json:"pouch"`
			File          string    `json:"file"`
			Custody       int       `json:"custody"`
			Records       int       `json:"records"`
			Proofs        int       `json:"proofs"`
			Origin        string    `json:"origin"`
			Size          uint64    `json:"size"`
			Witnessed     bool      `json:"witnessed"`
			Cosigners     []string  `json:"cosigners,omitempty"`
			UnprovenSteps int       `json:"unproven_steps"`
		}{id, *out, len(fd.Head.Custody), len(fd.Head.Records), len(fd.Head.Proofs), cp.Origin, cp.Size, cp.Witnessed, cp.Cosigners, unproven})
	}
	fmt.Fprintf(ctx.stdout, "fetched pouch %s to %s: the tag, %d custody records and %d directory records, each with its proof in the log %s at size %d (%s)\n",
		id, *out, len(fd.Head.Custody), len(fd.Head.Records), cp.Origin, cp.Size, fd.Chain.View.Witnessing(time.Now()))
	if unproven > 0 {
		fmt.Fprintf(ctx.stderr, "pouch: %d custody steps rest on grants %s may not read: the file leaves them unproven, as \"pouch verify\" shows\n", unproven, me.Handle)
	}
	return nil
}
