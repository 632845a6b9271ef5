package tlog

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// A Verifier checks a log's checkpoints: the log's signature and the
// witness cosignatures its quorum requires. Policy.Verifier builds one from
// a C2SP tlog-policy; NewVerifier from a k-of-n quorum.
//
// A Verifier made as a struct literal requires Quorum of Witnesses.
type Verifier struct {
	Origin    string
	Log       note.Verifier
	Witnesses []note.Verifier // cosignature/v1 verifiers
	Quorum    int             // used only by a Verifier made as a struct literal

	names  []string    // the policy's names of Witnesses; nil: their key names
	quorum *quorumNode // nil: Quorum of Witnesses
}

// A quorumNode is a policy's quorum as a tree: a witness (a leaf, group
// false) or a group satisfied when k of its members are. The quorum
// "none" is a group with k = 0.
type quorumNode struct {
	name    string
	group   bool
	k       int
	members []*quorumNode
	witness int // index in Verifier.Witnesses, for a leaf
}

// NewVerifier returns a Verifier for the log with verifier key logKey
// (origin+hash+key) that requires quorum cosignatures from the witnesses
// with verifier keys witnessKeys (none if quorum is 0). It is KOfN's
// policy's Verifier.
func NewVerifier(logKey string, witnessKeys []string, quorum int) (*Verifier, error) {
	p, err := KOfN(logKey, witnessKeys, quorum)
	if err != nil {
		return nil, err
	}
	return p.Verifier(logKey)
}

// DefaultMaxAge is the oldest a checkpoint's witness quorum may be before a
// Client refuses it as stale: the longest a server can keep a client on an
// old view of the log (from before a revocation, say) without being
// caught. An hour keeps that window short while leaving the log room for
// several missed cosignature refreshes (DefaultRefreshInterval) and for
// clocks that are minutes apart.
const DefaultMaxAge = time.Hour

// Errors a client branches on.
var (
	ErrBadCheckpoint = errors.New("checkpoint does not verify")
	// ErrNoQuorum: the checkpoint lacks the witness cosignatures its
	// policy requires; the error is a *QuorumError naming who is missing.
	ErrNoQuorum = errors.New("checkpoint lacks the witness cosignatures required")
	// ErrStale: the checkpoint's quorum is not met by cosignatures younger
	// than the maximum age; the error is a *QuorumError with their ages.
	ErrStale = errors.New("checkpoint is stale: its witness cosignatures are too old")
	// ErrUnwitnessed: the verifier requires no witness, so nothing about
	// the checkpoint's freshness (or a split view) can be proven.
	ErrUnwitnessed = errors.New("no witness quorum is required, so the checkpoint's freshness cannot be proven")
	ErrBadProof    = errors.New("proof does not verify")
	// ErrFork: two checkpoints of the log that cannot both be true: the
	// same size with different roots, or a consistency proof that fails.
	ErrFork = errors.New("the log forked: two inconsistent checkpoints")
	// ErrRollback: a checkpoint smaller than one the client already holds.
	ErrRollback = errors.New("the log rolled back: a checkpoint smaller than one already seen")
)

// A Cosignature is a witness cosignature that verified.
type Cosignature struct {
	Witness string    // the witness's name in the policy
	Key     string    // the name of its key
	Time    time.Time // the timestamp it signed (whole seconds)
}

// Witnessed reports whether v requires any witness cosignature. If not, a
// checkpoint it accepts proves nothing against a split view and nothing
// about freshness, and callers should say so.
func (v *Verifier) Witnessed() bool {
	q := v.tree()
	return !q.group || q.k > 0
}

// QuorumName returns the name of the policy's quorum ("none" if it needs
// no cosignature).
func (v *Verifier) QuorumName() string { return v.tree().name }

func (v *Verifier) tree() *quorumNode {
	if v.quorum != nil {
		return v.quorum
	}
	// A struct literal: Quorum of Witnesses.
	if v.Quorum <= 0 {
		return &quorumNode{name: QuorumNone, group: true}
	}
	q := &quorumNode{name: "quorum", group: true, k: v.Quorum}
	for i := range v.Witnesses {
		q.members = append(q.members, &quorumNode{name: v.witnessName(i), witness: i})
	}
	return q
}

// witnessName returns the name of witness i: its name in the policy or,
// in a struct literal, its key's name, made unique as KOfN does.
func (v *Verifier) witnessName(i int) string {
	if v.names != nil {
		return v.names[i]
	}
	seen := 0
	name := v.Witnesses[i].Name()
	for _, w := range v.Witnesses[:i+1] {
		if w.Name() == name {
			seen++
		}
	}
	if seen > 1 || policyKeywords[name] {
		return fmt.Sprintf("%s#%d", name, seen)
	}
	return name
}

