package failpoint

import "testing"

// TestParse: each well-formed point is armed at its hit, the first if @N
// is left out; malformed ones are ignored, not armed at some other hit.
func TestParse(t *testing.T) {
	m := parse("store/append-committed=kill@3, server/acknowledged=kill,bad,x=kill@0,y=stop@2,z=kill@q")
	if len(m) != 2 {
		t.Fatalf("%d points armed, want 2: %v", len(m), m)
	}
	if p := m["store/append-committed"]; p == nil || p.at != 3 {
		t.Errorf("store/append-committed armed at %v, want 3", p)
	}
	if p := m["server/acknowledged"]; p == nil || p.at != 1 {
		t.Errorf("server/acknowledged armed at %v, want 1", p)
	}
	if parse("") != nil {
		t.Error("an empty variable arms points")
	}
}

// TestHitUnarmed: with nothing armed, Hit does nothing (this process goes
// on).
func TestHitUnarmed(t *testing.T) {
	saved := points
	defer func() { points = saved }()
	points = nil
	Hit("store/append-committed")
	points = parse("other=kill@1")
	Hit("store/append-committed")
	p := parse("store/append-committed=kill@5")
	points = p
	for range 4 {
		Hit("store/append-committed")
	}
	if got := p["store/append-committed"].hits.Load(); got != 4 {
		t.Fatalf("4 hits counted as %d", got)
	}
}
