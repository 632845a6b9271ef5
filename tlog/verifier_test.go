package tlog

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// A timedWitness cosigns checkpoints with a timestamp the test chooses:
// an ML-DSA-44 cosignature signer from transparency-dev/formats, which
// takes the timestamp as an argument.
type timedWitness struct {
	s *fnote.SubtreeSigner
	t time.Time
}

func (w *timedWitness) Name() string    { return w.s.Name() }
func (w *timedWitness) KeyHash() uint32 { return w.s.KeyHash() }
func (w *timedWitness) Sign(msg []byte) ([]byte, error) {
	origin, size, hash, err := ParseCheckpointBody(string(msg))
	if err != nil {
		return nil, err
	}
	return w.s.SignSubtree(uint64(w.t.Unix()), origin, 0, size, hash)
}

// policyFixture is a log key and named witnesses with ML-DSA keys.
type policyFixture struct {
	t       *testing.T
	log     note.Signer
	logVKey string
	wit     map[string]*timedWitness
	vkeys   map[string]string
}

func newPolicyFixture(t *testing.T, names ...string) *policyFixture {
	t.Helper()
	lk := mustKey(t, "pouch.test/log", false)
	ls, err := note.NewSigner(lk.skey)
	if err != nil {
		t.Fatal(err)
	}
	f := &policyFixture{t: t, log: ls, logVKey: lk.vkey, wit: map[string]*timedWitness{}, vkeys: map[string]string{}}
	for _, n := range names {
		skey, vkey, err := fnote.GenerateMLDSAKey(strings.ToLower(n) + ".witness.example")
		if err != nil {
			t.Fatal(err)
		}
		s, err := fnote.NewMLDSASigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		f.wit[n] = &timedWitness{s: s}
		f.vkeys[n] = vkey
	}
	return f
}

// policy returns the verifier of a policy whose witness lines are made
// from f's witnesses and whose rest is rest.
func (f *policyFixture) verifier(rest string) *Verifier {
	f.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "log %s\n", f.logVKey)
	names := make([]string, 0, len(f.vkeys))
	for n := range f.vkeys {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "witness %s %s\n", n, f.vkeys[n])
	}
	b.WriteString(rest)
	p, err := ParsePolicy([]byte(b.String()))
	if err != nil {
		f.t.Fatal(err)
	}
	v, err := p.Verifier("")
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