// Open verifies the signed checkpoint msg and parses it: the log's
// signature, the origin, and the witness quorum. Cosignatures from
// unknown keys are ignored, and a cosignature that does not verify counts
// as missing. A checkpoint without its quorum is a *QuorumError matching
// ErrNoQuorum.
//
// SPEC: spec/log.md#client
func (v *Verifier) Open(msg []byte) (*Checkpoint, error) {
	cp, err := v.openLog(msg)
	if err != nil {
		return nil, err
	}
	if qe := v.check(cp, func(Cosignature) bool { return true }); qe != nil {
		qe.Kind = ErrNoQuorum
		return nil, qe
	}
	return cp, nil
}

// openLog verifies msg's log signature and origin, and collects the
// witness cosignatures that verify, without requiring a quorum.
func (v *Verifier) openLog(msg []byte) (*Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v.Log))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	if len(n.Sigs) != 1 {
		return nil, fmt.Errorf("%w: not signed by the log %s", ErrBadCheckpoint, v.Log.Name())
	}
	// Each signature line in canonical base64: a lenient decoder ignores
	// the unused bits of the last character, so a note could otherwise be
	// written several ways and still verify.
	for _, sg := range append(n.Sigs, n.UnverifiedSigs...) {
		if _, err := base64.StdEncoding.Strict().DecodeString(sg.Base64); err != nil {
			return nil, fmt.Errorf("%w: the signature line of %s is not in canonical base64", ErrBadCheckpoint, sg.Name)
		}
	}
	origin, size, hash, err := ParseCheckpointBody(n.Text)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	if origin != v.Origin {
		return nil, fmt.Errorf("%w: origin %q, want %q", ErrBadCheckpoint, origin, v.Origin)
	}
	cp := &Checkpoint{Origin: origin, Size: size, Hash: hash, Note: msg, Witnessed: v.Witnessed()}
	for i, w := range v.Witnesses {
		// One witness at a time, so that a bad cosignature only fails to
		// count, and cannot make the whole checkpoint fail.
		wn, err := note.Open(msg, note.VerifierList(w))
		if err != nil || len(wn.Sigs) != 1 {
			continue
		}
		t, err := fnote.CoSigV1Timestamp(wn.Sigs[0])
		if err != nil {
			continue
		}
		name := v.witnessName(i)
		cp.Cosignatures = append(cp.Cosignatures, Cosignature{Witness: name, Key: w.Name(), Time: t.UTC()})
		cp.Cosigners = append(cp.Cosigners, name)
	}
	q := v.tree()
	times := cosignTimes(cp.Cosignatures)
	if q.group && q.k == 0 {
		return cp, nil
	}
	if t, ok := q.latest(times); ok {
		cp.FreshAsOf = t
	}
	if t, ok := q.earliest(times); ok {
		cp.SequencedBy = t
	}
	return cp, nil
}

func cosignTimes(cs []Cosignature) map[string]time.Time {
	m := make(map[string]time.Time, len(cs))
	for _, c := range cs {
		m[c.Witness] = c.Time
	}
	return m
}

// latest returns the latest time t such that n is satisfied by
// cosignatures dated t or later: for a group of k, the k-th latest of its
// members' times.
func (n *quorumNode) latest(times map[string]time.Time) (time.Time, bool) {
	if !n.group {
		t, ok := times[n.name]
		return t, ok
	}
	return n.kth(times, (*quorumNode).latest, func(a, b time.Time) int { return b.Compare(a) })
}

// earliest returns the earliest time t such that n is satisfied by
// cosignatures dated t or earlier: for a group of k, the k-th earliest of
// its members' times.
func (n *quorumNode) earliest(times map[string]time.Time) (time.Time, bool) {
	if !n.group {
		t, ok := times[n.name]
		return t, ok
	}
	return n.kth(times, (*quorumNode).earliest, func(a, b time.Time) int { return a.Compare(b) })
}

func (n *quorumNode) kth(times map[string]time.Time, f func(*quorumNode, map[string]time.Time) (time.Time, bool), cmp func(a, b time.Time) int) (time.Time, bool) {
	if n.k == 0 {
		return time.Time{}, false
	}
	var ts []time.Time
	for _, m := range n.members {
		if t, ok := f(m, times); ok {
			ts = append(ts, t)
		}
	}
	if len(ts) < n.k {
		return time.Time{}, false
	}
	slices.SortFunc(ts, cmp)
	return ts[n.k-1], true
}

