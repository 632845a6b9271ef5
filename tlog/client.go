package tlog

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/proof"

	"pouch.dev/internal/atomicfile"
)

// A SplitViewError is the evidence of a split view: both signed
// checkpoints. It matches ErrFork or ErrRollback with errors.Is.
type SplitViewError struct {
	Kind error  // ErrFork or ErrRollback
	Old  []byte // the checkpoint the client held
	New  []byte // the checkpoint that contradicts it
	Err  error  // the failed proof, if any
}

func (e *SplitViewError) Error() string {
	o, _ := parseNoteBody(e.Old)
	n, _ := parseNoteBody(e.New)
	msg := fmt.Sprintf("%v: held size %d, got size %d", e.Kind, o, n)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *SplitViewError) Is(target error) bool { return target == e.Kind }

func parseNoteBody(msg []byte) (uint64, error) {
	_, size, _, err := ParseCheckpointBody(checkpointText(msg))
	return size, err
}

// VerifyInclusion checks that leaf (a log entry) is at index in the tree of
// checkpoint cp, by proof.
func VerifyInclusion(cp *Checkpoint, index uint64, leaf []byte, p [][]byte) error {
	if err := proof.VerifyInclusion(hasher, index, cp.Size, LeafHash(leaf), p, cp.Hash); err != nil {
		return fmt.Errorf("leaf %d in tree of size %d: %w: %v", index, cp.Size, ErrBadProof, err)
	}
	return nil
}

// VerifyConsistency checks that checkpoint b extends checkpoint a, by
// proof. Inconsistent checkpoints are a *SplitViewError.
func VerifyConsistency(a, b *Checkpoint, p [][]byte) error {
	if b.Size < a.Size {
		return &SplitViewError{Kind: ErrRollback, Old: a.Note, New: b.Note}
	}
	if a.Size == b.Size {
		if !bytes.Equal(a.Hash, b.Hash) {
			return &SplitViewError{Kind: ErrFork, Old: a.Note, New: b.Note}
		}
		return nil
	}
	if a.Size == 0 {
		// The empty tree is a prefix of every tree; its proof is empty.
		if len(p) != 0 {
			return &SplitViewError{Kind: ErrFork, Old: a.Note, New: b.Note, Err: errors.New("a consistency proof from size 0 must be empty")}
		}
		return nil
	}
	if err := proof.VerifyConsistency(hasher, a.Size, b.Size, p, a.Hash, b.Hash); err != nil {
		return &SplitViewError{Kind: ErrFork, Old: a.Note, New: b.Note, Err: err}
	}
	return nil
}

// A Client keeps the last checkpoint it verified of one log, on disk if
// Dir is set, and accepts a new checkpoint only if it is consistent with
// it and, when its verifier requires witnesses, fresh.
type Client struct {
	V   *Verifier
	Dir string // where the last checkpoint is kept, one file per origin; "" keeps it in memory
	// MaxAge is the oldest a checkpoint's witness quorum may be (see
	// Verifier.CheckFresh); 0 means DefaultMaxAge, a negative value turns
	// the check off. It applies only if V requires witnesses: without
	// them, freshness cannot be proven (Verifier.Witnessed).
	MaxAge time.Duration
	// Now returns the time freshness is judged at; nil means time.Now.
	Now func() time.Time

	mu   sync.Mutex
	last *Checkpoint
}

// StatePath returns the file in which c keeps its log's last checkpoint.
func (c *Client) StatePath() string {
	if c.Dir == "" {
		return ""
	}
	return filepath.Join(c.Dir, url.PathEscape(c.V.Origin)+".checkpoint")
}

// Last returns the last checkpoint c verified, or nil.
func (c *Client) Last() (*Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loadLocked()
}

func (c *Client) loadLocked() (*Checkpoint, error) {
	if c.last != nil || c.Dir == "" {
		return c.last, nil
	}
	b, err := os.ReadFile(c.StatePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// The stored checkpoint was verified when stored, but the quorum may
	// have changed since: check the log's signature only.
	cp, err := c.V.openLog(b)
	if err != nil {
		return nil, fmt.Errorf("the checkpoint kept in %s: %w", c.StatePath(), err)
	}
	c.last = cp
	return cp, nil
}

// Update verifies the signed checkpoint msg, its consistency with the
// last checkpoint c holds (using prove to fetch the consistency proof from
// the old size to the new) and its freshness. It keeps it (a checkpoint of
// the same size, too: its cosignatures may be newer) and returns it. A
// rollback or a fork is a *SplitViewError carrying both checkpoints; a
// checkpoint without its quorum matches ErrNoQuorum, a stale one ErrStale;
// on any error c keeps the checkpoint it held.
//
// SPEC: spec/log.md#client
func (c *Client) Update(msg []byte, prove func(oldSize, newSize uint64) ([][]byte, error)) (*Checkpoint, error) {
	cp, err := c.V.Open(msg)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	last, err := c.loadLocked()
	if err != nil {
		return nil, err
	}
	if last != nil {
		var p [][]byte
		if cp.Size > last.Size && last.Size > 0 {
			if prove == nil {
				return nil, fmt.Errorf("a consistency proof from %d to %d is needed, but no way to fetch one was given", last.Size, cp.Size)
			}
			if p, err = prove(last.Size, cp.Size); err != nil {
				return nil, fmt.Errorf("fetching the consistency proof from %d to %d: %w", last.Size, cp.Size, err)
			}
		}
		if err := VerifyConsistency(last, cp, p); err != nil {
			return nil, err
		}
	}
	if err := c.checkFresh(cp); err != nil {
		return nil, err
	}
	if last != nil && bytes.Equal(cp.Note, last.Note) {
		return last, nil
	}
	if c.Dir != "" {
		if err := os.MkdirAll(c.Dir, 0o700); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(c.StatePath(), cp.Note, 0o600); err != nil {
			return nil, fmt.Errorf("keeping the checkpoint: %w", err)
		}
	}
	c.last = cp
	return cp, nil
}

// checkFresh applies c's maximum age to cp, if c's verifier requires
// witnesses.
//
// SPEC: spec/log.md#freshness
func (c *Client) checkFresh(cp *Checkpoint) error {
	if !c.V.Witnessed() || c.MaxAge < 0 {
		return nil
	}
	maxAge := c.MaxAge
	if maxAge == 0 {
		maxAge = DefaultMaxAge
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	return c.V.CheckFresh(cp, now(), maxAge)
}
