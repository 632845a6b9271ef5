package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"pouch.dev/agreement"
	"pouch.dev/api"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "inbox",
		args:  "[flags]",
		short: "list (or --follow) the pouches that concern you: as addressee, delegate or envoy",
		long: `
pouch inbox lists the pouches that concern the acting principal — as
sender, addressee, receive delegate or envoy — newest first, marking with *
those awaiting you now (you are the next envoy, or may sign delivery, or
consent). A pouch refused, or not delivered by its deadline, shows so with
its reason: it is back with its sender. Attestations that an agreement's
clauses expect and that are overdue are listed first, marked with !, for
the depositary, the parties in force and the verifier that owes them.
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
	sctx, stop := signal.NotifyContext(ctx.context(), os.Interrupt)
	defer stop()
	c, err := cf.client(sctx)
	if err != nil {
		return err
	}
	mine := func(items []api.InboxItem) []api.InboxItem {
		out := []api.InboxItem{}
		for _, it := range items {
			if !*awaiting || it.Awaiting {
				out = append(out, it)
			}
		}
		return out
	}
	if !*follow {
		items, err := c.Inbox(sctx, me)
		if err != nil {
			return apiError(err)
		}
		items = mine(items)
		alerts, err := c.Alerts(sctx, me)
		if err != nil {
			return apiError(err)
		}
		if ctx.json {
			if alerts == nil {
				alerts = []agreement.Alert{}
			}
			return emit(ctx, map[string]any{"principal": me.Handle, "alerts": alerts, "pouches": items})
		}
		for _, a := range alerts {
			fmt.Fprintf(ctx.stdout, "! overdue   %s (%s): %s, as %s\n", a.Name, a.Agreement.Short(), a.Missing, a.Notify[0].Role)
		}
		if len(items) == 0 && len(alerts) == 0 {
			fmt.Fprintf(ctx.stderr, "pouch: nothing concerns %s yet\n", me.Handle)
		}
		for _, it := range items {
			printItem(ctx.stdout, it)
		}
		return nil
	}
	// A stream: one line per pouch, as it arrives or changes hands.
	err = c.Follow(sctx, me, func(items []api.InboxItem) error {
		for _, it := range mine(items) {
			if ctx.json {
				if err := emitEvent(ctx, "pouch", it); err != nil {
					return err
				}
				continue
			}
			printItem(ctx.stdout, it)
		}
		return nil
	})
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
	switch {
	case it.Outcome == "refused":
		status = "refused (" + it.Reason + "), returned to its sender"
	case it.Outcome == "not-delivered":
		status = "not delivered by its deadline (" + it.Reason + ")"
	case !it.Delivered && it.Consent && !hasEvent(it, "acceptance") && it.Next == it.To:
		status = "awaits the consent of " + string(it.To)
	case !it.Delivered:
		status = "awaits " + string(it.Next)
	default:
		if n := len(it.Custody); n > 0 {
			status = "delivered to " + string(it.Custody[n-1].By)
		}
	}
	if it.DeliverBy != nil && it.Outcome == "" {
		status += ", by " + it.DeliverBy.UTC().Format("2006-01-02 15:04")
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

// hasEvent reports whether the pouch of it has an event of kind k.
func hasEvent(it api.InboxItem, k record.Kind) bool {
	for _, e := range it.Events {
		if e.Kind == k {
			return true
		}
	}
	return false
}
