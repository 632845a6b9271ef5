package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/record"
	"pouch.dev/tlog"
	"pouch.dev/tlog/witness"
)

// TestScene3 plays Rouhani's message by secure line against the
// in-process server: the line through the real relay, the call record
// logged, delivery over the line, the receipt published.
func TestScene3(t *testing.T) {
	w, out := start(t)
	err := Play(ctx(t), w, 3)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if w.Report.Failures != 0 {
		t.Fatalf("%d checks failed", w.Report.Failures)
	}
	for _, want := range []string{"call record", "over_line", "publishes the delivery receipt", "the relay saw"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the timeline does not say %q", want)
		}
	}
}

// TestScene3Evidence builds, as the public, the evidence bundle of scene
// 3's published delivery receipt, and checks it with no network against
// the log's key and witness policy: it verifies; it fails when any byte
// of it is changed, when the checkpoint it carries is changed, and when
// the witness quorum is not met.
func TestScene3Evidence(t *testing.T) {
	w, out := start(t)
	c := ctx(t)
	if err := Play(c, w, 3); err != nil {
		t.Log("\n" + out.String())
		t.Fatal(err)
	}
	receipt := w.Facts["scene3.receipt"]
	bt, err := w.Client.Evidence(c, nil, receipt)
	if err != nil {
		t.Fatal(err)
	}
	b := bt.Bundle
	ve, err := client.VerifyEvidence(b, w.Verifier, 0)
	if err != nil {
		t.Fatal(err)
	}
	// What it proves to the public: the receipt, and its publication,
	// each signed by a key that held its office at its place, each between
	// two witnessed checkpoints; not the pouch's route.
	if ve.Tag != nil || ve.State != nil || len(ve.Events) != 2 {
		t.Fatalf("the public bundle: tag %v, %d events", ve.Tag != nil, len(ve.Events))
	}
	rc, pub := ve.Events[0], ve.Events[1]
	if rc.Signed.ID() != receipt || rc.Record.Kind != record.KindCustody || rc.Record.By[0] != "ru/president" ||
		pub.Record.Kind != record.KindPublish || pub.Record.By[0] != "ir/fm" {
		t.Fatalf("the events: %s by %v, %s by %v", rc.Record.Kind, rc.Record.By, pub.Record.Kind, pub.Record.By)
	}
	for _, e := range ve.Events {
		if e.NotBefore.IsZero() || e.NotAfter.IsZero() || e.NotAfter.Before(e.NotBefore) {
			t.Errorf("the %s at #%d is bounded by %v and %v", e.Record.Kind, e.At.Index, e.NotBefore, e.NotAfter)
		}
	}
	if !strings.Contains(rc.What, "delivery by ru/president, from ir/fm") {
		t.Errorf("the receipt says %q", rc.What)
	}
	t.Logf("bundle of %d bytes, %d events", len(b), len(ve.Events))

	// Any byte changed. Verifying takes milliseconds and the bundle holds
	// tens of thousands of bytes, so the bytes changed are: every byte of
	// its first and last 512; every byte of the checkpoint's text and of
	// its log signature line, and the last 8 bytes of every signature
	// line (where base64 padding bits are), in each copy of every
	// checkpoint it carries (the proofs' and the bounds'); and every 29th
	// byte of the rest. Two goroutines share the work.
	want := map[int]bool{}
	for i := 0; i < len(b); i++ {
		if i < 512 || i >= len(b)-512 || i%29 == 0 {
			want[i] = true
		}
	}
	notes := 0
	for off := 0; off < len(b); {
		j := bytes.Index(b[off:], []byte(w.Origin+"\n"))
		if j < 0 {
			break
		}
		start := off + j
		end := bytes.Index(b[start:], []byte("\n\n"))
		for i := start; i < start+end+2; i++ {
			want[i] = true
		}
		// The signature lines: "— name base64\n" each.
		i := start + end + 2
		for line := 0; line < 4 && i < len(b) && bytes.HasPrefix(b[i:], []byte("— ")); line++ {
			nl := bytes.IndexByte(b[i:], '\n')
			if nl < 0 {
				break
			}
			if line == 0 {
				for k := i; k < i+nl; k++ {
					want[k] = true
				}
			}
			for k := max(i, i+nl-8); k <= i+nl; k++ {
				want[k] = true
			}
			i += nl + 1
		}
		notes++
		off = i
	}
	if notes < 3 {
		t.Fatalf("the bundle carries %d checkpoints verbatim; want its own and its bounds'", notes)
	}
	var idx []int
	for i := range want {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	if raceEnabled {
		// Under the race detector each verification costs tens of times
		// more: every 16th of the bytes (the full set runs without it).
		var sample []int
		for k := 0; k < len(idx); k += 16 {
			sample = append(sample, idx[k])
		}
		idx = sample
	}
	var mu sync.Mutex
	var still []int
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := g; k < len(idx); k += 2 {
				m := bytes.Clone(b)
				m[idx[k]] ^= 0x01
				if _, err := client.VerifyEvidence(m, w.Verifier, 0); err == nil {
					mu.Lock()
					still = append(still, idx[k])
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(still) > 0 {
		slices.Sort(still)
		t.Errorf("%d of %d bytes changed one at a time leave the bundle verifying: %v", len(still), len(idx), still[:min(len(still), 10)])
	}
	t.Logf("%d single-byte changes refused, in %d copies of checkpoints", len(idx), notes)

	// The checkpoint changed, in every copy: another tree size, signed by
	// no one; and a genuine checkpoint of the log, cosigned, of a larger
	// tree, in which the proofs do not hold.
	cp := ve.Checkpoint.Note
	resized := bytes.Replace(cp, []byte(fmt.Sprintf("\n%d\n", ve.Checkpoint.Size)), []byte(fmt.Sprintf("\n%d\n", ve.Checkpoint.Size+1)), 1)
	if _, err := client.VerifyEvidence(bytes.ReplaceAll(b, cp, resized), w.Verifier, 0); !errors.Is(err, tlog.ErrBadCheckpoint) {
		t.Errorf("a bundle whose checkpoint names another size: %v, want ErrBadCheckpoint", err)
	}
	c = ctx(t) // the byte loop above may have used up much of the first context's time
	if _, err := w.As("ir/fm").Grant(c, GrantSpec{To: "ir/president", Abilities: []directory.Ability{directory.Disclose}}); err != nil {
		t.Fatal(err)
	}
	v, err := w.Client.View(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	later, lcp := v.Checkpoint()
	if lcp.Size <= ve.Checkpoint.Size {
		t.Fatalf("the log did not grow: %d", lcp.Size)
	}
	if _, err := client.VerifyEvidence(bytes.ReplaceAll(b, cp, later), w.Verifier, 0); err == nil {
		t.Error("a bundle with a later checkpoint of the log, in which its proofs do not hold, verifies")
	}

	// The witness quorum not met: a policy that requires a second
	// witness, which never cosigned.
	_, other, err := witness.GenerateMLDSAKey("witness.elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	p2, err := tlog.KOfN(w.LogKey, []string{w.Policy.Witnesses[0].Key, other}, 2)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := p2.Verifier(w.LogKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.VerifyEvidence(b, v2, 0); !errors.Is(err, tlog.ErrNoQuorum) {
		t.Fatalf("verified with a quorum of two witnesses: %v, want ErrNoQuorum", err)
	}
	// Nor with another log's key.
	_, otherLog, err := tlog.GenerateKey(w.Origin)
	if err != nil {
		t.Fatal(err)
	}
	v3, err := tlog.NewVerifier(otherLog, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.VerifyEvidence(b, v3, 0); !errors.Is(err, tlog.ErrBadCheckpoint) {
		t.Fatalf("verified with another key of the log's name: %v, want ErrBadCheckpoint", err)
	}
}
