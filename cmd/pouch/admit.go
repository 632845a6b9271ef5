package main

import (
	"context"

	"pouch.dev/api"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "admit",
		args:  "[flags] HOUSE/OFFICE",
		short: "admit an office's holder (or a new holder: key rotation) as the house registrar",
		long: `
pouch admit signs, with the house's registrar key, an admit record for
HOUSE/OFFICE with its public keys: those of a principal in this home ("pouch
init"), or a contact imported with "pouch key import". Admitting an office
again with other keys is a rotation: a new holder; records logged before stay
attributable to the old key.

Environment: POUCH_SERVER, POUCH_HOME.

Example:

  pouch init ru/duma-chair && pouch admit ru/duma-chair --holder "Vyacheslav Volodin"`,
		run: runAdmit,
	})
}

func runAdmit(ctx *cmdContext, args []string) error {
	v := verbs["admit"]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	holder := fs.String("holder", "", "the holder's `NAME`, for people")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("", "admit takes one HOUSE/OFFICE")
	}
	hd, err := record.ParseHandle(pos[0])
	if err != nil {
		return usagef("", "%v", err)
	}
	home, err := openHome(ctx)
	if err != nil {
		return err
	}
	pub, err := lookup(home, pos[0], "admit")
	if err != nil {
		return err
	}
	reg, err := registrarKey(ctx, hd.House(), false)
	if err != nil {
		return err
	}
	c, err := cf.client(context.Background())
	if err != nil {
		return err
	}
	a, err := c.Admit(context.Background(), reg, hd, pub.Ed25519, pub.Age, *holder)
	if err != nil {
		return apiError(err)
	}
	return recorded(ctx, a.ID, struct {
		*api.Accepted
		Handle record.Handle `json:"handle"`
	}{a, hd}, "admitted %s at log index %d (record %s)", hd, a.Index, a.ID.Short())
}
