package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"pouch.dev/api"
)

func init() {
	register(&verb{
		name:  "inbox",
		args:  "[flags]",
		short: "list (or --follow) the pouches that concern you: as addressee, delegate or envoy",
		long: `
pouch inbox lists the pouches that concern the acting principal — as
sender, addressee, receive delegate or envoy — newest first, marking with *
those awaiting you now (you are the next envoy, or may sign delivery).
Each pouch is shown by the first 12 hex digits of its ID, which every
verb that takes an ID accepts (--json shows the whole ID).
--follow keeps streaming arrivals and hand-overs (server-sent events) until
interrupted.

Environment: POUCH_SERVER, POUCH_AS, POUCH_HOME, POUCH_PASSPHRASE.

Example:

  pouch inbox --as ru/duma-chair --follow`,
		run: runInbox,
	})
}

func runInbox(ctx *cmdContext, args []string) error {
	v := verbs["inbox"]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	follow := fs.Bool("follow", false, "keep streaming new arrivals")
	awaiting := fs.Bool("awaiting", false, "only pouches awaiting you")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("", "inbox takes no arguments")
	}
	me, err := cf.me(ctx)
	if err != nil {
		return err
	}
	sctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c, err := cf.client(sctx)
	if err != nil {
		return err
	}
	print := func(items []api.InboxItem) error {
		for _, it := range items {
			if *awaiting && !it.Awaiting {
				continue
			}
			if *cf.json {
				if err := printV1(ctx.stdout, "pouch", it); err != nil {
					return err
				}
				continue
			}
			printItem(ctx.stdout, it)
		}
		return nil
	}
	if !*follow {
		items, err := c.Inbox(sctx, me)
		if err != nil {
			return apiError(err)
		}
		if len(items) == 0 && !*cf.json {
			fmt.Fprintf(ctx.stderr, "pouch: nothing concerns %s yet\n", me.Handle)
		}
		return print(items)
	}
	err = c.Follow(sctx, me, print)
	if sctx.Err() != nil {
		return nil
	}
	return apiError(err)
}

func printItem(w io.Writer, it api.InboxItem) {
	mark := " "
	if it.Awaiting {
		mark = "*"
	}
	status := "delivered"
	if !it.Delivered {
		status = "awaits " + string(it.Next)
	} else if n := len(it.Custody); n > 0 {
		status = "delivered to " + string(it.Custody[n-1].By)
	}
	via := ""
	if len(it.Via) > 0 {
		var vs []string
		for _, h := range it.Via {
			vs = append(vs, string(h))
		}
		via = " via " + strings.Join(vs, ",")
	}
	fmt.Fprintf(w, "%s %s  %-9s %s → %s%s  %s  %s\n", mark, it.ID.Short(), it.Role, it.From, it.To, via, status, it.Time.Format("2006-01-02 15:04"))
}
