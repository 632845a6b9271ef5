package server

import (
	"context"
	"net/http"
	"time"

	"pouch.dev/api"
	"pouch.dev/record"
)

// MaxProofWait bounds how long a proof request waits for the sequencer to
// integrate a freshly appended record.
const MaxProofWait = 10 * time.Second

// handleProof serves the inclusion proof of a record the requester may
// read, waiting up to MaxProofWait for the record to be integrated.
func (c *Correspondence) handleProof(w http.ResponseWriter, r *http.Request) {
	if c.opt.Log == nil {
		c.fail(w, r, errorf(http.StatusNotImplemented, "", "this server serves no proofs"))
		return
	}
	id, err := parseIDParam(r, "id")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	e, _, err := c.readable(r, id, revealRecord)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), MaxProofWait)
	defer cancel()
	cp, size, err := c.opt.Log.WaitCheckpoint(ctx, e.Index+1)
	if err != nil {
		c.fail(w, r, errorf(http.StatusServiceUnavailable, "retry in a moment", "record %s at index %d is not yet integrated into the tree", id.Short(), e.Index))
		return
	}
	hs, err := c.opt.Log.Inclusion(r.Context(), e.Index, size)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSONTo(w, http.StatusOK, api.ProofView{ID: e.ID, Kind: e.Kind, Index: e.Index, Size: size, Leaf: record.LeafData(e.Leaf(e.Sequenced)), Hashes: hs, Checkpoint: string(cp)})
}
