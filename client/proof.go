package client

import (
	"context"
	"fmt"

	"pouch.dev/api"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// Proof fetches the inclusion proof of record id, waiting for the
// sequencer to integrate it if it was just appended. Sign as a party (as)
// for a private record.
func (c *Client) Proof(ctx context.Context, id record.ID, as *Identity) (*api.ProofView, error) {
	var v api.ProofView
	if err := c.do(ctx, "GET", "/v1/records/"+id.String()+"/proof", nil, "", as, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// VerifyProof checks pv against the log: the checkpoint's signatures with
// v, and that pv's leaf, which names the record's kind, ID, time of
// sequencing and privacy, is at pv.Index in its tree. It returns the
// verified checkpoint and the proven leaf: its time, not the server's JSON,
// is the record's time of sequencing.
//
// SPEC: spec/api.md#proofs
func VerifyProof(v *tlog.Verifier, pv *api.ProofView) (*tlog.Checkpoint, record.Leaf, error) {
	l, err := record.ParseLeaf(pv.Leaf)
	if err != nil {
		return nil, l, fmt.Errorf("record %s: %w: %v", pv.ID.Short(), tlog.ErrBadProof, err)
	}
	if l.ID != pv.ID || l.Kind != pv.Kind {
		return nil, l, fmt.Errorf("record %s: %w: the proof is for leaf %s record %s", pv.ID.Short(), tlog.ErrBadProof, l.Kind, l.ID.Short())
	}
	cp, err := v.Open([]byte(pv.Checkpoint))
	if err != nil {
		return nil, l, fmt.Errorf("record %s: %w", pv.ID.Short(), err)
	}
	if cp.Size != pv.Size {
		return nil, l, fmt.Errorf("record %s: proof for tree size %d with a checkpoint of size %d", pv.ID.Short(), pv.Size, cp.Size)
	}
	if err := tlog.VerifyInclusion(cp, pv.Index, pv.Leaf, pv.Hashes); err != nil {
		return nil, l, fmt.Errorf("record %s: %w", pv.ID.Short(), err)
	}
	return cp, l, nil
}
