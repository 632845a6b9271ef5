package scenario

import (
	"bytes"
	"context"
	"fmt"

	"pouch.dev/agreement"
	"pouch.dev/agreement/jcpoa"
)

func init() {
	Register(Scene{N: 5, Title: "The experts' statement", Source: "seed 001",
		Proves: "many co-signatures on one record, counted and verified",
		Run:    Scene5})
}

// Scene5 opens the experts' statement and has more than 80 experts
// co-sign it; reads every co-signature back from the log, verified and
// proven; counts the roll, also as of an earlier log size; and refuses a
// second co-signature.
func Scene5(ctx context.Context, w *World) error {
	r := w.Report
	if err := AgreementSetup(ctx, w); err != nil {
		return err
	}
	sc, err := w.buildAgreements()
	if err != nil {
		return err
	}
	if err := w.submitStep(ctx, sc.Statement[0], false); err != nil {
		return err
	}
	id := sc.Statement[0].Signed.ID()
	w.Facts["scene5.statement"] = id
	for _, st := range sc.Statement[1:] {
		if err := w.submitStep(ctx, st, true); err != nil {
			return err
		}
	}
	sv, err := w.Client.Statement(ctx, id, -1)
	if err != nil {
		return r.Fail("the statement from the server: %v", err)
	}
	if len(sv.Signatories) == 0 {
		return r.Fail("the server lists no co-signatures")
	}
	first, last := sv.Signatories[0].Index, sv.Signatories[len(sv.Signatories)-1].Index
	r.Step(fmt.Sprintf("%d experts", len(sc.Statement)-1), "each co-sign the statement (one signed cosign record each)", nil)
	r.Info("log #%d to #%d", first, last)

	// The roll, as the verifying client proves it from the log: every
	// co-signature the log holds, each replayed by the rules.
	reg, size, err := w.provenAgreements(ctx)
	if err != nil {
		return err
	}
	roll := reg.Statement(id)
	if roll == nil {
		return r.Fail("the statement %s is not in the log", id.Short())
	}
	if roll.Count() != jcpoa.Experts || roll.Count() <= 80 || sv.Count != roll.Count() {
		return r.Fail("the roll counts %d co-signatures (the server %d); want %d", roll.Count(), sv.Count, jcpoa.Experts)
	}
	r.Pass("%d co-signatures read back from the log: each signature verified against its signer's key as of its log index, each inclusion proof against the signed checkpoint (tree of %d)", roll.Count(), size)

	// As a client holding an older checkpoint sees it.
	half := roll.Signatories()[roll.Count()/2-1].Index + 1
	svHalf, err := w.Client.Statement(ctx, id, int64(half))
	if err != nil {
		return r.Fail("the statement at log size %d: %v", half, err)
	}
	if n := len(roll.SignatoriesAt(half)); n != roll.Count()/2 || svHalf.Count != n {
		return r.Fail("at log size %d: %d co-signatures (the server %d), want %d", half, n, svHalf.Count, roll.Count()/2)
	}
	r.Pass("in the log as of size %d, %d had signed; the replay and the server agree", half, svHalf.Count)

	var out bytes.Buffer
	if err := agreement.WriteRoll(&out, roll, 5); err != nil {
		return r.Fail("roll: %v", err)
	}
	fmt.Fprintln(r.W)
	w.indent(out.String())
	fmt.Fprintln(r.W)

	r.Note("Must fail against the server:")
	return w.refuseAll(ctx, sc.BadStatement)
}
