package main

import (
	"context"
	"fmt"

	"pouch.dev/api"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "revoke",
		short: "withdraw a grant, or revoke an office's current key",
		long: `
A grant is withdrawn by its grantor; an office's key is revoked by its
house's registrar, or by its holder. From the revocation's log index on,
records that rely on the grant, or are signed with the key, are refused.
Each prints the ID of the revocation record.

Examples:

  pouch revoke grant --as ru/president 9c1e07d4
  pouch revoke key --reason "key lost" ir/fm`,
		subs: []*verb{
			{name: "revoke grant", args: "[flags] ID", short: "withdraw a grant you made", run: func(ctx *cmdContext, args []string) error { return runRevoke(ctx, "grant", args) }, long: `
pouch revoke grant withdraws grant ID (or a unique prefix of at least 8
hex digits); only its grantor (--as) may.

Environment: POUCH_SERVER, POUCH_AS, POUCH_HOME, POUCH_PASSPHRASE.

Example, the President ends the Duma chairman's receive grant:

  pouch revoke grant --as ru/president 9c1e07d4`},
			{name: "revoke key", args: "[flags] HOUSE/OFFICE", short: "revoke an office's current key", run: func(ctx *cmdContext, args []string) error { return runRevoke(ctx, "key", args) }, long: `
pouch revoke key revokes the office's current key, signed with the
house's registrar key (in $POUCH_HOME/registrars), or with --self by the
holder itself, with that key.

Environment: POUCH_SERVER, POUCH_AS, POUCH_HOME, POUCH_PASSPHRASE.

Example, Iran's registrar revokes the Foreign Minister's lost key:

  pouch revoke key --reason "key lost" ir/fm`},
		},
	})
}

func runRevoke(ctx *cmdContext, sub string, args []string) error {
	v := verbNamed("revoke " + sub)
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	reason := fs.String("reason", "", "why, for people: a `SENTENCE`")
	var self *bool
	if sub == "key" {
		self = fs.Bool("self", false, "revoke your own key (--as), not as the registrar")
	}
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		if sub == "grant" {
			return usagef("such as: pouch revoke grant --as ru/president 9c1e07d4", "revoke grant takes one grant ID")
		}
		return usagef("such as: pouch revoke key ir/fm", "revoke key takes one HOUSE/OFFICE")
	}
	pos = append([]string{sub}, pos...)
	bg := context.Background()
	c, err := cf.client(bg)
	if err != nil {
		return err
	}
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
		return recorded(ctx, acc.ID, struct {
			*api.Accepted
			Grant record.ID `json:"grant"`
		}{acc, id}, "grant %s revoked at log index %d (record %s)", id.Short(), acc.Index, acc.ID.Short())
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
		return recorded(ctx, acc.ID, struct {
			*api.Accepted
			Handle record.Handle `json:"handle"`
			Key    string        `json:"key"` // standard base64
		}{acc, hd, b64(p.Current.Key)}, "key %x… of %s revoked at log index %d (record %s)", p.Current.Key[:6], hd, acc.Index, acc.ID.Short())
	}
	return nil
}
