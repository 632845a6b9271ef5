package scenario

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"pouch.dev/agreement"
	"pouch.dev/agreement/jcpoa"
	"pouch.dev/record"
)

func init() {
	Register(Scene{N: 4, Title: "The JCPOA", Source: "seeds 000, 001, 002",
		Proves: "agreement lifecycle derived from the log at any date: parties over time, a clause's sunset, attestations by named verifiers",
		Run:    Scene4})
}

// HistoryThrough is the last day of the JCPOA's history the demo prints:
// after the arms embargo's sunset.
const HistoryThrough agreement.Date = "2021-01-01"

// The days scene 4 asks the status of, and what it must be.
var jcpoaChecks = []struct {
	At      agreement.Date
	Parties int
	Embargo string
}{
	{"2017-06-01", 7, agreement.ClauseActive},
	{"2019-06-01", 6, agreement.ClauseActive},
	{"2020-09-15", 6, agreement.ClauseActive},
	{"2020-11-01", 6, agreement.ClauseLapsed},
}

// Scene4 registers the JCPOA, has its seven participants sign, the IAEA
// and Russia attest Iran's implementation and the United States withdraw;
// reads it all back from the log, replays it, and checks the status on
// the scenario's days against the server's; prints its history; and plays
// the actions the rules must refuse.
func Scene4(ctx context.Context, w *World) error {
	r := w.Report
	if err := AgreementSetup(ctx, w); err != nil {
		return err
	}
	r.Note("(the articles do not give every date; these are illustrative:)")
	for _, s := range jcpoa.Illustrative {
		r.Note("  %s", s)
	}
	r.Note("(dates in the records are the instrument's; the log's own times are today's)")
	sc, err := w.buildAgreements()
	if err != nil {
		return err
	}
	for _, st := range sc.JCPOA {
		if err := w.submitStep(ctx, st, false); err != nil {
			return err
		}
	}
	id := sc.JCPOA[0].Signed.ID()
	w.Facts["scene4.jcpoa"] = id

	// Read the agreement back from the log, trusting nothing the server
	// says: the server lists the actions, and each is fetched, its
	// signature and inclusion proof checked, and replayed by the rules.
	tl, size, err := w.replayAgreement(ctx, id)
	if err != nil {
		return err
	}
	if len(tl.Actions()) != len(sc.JCPOA)-1 {
		return r.Fail("the log holds %d actions on the JCPOA; %d were submitted", len(tl.Actions()), len(sc.JCPOA)-1)
	}
	r.Pass("%d records of the JCPOA read back from the log: each signature verified against its signer's key as of its log index, each inclusion proof against the signed checkpoint (tree of %d)", len(sc.JCPOA), size)

	for _, c := range jcpoaChecks {
		mine := tl.Status(c.At)
		theirs, err := w.Client.AgreementStatus(ctx, id, c.At)
		if err != nil {
			return r.Fail("the server's status on %s: %v", c.At, err)
		}
		if !mine.InForce || mine.PartiesInForce != c.Parties {
			return r.Fail("on %s: in force %v with %d parties, want %d", c.At, mine.InForce, mine.PartiesInForce, c.Parties)
		}
		embargo := clauseState(mine, jcpoa.ClauseEmbargo)
		if embargo.State != c.Embargo {
			return r.Fail("on %s: the arms embargo is %s, want %s", c.At, embargo.State, c.Embargo)
		}
		if theirs.InForce != mine.InForce || theirs.PartiesInForce != mine.PartiesInForce || clauseState(theirs, jcpoa.ClauseEmbargo).State != embargo.State {
			return r.Fail("on %s: the server's status (%d parties, embargo %s) disagrees with the replay", c.At, theirs.PartiesInForce, clauseState(theirs, jcpoa.ClauseEmbargo).State)
		}
		r.Pass("on %s: in force with %d parties (%s); arms-embargo %s — the replay and the server agree",
			c.At, mine.PartiesInForce, partiesOf(mine), embargo.Reason)
	}

	// Both attestations of Iran's implementation, by the named verifiers.
	by := map[record.Handle]int{}
	for _, a := range tl.Actions() {
		if a.Attest != nil {
			by[a.By]++
		}
	}
	if by["iaea/dg"] == 0 || by["ru/fm"] == 0 {
		return r.Fail("attestations: iaea/dg %d, ru/fm %d; want both", by["iaea/dg"], by["ru/fm"])
	}
	r.Pass("attestations verified: ru/fm (%d, in Sochi) and iaea/dg (%d) that ir complied with %s, each by a named verifier", by["ru/fm"], by["iaea/dg"], jcpoa.ClauseNuclear)

	var hist bytes.Buffer
	if err := agreement.History(&hist, tl, HistoryThrough); err != nil {
		return r.Fail("history: %v", err)
	}
	fmt.Fprintln(r.W)
	w.indent(hist.String())
	fmt.Fprintln(r.W)

	r.Note("Must fail against the server, each refused by the agreement's rules:")
	return w.refuseAll(ctx, sc.BadJCPOA)
}

// replayAgreement returns agreement id as the verifying client proves it
// from the log: every record of the agreement the log holds, none hidden,
// replayed by the rules with the directory the client proved.
func (w *World) replayAgreement(ctx context.Context, id record.ID) (*agreement.Timeline, uint64, error) {
	reg, size, err := w.provenAgreements(ctx)
	if err != nil {
		return nil, 0, err
	}
	tl := reg.Agreement(id)
	if tl == nil {
		return nil, 0, w.Report.Fail("agreement %s is not in the log", id.Short())
	}
	return tl, size, nil
}

func clauseState(st *agreement.Status, id string) agreement.ClauseStatus {
	for _, c := range st.Clauses {
		if c.ID == id {
			return c
		}
	}
	return agreement.ClauseStatus{ID: id, State: "missing"}
}

func partiesOf(st *agreement.Status) string {
	var in, out []string
	for _, p := range st.Parties {
		switch p.State {
		case agreement.StateParty:
			in = append(in, p.House)
		case agreement.StateWithdrawn:
			out = append(out, fmt.Sprintf("%s withdrew effective %s", p.House, p.Since))
		}
	}
	s := strings.Join(in, " ")
	if len(out) > 0 {
		s += "; " + strings.Join(out, ", ")
	}
	return s
}
