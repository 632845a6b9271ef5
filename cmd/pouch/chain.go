package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"pouch.dev/record"
)

// hopJSON is one verified step of a chain of custody.
type hopJSON struct {
	Record   record.ID     `json:"record"`
	Kind     record.Kind   `json:"kind"`
	By       record.Handle `json:"by"`
	As       record.Handle `json:"as,omitempty"`
	Delivery bool          `json:"delivery,omitempty"`
	Index    uint64        `json:"index"`
	Time     time.Time     `json:"time"` // the time of sequencing, as the log's leaf commits to it
	TreeSize uint64        `json:"tree_size"`
	// Unproven says what of this step could not be checked, if anything.
	Unproven string `json:"unproven,omitempty"`
}

// runVerifyOnline is "pouch verify ID": the chain of custody of pouch ID
// on the server, proven by the verifying client: every record's bytes,
// signatures and leaf in the log (inclusion proofs against a checkpoint
// the client verified, consistent with every one before it, with the
// witness quorum of --policy), and the chain replayed through the custody
// rule with the directory the client proved from the log.
func runVerifyOnline(ctx *cmdContext, cf *clientFlags, arg string) error {
	me, err := cf.me(ctx)
	if err != nil {
		return err
	}
	bg := context.Background()
	c, err := cf.client(bg)
	if err != nil {
		return err
	}
	id, err := resolveID(bg, c, me, arg, "pouch", record.KindTag)
	if err != nil {
		return err
	}
	ch, err := c.Chain(bg, me, id)
	if err != nil {
		return &checkError{apiError(err)}
	}
	_, cp := ch.View.Checkpoint()
	hops := []hopJSON{{Record: id, Kind: record.KindTag, By: ch.Tag.Tag.From, Index: ch.TagAt.Index, Time: ch.TagAt.Sequenced(), TreeSize: ch.TagAt.Size}}
	for _, st := range ch.Steps {
		hops = append(hops, hopJSON{Record: st.At.ID, Kind: record.KindCustody, By: st.Hop.By, As: st.Hop.As, Delivery: st.Hop.Delivery,
			Index: st.At.Index, Time: st.At.Sequenced(), TreeSize: st.At.Size, Unproven: st.Unproven})
	}
	var failed error
	if ch.Unproven() {
		failed = &checkError{withHint(fmt.Errorf("pouch %s: %w to %s (see above)", id.Short(), errUnprovenChain, me.Handle),
			"a step that rests on a private grant can be checked by the grant's parties (--as them)")}
	}
	if ctx.json {
		next, _ := ch.Pouch.Next()
		out := &chainJSON{Pouch: id, From: ch.Tag.Tag.From, To: ch.Tag.Tag.To, Via: ch.Tag.Tag.Via, Delivered: ch.Delivered(), Next: next,
			Hops: hops, Witnessed: cp.Witnessed, Cosigners: cp.Cosigners, Origin: cp.Origin, Size: cp.Size, Checkpoint: string(cp.Note)}
		if out.Via == nil {
			out.Via = []record.Handle{}
		}
		if failed != nil {
			return failWith(out, failed)
		}
		return emit(ctx, out)
	}
	mark := "✓"
	if !cp.Witnessed {
		mark = "~"
		fmt.Fprintln(ctx.stdout, "~ checked against the log's checkpoint, but no witness was required: split views undetectable (pass --policy)")
	}
	fmt.Fprintf(ctx.stdout, "pouch %s: %s → %s (%s)\n", id, ch.Tag.Tag.From, ch.Tag.Tag.To, ch.View.Witnessing(time.Now()))
	for _, h := range hops {
		what := "sealed by"
		switch {
		case h.Delivery:
			what = "delivered to"
		case h.Kind == record.KindCustody:
			what = "carried by"
		}
		who := string(h.By)
		if h.As != "" && h.As != h.By {
			who += " for " + string(h.As)
		}
		m := mark
		if h.Unproven != "" {
			m = "?"
		}
		fmt.Fprintf(ctx.stdout, "  %s %-12s %-30s %s  log #%d at %s, inclusion proof in tree of %d verified\n", m, what, who, h.Record.Short(), h.Index, h.Time.Format(time.RFC3339), h.TreeSize)
		if h.Unproven != "" {
			fmt.Fprintf(ctx.stdout, "      NOT CHECKED: %s\n", h.Unproven)
		}
	}
	if !ch.Delivered() {
		next, _ := ch.Pouch.Next()
		fmt.Fprintf(ctx.stdout, "  … in transit: awaits %s\n", next)
	}
	return failed
}

// errUnprovenChain is wrapped by the error of a chain of custody that the
// client could not prove whole.
var errUnprovenChain = errors.New("some of its chain of custody could not be proven")

// chainJSON is the result of "pouch verify ID".
type chainJSON struct {
	Pouch      record.ID       `json:"pouch"`
	From       record.Handle   `json:"from"`
	To         record.Handle   `json:"to"`
	Via        []record.Handle `json:"via"`
	Delivered  bool            `json:"delivered"`
	Next       record.Handle   `json:"next,omitempty"`
	Hops       []hopJSON       `json:"hops"`
	Origin     string          `json:"origin"`
	Size       uint64          `json:"size"`
	Witnessed  bool            `json:"witnessed"`
	Cosigners  []string        `json:"cosigners,omitempty"`
	Checkpoint string          `json:"checkpoint"`
}
