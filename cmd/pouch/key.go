package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"os"

	"pouch.dev/keys"
)

func init() {
	register(&verb{
		name:  "key",
		args:  "export [--as H] [--public|--age] | import FILE | list [--json]",
		short: "export your keys, import others' public keys, list what the home holds",
		long: `
pouch key export --public prints a principal's public file (JSON: handle,
Ed25519 key, age recipient), to hand to correspondents. This is the default.

pouch key export --age prints the principal's age identity
(AGE-SECRET-KEY-PQ-1...), asking for its passphrase, so that the stock age
tool opens the payloads sealed to it: "age -d -i FILE". It is a secret:
keep what you save of it as safe as the home folder.

pouch key import FILE stores a correspondent's public file as a contact,
so that --to, --via and --reader can name it. Importing other keys under a
handle already known is refused.

pouch key list names the principals and contacts of the home.

Example, the Russian President's office hands its keys to the Leader's:

  pouch key export --as ru/president --public > ru-president.pub
  pouch key import ru-president.pub        # on the Leader's machine`,
		run: runKey,
	})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func runKey(ctx *cmdContext, args []string) error {
	v := verbs["key"]
	if len(args) == 0 {
		return usagef("", "key: want export, import or list")
	}
	sub, args := args[0], args[1:]
	fs := newFlags(ctx, v)
	as := fs.String("as", asFlag(ctx), "act as principal `HANDLE` (env POUCH_AS)")
	switch sub {
	case "export":
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
			hd, err := h.Pick(*as)
			if err != nil {
				return withHint(err, "create one with \"pouch init HOUSE/OFFICE\"")
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

	case "import":
		pos, err := parseFlags(ctx, v, fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("", "key import: want one FILE (\"-\" for standard input)")
		}
		var b []byte
		if pos[0] == "-" {
			b, err = io.ReadAll(io.LimitReader(ctx.stdin, keys.MaxPublicFile+1))
		} else {
			b, err = os.ReadFile(pos[0])
		}
		if err != nil {
			return err
		}
		p, err := keys.ParsePublic(b)
		if err != nil {
			return withHint(err, "the file must be the output of \"pouch key export --public\"")
		}
		h, err := openHome(ctx)
		if err != nil {
			return err
		}
		added, err := h.Import(p)
		if err != nil {
			return &checkError{withHint(err, "check with %s which keys are right; nothing was changed", p.Handle)}
		}
		if added {
			fmt.Fprintf(ctx.stdout, "imported %s (ed25519 %s)\n", p.Handle, b64(p.Ed25519))
		} else {
			fmt.Fprintf(ctx.stdout, "%s is already known with these keys\n", p.Handle)
		}
		return nil

	case "list":
		asJSON := fs.Bool("json", false, "print JSON")
		if _, err := parseFlags(ctx, v, fs, args); err != nil {
			return err
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
		if *asJSON {
			type entry struct {
				*keys.Public
				Own bool `json:"own"`
			}
			out := struct {
				V       int     `json:"v"`
				Home    string  `json:"home"`
				Entries []entry `json:"keys"`
			}{V: 1, Home: h.Dir, Entries: []entry{}}
			for i, list := range [][]string{handleStrings(own), handleStrings(contacts)} {
				for _, s := range list {
					p, err := lookup(h, s, "key list")
					if err != nil {
						return err
					}
					out.Entries = append(out.Entries, entry{p, i == 0})
				}
			}
			return printJSON(ctx.stdout, out)
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
	return usagef("", "key: unknown subcommand %q (want export, import or list)", sub)
}

func handleStrings[T ~string](hs []T) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = string(h)
	}
	return out
}
