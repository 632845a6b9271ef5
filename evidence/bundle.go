// Package evidence is the evidence bundle of a pouch: the file that
// carries, for a pouch, every event record its maker may read (the tag,
// custody, acceptance, refusal, access, non-delivery, publish records), the
// directory and call records their signatures rest on, each with its
// inclusion proof in C2SP tlog-proof form (the proofs of .pouch files,
// spec/letter.md#proofs), and for each event a cosigned checkpoint before
// it and one after it, so that witnesses' timestamps bound its time from
// both sides.
//
// This package reads and writes the format strictly (Parse, Marshal); the
// verifying client builds a bundle from what it proved (client.Evidence)
// and checks one with no network (client.VerifyEvidence).
//
// The format is written down in spec/evidence.md#evidence-bundle.
package evidence

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// Version is the bundle format this package writes and reads.
const Version = 1

// MediaType is the bundle's media type (not registered); its file
// extension is .evidence.
const MediaType = "application/vnd.pouch.evidence"

// A Bundle is an evidence bundle, as it is encoded.
//
// SPEC: spec/evidence.md#evidence-bundle
type Bundle struct {
	V       uint64    `cbor:"v"`
	Pouch   record.ID `cbor:"pouch"`   // the pouch the events are of
	Records [][]byte  `cbor:"records"` // signed records, in log order
	Proofs  [][]byte  `cbor:"proofs"`  // C2SP tlog-proof texts, one per record, against one checkpoint
	Bounds  []Bound   `cbor:"bounds"`  // one per event record, in log order
}

// A Bound is the pair of cosigned checkpoints around one event: Before,
// the last of the log's checkpoints whose tree does not hold the event's
// leaf (absent if the log published none), and After, one whose tree
// does; each with the consistency proof from its tree to the tree of the
// bundle's checkpoint (the one every proof is against).
type Bound struct {
	Index       uint64   `cbor:"index"`
	Before      []byte   `cbor:"before,omitempty"`
	BeforeProof [][]byte `cbor:"before_proof,omitempty"`
	After       []byte   `cbor:"after"`
	AfterProof  [][]byte `cbor:"after_proof,omitempty"`
}

// EventKinds are the kinds of the records a bundle bounds in time: the
// pouch's events and the publish records that made some of them public.
var EventKinds = []record.Kind{record.KindTag, record.KindCustody, record.KindAcceptance, record.KindRefusal,
	record.KindAccess, record.KindNonDelivery, record.KindPublish}

// RecordKinds are the kinds a bundle carries: its events, and the
// directory and call records their signatures rest on.
var RecordKinds = append(slices.Clone(EventKinds), record.KindGenesis, record.KindHouse, record.KindAdmit,
	record.KindKeyRevoke, record.KindGrant, record.KindGrantRevoke, record.KindLine)

// IsEvent reports whether records of kind k are bounded in time.
func IsEvent(k record.Kind) bool { return slices.Contains(EventKinds, k) }

// ErrMalformed is wrapped by every error about a bundle's structure.
var ErrMalformed = errors.New("malformed evidence bundle")

// A Parsed bundle: the records with their signatures verified, each with
// its proof (not yet verified against a log: client.VerifyEvidence), and
// the bounds of each event, by index.
type Parsed struct {
	Bundle  *Bundle
	Records []*record.Signed
	Opened  []*record.Record // Records[i], decoded
	Proofs  map[record.ID]*letter.FileProof
	// Checkpoint is the signed checkpoint every proof is against.
	Checkpoint []byte
	Bounds     map[uint64]*Bound
}

// Marshal returns b's encoding. b.V is set to Version.
func (b *Bundle) Marshal() ([]byte, error) {
	b.V = Version
	out, err := record.Marshal(b)
	if err != nil {
		return nil, err
	}
	if len(out) > record.MaxBundleSize {
		return nil, fmt.Errorf("evidence bundle of %d bytes: %w (limit %d)", len(out), record.ErrTooLarge, record.MaxBundleSize)
	}
	return out, nil
}

// magic is how every bundle starts: a map of five pairs, "v": 1, "pouch".
var magic = []byte{0xa5, 0x61, 'v', 0x01, 0x65, 'p', 'o', 'u', 'c', 'h'}

// Sniff reports whether b starts as an evidence bundle does (and not as a
// .pouch file), so that a verifier tells them apart.
func Sniff(b []byte) bool { return bytes.HasPrefix(b, magic) }

