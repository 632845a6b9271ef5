package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"pouch.dev/api"
	"pouch.dev/keys"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// onlineVerify reports whether pouch verify's arguments name a pouch by ID
// (to check on a server) rather than a file.
func onlineVerify(args []string) bool {
	for _, a := range args {
		if _, err := record.ParseID(a); err == nil {
			if _, err := os.Stat(a); err != nil {
				return true
			}
		}
	}
	return false
}

// hopJSON is one verified step of a chain of custody.
type hopJSON struct {
	Record   record.ID     `json:"record"`
	Kind     record.Kind   `json:"kind"`
	By       record.Handle `json:"by"`
	As       record.Handle `json:"as,omitempty"`
	Delivery bool          `json:"delivery,omitempty"`
	Index    uint64        `json:"index"`
	TreeSize uint64        `json:"tree_size"`
}

// runVerifyOnline is "pouch verify ID": the chain of custody of pouch ID
// on the server, every signature and hop checked (keys as of each hop's
// log index, stand-ins' grants), and each record's inclusion proof checked
// against the log's signed checkpoint.
func runVerifyOnline(ctx *cmdContext, args []string) error {
	v := verbs["verify"]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	logKey := fs.String("log-key", ctx.getenv("POUCH_LOG_KEY"), "the log's verifier `KEY` (default: the server's own, trusted on first use)")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("", "verify: want one pouch ID")
	}
	id, err := parseID(pos[0])
	if err != nil {
		return err
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
	key := *logKey
	if key == "" {
		resp, err := http.Get(c.URL + "/v1/log")
		if err != nil {
			return err
		}
		var info api.LogInfo
		err = json.NewDecoder(resp.Body).Decode(&info)
		resp.Body.Close()
		if err != nil {
			return err
		}
		key = info.Key
		fmt.Fprintf(ctx.stderr, "pouch: trusting the log key the server gives (%s); pass --log-key to pin it\n", key)
	}
	vf, err := tlog.NewVerifier(key, nil, 0)
	if err != nil {
		return usagef("", "--log-key: %v", err)
	}
	// The last checkpoint verified is kept in the home, so that a log
	// that forks or rolls back between two runs is caught.
	if home, err := keys.DefaultDir(ctx.getenv); err == nil {
		c.Log = &tlog.Client{V: vf, Dir: filepath.Join(home, "logs")}
	}
	ch, err := c.Chain(bg, me, id)
	if err != nil {
		return &checkError{apiError(err)}
	}
	pv, err := c.ProveRecord(bg, vf, id, record.KindTag, me)
	if err != nil {
		return &checkError{apiError(err)}
	}
	hops := []hopJSON{{Record: id, Kind: record.KindTag, By: ch.Tag.Tag.From, Index: pv.Index, TreeSize: pv.Size}}
	for i, h := range ch.View.Custody {
		p, err := c.ProveRecord(bg, vf, h.ID, record.KindCustody, me)
		if err != nil {
			return &checkError{apiError(err)}
		}
		st := ch.State.Hops[i]
		hops = append(hops, hopJSON{Record: h.ID, Kind: record.KindCustody, By: st.By, As: st.As, Delivery: st.Delivery, Index: p.Index, TreeSize: p.Size})
	}
	if *cf.json {
		return printV1(ctx.stdout, "chain", map[string]any{"pouch": id, "from": ch.Tag.Tag.From, "to": ch.Tag.Tag.To, "via": ch.Tag.Tag.Via, "delivered": ch.State.Delivered, "hops": hops})
	}
	fmt.Fprintf(ctx.stdout, "pouch %s: %s → %s\n", id, ch.Tag.Tag.From, ch.Tag.Tag.To)
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
		fmt.Fprintf(ctx.stdout, "  ✓ %-12s %-30s %s  log #%d, inclusion proof in tree of %d verified\n", what, who, h.Record.Short(), h.Index, h.TreeSize)
	}
	if !ch.State.Delivered {
		fmt.Fprintf(ctx.stdout, "  … in transit: awaits %s\n", ch.State.Next)
	}
	return nil
}
