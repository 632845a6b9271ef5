package main

import (
	"errors"
	"fmt"

	"pouch.dev/keys"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "init",
		args:  "[--json] HOUSE/OFFICE",
		short: "create a principal's keys in $POUCH_HOME, protected by a passphrase",
		long: `
pouch init makes a principal's Ed25519 signing key and age hybrid
(ML-KEM-768 + X25519) sealing key, and stores them in the home folder
($POUCH_HOME, or pouch/ in the user's configuration directory) encrypted
with a passphrase (age scrypt). The passphrase is asked for twice on the
terminal, or taken from POUCH_PASSPHRASE. One home may hold several
principals; other verbs pick one with --as.

It prints the public keys; hand them to your correspondents with
"pouch key export --public > FILE".

Environment: POUCH_HOME (the home folder), POUCH_PASSPHRASE (instead of
the prompt), POUCH_SCRYPT_LOG_N (a lower scrypt work factor, for tests
that create many principals only: never for real keys).

Example, the Speaker of Iran's parliament on a fresh machine:

  pouch init ir/speaker`,
		run: runInit,
	})
}

func runInit(ctx *cmdContext, args []string) error {
	v := verbs["init"]
	fs := newFlags(ctx, v)
	fs.Bool("json", false, "print the public keys as JSON (spec/cli.md)")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("name the office, such as: pouch init ru/president", "init: want one HOUSE/OFFICE handle, got %d arguments", len(pos))
	}
	hd, err := record.ParseHandle(pos[0])
	if err != nil {
		return usagef("a handle is house/office in a-z, 0-9 and '-', such as ru/amb-tehran", "%v", err)
	}
	h, err := openHome(ctx)
	if err != nil {
		return err
	}
	if _, err := h.Lookup(hd); err == nil {
		if hs, _ := h.List(); containsHandle(hs, hd) {
			return withHint(fmt.Errorf("%s already exists in %s; nothing was changed", hd, h.Dir),
				"pick another handle, or set POUCH_HOME to another folder")
		}
	}
	pass, err := passphrase(ctx, fmt.Sprintf("New passphrase for %s: ", hd), true)
	if err != nil {
		return err
	}
	p, err := keys.Generate(hd)
	if err != nil {
		return err
	}
	if err := h.Save(p, pass); err != nil {
		if errors.Is(err, keys.ErrExists) || errors.Is(err, keys.ErrConflict) {
			return withHint(err, "pick another handle, or set POUCH_HOME to another folder")
		}
		return err
	}
	pub := p.Public()
	if ctx.json {
		return emit(ctx, struct {
			publicJSON
			Home string `json:"home"`
		}{publicOf(pub), h.Dir})
	}
	fmt.Fprintf(ctx.stdout, "created %s in %s\n", hd, h.Dir)
	fmt.Fprintf(ctx.stdout, "  signing key (ed25519): %s\n", b64(pub.Ed25519))
	fmt.Fprintf(ctx.stdout, "  sealing key (age):     %s\n", pub.Age)
	return nil
}

func containsHandle(hs []record.Handle, h record.Handle) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}
