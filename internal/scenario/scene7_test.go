package scenario

import (
	"strings"
	"testing"
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
