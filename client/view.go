package client

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"pouch.dev/agreement"
	"pouch.dev/directory"
	"pouch.dev/ledger"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// A View is what a client has verified of one log: the latest checkpoint
// it accepted (signed by the log's key, with the witness quorum its policy
// requires, consistent with every checkpoint before it), every leaf up to
// it (read from the log's entry bundles and hashed into the checkpoint's
// root, so none was left out), and the records it tracks — the directory
// (houses, keys, grants) and the agreements — each checked against its
// leaf and replayed through the same rules the server applies (package
// directory, package agreement). Whom to seal to, whose key signs for an
// office, which grants stand, an agreement's status: the client answers
// from its View, never from the server's word.
//
// A View is kept on disk per log (origin and log key) when Trust.Dir is
// set, and caught up incrementally: a warm command reads the leaves since
// its last sync and the tracked records among them, nothing else.
//
// What the log cannot prove to this client — a private grant it is not a
// party to — the View holds as opaque: it knows such a grant exists at an
// index, and says so, but never relies on it.
//
// SPEC: spec/api.md#verifying-client
type View struct {
	Origin string
	LogKey string

	verifier *tlog.Verifier
	note     []byte // the latest checkpoint accepted, with its cosignatures
	cp       *tlog.Checkpoint
	rng      *compact.Range // the tree of the leaves [0, cp.Size)
	lastTime int64          // the time of sequencing of leaf cp.Size-1

	records []provenRecord // tracked records, in index order
	opaque  []opaqueLeaf   // tracked private records this client cannot read
	asOf    map[record.Handle]uint64

	dir *directory.Directory
	reg *agreement.Registry
}

// A provenRecord is a tracked record the View verified: its leaf is at
// Index in the log, and Signed hashes to the leaf's ID.
type provenRecord struct {
	Index   uint64 `cbor:"i"`
	Time    int64  `cbor:"t"`
	Private bool   `cbor:"p,omitempty"`
	Signed  []byte `cbor:"s"`
}

// An opaqueLeaf is a tracked private record the View knows of only by its
// leaf.
type opaqueLeaf struct {
	Index uint64      `cbor:"i"`
	Kind  record.Kind `cbor:"k"`
	ID    record.ID   `cbor:"id"`
	Time  int64       `cbor:"t"`
}

// trackedKinds are the kinds a View fetches and replays: the directory's
// and the agreements'.
var trackedKinds = append([]record.Kind{record.KindGenesis, record.KindHouse, record.KindAdmit,
	record.KindKeyRevoke, record.KindGrant, record.KindGrantRevoke}, agreement.Kinds...)

func tracked(k record.Kind) bool { return slices.Contains(trackedKinds, k) }

// Errors a verifying client returns when the server lies, each naming
// the lie. They match with errors.Is; tlog's split-view errors (ErrFork,
// ErrRollback), quorum errors (ErrNoQuorum, ErrStale) and proof errors
// (ErrBadProof) are returned as they are.
var (
	// ErrWithheld: the log holds a public record the server did not
	// serve when asked for it.
	ErrWithheld = errors.New("the server withheld a record the log holds")
	// ErrMismatch: the server served a record, a payload or a proof that
	// is not the one the log holds at that place.
	ErrMismatch = errors.New("the server's answer does not match the log")
	// ErrRulesBroken: the log holds a record that the rules every record
	// must satisfy refuse: the server sequenced it anyway.
	ErrRulesBroken = errors.New("the log holds a record the rules refuse")
	// ErrUnproven: something the client would act on cannot be proven to
	// it from the log (a private grant it may not read).
	ErrUnproven = errors.New("not provable to this client")
)

var rangeFactory = compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

func newView(origin, logKey string, v *tlog.Verifier) *View {
	vw := &View{Origin: origin, LogKey: logKey, verifier: v, rng: rangeFactory.NewEmptyRange(0), asOf: map[record.Handle]uint64{}}
	vw.rebuild()
	return vw
}

// Size returns the size of the latest checkpoint the View accepted.
func (v *View) Size() uint64 {
	if v.cp == nil {
		return 0
	}
	return v.cp.Size
}

// Checkpoint returns the latest checkpoint the View accepted, as a signed
// note with its cosignatures, and parsed.
func (v *View) Checkpoint() ([]byte, *tlog.Checkpoint) { return v.note, v.cp }

// Verifier returns the verifier of the log's checkpoints: its key and the
// witness quorum required.
func (v *View) Verifier() *tlog.Verifier { return v.verifier }

// Directory returns the directory as the View proved it: houses, keys and
// grants from signed records in the log, replayed through the rules. It
// holds the private grants this client could read, and no other.
func (v *View) Directory() *directory.Directory { return v.dir }

