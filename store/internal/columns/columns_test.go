package columns

import (
	"slices"
	"testing"

	"pouch.dev/record"
)

func TestRoundTrip(t *testing.T) {
	for _, hs := range [][]record.Handle{nil, {"ir/leader"}, {"ir/leader", "ru/president", "un/sg"}} {
		if got := SplitHandles(JoinHandles(hs)); !slices.Equal(got, hs) {
			t.Errorf("handles %v came back as %v", hs, got)
		}
	}
	a, b := record.ID{1, 2, 3}, record.ID{31: 9}
	for _, ids := range [][]record.ID{nil, {a}, {a, b}} {
		if got := SplitIDs(JoinIDs(ids)); !slices.Equal(got, ids) {
			t.Errorf("IDs %v came back as %v", ids, got)
		}
	}
}
