package server

import (
	"context"
	"net/http"
	"time"

	"pouch.dev/record"
)

// ProofView is a record's inclusion proof in the tree of a signed
// checkpoint: enough to check, offline, that the log holds the record at
// Index.
//
// SPEC: spec/api.md#proofs
type ProofView struct {
	ID         record.ID   `json:"id"`
	Kind       record.Kind `json:"kind"`
	Index      uint64      `json:"index"`
	Size       uint64      `json:"size"`
	Leaf       []byte      `json:"leaf"`       // the log entry proven: record.LeafData, with the time of sequencing
	Hashes     [][]byte    `json:"hashes"`     // RFC 6962 inclusion proof, leaf to root
	Checkpoint string      `json:"checkpoint"` // the C2SP signed-note checkpoint of Size, with cosignatures
}

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
	e, _, err := c.readable(r, id)
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
	writeJSONTo(w, http.StatusOK, ProofView{ID: e.ID, Kind: e.Kind, Index: e.Index, Size: size, Leaf: record.LeafData(e.Leaf(e.Sequenced)), Hashes: hs, Checkpoint: string(cp)})
}
