package main

// pouch statement: open a joint statement for co-signature, co-sign it,
// and show its verified roll of signatories.

import (
	"context"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/record"
)

func init() {
	sub := func(name string) func(*cmdContext, []string) error {
		return func(ctx *cmdContext, args []string) error { return runStatement(ctx, name, args) }
	}
	register(&verb{
		name:  "statement",
		short: "open a joint statement, co-sign it, show its verified signatories",
		long: `
A joint statement is a text opened for co-signature in the log; anyone
admitted may co-sign it once, until it closes (spec/agreement.md#statement).
Its roll of signatories is replayed from the log, every co-signature
verified against its signer's key and proven in the log.

ID is the statement's ID, or a unique prefix of at least 8 hex digits.

Example, scene 5 of the reference scenario (examples/statement.txt):

  pouch statement open --as experts/convener --title "Experts' statement on the JCPOA" statement.txt
  pouch statement cosign --as experts/expert-01 1879983a
  pouch statement show 1879983a`,
		subs: []*verb{
			{name: "statement open", args: "[flags] --title T [--opened YYYY-MM-DD] [--closes YYYY-MM-DD] TEXT", short: "open a joint statement for co-signature", run: sub("open"), long: `
pouch statement open signs and submits a statement record: --title, and
the SHA-256 of the file TEXT, the statement's text. Co-signatures logged
after --closes are refused. It prints the statement's ID.

Example, the convener of the experts opens their statement:

  pouch statement open --as experts/convener --title "Experts' statement on the JCPOA" statement.txt`},
			{name: "statement cosign", args: "[flags] ID", short: "co-sign a statement", run: sub("cosign"), long: `
pouch statement cosign co-signs statement ID as the acting principal. A
second co-signature by the same office, or one after the statement
closes, is refused before anything is sent. It prints the ID of the
cosign record.

Example, the first of the experts co-signs:

  pouch statement cosign --as experts/expert-01 1879983a`},
			{name: "statement show", args: "[--all] [--json] ID", short: "the statement and its signatories, replayed from the log", run: sub("show"), long: `
pouch statement show prints the statement and its signatories (the first
20; --all for every one), each co-signature verified against its
signer's key in the directory and proven in the log as this client
verified it.

Example, the 85 experts who co-signed the statement on the JCPOA:

  pouch statement show --all 1879983a`},
		},
	})
}

func runStatement(ctx *cmdContext, sub string, args []string) error {
	v := verbNamed("statement " + sub)
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	var title, opened, closes *string
	var all *bool
	switch sub {
	case "open":
		title = fs.String("title", "", "the statement's `TITLE`")
		opened = fs.String("opened", "", "the day it opens, `YYYY-MM-DD` (default: today)")
		closes = fs.String("closes", "", "the last day for co-signatures, `YYYY-MM-DD` (default: none)")
	case "cosign":
	case "show":
		all = fs.Bool("all", false, "list every signatory (default: the first 20)")
	}
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	bg, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if sub == "open" {
		if len(pos) != 1 {
			return usagef("pouch statement open --title T TEXT", "statement open: want the statement's TEXT file, got %d arguments", len(pos))
		}
		text, err := readInput(pos[0], "the statement's text, whose SHA-256 the statement records")
		if err != nil {
			return err
		}
		b := &agreement.Statement{Title: *title, Text: agreement.Digest(text), Opened: agreement.DateOf(time.Now())}
		if *opened != "" {
			if b.Opened, err = agreement.ParseDate(*opened); err != nil {
				return usagef("", "--opened: %v", err)
			}
		}
		if *closes != "" {
			if b.Closes, err = agreement.ParseDate(*closes); err != nil {
				return usagef("", "--closes: %v", err)
			}
		}
		if err := b.Check(); err != nil {
			return usagef("", "statement open: %v", err)
		}
		return submitAction(ctx, bg, cf, record.KindStatement, b, nil, "opened the statement")
	}
	if len(pos) != 1 {
		return usagef("give the statement's ID", "statement %s: want one statement ID, got %d arguments", sub, len(pos))
	}
	id, err := resolvePublicID(bg, cf, pos[0], "statement", record.KindStatement)
	if err != nil {
		return err
	}
	if sub == "cosign" {
		return submitAction(ctx, bg, cf, record.KindCosign, &agreement.Cosign{Statement: id}, &id, "co-signed")
	}
	pl, err := newProvenLog(ctx, bg, cf, nil)
	if err != nil {
		return err
	}
	roll, err := pl.statement(id)
	if err != nil {
		return err
	}
	if ctx.json {
		return emit(ctx, map[string]any{
			"id": roll.ID(), "opener": roll.Opener(), "statement": roll.Statement(),
			"count": roll.Count(), "signatories": roll.Signatories(), "rejected": len(roll.Rejected()),
			"log_size": pl.v.Size(),
		})
	}
	n := 20
	if *all {
		n = -1
	}
	return agreement.WriteRoll(ctx.stdout, roll, n)
}