// Agreements returns the agreements and statements as the View proved
// them: every record of theirs in the log, replayed through the rules.
func (v *View) Agreements() *agreement.Registry { return v.reg }

// Opaque returns how many private directory records at indexes below
// before this client cannot read: grants whose existence it knows of but
// on which it cannot rely.
func (v *View) Opaque(before uint64) int {
	n := 0
	for _, o := range v.opaque {
		if o.Index < before {
			n++
		}
	}
	return n
}

// Now returns the place a record submitted now would get, as far as the
// View knows: the next index, at time now.
func (v *View) Now(now time.Time) ledger.Pos {
	return ledger.Pos{Index: v.Size(), Time: now.UTC()}
}

// clone returns a copy of v that a sync may change, and on error
// discard, leaving v as it is.
func (v *View) clone() (*View, error) {
	rng, err := rangeFactory.NewRange(0, v.rng.End(), slices.Clone(v.rng.Hashes()))
	if err != nil {
		return nil, err
	}
	c := &View{Origin: v.Origin, LogKey: v.LogKey, verifier: v.verifier, note: v.note, cp: v.cp, rng: rng, lastTime: v.lastTime,
		records: slices.Clone(v.records), opaque: slices.Clone(v.opaque), asOf: maps.Clone(v.asOf)}
	return c, c.rebuild()
}

// rebuild replays the tracked records, in index order, into a fresh
// directory and agreement registry. Their signatures were verified when
// they were proven, and each was applied then (directory.Replay).
func (v *View) rebuild() error { return v.replay(nil) }

// replay is rebuild, but the records at the indexes in fresh were not
// applied before and are applied with every check.
func (v *View) replay(fresh map[uint64]bool) error {
	// Partial: the private grants of others are not in it.
	v.dir = directory.New(directory.Config{Partial: true})
	v.reg = agreement.NewRegistry(agreement.Offices(v.dir))
	for _, pr := range v.records {
		if err := v.apply(pr, !fresh[pr.Index]); err != nil {
			return err
		}
	}
	return nil
}

// apply replays one proven record through the rules; again says it was
// applied before, from the same bytes (directory.Replay).
func (v *View) apply(pr provenRecord, again bool) error {
	s, r, err := record.Parse(pr.Signed)
	if err != nil {
		return fmt.Errorf("%w: record at index %d: %v", ErrMismatch, pr.Index, err)
	}
	pos := ledger.Pos{Index: pr.Index, Time: time.UnixMilli(pr.Time).UTC()}
	switch {
	case directory.IsDirectoryKind(r.Kind) && again:
		err = v.dir.Replay(s, r, pos)
	case directory.IsDirectoryKind(r.Kind):
		err = v.dir.Apply(s, r, pos)
	case agreement.IsKind(r.Kind):
		err = v.reg.Apply(agreement.Entry{Signed: s, Index: pr.Index, Time: pr.Time, SigsChecked: true})
	}
	if err != nil {
		return fmt.Errorf("%w: the %s record %s at index %d: %v", ErrRulesBroken, r.Kind, s.ID().Short(), pr.Index, err)
	}
	return nil
}

// newLeaves is what accept learned of the leaves new to a View: how
// many, the first and the last (whose times the witnesses bound), and the
// ones a sync must look at further: those of the kinds it tracks, and any
// private one of a kind that must be public. Only these are kept, so that
// a first sync of a big log does not hold every leaf.
type newLeaves struct {
	n           uint64
	first, last tlog.IndexedLeaf
	kept        []tlog.IndexedLeaf
}

