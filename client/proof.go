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

// ProveRecord fetches and verifies the inclusion proof of record id of kind
// kind: the record is in the log at the returned index.
func (c *Client) ProveRecord(ctx context.Context, v *tlog.Verifier, id record.ID, kind record.Kind, as *Identity) (*api.ProofView, error) {
	pv, err := c.Proof(ctx, id, as)
	if err != nil {
		return nil, err
	}
	if pv.ID != id || pv.Kind != kind {
		return nil, fmt.Errorf("asked the proof of %s record %s, got one for %s record %s", kind, id.Short(), pv.Kind, pv.ID.Short())
	}
	cp, _, err := VerifyProof(v, pv)
	if err != nil {
		return nil, err
	}
	if c.Log != nil {
		if err := c.consistent(ctx, cp); err != nil {
			return nil, fmt.Errorf("record %s: %w", id.Short(), err)
		}
	}
	return pv, nil
}

// consistent checks that checkpoint cp and the last checkpoint c.Log holds
// are one history (a consistency proof either way), and keeps the newer.
// A fork or a rollback is a *tlog.SplitViewError with both checkpoints.
func (c *Client) consistent(ctx context.Context, cp *tlog.Checkpoint) error {
	remote := &tlog.Remote{URL: c.URL, HTTP: c.HTTP}
	last, err := c.Log.Last()
	if err != nil {
		return err
	}
	if last != nil && cp.Size < last.Size {
		// An older checkpoint than the one held (proofs fetched
		// concurrently): it must be a prefix of the held one.
		var p [][]byte
		if cp.Size > 0 {
			if p, err = remote.Consistency(ctx, cp.Size, last.Size); err != nil {
				return err
			}
		}
		return tlog.VerifyConsistency(cp, last, p)
	}
	_, err = c.Log.Update(cp.Note, func(a, b uint64) ([][]byte, error) { return remote.Consistency(ctx, a, b) })
	return err
}
