package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"filippo.io/age"
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
$POUCH_HOME/registrars/HOUSE.key.age, encrypted with a passphrase (made on
first use; guard it: whoever holds it admits and revokes the house's
offices). On a server in operator mode
(the default), the operator countersigns with the key pouch serve made in its
data folder (--operator-key); on a server started with --open, the first
claim of a name wins, visibly in the log.

Environment: POUCH_SERVER, POUCH_HOME.

Example:

  pouch house ir --name "Islamic Republic of Iran" --operator-key /srv/pouch/operator.key`,
		run: runHouse,
	})
}

// registrarKey loads (or with create, makes) the registrar key of house:
// a PKCS #8 PEM Ed25519 key, encrypted at rest with a passphrase (age
// scrypt), in $POUCH_HOME/registrars/HOUSE.key.age.
func registrarKey(ctx *cmdContext, house string, create bool) (*client.Identity, error) {
	home, err := openHome(ctx)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(home.Dir, "registrars", house+".key.age")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		pass, err := passphrase(ctx, fmt.Sprintf("New passphrase for the registrar key of %s: ", house), true)
		if err != nil {
			return nil, err
		}
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		rcp, err := age.NewScryptRecipient(pass)
		if err != nil {
			return nil, err
		}
		if home.ScryptLogN > 0 {
			rcp.SetWorkFactor(home.ScryptLogN)
		}
		var buf bytes.Buffer
		aw, err := age.Encrypt(&buf, rcp)
		if err != nil {
			return nil, err
		}
		if _, err := aw.Write(keys.MarshalEd25519PEM(k)); err != nil {
			return nil, err
		}
		if err := aw.Close(); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			return nil, err
		}
		return client.Registrar(house, k), nil
	}
	if err != nil {
		return nil, withHint(err, "the registrar key of %s is made by \"pouch house %s\" in $POUCH_HOME/registrars", house, house)
	}
	pass, err := passphrase(ctx, fmt.Sprintf("Passphrase for the registrar key of %s: ", house), false)
	if err != nil {
		return nil, err
	}
	id, err := age.NewScryptIdentity(pass)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(bytes.NewReader(b), id)
	if err != nil {
		return nil, withHint(fmt.Errorf("opening the registrar key of %s: %w", house, err), "check POUCH_PASSPHRASE")
	}
	pb, err := io.ReadAll(io.LimitReader(r, 16<<10))
	if err != nil {
		return nil, err
	}
	ek, err := keys.ParseEd25519PEM(pb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return client.Registrar(house, ek), nil
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
	fmt.Fprintf(ctx.stdout, "founded house %s at log index %d (record %s)\nregistrar key %x… in $POUCH_HOME/registrars/%s.key.age\n",
		house, a.Index, a.ID, reg.Signing.Public().(ed25519.PublicKey)[:6], house)
	return nil
}
