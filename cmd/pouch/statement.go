package main

// pouch statement: open a joint statement for co-signature, co-sign it,
// and show its verified roll of signatories.

import (
	"context"
	"os"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "statement",
		args:  "open|cosign|show [flags] ...",
		short: "open a joint statement, co-sign it, show its verified signatories",
		long: `
pouch statement open [--as H] --title T [--opened YYYY-MM-DD] [--closes YYYY-MM-DD] TEXT
    opens a joint statement for co-signature; its text digest is computed
    from the file TEXT. Co-signatures logged after --closes are refused.
pouch statement cosign [--as H] ID
    co-signs the statement. A second co-signature is refused.
pouch statement show [--all] [--json] ID
    the statement and its signatories, each co-signature verified against
    its signer's key in the directory and proven in the log.

Example, scene 5 of the reference scenario:

  pouch statement open --as experts/convener --title "Experts' statement on the JCPOA" statement.txt
  pouch statement cosign --as experts/expert-01 1879983a
  pouch statement show 1879983a`,
		run: runStatement,
	})
}

func runStatement(ctx *cmdContext, args []string) error {
	v := verbs["statement"]
	if len(args) == 0 {
		return usagef("see \"pouch statement --help\"", "statement: want open, cosign or show")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printVerbHelp(ctx.stdout, v)
		return nil
	}
	sub, args := args[0], args[1:]
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
	default:
		return usagef("want open, cosign or show", "statement: unknown subcommand %q", sub)
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
		text, err := os.ReadFile(pos[0])
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
	if *cf.json {
		return printV1(ctx.stdout, "statement", map[string]any{
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
