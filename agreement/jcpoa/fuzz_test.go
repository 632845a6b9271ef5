package jcpoa

import (
	"testing"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/internal/testkeys"
	"pouch.dev/record"
)

// FuzzRegistry offers arbitrary signed records to a registry holding the
// scenario: Check never panics, refuses with a *Refusal, and changes
// nothing.
func FuzzRegistry(f *testing.F) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixMilli()
	sc, err := Build("", testkeys.Key, now)
	if err != nil {
		f.Fatal(err)
	}
	for _, steps := range [][]Step{sc.JCPOA, sc.Statement[:2], sc.Deal} {
		for _, s := range steps {
			f.Add(s.Signed.Marshal())
		}
	}
	for _, b := range append(sc.BadJCPOA, sc.BadStatement...) {
		f.Add(b.Signed.Marshal())
	}
	g := agreement.NewRegistry(testkeys.NewDirectory(Principals()...))
	i := uint64(0)
	for _, steps := range [][]Step{sc.JCPOA, sc.Statement[:2]} {
		for _, s := range steps {
			if err := g.Apply(agreement.Entry{Signed: s.Signed, Index: i, Time: now}); err != nil {
				f.Fatal(err)
			}
			i++
		}
	}
	jc := g.Agreement(sc.JCPOA[0].Signed.ID())
	roll := g.Statement(sc.Statement[0].Signed.ID())
	f.Fuzz(func(t *testing.T, in []byte) {
		s, _, err := record.Parse(in)
		if err != nil {
			return
		}
		before, n := len(jc.Actions()), roll.Count()
		if err := g.Check(agreement.Entry{Signed: s, Index: i, Time: now}); err != nil {
			if _, ok := err.(*agreement.Refusal); !ok {
				t.Fatalf("error is not a *Refusal: %T %v", err, err)
			}
		}
		if len(jc.Actions()) != before || roll.Count() != n {
			t.Fatal("Check changed the state")
		}
		jc.Status("2020-01-01")
	})
}
