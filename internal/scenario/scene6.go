package scenario

import (
	"context"
	"strings"

	"pouch.dev/agreement"
)

func init() {
	Register(Scene{N: 6, Title: "A long-term strategic cooperation deal", Source: "seed 000",
		Proves: "a drafted agreement is registered, and its status says it is not in force",
		Run:    Scene6})
}

// Scene6 registers the draft Iran–Russia deal, which nobody has signed,
// and checks that its status, replayed from the log and from the server,
// says it is not in force and both parties are only invited.
func Scene6(ctx context.Context, w *World) error {
	r := w.Report
	if err := AgreementSetup(ctx, w); err != nil {
		return err
	}
	sc, err := w.buildAgreements()
	if err != nil {
		return err
	}
	if err := w.submitStep(ctx, sc.Deal[0], false); err != nil {
		return err
	}
	id := sc.Deal[0].Signed.ID()
	w.Facts["scene6.deal"] = id
	tl, _, err := w.replayAgreement(ctx, id)
	if err != nil {
		return err
	}
	today := agreement.DateOf(w.Clock.Now())
	mine := tl.Status(today)
	theirs, err := w.Client.AgreementStatus(ctx, id, today)
	if err != nil {
		return r.Fail("the server's status: %v", err)
	}
	var invited []string
	for _, p := range mine.Parties {
		if p.State != agreement.StateInvited {
			return r.Fail("%s is %s, want invited", p.House, p.State)
		}
		invited = append(invited, p.House)
	}
	if mine.InForce || theirs.InForce || mine.PartiesInForce != 0 || theirs.PartiesInForce != 0 || len(invited) != 2 {
		return r.Fail("the draft deal: in force %v (server %v) with %d parties", mine.InForce, theirs.InForce, mine.PartiesInForce)
	}
	r.Pass("on %s: not in force; %s invited, neither has signed (%s) — the replay and the server agree", today, strings.Join(invited, " and "), mine.Rule)
	return nil
}
