package tlog

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	tproof "github.com/transparency-dev/formats/proof"
)

// ProofHeader is the first line of a C2SP tlog-proof.
const ProofHeader = "c2sp.org/tlog-proof@v1"

// MaxProofHashes bounds the inclusion proof of a tlog-proof: no tree of
// up to 2^64 leaves needs more.
const MaxProofHashes = 64

// ErrMalformedProof is wrapped by errors about a tlog-proof's text.
var ErrMalformedProof = errors.New("malformed tlog-proof")

// A Proof is a C2SP tlog-proof: an offline-verifiable proof that an entry
// is in a log, made of the entry's index, its RFC 6962 inclusion proof and
// the signed checkpoint (with any cosignatures) of the tree it is proven
// in, and optional extra data. pouch puts the proven entry itself (the
// record's leaf, record.LeafData) in the extra data, so that a verifier
// learns the record's time of sequencing from it and checks it by the
// proof.
//
// SPEC: spec/log.md#tlog-proof
type Proof struct {
	Index      uint64
	Hashes     [][]byte // leaf to root, 32 bytes each
	Checkpoint []byte   // the signed note, verbatim
	Extra      []byte   // nil: no extra line
}

// Marshal returns p as tlog-proof text.
func (p *Proof) Marshal() []byte {
	tp := tproof.TLogProof{Index: p.Index, Checkpoint: p.Checkpoint, ExtraData: p.Extra}
	for _, h := range p.Hashes {
		tp.Hashes = append(tp.Hashes, [sha256.Size]byte(h))
	}
	return tp.Marshal()
}

// ParseProof parses tlog-proof text strictly: it must be exactly what
// Marshal writes for the proof it holds (no leading zeros, no carriage
// returns, canonical base64, a checkpoint ending in a newline), so that a
// proof has one encoding; a checkpoint whose signature lines are not in
// canonical base64 is refused by Verifier.Open. The checkpoint is only checked to be a
// checkpoint's text; its signatures are for Verify.
//
// The parsing is transparency-dev/formats' (package proof); the strictness
// is a round trip through it.
func ParseProof(b []byte) (*Proof, error) {
	if !bytes.HasPrefix(b, []byte(ProofHeader+"\n")) {
		return nil, fmt.Errorf("%w: it does not start with %q", ErrMalformedProof, ProofHeader)
	}
	var tp tproof.TLogProof
	if err := tp.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedProof, err)
	}
	if len(tp.Hashes) > MaxProofHashes {
		return nil, fmt.Errorf("%w: %d hashes in the inclusion proof", ErrMalformedProof, len(tp.Hashes))
	}
	p := &Proof{Index: tp.Index, Checkpoint: tp.Checkpoint, Extra: tp.ExtraData}
	for _, h := range tp.Hashes {
		p.Hashes = append(p.Hashes, bytes.Clone(h[:]))
	}
	if !bytes.Equal(p.Marshal(), b) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrMalformedProof)
	}
	if bytes.HasSuffix(p.Checkpoint, []byte("\n\n")) {
		return nil, fmt.Errorf("%w: an empty line after the checkpoint's signatures", ErrMalformedProof)
	}
	if _, size, _, err := ParseCheckpointBody(checkpointText(p.Checkpoint)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedProof, err)
	} else if p.Index >= size {
		return nil, fmt.Errorf("%w: index %d in a tree of %d", ErrMalformedProof, p.Index, size)
	}
	return p, nil
}

// Verify checks p with v: the checkpoint's signatures (the log's, and the
// witness quorum v requires) and that entry is at p.Index in its tree. It
// returns the verified checkpoint. Freshness is not checked: a proof
// proves that the log held the entry, however long ago.
//
// SPEC: spec/log.md#tlog-proof
func (p *Proof) Verify(v *Verifier, entry []byte) (*Checkpoint, error) {
	cp, err := v.Open(p.Checkpoint)
	if err != nil {
		return nil, err
	}
	if err := VerifyInclusion(cp, p.Index, entry, p.Hashes); err != nil {
		return nil, err
	}
	return cp, nil
}
