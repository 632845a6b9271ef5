package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"

	"pouch.dev/client"
	"pouch.dev/keys"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "house",
		args:  "[flags] HOUSE",
		short: "found a house, with a registrar key that admits its offices",
		long: `
pouch house founds HOUSE on the server with a registrar key, kept in
$POUCH_HOME/registrars/HOUSE.key (made on first use; guard it: whoever holds
it admits and revokes the house's offices). On a server in operator mode
(the default), the operator countersigns with the key pouch serve made in its
data folder (--operator-key); on a server started with --open, the first
claim of a name wins, visibly in the log.

Environment: POUCH_SERVER, POUCH_HOME.

Example:

  pouch house ir --name "Islamic Republic of Iran" --operator-key /srv/pouch/operator.key`,
		run: runHouse,
	})
}

// registrarKey loads (or with create, makes) the registrar key of house.
func registrarKey(ctx *cmdContext, house string, create bool) (*client.Identity, error) {
	dir, err := keys.DefaultDir(ctx.getenv)
	if err != nil {
		return nil, withHint(err, "set POUCH_HOME to the folder for your keys")
	}
	path := filepath.Join(dir, "registrars", house+".key")
	k, err := loadOrCreateEd25519(path, create)
	if err != nil {
		return nil, withHint(err, "the registrar key of %s is made by \"pouch house %s\" in $POUCH_HOME/registrars", house, house)
	}
	return client.Registrar(house, k), nil
}

func runHouse(ctx *cmdContext, args []string) error {
	v := verbs["house"]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	name := fs.String("name", "", "the house's name for people")
	opKey := fs.String("operator-key", ctx.getenv("POUCH_OPERATOR_KEY"), "countersign with the operator key in `FILE` (operator mode)")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("", "house takes one HOUSE name, such as ir")
	}
	house, err := record.ParseHouse(pos[0])
	if err != nil {
		return usagef("", "%v", err)
	}
	c, err := cf.client(context.Background())
	if err != nil {
		return err
	}
	reg, err := registrarKey(ctx, house, true)
	if err != nil {
		return err
	}
	var op *client.Identity
	if *opKey != "" {
		k, err := loadOrCreateEd25519(*opKey, false)
		if err != nil {
			return err
		}
		op = client.Operator(k)
	}
	a, err := c.FoundHouse(context.Background(), house, *name, reg, op)
	if err != nil {
		if op == nil {
			return withHint(err, "on a server in operator mode, pass --operator-key with the server's operator.key")
		}
		return apiError(err)
	}
	if *cf.json {
		return printV1(ctx.stdout, "house", a)
	}
	fmt.Fprintf(ctx.stdout, "founded house %s at log index %d (record %s)\nregistrar key %x… in $POUCH_HOME/registrars/%s.key\n",
		house, a.Index, a.ID, reg.Signing.Public().(ed25519.PublicKey)[:6], house)
	return nil
}
