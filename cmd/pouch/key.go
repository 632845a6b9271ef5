package main

import (
	"encoding/base64"
	"fmt"
	"io"

	"pouch.dev/keys"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "key",
		short: "export your keys, import others' public keys, list what the home holds",
		long: `
A principal's public keys (its Ed25519 signing key and age recipient)
travel as a public file, which correspondents import so that letters
from them verify and letters to them can be sealed offline.

Example, the Russian President's office hands its keys to the Leader's:

  pouch key export --as ru/president > ru-president.pub
  pouch key import ru-president.pub        # on the Leader's machine
  pouch key list`,
		subs: []*verb{
			{
				name:  "key export",
				args:  "[--as HANDLE] [--public | --age]",
				short: "print a principal's public file (the default), or its age identity",
				long: `
pouch key export prints a principal's public file (JSON: handle, Ed25519
key, age recipient; spec/keys.md#public-file), to hand to
correspondents. This is the default, --public.

With --age it prints the principal's age identity
(AGE-SECRET-KEY-PQ-1...), asking for its passphrase, so that the stock age
tool opens the payloads sealed to it: "age -d -i FILE". It is a secret:
keep what you save of it as safe as the home folder.

It writes a file format, not a report: it has no --json.

Environment: POUCH_HOME, POUCH_AS, POUCH_PASSPHRASE (for --age).

Example, the President's office gives its public keys to the Leader's,
and opens a payload with the stock age tool:

  pouch key export --as ru/president > ru-president.pub
  pouch key export --as ru/president --age > president.key`,
				run: runKeyExport,
			},
			{
				name:  "key import",
				args:  "[--json] FILE",
				short: "store a correspondent's public file as a contact",
				long: `
pouch key import FILE stores a correspondent's public file (from "pouch
key export") as a contact of the home, so that --to, --via and --reader
can name it and its letters verify. Importing other keys under a handle
already known is refused: ask the correspondent which are right. FILE
"-" reads standard input.

Environment: POUCH_HOME.

Example, on the Leader's machine:

  pouch key import ru-president.pub`,
				run: runKeyImport,
			},
			{
				name:  "key list",
				args:  "[--json]",
				short: "list the principals and contacts of the home",
				long: `
pouch key list names the principals of the home (whose private keys it
holds) and its contacts (public keys imported).

Environment: POUCH_HOME.

Example, on the Leader's machine:

  pouch key list     # principal ir/leader, contact ru/president`,
				run: runKeyList,
			},
		},
	})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func runKeyExport(ctx *cmdContext, args []string) error {
	v := verbNamed("key export")
	fs := newFlags(ctx, v)
	as := fs.String("as", asFlag(ctx), "export principal `HANDLE` (env POUCH_AS)")
	pub := fs.Bool("public", false, "print the public file (the default)")
	ageID := fs.Bool("age", false, "print the age identity (a secret)")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("", "key export: unexpected argument %q", pos[0])
	}
	if *pub && *ageID {
		return usagef("", "key export: --public and --age exclude each other")
	}
	h, err := openHome(ctx)
	if err != nil {
		return err
	}
	if !*ageID {
		hd, err := pickPrincipal(h, *as)
		if err != nil {
			return err
		}
		p, err := h.Lookup(hd)
		if err != nil {
			return err
		}
		_, err = ctx.stdout.Write(p.Marshal())
		return err
	}
	p, err := loadPrincipalInMemory(ctx, h, *as)
	if err != nil {
		return err
	}
	idf, err := p.AgeIdentityFile()
	if err != nil {
		return err
	}
	_, err = ctx.stdout.Write(idf)
	return err
}

// publicJSON is a principal's public keys in --json results.
type publicJSON struct {
	Handle  record.Handle `json:"handle"`
	Ed25519 string        `json:"ed25519"` // standard base64
	Age     string        `json:"age"`     // the age recipient
}

func publicOf(p *keys.Public) publicJSON {
	return publicJSON{Handle: p.Handle, Ed25519: b64(p.Ed25519), Age: p.Age}
}

func runKeyImport(ctx *cmdContext, args []string) error {
	v := verbNamed("key import")
	fs := newFlags(ctx, v)
	fs.Bool("json", false, "print JSON (spec/cli.md)")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("such as: pouch key import ru-president.pub", "key import: want one FILE (\"-\" for standard input)")
	}
	var b []byte
	if pos[0] == "-" {
		b, err = io.ReadAll(io.LimitReader(ctx.stdin, keys.MaxPublicFile+1))
	} else {
		b, err = readInput(pos[0], "a public file from \"pouch key export\"")
	}
	if err != nil {
		return err
	}
	p, err := keys.ParsePublic(b)
	if err != nil {
		return &checkError{withHint(fmt.Errorf("%s: not a public file: %w", pos[0], err), "the file must be the output of \"pouch key export\"")}
	}
	h, err := openHome(ctx)
	if err != nil {
		return err
	}
	added, err := h.Import(p)
	if err != nil {
		return &checkError{withHint(err, "check with %s which keys are right; nothing was changed", p.Handle)}
	}
	if ctx.json {
		return emit(ctx, struct {
			publicJSON
			Added bool `json:"added"`
		}{publicOf(p), added})
	}
	if added {
		fmt.Fprintf(ctx.stdout, "imported %s (ed25519 %s)\n", p.Handle, b64(p.Ed25519))
	} else {
		fmt.Fprintf(ctx.stdout, "%s is already known with these keys\n", p.Handle)
	}
	return nil
}

func runKeyList(ctx *cmdContext, args []string) error {
	v := verbNamed("key list")
	fs := newFlags(ctx, v)
	fs.Bool("json", false, "print JSON (spec/cli.md)")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("", "key list: unexpected argument %q", pos[0])
	}
	h, err := openHome(ctx)
	if err != nil {
		return err
	}
	own, err := h.List()
	if err != nil {
		return err
	}
	contacts, err := h.Contacts()
	if err != nil {
		return err
	}
	if ctx.json {
		type entry struct {
			publicJSON
			Own bool `json:"own"`
		}
		out := struct {
			Home string  `json:"home"`
			Keys []entry `json:"keys"`
		}{Home: h.Dir, Keys: []entry{}}
		for i, list := range [][]string{handleStrings(own), handleStrings(contacts)} {
			for _, s := range list {
				p, err := lookup(h, s, "key list")
				if err != nil {
					return err
				}
				out.Keys = append(out.Keys, entry{publicOf(p), i == 0})
			}
		}
		return emit(ctx, out)
	}
	fmt.Fprintf(ctx.stdout, "home: %s\n", h.Dir)
	for _, x := range own {
		fmt.Fprintf(ctx.stdout, "  principal %s\n", x)
	}
	for _, x := range contacts {
		fmt.Fprintf(ctx.stdout, "  contact   %s\n", x)
	}
	return nil
}

func handleStrings[T ~string](hs []T) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = string(h)
	}
	return out
}