// checkpoint returns the checkpoint of size size signed by the log and
// cosigned by the witnesses named in at, at those times.
func (f *policyFixture) checkpoint(size uint64, at map[string]time.Time) []byte {
	f.t.Helper()
	ss := []note.Signer{f.log}
	for n, t := range at {
		w := f.wit[n]
		w.t = t
		ss = append(ss, w)
	}
	msg, err := note.Sign(&note.Note{Text: string(CheckpointBody("pouch.test/log", size, bytes.Repeat([]byte{byte(size)}, 32)))}, ss...)
	if err != nil {
		f.t.Fatal(err)
	}
	return msg
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestVerifierQuorumTree(t *testing.T) {
	f := newPolicyFixture(t, "X1", "X2", "X3", "Y1", "Y2", "Y3")
	v := f.verifier(`group X-witnesses 2 X1 X2 X3
group Y-witnesses any Y1 Y2 Y3
group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
`)
	if !v.Witnessed() || v.QuorumName() != "X-and-Y" {
		t.Fatalf("Witnessed %v, QuorumName %q", v.Witnessed(), v.QuorumName())
	}
	at := func(names ...string) map[string]time.Time {
		m := map[string]time.Time{}
		for i, n := range names {
			m[n] = t0.Add(time.Duration(i) * time.Minute)
		}
		return m
	}
	// Met: X1, X3 and Y2, cosigning at t0, t0+1m, t0+2m.
	cp, err := v.Open(f.checkpoint(5, at("X1", "X3", "Y2")))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cp.Cosigners, []string{"X1", "X3", "Y2"}) || len(cp.Cosignatures) != 3 {
		t.Fatalf("cosigners %v", cp.Cosigners)
	}
	for i, c := range cp.Cosignatures {
		if !c.Time.Equal(t0.Add(time.Duration(i)*time.Minute)) || c.Key != strings.ToLower(c.Witness)+".witness.example" {
			t.Fatalf("cosignature %d: %+v", i, c)
		}
	}
	// X needs both of its two, Y its one: the quorum was met at t0+2m at
	// the earliest, and holds for cosignatures from t0 on.
	if !cp.SequencedBy.Equal(t0.Add(2*time.Minute)) || !cp.FreshAsOf.Equal(t0) || !cp.Witnessed {
		t.Fatalf("SequencedBy %v, FreshAsOf %v, want t0+2m and t0", cp.SequencedBy, cp.FreshAsOf)
	}

	for _, tc := range []struct {
		cosigners []string
		short     []string // groups, from the quorum down
		missing   []string
	}{
		{nil, []string{"X-and-Y", "X-witnesses", "Y-witnesses"}, []string{"X1", "X2", "X3", "Y1", "Y2", "Y3"}},
		{[]string{"X1", "X2", "X3"}, []string{"X-and-Y", "Y-witnesses"}, []string{"Y1", "Y2", "Y3"}},
		{[]string{"X2", "Y3"}, []string{"X-and-Y", "X-witnesses"}, []string{"X1", "X3"}},
	} {
		_, err := v.Open(f.checkpoint(5, at(tc.cosigners...)))
		var qe *QuorumError
		if !errors.Is(err, ErrNoQuorum) || !errors.As(err, &qe) {
			t.Fatalf("cosigned by %v: %v, want ErrNoQuorum", tc.cosigners, err)
		}
		var short []string
		for _, g := range qe.Short {
			short = append(short, g.Name)
		}
		if !slices.Equal(short, tc.short) || !slices.Equal(qe.Missing, tc.missing) {
			t.Errorf("cosigned by %v: short %v missing %v, want %v and %v", tc.cosigners, short, qe.Missing, tc.short, tc.missing)
		}
		for _, m := range tc.missing {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("the error does not name the missing witness %s: %v", m, err)
			}
		}
	}
	// The message says which group is short, and by how much.
	_, err = v.Open(f.checkpoint(5, at("X2", "Y3")))
	if want := "group X-witnesses needs 2 of X1, X2, X3, has 1"; !strings.Contains(err.Error(), want) {
		t.Errorf("%v\nwant %q in it", err, want)
	}
}

func TestVerifierCosignatureHandling(t *testing.T) {
	f := newPolicyFixture(t, "A", "B")
	v := f.verifier("group G any A B\nquorum G\n")
	msg := f.checkpoint(3, map[string]time.Time{"A": t0})

	// A cosignature that does not verify counts as missing, and does not
	// make a checkpoint with its quorum fail.
	other := f.checkpoint(4, map[string]time.Time{"B": t0}) // B's cosignature of another tree
	bLine := lastLine(other)
	if _, err := v.Open(append(bytes.Clone(msg), bLine...)); err != nil {
		t.Fatalf("a bad cosignature from B made a checkpoint cosigned by A fail: %v", err)
	}
	onlyBadB := append(f.checkpoint(3, nil), bLine...)
	if _, err := v.Open(onlyBadB); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("a bad cosignature counted: %v", err)
	}
	// Cosignatures from unknown keys are ignored.
	g := newPolicyFixture(t, "Z")
	zLine := lastLine(g.checkpoint(3, map[string]time.Time{"Z": t0}))
	if cp, err := v.Open(append(bytes.Clone(msg), zLine...)); err != nil || len(cp.Cosignatures) != 1 {
		t.Fatalf("unknown cosignature: %v", err)
	}
	// Not signed by the log, or by another log: ErrBadCheckpoint.
	if _, err := v.Open(append([]byte(string(CheckpointBody("pouch.test/log", 3, bytes.Repeat([]byte{3}, 32)))+"\n"), zLine...)); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("checkpoint without the log's signature: %v", err)
	}
	// Every byte of the log's signature matters.
	logLine := bytes.SplitAfter(msg, []byte("\n"))[4]
	// (The last base64 digits before the padding carry bits that the
	// signed-note parser ignores.)
	for i := len("— pouch.test/log "); i < len(logLine)-4; i++ {
		bad := bytes.Clone(msg)
		j := bytes.Index(bad, logLine) + i
		bad[j] ^= 1
		if _, err := v.Open(bad); err == nil {
			t.Fatalf("a checkpoint with byte %d of the log signature flipped verified", i)
		}
	}
}

