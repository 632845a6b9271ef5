package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"pouch.dev/letter"
	"pouch.dev/store/storecopy"
)

func init() {
	register(&verb{
		name:  "migrate",
		args:  "--from DB --to DB",
		short: "copy a deployment's log from one store to another (SQLite, PostgreSQL)",
		long: `
pouch migrate copies the whole log of a deployment from one store to
another: every record at its index with its time of sequencing, its
payload chunk by chunk, every checkpoint with its cosignatures, and the
tree's tiles. Then it checks that the target's latest checkpoint is byte
for byte the source's, and that the target's tree recomputes to that
checkpoint's root, from the leaves and from the tiles.

Each DB is a server's data folder (its pouch.db), the path of a SQLite
file, or a postgres://USER@HOST:PORT/DB URL. The target must be empty (a
new file, or a database without pouch's tables or with an empty log).
Stop the servers of the source first; the keys stay in the data folder:
start the server on the target with the same --data and --db.

Example, the reference scenario's server moving to PostgreSQL as the
Russian Federation's houses join:

  pouch migrate --from /srv/pouch --to postgres://pouch@127.0.0.1:5432/pouch
  pouch serve --data /srv/pouch --db postgres://pouch@127.0.0.1:5432/pouch
`,
		run: runMigrate,
	})
}

func runMigrate(ctx *cmdContext, args []string) error {
	v := verbs["migrate"]
	fs := newFlags(ctx, v)
	fromFlag := fs.String("from", "", "copy from the store `DB`: a data folder, a SQLite file or a postgres:// URL")
	toFlag := fs.String("to", "", "copy into the empty store `DB`: a data folder, a SQLite file or a postgres:// URL")
	fs.Bool("json", false, "print JSON (spec/cli.md)")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("name the stores with --from and --to", "migrate takes no arguments, got %q", pos)
	}
	if *fromFlag == "" || *toFlag == "" {
		return usagef("such as pouch migrate --from ~/.config/pouch/server --to postgres://pouch@127.0.0.1:5432/pouch", "migrate needs --from and --to")
	}
	from, err := parseDB(*fromFlag)
	if err != nil {
		return err
	}
	to, err := parseDB(*toFlag)
	if err != nil {
		return err
	}
	if from == to {
		return usagef("copy into another store", "--from and --to name the same store, %s", from)
	}
	if from.path != "" {
		// Opening a SQLite file creates it: the source must exist.
		if _, err := os.Stat(from.path); err != nil {
			return withHint(fmt.Errorf("the source %s: %w", from.path, err), "give the server's data folder or its pouch.db with --from")
		}
	}
	bg := ctx.context()
	src, err := openDB(bg, from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := openDB(bg, to)
	if err != nil {
		return err
	}
	defer dst.Close()
	start := time.Now()
	last, phase := time.Time{}, ""
	res, err := storecopy.Copy(bg, src, dst, func(p storecopy.Progress) {
		done := p.Phase == "records" && p.Records == p.TotalRecords
		if p.Phase == phase && time.Since(last) < 2*time.Second && !done {
			return
		}
		phase, last = p.Phase, time.Now()
		if p.Phase == "records" {
			fmt.Fprintf(ctx.stderr, "pouch: migrate: %d of %d records, %s of payloads\n", p.Records, p.TotalRecords, letter.Bytes(p.PayloadBytes))
		} else {
			fmt.Fprintf(ctx.stderr, "pouch: migrate: %s\n", p.Phase)
		}
	})
	if errors.Is(err, storecopy.ErrNotEmpty) {
		return withHint(err, "migrate into a new SQLite file or an empty PostgreSQL database (createdb NAME)")
	}
	if err != nil {
		return err
	}
	if ctx.json {
		return emit(ctx, map[string]any{"from": from.String(), "to": to.String(), "records": res.Records, "payloads": res.Payloads,
			"payload_bytes": res.PayloadBytes, "checkpoints": res.Checkpoints, "tiles": res.Tiles, "tree_size": res.TreeSize,
			"checkpoint": string(res.Checkpoint)})
	}
	fmt.Fprintf(ctx.stdout, "copied %d records (payloads: %d, %s), %d checkpoints and %d tiles from %s to %s in %s\n",
		res.Records, res.Payloads, letter.Bytes(res.PayloadBytes), res.Checkpoints, res.Tiles, from, to, time.Since(start).Round(time.Millisecond))
	if res.Checkpoint != nil {
		fmt.Fprintf(ctx.stdout, "checked: the latest checkpoint (size %d) is identical, and the tree recomputes to its root\n", res.TreeSize)
	}
	return nil
}
