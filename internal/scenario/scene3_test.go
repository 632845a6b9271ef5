package scenario

import (
	"strings"
	"testing"
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