func lastLine(msg []byte) []byte {
	lines := bytes.SplitAfter(msg, []byte("\n"))
	return lines[len(lines)-2]
}

func TestFreshness(t *testing.T) {
	f := newPolicyFixture(t, "A", "B", "C")
	v := f.verifier("group G 2 A B C\nquorum G\n")
	// A cosigned 3h ago, B 50m ago, C 10m ago: 2 of 3 are younger than an
	// hour, but not 2 of 3 younger than 30 minutes.
	now := t0.Add(3 * time.Hour)
	cp, err := v.Open(f.checkpoint(9, map[string]time.Time{"A": t0, "B": now.Add(-50 * time.Minute), "C": now.Add(-10 * time.Minute)}))
	if err != nil {
		t.Fatal(err)
	}
	if !cp.FreshAsOf.Equal(now.Add(-50 * time.Minute)) {
		t.Fatalf("FreshAsOf %v, want %v", cp.FreshAsOf, now.Add(-50*time.Minute))
	}
	if err := v.CheckFresh(cp, now, time.Hour); err != nil {
		t.Fatalf("fresh checkpoint: %v", err)
	}
	err = v.CheckFresh(cp, now, 30*time.Minute)
	var qe *QuorumError
	if !errors.Is(err, ErrStale) || errors.Is(err, ErrNoQuorum) || !errors.As(err, &qe) {
		t.Fatalf("stale checkpoint: %v, want ErrStale", err)
	}
	if !slices.Equal(qe.Missing, []string{"A", "B"}) || qe.MaxAge != 30*time.Minute {
		t.Fatalf("missing %v", qe.Missing)
	}
	for _, want := range []string{"younger than 30m0s", "A 3h0m0s ago", "B 50m0s ago", "C 10m0s ago"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nwant %q in it", err, want)
		}
	}

	// The Client applies its MaxAge (DefaultMaxAge if 0) at its Now.
	c := &Client{V: v, Now: func() time.Time { return now }}
	if _, err := c.Update(f.checkpoint(9, map[string]time.Time{"A": now.Add(-61 * time.Minute), "B": now.Add(-2 * time.Hour)}), nil); !errors.Is(err, ErrStale) {
		t.Fatalf("client given a checkpoint cosigned 61 minutes ago: %v", err)
	}
	if last, _ := c.Last(); last != nil {
		t.Fatal("the client kept a stale checkpoint")
	}
	first := f.checkpoint(9, map[string]time.Time{"A": now.Add(-59 * time.Minute), "B": now.Add(-2 * time.Minute)})
	if _, err := c.Update(first, nil); err != nil {
		t.Fatalf("client given a checkpoint cosigned 59 minutes ago: %v", err)
	}
	// Later, the same checkpoint is stale; the log's refresh at the same
	// size is accepted and kept.
	now = now.Add(time.Hour)
	if _, err := c.Update(first, nil); !errors.Is(err, ErrStale) {
		t.Fatalf("the same checkpoint an hour later: %v", err)
	}
	refreshed := f.checkpoint(9, map[string]time.Time{"B": now.Add(-time.Minute), "C": now})
	if got, err := c.Update(refreshed, nil); err != nil || !bytes.Equal(got.Note, refreshed) {
		t.Fatalf("refreshed checkpoint: %v", err)
	}
	if last, _ := c.Last(); !bytes.Equal(last.Note, refreshed) {
		t.Fatal("the client did not keep the refreshed checkpoint")
	}
	// A negative MaxAge turns the check off.
	c.MaxAge = -1
	if _, err := c.Update(first, nil); err != nil {
		t.Fatalf("MaxAge -1: %v", err)
	}

	// Without witnesses freshness cannot be proven, and says so.
	none := f.verifier("quorum none\n")
	cp, err = none.Open(f.checkpoint(9, nil))
	if err != nil {
		t.Fatal(err)
	}
	if none.Witnessed() || cp.Witnessed || !cp.FreshAsOf.IsZero() || !cp.SequencedBy.IsZero() {
		t.Fatalf("unwitnessed: %v %+v", none.Witnessed(), cp)
	}
	if err := none.CheckFresh(cp, now, time.Hour); !errors.Is(err, ErrUnwitnessed) {
		t.Fatalf("CheckFresh without witnesses: %v", err)
	}
	if _, err := (&Client{V: none}).Update(f.checkpoint(9, nil), nil); err != nil {
		t.Fatalf("a client without witnesses: %v", err)
	}
}

