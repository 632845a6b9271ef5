package main

import (
	"context"
	"fmt"

	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "revoke",
		args:  "grant ID | key HOUSE/OFFICE",
		short: "withdraw a grant, or revoke an office's current key",
		long: `
pouch revoke grant ID withdraws a grant; only its grantor (--as) may.

pouch revoke key HOUSE/OFFICE revokes the office's current key, signed with
the house's registrar key (or, with --self, by the holder itself with that
key). From the revocation's log index on, records signed with it are refused.

Environment: POUCH_SERVER, POUCH_AS, POUCH_HOME, POUCH_PASSPHRASE.

Examples:

  pouch revoke grant 9c1e07d4 --as ru/president
  pouch revoke key ir/fm --reason "key lost"`,
		run: runRevoke,
	})
}

func runRevoke(ctx *cmdContext, args []string) error {
	v := verbs["revoke"]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	reason := fs.String("reason", "", "why, for people")
	self := fs.Bool("self", false, "revoke your own key (--as), not as the registrar")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || (pos[0] != "grant" && pos[0] != "key") {
		return usagef("such as: pouch revoke grant ID, or pouch revoke key ir/fm", "revoke takes grant ID or key HOUSE/OFFICE")
	}
	bg := context.Background()
	c, err := cf.client(bg)
	if err != nil {
		return err
	}
	var a any
	switch pos[0] {
	case "grant":
		if err := idSyntax(pos[1], "grant"); err != nil {
			return err
		}
		me, err := cf.me(ctx)
		if err != nil {
			return err
		}
		id, err := resolveID(bg, c, me, pos[1], "grant", record.KindGrant)
		if err != nil {
			return err
		}
		acc, err := c.RevokeGrant(bg, me, id, *reason)
		if err != nil {
			return apiError(err)
		}
		a = acc
		if !*cf.json {
			fmt.Fprintf(ctx.stdout, "grant %s revoked at log index %d\n", id.Short(), acc.Index)
		}
	case "key":
		hd, err := record.ParseHandle(pos[1])
		if err != nil {
			return usagef("", "%v", err)
		}
		p, err := c.Principal(bg, hd, -1)
		if err != nil {
			return apiError(err)
		}
		if p.Current == nil {
			return fmt.Errorf("%s has no current key to revoke", hd)
		}
		by, err := registrarKey(ctx, hd.House(), false)
		if *self {
			by, err = cf.me(ctx)
		}
		if err != nil {
			return err
		}
		acc, err := c.RevokeKey(bg, by, hd, p.Current.Key, *reason)
		if err != nil {
			return apiError(err)
		}
		a = acc
		if !*cf.json {
			fmt.Fprintf(ctx.stdout, "key %x… of %s revoked at log index %d\n", p.Current.Key[:6], hd, acc.Index)
		}
	}
	if *cf.json {
		return printV1(ctx.stdout, "revoke", a)
	}
	return nil
}
