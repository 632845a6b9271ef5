package tlog

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"pouch.dev/record"
)

// A Remote reads a pouch log over HTTP: its checkpoint and its proofs.
type Remote struct {
	URL  string       // the server's base URL, such as http://127.0.0.1:8470
	HTTP *http.Client // nil means http.DefaultClient
}

func (r *Remote) get(ctx context.Context, path string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(r.URL, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	hc := r.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, max))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// Checkpoint fetches the log's latest checkpoint.
func (r *Remote) Checkpoint(ctx context.Context) ([]byte, error) {
	return r.get(ctx, "/checkpoint", 64<<10)
}

// Consistency fetches the consistency proof between two tree sizes.
func (r *Remote) Consistency(ctx context.Context, from, to uint64) ([][]byte, error) {
	b, err := r.get(ctx, fmt.Sprintf("/v1/log/proof/consistency?from=%d&to=%d", from, to), 64<<10)
	if err != nil {
		return nil, err
	}
	var p struct {
		From, To uint64
		Proof    [][]byte
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	if p.From != from || p.To != to {
		return nil, fmt.Errorf("asked for a consistency proof from %d to %d, got %d to %d", from, to, p.From, p.To)
	}
	return p.Proof, nil
}

// An Inclusion is a record's inclusion proof as the server sends it. Leaf
// is the log entry (record.LeafData): what the proof proves.
type Inclusion struct {
	Index uint64      `json:"index"`
	Size  uint64      `json:"size"`
	ID    record.ID   `json:"id"`
	Kind  record.Kind `json:"kind"`
	Leaf  []byte      `json:"leaf"`
	Proof [][]byte    `json:"proof"`
}

// InclusionByID fetches the inclusion proof of record id in the tree of
// size size.
func (r *Remote) InclusionByID(ctx context.Context, id record.ID, size uint64) (*Inclusion, error) {
	q := url.Values{"id": {id.String()}, "size": {fmt.Sprint(size)}}
	b, err := r.get(ctx, "/v1/log/proof/inclusion?"+q.Encode(), 64<<10)
	if err != nil {
		return nil, err
	}
	var inc Inclusion
	if err := json.Unmarshal(b, &inc); err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	return &inc, nil
}

// Sync fetches the log's checkpoint from r and has c verify and keep it.
func (c *Client) Sync(ctx context.Context, r *Remote) (*Checkpoint, error) {
	msg, err := r.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	return c.Update(msg, func(a, b uint64) ([][]byte, error) { return r.Consistency(ctx, a, b) })
}

// VerifyRecord checks that the record with ID id and kind kind is in the
// log, against the last checkpoint c holds (syncing first if it holds
// none), and returns its leaf index. The leaf the server names, with the
// record's time of sequencing, is what the proof proves: see VerifyLeaf.
func (c *Client) VerifyRecord(ctx context.Context, r *Remote, kind record.Kind, id record.ID) (uint64, error) {
	l, err := c.VerifyLeaf(ctx, r, kind, id)
	return l.Index, err
}

// An IndexedLeaf is a leaf proven to be at Index.
type IndexedLeaf struct {
	record.Leaf
	Index uint64
}

// VerifyLeaf is VerifyRecord returning the proven leaf: the record's kind
// and ID, its time of sequencing and whether it is private, at its index.
func (c *Client) VerifyLeaf(ctx context.Context, r *Remote, kind record.Kind, id record.ID) (IndexedLeaf, error) {
	cp, err := c.Last()
	if err != nil {
		return IndexedLeaf{}, err
	}
	if cp == nil {
		if cp, err = c.Sync(ctx, r); err != nil {
			return IndexedLeaf{}, err
		}
	}
	inc, err := r.InclusionByID(ctx, id, cp.Size)
	if err != nil {
		// The record may be newer than the checkpoint held: move on once.
		if cp, err = c.Sync(ctx, r); err != nil {
			return IndexedLeaf{}, err
		}
		if inc, err = r.InclusionByID(ctx, id, cp.Size); err != nil {
			return IndexedLeaf{}, err
		}
	}
	if inc.Size != cp.Size {
		return IndexedLeaf{}, fmt.Errorf("%w: asked for a proof in the tree of size %d, got one for size %d", ErrBadProof, cp.Size, inc.Size)
	}
	l, err := record.ParseLeaf(inc.Leaf)
	if err != nil {
		return IndexedLeaf{}, fmt.Errorf("%w: %v", ErrBadProof, err)
	}
	if l.ID != id || l.Kind != kind {
		return IndexedLeaf{}, fmt.Errorf("%w: asked for %s record %s, the server proved leaf %s record %s", ErrBadProof, kind, id.Short(), l.Kind, l.ID.Short())
	}
	if err := VerifyInclusion(cp, inc.Index, inc.Leaf, inc.Proof); err != nil {
		return IndexedLeaf{}, err
	}
	return IndexedLeaf{Leaf: l, Index: inc.Index}, nil
}