// Parse decodes a bundle strictly: one deterministic CBOR item, version 1,
// within the limits; every record of a kind a bundle carries, at most
// once, its signatures verified; every record with exactly one proof
// (letter.ParseProofs), the records in the order of their proofs'
// indexes (log order); one bound for each event record, in the same
// order, with checkpoints and consistency proofs of the right shape.
// What the proofs and checkpoints prove is client.VerifyEvidence's.
//
// SPEC: spec/evidence.md#evidence-bundle
func Parse(b []byte) (*Parsed, error) {
	if len(b) > record.MaxBundleSize {
		return nil, fmt.Errorf("%w: %d bytes: %w (limit %d)", ErrMalformed, len(b), record.ErrTooLarge, record.MaxBundleSize)
	}
	var bd Bundle
	if err := record.Unmarshal(b, &bd); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if bd.V != Version {
		return nil, fmt.Errorf("%w: version %d (this pouch reads version %d)", ErrMalformed, bd.V, Version)
	}
	if bd.Records == nil || bd.Proofs == nil || bd.Bounds == nil {
		return nil, fmt.Errorf("%w: records, proofs and bounds are arrays, even empty", ErrMalformed)
	}
	if len(bd.Records) > record.MaxBundleRecords || len(bd.Proofs) > record.MaxBundleRecords || len(bd.Bounds) > record.MaxBundleTimes {
		return nil, fmt.Errorf("%w: %d records, %d proofs, %d bounds: %w", ErrMalformed, len(bd.Records), len(bd.Proofs), len(bd.Bounds), record.ErrTooLarge)
	}
	if len(bd.Records) == 0 || len(bd.Proofs) != len(bd.Records) {
		return nil, fmt.Errorf("%w: %d records and %d proofs: every record has one proof", ErrMalformed, len(bd.Records), len(bd.Proofs))
	}
	p := &Parsed{Bundle: &bd, Bounds: map[uint64]*Bound{}}
	kinds := map[record.ID]record.Kind{}
	private := map[record.ID]bool{}
	for i, rb := range bd.Records {
		s, r, err := record.Verify(rb)
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %w", ErrMalformed, i+1, err)
		}
		if !slices.Contains(RecordKinds, r.Kind) {
			return nil, fmt.Errorf("%w: record %d is a %s record, which a bundle does not carry", ErrMalformed, i+1, r.Kind)
		}
		if _, dup := kinds[s.ID()]; dup {
			return nil, fmt.Errorf("%w: record %s twice", ErrMalformed, s.ID().Short())
		}
		kinds[s.ID()], private[s.ID()] = r.Kind, r.Private()
		p.Records = append(p.Records, s)
		p.Opened = append(p.Opened, r)
	}
	ps, err := letter.ParseProofs(bd.Proofs, kinds, private, ErrMalformed)
	if err != nil {
		return nil, err
	}
	p.Proofs = ps
	var events []uint64
	for i, s := range p.Records {
		fp := ps[s.ID()]
		if fp == nil {
			return nil, fmt.Errorf("%w: record %s has no proof", ErrMalformed, s.ID().Short())
		}
		if i > 0 && fp.Index <= ps[p.Records[i-1].ID()].Index {
			return nil, fmt.Errorf("%w: record %s, at index %d, is out of the log's order", ErrMalformed, s.ID().Short(), fp.Index)
		}
		p.Checkpoint = fp.Checkpoint
		if IsEvent(p.Opened[i].Kind) {
			events = append(events, fp.Index)
		}
	}
	if len(bd.Bounds) != len(events) {
		return nil, fmt.Errorf("%w: %d bounds for %d events: each event has one", ErrMalformed, len(bd.Bounds), len(events))
	}
	for i := range bd.Bounds {
		bo := &bd.Bounds[i]
		if bo.Index != events[i] {
			return nil, fmt.Errorf("%w: bound %d is for index %d, the event there is at index %d", ErrMalformed, i+1, bo.Index, events[i])
		}
		if err := checkBound(bo); err != nil {
			return nil, fmt.Errorf("%w: the bound of the event at index %d: %w", ErrMalformed, bo.Index, err)
		}
		p.Bounds[bo.Index] = bo
	}
	return p, nil
}

// checkBound checks the shape of a bound: checkpoints that parse, of the
// right sizes around the index, and consistency proofs of 32-byte
// hashes.
func checkBound(bo *Bound) error {
	if bo.Before == nil && bo.BeforeProof != nil {
		return errors.New("a consistency proof from no checkpoint")
	}
	for _, c := range []struct {
		what  string
		note  []byte
		proof [][]byte
	}{{"before", bo.Before, bo.BeforeProof}, {"after", bo.After, bo.AfterProof}} {
		if c.note == nil {
			continue
		}
		if len(c.note) > record.MaxCheckpointSize {
			return fmt.Errorf("the checkpoint %s of %d bytes: %w", c.what, len(c.note), record.ErrTooLarge)
		}
		_, size, _, err := tlog.ParseCheckpointBody(noteText(c.note))
		if err != nil {
			return fmt.Errorf("the checkpoint %s: %w", c.what, err)
		}
		if c.what == "before" && size > bo.Index {
			return fmt.Errorf("the checkpoint before it is of size %d, whose tree holds its leaf", size)
		}
		if c.what == "after" && size <= bo.Index {
			return fmt.Errorf("the checkpoint after it is of size %d, whose tree does not hold its leaf", size)
		}
		if len(c.proof) > tlog.MaxProofHashes {
			return fmt.Errorf("a consistency proof of %d hashes: %w", len(c.proof), record.ErrTooLarge)
		}
		for _, h := range c.proof {
			if len(h) != 32 {
				return fmt.Errorf("a consistency proof hash of %d bytes", len(h))
			}
		}
	}
	if bo.After == nil {
		return errors.New("no checkpoint after it")
	}
	return nil
}

// noteText returns the text of a signed note: what comes before its
// blank line.
func noteText(note []byte) string {
	if i := bytes.Index(note, []byte("\n\n")); i >= 0 {
		return string(note[:i+1])
	}
	return string(note)
}
