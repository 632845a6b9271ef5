package tlog

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"

	"pouch.dev/internal/atomicfile"
)

// A Verifier checks a log's checkpoints: the log's signature and, if
// Quorum > 0, cosignatures from at least Quorum of the Witnesses.
type Verifier struct {
	Origin    string
	Log       note.Verifier
	Witnesses []note.Verifier // cosignature/v1 verifiers
	Quorum    int
}

// NewVerifier returns a Verifier for the log with verifier key logKey
// (origin+hash+key) that requires quorum cosignatures from the witnesses
// with verifier keys witnessKeys.
func NewVerifier(logKey string, witnessKeys []string, quorum int) (*Verifier, error) {
	lv, err := note.NewVerifier(logKey)
	if err != nil {
		return nil, fmt.Errorf("log key %q: %w", logKey, err)
	}
	v := &Verifier{Origin: lv.Name(), Log: lv, Quorum: quorum}
	for _, k := range witnessKeys {
		wv, err := fnote.NewVerifierForCosignatureV1(k)
		if err != nil {
			return nil, fmt.Errorf("witness key %q: %w", k, err)
		}
		v.Witnesses = append(v.Witnesses, wv)
	}
	if quorum > len(v.Witnesses) {
		return nil, fmt.Errorf("a quorum of %d cosignatures from %d witnesses can never be met", quorum, len(v.Witnesses))
	}
	return v, nil
}

// Errors a client branches on.
var (
	ErrBadCheckpoint = errors.New("checkpoint does not verify")
	ErrNoQuorum      = errors.New("checkpoint lacks the witness cosignatures required")
	ErrBadProof      = errors.New("proof does not verify")
	// ErrFork: two checkpoints of the log that cannot both be true: the
	// same size with different roots, or a consistency proof that fails.
	ErrFork = errors.New("the log forked: two inconsistent checkpoints")
	// ErrRollback: a checkpoint smaller than one the client already holds.
	ErrRollback = errors.New("the log rolled back: a checkpoint smaller than one already seen")
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

// Open verifies the signed checkpoint msg and parses it.
//
// SPEC: spec/log.md#client
func (v *Verifier) Open(msg []byte) (*Checkpoint, error) {
	vs := append([]note.Verifier{v.Log}, v.Witnesses...)
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	signedByLog := false
	cosigners := map[string]bool{}
	for _, s := range n.Sigs {
		if s.Name == v.Log.Name() && s.Hash == v.Log.KeyHash() {
			signedByLog = true
			continue
		}
		for _, w := range v.Witnesses {
			if s.Name == w.Name() && s.Hash == w.KeyHash() {
				cosigners[w.Name()] = true
			}
		}
	}
	if !signedByLog {
		return nil, fmt.Errorf("%w: not signed by the log %s", ErrBadCheckpoint, v.Log.Name())
	}
	origin, size, hash, err := ParseCheckpointBody(n.Text)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	if origin != v.Origin {
		return nil, fmt.Errorf("%w: origin %q, want %q", ErrBadCheckpoint, origin, v.Origin)
	}
	cp := &Checkpoint{Origin: origin, Size: size, Hash: hash, Note: msg}
	for name := range cosigners {
		cp.Cosigners = append(cp.Cosigners, name)
	}
	if len(cosigners) < v.Quorum {
		return nil, fmt.Errorf("%w: %d of %d", ErrNoQuorum, len(cosigners), v.Quorum)
	}
	return cp, nil
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
	if err := proof.VerifyConsistency(hasher, a.Size, b.Size, p, a.Hash, b.Hash); err != nil {
		return &SplitViewError{Kind: ErrFork, Old: a.Note, New: b.Note, Err: err}
	}
	return nil
}

// A Client keeps the last checkpoint it verified of one log, on disk if
// Dir is set, and accepts a new checkpoint only if it is consistent with
// it.
type Client struct {
	V   *Verifier
	Dir string // where the last checkpoint is kept, one file per origin; "" keeps it in memory

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
	lv := &Verifier{Origin: c.V.Origin, Log: c.V.Log, Witnesses: c.V.Witnesses}
	cp, err := lv.Open(b)
	if err != nil {
		return nil, fmt.Errorf("the checkpoint kept in %s: %w", c.StatePath(), err)
	}
	c.last = cp
	return cp, nil
}

// Update verifies the signed checkpoint msg and its consistency with the
// last checkpoint c holds, using prove to fetch the consistency proof from
// the old size to the new. It keeps the newer of the two and returns it. A
// rollback or a fork is a *SplitViewError carrying both checkpoints.
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
		if cp.Size == last.Size {
			return last, nil
		}
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
