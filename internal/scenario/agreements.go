package scenario

// What scenes 4, 5 and 6 share: the houses and offices of the agreements
// (package agreement/jcpoa), submitting their records, reading them back
// from the log with every signature and inclusion proof checked, and
// playing the actions the rules must refuse.

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"

	"pouch.dev/agreement"
	"pouch.dev/agreement/jcpoa"
	"pouch.dev/record"
)

// AgreementHouses are the houses scenes 4 to 6 need beyond those of Setup.
var AgreementHouses = []struct{ House, Name string }{
	{"eu", "European Union"},
	{"iaea", "International Atomic Energy Agency"},
	{"uk", "United Kingdom"},
	{"fr", "French Republic"},
	{"cn", "People's Republic of China"},
	{"de", "Federal Republic of Germany"},
	{"experts", "Experts on nuclear non-proliferation"},
}

// holders of the offices of package jcpoa not in Cast; the experts are
// named by number.
var agreementHolders = map[record.Handle]string{
	jcpoa.Depositary:            "High Representative of the European Union, coordinator of the Joint Commission",
	"iaea/dg":                   "Director General of the IAEA",
	"us/secretary-of-state":     "Secretary of State of the United States",
	"uk/fm":                     "Foreign Secretary of the United Kingdom",
	"fr/fm":                     "Minister for Foreign Affairs of France",
	"cn/fm":                     "Minister of Foreign Affairs of China",
	"de/fm":                     "Federal Foreign Minister of Germany",
	jcpoa.StatementOpener:       "convener of the experts' statement",
	record.Handle("ir/speaker"): "Mohammad Baqer Qalibaf, Speaker of Parliament",
}

// AgreementSetup founds the houses of AgreementHouses not yet founded and
// admits every office of jcpoa.Principals not yet in the cast (admitting
// one twice would rotate its key). Scenes 4, 5 and 6 call it first.
func AgreementSetup(ctx context.Context, w *World) error {
	for _, h := range AgreementHouses {
		if w.registrars[h.House] != nil {
			continue
		}
		if err := w.Found(ctx, h.House, h.Name); err != nil {
			return w.Report.Fail("%v", err)
		}
	}
	n := 0
	for _, h := range jcpoa.Principals() {
		if w.cast[h] != nil {
			continue
		}
		holder := agreementHolders[h]
		if holder == "" {
			holder = "expert on nuclear non-proliferation, co-signatory of the statement"
		}
		if _, err := w.Admit(ctx, h, holder); err != nil {
			return w.Report.Fail("%v", err)
		}
		n++
	}
	if n > 0 {
		w.Report.Info("%d more offices admitted: the JCPOA's signers, the IAEA's Director General, the EU's High Representative, the experts", n)
	}
	return nil
}

// buildAgreements signs the records of scenes 4 to 6 with the keys of the
// cast, claiming the world's time now.
func (w *World) buildAgreements() (*jcpoa.Scenario, error) {
	sc, err := jcpoa.Build(w.Client.Origin, func(h record.Handle) ed25519.PrivateKey {
		if p := w.cast[h]; p != nil {
			sk, _ := p.Signing.(ed25519.PrivateKey) // the cast's keys are in memory
			return sk
		}
		return nil
	}, w.Clock.Now().UnixMilli())
	if err != nil {
		return nil, w.Report.Fail("%v", err)
	}
	return sc, nil
}

// submitStep submits one record of the scenario and prints it.
func (w *World) submitStep(ctx context.Context, st jcpoa.Step, quiet bool) error {
	acc, err := w.Client.Submit(ctx, st.Signed)
	if err != nil {
		return w.Report.Fail("%s: %v", st.Say, err)
	}
	who, what, _ := strings.Cut(st.Say, " ")
	if quiet {
		w.Report.Detail("%s %s [log #%d]", who, what, acc.Index)
		return nil
	}
	w.Report.Step(who, what, acc)
	return nil
}

// provenAgreements returns the agreements and statements as the world's
// verifying client proves them: every record of theirs the log holds
// (their leaves read from the log, so none can be hidden), each matched to
// its leaf and replayed by the rules with the directory the client
// proved. It returns the registry and the tree size it was proven in.
func (w *World) provenAgreements(ctx context.Context) (*agreement.Registry, uint64, error) {
	v, err := w.Client.View(ctx, nil)
	if err != nil {
		return nil, 0, w.Report.Fail("catching up with the log: %v", err)
	}
	return v.Agreements(), v.Size(), nil
}

// refusalSays is what each refusal's message must say.
var refusalSays = map[error]string{
	agreement.ErrNotAuthorised:   "may not sign for",
	agreement.ErrNotParty:        "is not a party",
	agreement.ErrAlreadySigned:   "already signed",
	agreement.ErrNotVerifier:     "is not a named verifier",
	agreement.ErrAlreadyCosigned: "already co-signed",
}

// refuseAll submits each action the rules must refuse, and checks that the
// server refuses it by the rule named (errors.Is on the sentinel its code
// maps to), with a message naming the reason, and stores nothing.
func (w *World) refuseAll(ctx context.Context, bads []jcpoa.Bad) error {
	for _, b := range bads {
		says, ok := refusalSays[b.Reason]
		if !ok {
			return w.Report.Fail("%s: no words to expect in the refusal for %v; add them to refusalSays", b.Say, b.Reason)
		}
		by := "?"
		if r, err := b.Signed.Open(); err == nil {
			by = string(r.Signer())
		}
		id := b.Signed.ID()
		err := w.refuse(ctx, refusalCase{who: by, what: strings.TrimPrefix(b.Say, by+" "), want: b.Reason, says: []string{says}, record: &id,
			act: func() error {
				_, err := w.Client.Submit(ctx, b.Signed)
				if err != nil {
					// The refusal reads "agreement-sign by ir/speaker
					// refused: <why>"; the report says who and what
					// already.
					if _, why, ok := strings.Cut(err.Error(), " refused: "); ok {
						return &trimmed{err, why}
					}
				}
				return err
			}})
		if err != nil {
			return err
		}
	}
	return nil
}

// trimmed is an error shown by a shorter message, matching what it wraps.
type trimmed struct {
	err error
	msg string
}

func (e *trimmed) Error() string { return e.msg }
func (e *trimmed) Unwrap() error { return e.err }

// indent writes s with every line indented, for History and WriteRoll.
func (w *World) indent(s string) {
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		fmt.Fprintf(w.Report.W, "     %s\n", line)
	}
}