// check evaluates the quorum counting only the cosignatures ok accepts,
// and returns what is short, or nil if the quorum is met.
func (v *Verifier) check(cp *Checkpoint, ok func(Cosignature) bool) *QuorumError {
	counted := map[string]bool{}
	for _, c := range cp.Cosignatures {
		if ok(c) {
			counted[c.Witness] = true
		}
	}
	q := v.tree()
	if q.satisfied(counted) {
		return nil
	}
	qe := &QuorumError{Size: cp.Size, Quorum: q.name, Cosignatures: cp.Cosignatures}
	q.short(counted, qe)
	return qe
}

func (n *quorumNode) satisfied(counted map[string]bool) bool {
	if !n.group {
		return counted[n.name]
	}
	have := 0
	for _, m := range n.members {
		if m.satisfied(counted) {
			have++
		}
	}
	return have >= n.k
}

// short records in qe the unsatisfied groups under n, from n down, and
// the witnesses missing in them.
func (n *quorumNode) short(counted map[string]bool, qe *QuorumError) {
	if !n.group {
		if !counted[n.name] && !slices.Contains(qe.Missing, n.name) {
			qe.Missing = append(qe.Missing, n.name)
		}
		return
	}
	g := ShortGroup{Name: n.name, Need: n.k}
	for _, m := range n.members {
		g.Members = append(g.Members, m.name)
		if m.satisfied(counted) {
			g.Have++
		}
	}
	qe.Short = append(qe.Short, g)
	for _, m := range n.members {
		if !m.satisfied(counted) {
			m.short(counted, qe)
		}
	}
}

// A QuorumError is a checkpoint refused for want of witness cosignatures:
// Kind is ErrNoQuorum (not enough cosignatures) or ErrStale (not enough
// young enough), and it matches Kind with errors.Is.
type QuorumError struct {
	Kind   error
	Size   uint64 // the checkpoint's tree size
	Quorum string // the policy's quorum
	// Short lists the groups not satisfied, from the quorum down; it is
	// empty when the quorum is a single witness.
	Short []ShortGroup
	// Missing names the witnesses, in those groups, whose cosignature is
	// missing (or, for ErrStale, too old).
	Missing []string
	// Cosignatures are the ones that verified.
	Cosignatures []Cosignature
	// For ErrStale: the time the check was made and the maximum age.
	Now    time.Time
	MaxAge time.Duration
}

// A ShortGroup is a group of the policy that a checkpoint did not satisfy:
// it needs Need of Members and has Have.
type ShortGroup struct {
	Name       string
	Need, Have int
	Members    []string
}

func (e *QuorumError) Is(target error) bool { return target == e.Kind }

func (e *QuorumError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: checkpoint of size %d", e.Kind, e.Size)
	if e.Kind == ErrStale {
		fmt.Fprintf(&b, ", quorum %s not met by cosignatures younger than %v", e.Quorum, e.MaxAge)
	} else {
		fmt.Fprintf(&b, ", quorum %s not met", e.Quorum)
	}
	for _, g := range e.Short {
		fmt.Fprintf(&b, "; group %s needs %d of %s, has %d", g.Name, g.Need, strings.Join(g.Members, ", "), g.Have)
	}
	if len(e.Missing) > 0 {
		if e.Kind == ErrStale {
			b.WriteString("; no fresh cosignature from ")
		} else {
			b.WriteString("; no cosignature from ")
		}
		b.WriteString(strings.Join(e.Missing, ", "))
	}
	if e.Kind == ErrStale {
		var ages []string
		for _, c := range e.Cosignatures {
			ages = append(ages, fmt.Sprintf("%s %s", c.Witness, age(e.Now, c.Time)))
		}
		if len(ages) > 0 {
			fmt.Fprintf(&b, " (cosigned: %s)", strings.Join(ages, ", "))
		}
	}
	return b.String()
}

func age(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		return fmt.Sprintf("%v in the future", (-d).Round(time.Second))
	}
	return fmt.Sprintf("%v ago", d.Round(time.Second))
}

// CheckFresh checks that cp's witness quorum is met by cosignatures at most
// maxAge old at time now. It returns a *QuorumError matching ErrStale if
// not, and ErrUnwitnessed if v requires no witness (no freshness can be
// proven without one). cp must come from v.
//
// SPEC: spec/log.md#freshness
func (v *Verifier) CheckFresh(cp *Checkpoint, now time.Time, maxAge time.Duration) error {
	if !v.Witnessed() {
		return ErrUnwitnessed
	}
	oldest := now.Add(-maxAge)
	qe := v.check(cp, func(c Cosignature) bool { return !c.Time.Before(oldest) })
	if qe == nil {
		return nil
	}
	qe.Kind, qe.Now, qe.MaxAge = ErrStale, now, maxAge
	return qe
}