// TestNewVerifier keeps NewVerifier's k of n working as a policy.
func TestNewVerifier(t *testing.T) {
	lk := mustKey(t, "pouch.test/log", false)
	ls, _ := note.NewSigner(lk.skey)
	var keys []string
	var signers []note.Signer
	// Two witnesses share a key name, and one is named like a keyword.
	for _, n := range []string{"w.example", "w.example", "any"} {
		k := mustKey(t, n, true)
		keys = append(keys, k.vkey)
		s, err := fnote.NewSignerForCosignatureV1(k.skey)
		if err != nil {
			t.Fatal(err)
		}
		signers = append(signers, s)
	}
	v, err := NewVerifier(lk.vkey, keys, 2)
	if err != nil {
		t.Fatal(err)
	}
	text := string(CheckpointBody("pouch.test/log", 1, make([]byte, 32)))
	one, _ := note.Sign(&note.Note{Text: text}, ls, signers[1])
	two, _ := note.Sign(&note.Note{Text: text}, ls, signers[1], signers[2])
	if _, err := v.Open(one); !errors.Is(err, ErrNoQuorum) || !strings.Contains(err.Error(), "w.example, any#1") {
		t.Fatalf("1 of 2: %v", err)
	}
	if cp, err := v.Open(two); err != nil || !slices.Equal(cp.Cosigners, []string{"w.example#2", "any#1"}) {
		t.Fatalf("2 of 2: %v %v", err, cp)
	}
	if _, err := NewVerifier(lk.vkey, keys, 4); !errors.Is(err, ErrPolicy) {
		t.Fatalf("4 of 3: %v", err)
	}
	// A struct literal still means Quorum of Witnesses.
	lit := &Verifier{Origin: v.Origin, Log: v.Log, Witnesses: v.Witnesses, Quorum: 2}
	if _, err := lit.Open(one); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("literal, 1 of 2: %v", err)
	}
	if _, err := lit.Open(two); err != nil {
		t.Fatalf("literal, 2 of 2: %v", err)
	}
}

// TestNonCanonicalSignature: a checkpoint whose log signature is written
// in non-canonical base64 (the unused bits of the last character set)
// decodes to the same signature but is refused: a note has one spelling.
func TestNonCanonicalSignature(t *testing.T) {
	skey, vkey, err := GenerateKey("pouch.test/canonical")
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := signCheckpoint(s, "pouch.test/canonical", 5, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(vkey, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Open(cp); err != nil {
		t.Fatal(err)
	}
	// 68 bytes (key hash and signature) are 91 base64 characters and one
	// "=": the last character carries 4 bits and 2 unused ones.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := bytes.LastIndexByte(cp, '=') - 1
	c := strings.IndexByte(alphabet, cp[i])
	mangled := bytes.Clone(cp)
	mangled[i] = alphabet[c^1]
	if _, err := v.Open(mangled); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("a signature in non-canonical base64: %v, want ErrBadCheckpoint", err)
	}
}
