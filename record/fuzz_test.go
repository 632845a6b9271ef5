package record

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// vectorInputs returns the inputs of the golden vectors of kind "record"
// in testdata/vectors. It fails if there are none, so that the seeds cannot
// silently vanish.
func vectorInputs(tb testing.TB) [][]byte {
	paths, _ := filepath.Glob(filepath.Join("..", "testdata", "vectors", "*.json"))
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		var v struct {
			Kind  string `json:"kind"`
			Input []byte `json:"input"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			tb.Fatalf("%s: %v", p, err)
		}
		if v.Kind == "record" || v.Kind == "disclosure" {
			out = append(out, v.Input)
		}
	}
	if len(out) == 0 {
		tb.Fatal("no record vectors in testdata/vectors")
	}
	return out
}

// FuzzParse: Parse never panics, and what it accepts re-encodes to the
// identical bytes; Verify accepts only what Parse accepts.
func FuzzParse(f *testing.F) {
	for _, in := range vectorInputs(f) {
		f.Add(in)
	}
	s, _ := Sign(&Record{Kind: KindCustody, By: []Handle{"ir/speaker"}, Time: 1, Salt: bytes.Repeat([]byte{1}, SaltSize)}, testBody{From: "ir/leader"}, testKey(1))
	f.Add(s.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		s, r, err := Parse(b)
		if err != nil {
			if _, _, verr := Verify(b); verr == nil {
				t.Fatal("Verify accepted what Parse rejected")
			}
			return
		}
		if !bytes.Equal(s.Marshal(), b) {
			t.Fatal("accepted record re-encodes differently")
		}
		again, err := Marshal(r)
		if err != nil || !bytes.Equal(again, s.Record) {
			t.Fatalf("record re-encodes differently: %v", err)
		}
		Verify(b)
	})
}

// FuzzParseLeaf: the same for log leaves.
func FuzzParseLeaf(f *testing.F) {
	f.Add(LeafData(Leaf{Kind: KindTag, ID: ID{1}, Time: 1, Private: true}))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseLeaf(b)
		if err != nil {
			return
		}
		if !bytes.Equal(LeafData(l), b) {
			t.Fatal("accepted leaf re-encodes differently")
		}
	})
}

// The golden vectors of kind "record" verify or fail as they say; the
// full harness is in internal/testvectors.
func TestRecordVectorsParse(t *testing.T) {
	for _, in := range vectorInputs(t) {
		if s, _, err := Parse(in); err == nil && !bytes.Equal(s.Marshal(), in) {
			t.Errorf("vector re-encodes differently: %x", in)
		}
	}
}