// accept checks a newer checkpoint (verified by the caller) against the
// View and the leaves [Size, cp.Size) read from the log, as entries hands
// them over: each leaf parses, times never decrease, and the leaves hash,
// after the View's, to the checkpoint's root. It returns the new tree and
// what it learned of the new leaves; a checkpoint that cannot extend the
// View is a *tlog.SplitViewError.
func (v *View) accept(note []byte, cp *tlog.Checkpoint, entries func(each func(idx uint64, b []byte) error) error) (*compact.Range, *newLeaves, error) {
	if v.cp != nil {
		if cp.Size < v.cp.Size {
			return nil, nil, &tlog.SplitViewError{Kind: tlog.ErrRollback, Old: v.note, New: note}
		}
		if cp.Size == v.cp.Size && !bytes.Equal(cp.Hash, v.cp.Hash) {
			return nil, nil, &tlog.SplitViewError{Kind: tlog.ErrFork, Old: v.note, New: note}
		}
	}
	rng := rangeFactory.NewEmptyRange(0)
	if err := rng.AppendRange(v.rng, nil); err != nil {
		return nil, nil, err
	}
	last := v.lastTime
	out := &newLeaves{}
	err := entries(func(idx uint64, b []byte) error {
		if idx != v.Size()+out.n {
			return fmt.Errorf("%w: leaf %d where leaf %d was expected", ErrMismatch, idx, v.Size()+out.n)
		}
		l, err := record.ParseLeaf(b)
		if err != nil {
			return fmt.Errorf("%w: leaf %d: %v", ErrMismatch, idx, err)
		}
		if l.Time < last {
			return fmt.Errorf("%w: leaf %d was sequenced at %v, before leaf %d (%v): times of sequencing must not decrease",
				ErrRulesBroken, idx, l.Sequenced(), idx-1, time.UnixMilli(last).UTC())
		}
		last = l.Time
		if err := rng.Append(tlog.LeafHash(b), nil); err != nil {
			return err
		}
		il := tlog.IndexedLeaf{Leaf: l, Index: idx}
		if out.n == 0 {
			out.first = il
		}
		out.last = il
		out.n++
		if tracked(l.Kind) || l.Private && l.Kind.AlwaysPublic() {
			out.kept = append(out.kept, il)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if out.n != cp.Size-v.Size() {
		return nil, nil, fmt.Errorf("%w: %d leaves for a log growing from %d to %d", ErrMismatch, out.n, v.Size(), cp.Size)
	}
	root := rootOf(rng)
	if !bytes.Equal(root, cp.Hash) {
		err := fmt.Errorf("the log's entries from %d to %d do not hash to the checkpoint's root", v.Size(), cp.Size)
		return nil, nil, &tlog.SplitViewError{Kind: tlog.ErrFork, Old: v.note, New: note, Err: err}
	}
	return rng, out, nil
}

// rootOf returns the root hash of the tree rng covers from 0.
func rootOf(rng *compact.Range) []byte {
	if rng.End() == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		panic("client: a range from 0 has a root: " + err.Error())
	}
	return root
}

// prove checks that the records served are those of the leaves: each
// hashes to the ID of a leaf of its kind at its index, with the same
// privacy, and its signatures verify. It returns them as proven records,
// with the leaf's time of sequencing.
func prove(served []servedRecord, leaves map[uint64]tlog.IndexedLeaf) ([]provenRecord, error) {
	var out []provenRecord
	for _, sr := range served {
		l, ok := leaves[sr.Index]
		if !ok {
			return nil, fmt.Errorf("%w: a record said to be at index %d, where the log holds no record of the kinds asked for", ErrMismatch, sr.Index)
		}
		s, r, err := record.Verify(sr.Signed)
		if err != nil {
			return nil, fmt.Errorf("%w: the record at index %d: %v", ErrMismatch, sr.Index, err)
		}
		if s.ID() != l.ID || r.Kind != l.Kind || r.Private() != l.Private {
			return nil, fmt.Errorf("%w: the server's record at index %d is %s %s record %s, the log holds %s %s record %s there",
				ErrMismatch, sr.Index, visibility(r.Private()), r.Kind, s.ID().Short(), visibility(l.Private), l.Kind, l.ID.Short())
		}
		out = append(out, provenRecord{Index: sr.Index, Time: l.Time, Private: l.Private, Signed: sr.Signed})
	}
	return out, nil
}

func visibility(private bool) string {
	if private {
		return "a private"
	}
	return "a public"
}

// A servedRecord is a record as the server served it, at the index it
// says.
type servedRecord struct {
	Index  uint64
	Signed []byte
}

// add inserts proven records into the View, in index order, and replays
// them: incrementally when they all follow the View's last record, by a
// rebuild when a late one (a private grant read as a new principal)
// belongs earlier.
func (v *View) add(prs []provenRecord) error {
	if len(prs) == 0 {
		return nil
	}
	slices.SortFunc(prs, func(a, b provenRecord) int { return cmpIndex(a.Index, b.Index) })
	late := len(v.records) > 0 && prs[0].Index < v.records[len(v.records)-1].Index
	fresh := map[uint64]bool{}
	for _, pr := range prs {
		i, found := slices.BinarySearchFunc(v.records, pr.Index, func(a provenRecord, idx uint64) int { return cmpIndex(a.Index, idx) })
		if found {
			continue
		}
		v.records = slices.Insert(v.records, i, pr)
		v.opaque = slices.DeleteFunc(v.opaque, func(o opaqueLeaf) bool { return o.Index == pr.Index })
		fresh[pr.Index] = true
		if !late {
			if err := v.apply(pr, false); err != nil {
				return err
			}
		}
	}
	if late {
		return v.replay(fresh)
	}
	return nil
}

func cmpIndex(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
