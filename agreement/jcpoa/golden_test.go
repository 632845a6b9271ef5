package jcpoa

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pouch.dev/internal/testkeys"
	"pouch.dev/record"
)

var update = flag.Bool("update", false, "rewrite testdata/scenario.golden")

// The scenario's records, signed with the test keys for log
// pouch.example/log at 2026-11-23T12:00Z, pin the wire format of all six
// kinds: Ed25519 signatures are deterministic, so every byte is fixed.
// spec/agreement.md's worked example quotes the first signature's record.
func TestGolden(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixMilli()
	sc, err := Build("pouch.example/log", testkeys.Key, now)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# kind id signed-record-hex, one per line: the reference scenario's records (go test ./agreement/jcpoa -update)\n")
	kinds := map[record.Kind]bool{}
	for _, steps := range [][]Step{sc.JCPOA, sc.Statement[:3], sc.Deal} {
		for _, s := range steps {
			r, err := s.Signed.Open()
			if err != nil {
				t.Fatal(err)
			}
			kinds[r.Kind] = true
			fmt.Fprintf(&b, "%s %s %s\n", r.Kind, s.Signed.ID(), hex.EncodeToString(s.Signed.Marshal()))
		}
	}
	if len(kinds) != 6 {
		t.Fatalf("golden file covers %d kinds, want 6", len(kinds))
	}
	path := filepath.Join("testdata", "scenario.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./agreement/jcpoa -update to create it)", err)
	}
	if !bytes.Equal(want, b.Bytes()) {
		t.Errorf("the scenario's records differ from %s: the wire format changed (if on purpose, run with -update and review the diff)", path)
	}
	// Each golden record parses and verifies, and re-encodes identically.
	for i, line := range bytes.Split(bytes.TrimSpace(want), []byte("\n"))[1:] {
		f := bytes.Fields(line)
		raw, _ := hex.DecodeString(string(f[2]))
		s, r, err := record.Verify(raw)
		if err != nil || string(r.Kind) != string(f[0]) || s.ID().String() != string(f[1]) || !bytes.Equal(s.Marshal(), raw) {
			t.Errorf("golden line %d: %v", i+1, err)
		}
	}
}
