package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "grant",
		args:  "[flags] --to HOUSE/OFFICE ABILITY[,ABILITY]",
		short: "delegate receive, carry or disclose to another principal",
		long: `
pouch grant signs a grant from the acting principal (--as) to --to, with
abilities receive (letters to you are sealed to them too, and they may sign
delivery on your behalf), carry (they may take custody in your place where
you are an envoy) and disclose (they may publish sections of your letters).
--from limits receive and carry to letters from those senders; --thread to
one pouch and its replies; --letter limits disclose to one letter (its
letter ID, or the ID of the pouch it travelled in, which the author can
read); --for or --until bound the validity. Grants are public unless
--private.

Environment: POUCH_SERVER, POUCH_AS, POUCH_HOME, POUCH_PASSPHRASE.

Example (scene 1: the Duma chairman receives the Leader's message):

  pouch grant --as ru/president --to ru/duma-chair --from ir/leader --for 720h receive`,
		run: runGrant,
	})
}

func runGrant(ctx *cmdContext, args []string) error {
	v := verbs["grant"]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	to := fs.String("to", "", "the grantee `HOUSE/OFFICE`")
	var from handles
	fs.Var(&from, "from", "only for letters from `HANDLE` (repeatable, or comma-separated)")
	thread := fs.String("thread", "", "only for pouch `ID` (or a unique prefix of 8 hex digits or more) and its replies")
	letterID := fs.String("letter", "", "disclose only the letter `ID` (32 hex digits, or the 64 of its pouch)")
	purpose := fs.String("purpose", "", "why, for people: a `SENTENCE`")
	dur := fs.Duration("for", 0, "valid for `DURATION` from now (such as 720h)")
	until := fs.String("until", "", "valid until `TIME` (RFC 3339, such as 2021-03-01T00:00:00Z)")
	private := fs.Bool("private", false, "a private grant, served only to its two parties")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *to == "" {
		return usagef("such as: pouch grant --as ru/president --to ru/duma-chair --from ir/leader receive", "grant takes --to and the abilities")
	}
	g := &directory.Grant{Purpose: *purpose}
	if g.To, err = record.ParseHandle(*to); err != nil {
		return usagef("", "--to: %v", err)
	}
	for _, a := range strings.Split(pos[0], ",") {
		g.Abilities = append(g.Abilities, directory.Ability(strings.TrimSpace(a)))
	}
	for _, f := range from {
		h, err := record.ParseHandle(f)
		if err != nil {
			return usagef("", "--from: %v", err)
		}
		g.Counterparts = append(g.Counterparts, h)
	}
	if *thread != "" {
		if err := idSyntax(*thread, "--thread"); err != nil {
			return err
		}
	}
	switch {
	case *dur > 0 && *until != "":
		return usagef("", "give --for or --until, not both")
	case *dur > 0:
		g.NotAfter = time.Now().Add(*dur).UnixMilli()
	case *until != "":
		t, err := time.Parse(time.RFC3339, *until)
		if err != nil {
			return usagef("such as 2021-03-01T00:00:00Z", "--until: %v", err)
		}
		g.NotAfter = t.UnixMilli()
	}
	me, err := cf.me(ctx)
	if err != nil {
		return err
	}
	c, err := cf.client(context.Background())
	if err != nil {
		return err
	}
	if *thread != "" {
		id, err := resolveID(context.Background(), c, me, *thread, "--thread", record.KindTag)
		if err != nil {
			return err
		}
		g.Thread = &id
	}
	if *letterID != "" {
		if g.Letter, err = resolveLetter(c, me, *letterID); err != nil {
			return err
		}
	}
	a, err := c.Grant(context.Background(), me, g, *private)
	if err != nil {
		return apiError(err)
	}
	return recorded(ctx, a.ID, struct {
		*api.Accepted
		By        record.Handle       `json:"by"`
		To        record.Handle       `json:"to"`
		Abilities []directory.Ability `json:"abilities"`
		Private   bool                `json:"private"`
	}{a, me.Handle, g.To, g.Abilities, *private}, "%s granted %s to %s at log index %d (grant %s)", me.Handle, pos[0], g.To, a.Index, a.ID.Short())
}

// resolveLetter returns the letter ID s names: 32 hex digits are a letter
// ID; any other number from 8 to 64 names a pouch (its ID, or a unique
// prefix of it), whose tag (which the author can read) names its letter.
func resolveLetter(c *client.Client, me *client.Identity, s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == record.LetterIDSize {
		return b, nil
	}
	if err := idSyntax(s, "--letter"); err != nil {
		return nil, usagef("give the letter's ID (32 hex digits) or its pouch's (64, or a prefix of at least 8)", "--letter %q is neither a letter ID nor a pouch ID", s)
	}
	id, err := resolveID(context.Background(), c, me, s, "--letter", record.KindTag)
	if err != nil {
		return nil, err
	}
	tag, err := c.Tag(context.Background(), id, me)
	if err != nil {
		return nil, apiError(fmt.Errorf("--letter: reading the tag of pouch %s: %w", id.Short(), err))
	}
	return tag.Tag.ID[:], nil
}
