package scenario

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"pouch.dev/client"
	"pouch.dev/ledger"
	"pouch.dev/record"
)

// TestScene7 plays what did not happen against the in-process server: a
// letter that asks for consent, refused with its reason and returned to
// its sender; a letter whose envoy never takes it, past its deadline, and
// the deployment's non-delivery with the reason its records give; each
// sender's evidence bundle checked offline; then the cases that must
// fail.
func TestScene7(t *testing.T) {
	w, out := start(t)
	c := ctx(t)
	err := Play(c, w, 7)
	if err == nil {
		err = MustFailEvidence(c, w)
	}
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if w.Report.Failures != 0 {
		t.Fatalf("%d checks failed", w.Report.Failures)
	}
	for _, want := range []string{"refuses pouch", "reason declined", "inbox shows pouch", "back: refused (declined)",
		"logs the non-delivery of pouch", "(reason not-taken): held by us/president, awaiting ch/amb-tehran",
		"back: not-delivered (not-taken)", "checked offline against the log's key and the witness policy",
		"refusal by ir/fm (declined)", "non-delivery by pouch/evidence (not-taken)", "by the witness's clock",
		"logs the non-delivery of a pouch delivered in time: refused"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the timeline does not say %q", want)
		}
	}
}

// TestConsent plays a letter that asks for consent: before the
// addressee's side accepts it, the server refuses it the payload and the
// rules refuse its delivery, while the envoy carries the sealed bytes;
// after, the payload is served once its access record is logged, and the
// delivery follows. The log proves acceptance before access before
// delivery, and the sender's evidence bundle shows it offline.
func TestConsent(t *testing.T) {
	w, out := start(t)
	c := ctx(t)
	if err := Setup(c, w); err != nil {
		t.Fatal(err)
	}
	sec, fm, swiss := w.As("us/secretary-of-state"), w.As("ir/fm"), w.As("ch/amb-tehran")
	sent, err := sec.Send(c, &client.Letter{To: "ir/fm", Via: []record.Handle{"ch/amb-tehran"}, Sections: embargoLetter,
		Consent: true, DeliverBy: w.Clock.Now().Add(72 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	p := sent.Pouch
	if err := swiss.Take(c, p); err != nil {
		t.Fatal(err)
	}
	// The envoy carries the sealed bytes; the addressee gets none yet.
	if b, err := w.Client.Payload(c, p, swiss.ID); err != nil || !bytes.Equal(b, sent.Payload) {
		t.Fatalf("the envoy's payload: %v", err)
	}
	if _, err := w.Client.Payload(c, p, fm.ID); !errors.Is(err, ledger.ErrAccessRequired) {
		t.Fatalf("the addressee's payload before acceptance: %v, want ErrAccessRequired", err)
	}
	if _, _, err := w.Client.Open(c, fm.ID, p); !errors.Is(err, ledger.ErrConsent) {
		t.Fatalf("opening before acceptance: %v, want ErrConsent (no access before consent)", err)
	}
	if _, err := w.Client.Deliver(c, fm.ID, p); !errors.Is(err, ledger.ErrConsent) {
		t.Fatalf("delivery before acceptance: %v, want ErrConsent", err)
	}
	acc, err := w.Client.Accept(c, fm.ID, p)
	if err != nil {
		t.Fatal(err)
	}
	// Accepted: still no payload without the access record, which Open
	// logs.
	if _, err := w.Client.Payload(c, p, fm.ID); !errors.Is(err, ledger.ErrAccessRequired) {
		t.Fatalf("the addressee's payload before its access record: %v, want ErrAccessRequired", err)
	}
	o, _, err := w.Client.Open(c, fm.ID, p)
	if err != nil || len(o.Sections) != len(embargoLetter) {
		t.Fatalf("opening after acceptance: %v", err)
	}
	if b, err := w.Client.Payload(c, p, fm.ID); err != nil || !bytes.Equal(b, sent.Payload) {
		t.Fatalf("the payload after access: %v", err)
	}
	del, err := w.Client.Deliver(c, fm.ID, p)
	if err != nil {
		t.Fatalf("delivery after acceptance: %v", err)
	}
	ch, err := w.Client.Chain(c, sec.ID, p)
	if err != nil {
		t.Fatal(err)
	}
	pp := ch.Pouch
	if pp.Accepted == nil || pp.Accepted.Pos.Index != acc.Index || len(pp.Accessed) != 1 || !pp.Delivered() ||
		!(acc.Index < pp.Accessed[0].Pos.Index && pp.Accessed[0].Pos.Index < del.Index) {
		t.Fatalf("the proven chain: accepted %+v, accessed %+v, delivered %v at %d", pp.Accepted, pp.Accessed, pp.Delivered(), del.Index)
	}
	bt, err := w.Client.Evidence(c, sec.ID, p)
	if err != nil {
		t.Fatal(err)
	}
	ve, err := client.VerifyEvidence(bt.Bundle, w.Verifier, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []record.Kind
	for _, e := range ve.Events {
		kinds = append(kinds, e.Record.Kind)
	}
	want := []record.Kind{record.KindTag, record.KindCustody, record.KindAcceptance, record.KindAccess, record.KindCustody}
	if !slices.Equal(kinds, want) || !ve.State.Delivered() {
		t.Fatalf("the bundle's events: %v, want %v", kinds, want)
	}
	// Past the deadline, nothing is reported: the pouch was delivered in
	// time.
	if err := w.Advance(c, 73*time.Hour); err != nil {
		t.Fatal(err)
	}
	if ch, err := w.Client.Chain(c, sec.ID, p); err != nil || ch.Pouch.NonDelivery != nil {
		t.Fatalf("after the deadline: %v, non-delivery %+v", err, ch.Pouch.NonDelivery)
	}
	if w.corr.Watching() != 0 {
		t.Fatalf("the watcher still holds %d pouches", w.corr.Watching())
	}
	if t.Failed() {
		t.Log("\n" + out.String())
	}
}
