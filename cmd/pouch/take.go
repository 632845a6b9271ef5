package main

import (
	"context"
	"fmt"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "take",
		args:  "[flags] ID",
		short: "take custody of a pouch as the next envoy on its route",
		long: `
pouch take signs a custody record: "I, the next envoy on its route, now hold
pouch ID, received from the previous holder". With --for ENVOY, you take it
in that envoy's place under a carry grant from it. The server refuses anyone
off the route, with a message naming the next holder. With --over-line
CALL, the record says the pouch was handed over on that secure line (pouch
line signs this itself unless given --no-custody).

Environment: POUCH_SERVER, POUCH_AS, POUCH_HOME, POUCH_PASSPHRASE.

Example (scene 1):

  pouch take --as ir/speaker 3f2a9c1e`,
		run: func(ctx *cmdContext, args []string) error { return runCustody(ctx, "take", args) },
	})
	register(&verb{
		name:  "deliver",
		args:  "[flags] ID",
		short: "sign delivery of a pouch, as its addressee or on the addressee's behalf",
		long: `
pouch deliver signs the pouch's delivery receipt: by its addressee, or by a
holder of a receive grant from the addressee, "on behalf of" it. It must
follow the last envoy's custody. With --over-line CALL, the receipt says
the pouch was handed over on that secure line, whose call record must be
in the log.

Environment: POUCH_SERVER, POUCH_AS, POUCH_HOME, POUCH_PASSPHRASE.

Example (scene 1):

  pouch deliver --as ru/duma-chair 3f2a9c1e`,
		run: func(ctx *cmdContext, args []string) error { return runCustody(ctx, "deliver", args) },
	})
	register(&verb{
		name:  "publish",
		args:  "[flags] ID",
		short: "make one of your private records public (a delivery receipt, a grant)",
		long: `
pouch publish signs a public record that makes private record ID — one you
are a party to — readable by anyone, with its inclusion proof. Publishing a
delivery receipt proves that a letter was delivered without revealing it:
with --delivery, ID names the pouch, and its receipt, proven from the log,
is published. It prints the ID of the publish record.

Environment: POUCH_SERVER, POUCH_AS, POUCH_HOME, POUCH_PASSPHRASE.

Example (scene 3):

  pouch publish --as ir/fm 9c1e07d4
  pouch publish --as ir/fm --delivery 3f2a9c1e   # the receipt of pouch 3f2a9c1e`,
		run: func(ctx *cmdContext, args []string) error { return runCustody(ctx, "publish", args) },
	})
}

func runCustody(ctx *cmdContext, name string, args []string) error {
	v := verbs[name]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	var forEnvoy, overLine *string
	var delivery *bool
	if name == "publish" {
		delivery = fs.Bool("delivery", false, "ID names a pouch: publish its delivery receipt")
	}
	if name == "take" {
		forEnvoy = fs.String("for", "", "take it in place of envoy `HANDLE` (carry grant)")
	}
	if name != "publish" {
		overLine = fs.String("over-line", "", "the pouch was handed over on the secure line whose call record is `ID` (pouch line prints it)")
	}
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("", "%s takes one record ID", name)
	}
	if err := idSyntax(pos[0], name); err != nil {
		return err
	}
	if overLine != nil && *overLine != "" {
		if err := idSyntax(*overLine, "--over-line"); err != nil {
			return err
		}
	}
	me, err := cf.me(ctx)
	if err != nil {
		return err
	}
	bg := context.Background()
	c, err := cf.client(bg)
	if err != nil {
		return err
	}
	var kinds []record.Kind
	if name != "publish" || *delivery {
		kinds = []record.Kind{record.KindTag}
	}
	what := "pouch"
	if name == "publish" && !*delivery {
		what = "record"
	}
	id, err := resolveID(bg, c, me, pos[0], what, kinds...)
	if err != nil {
		return err
	}
	if delivery != nil && *delivery {
		if id, err = deliveryReceipt(bg, c, me, id); err != nil {
			return err
		}
	}
	var opts []client.CustodyOption
	var call *record.ID
	over := ""
	if overLine != nil && *overLine != "" {
		id, err := resolveID(bg, c, me, *overLine, "--over-line", record.KindLine)
		if err != nil {
			return err
		}
		call = &id
		opts = append(opts, client.OverLine(id))
		over = ", handed over on line " + id.Short()
	}
	switch name {
	case "take":
		var on record.Handle
		if *forEnvoy != "" {
			if on, err = record.ParseHandle(*forEnvoy); err != nil {
				return usagef("", "--for: %v", err)
			}
		}
		a, err := c.Take(bg, me, id, on, opts...)
		if err != nil {
			return apiError(err)
		}
		return recorded(ctx, a.ID, custodyResult(a, id, me.Handle, on, false, call),
			"%s holds pouch %s (custody record %s, log index %d)%s", me.Handle, id.Short(), a.ID.Short(), a.Index, over)
	case "deliver":
		a, err := c.Deliver(bg, me, id, opts...)
		if err != nil {
			return apiError(err)
		}
		return recorded(ctx, a.ID, custodyResult(a, id, me.Handle, "", true, call),
			"%s signed delivery of pouch %s (receipt %s, log index %d)%s", me.Handle, id.Short(), a.ID.Short(), a.Index, over)
	case "publish":
		a, err := c.Publish(bg, me, id)
		if err != nil {
			return apiError(err)
		}
		return recorded(ctx, a.ID, struct {
			*api.Accepted
			Published record.ID `json:"published"`
		}{a, id}, "record %s is public (publish record %s, log index %d)", id.Short(), a.ID.Short(), a.Index)
	}
	return nil
}

// deliveryReceipt returns the ID of pouch's delivery receipt, from its
// chain of custody as the client proves it.
func deliveryReceipt(ctx context.Context, c *client.Client, me *client.Identity, pouch record.ID) (record.ID, error) {
	ch, err := c.Chain(ctx, me, pouch)
	if err != nil {
		return record.ID{}, &checkError{apiError(fmt.Errorf("pouch %s: %w", pouch.Short(), err))}
	}
	for _, st := range ch.Steps {
		if st.Hop.Delivery {
			return st.At.ID, nil
		}
	}
	next, _ := ch.Pouch.Next()
	return record.ID{}, withHint(fmt.Errorf("pouch %s is not delivered yet: it awaits %s", pouch.Short(), next),
		"publish its receipt once it is delivered (\"pouch verify %s\" shows its chain)", pouch.Short())
}

// custodyResult is the result of take and deliver.
func custodyResult(a *api.Accepted, pouch record.ID, by, on record.Handle, delivery bool, overLine *record.ID) any {
	return struct {
		*api.Accepted
		Pouch    record.ID     `json:"pouch"`
		By       record.Handle `json:"by"`
		For      record.Handle `json:"for,omitempty"`
		Delivery bool          `json:"delivery"`
		OverLine *record.ID    `json:"over_line,omitempty"`
	}{a, pouch, by, on, delivery, overLine}
}
