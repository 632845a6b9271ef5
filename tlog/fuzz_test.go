package tlog

import (
	"bytes"
	"testing"
)

// Every decoder of the log's formats: what parses re-encodes to the same
// bytes, and nothing panics.

func FuzzParseTilePath(f *testing.F) {
	for _, s := range []string{"tile/0/000", "tile/1/x001/234.p/5", "tile/entries/x123/456/789.p/255", "tile/entries/000", "/tile/2/001", "tile/0/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := ParseTilePath(s)
		if err != nil {
			return
		}
		if got := tp.Path(); got != s && "/"+got != s {
			t.Fatalf("ParseTilePath(%q).Path() = %q", s, got)
		}
	})
}

func FuzzParseCheckpointBody(f *testing.F) {
	f.Add("pouch.localhost/log\n3\n6sIeRaq+7IPqWI4J991BgT7OHTfTb1kv/mPL6kwTo2U=\n")
	f.Add("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next\n")
	f.Fuzz(func(t *testing.T, s string) {
		origin, size, hash, err := ParseCheckpointBody(s)
		if err != nil {
			return
		}
		b := CheckpointBody(origin, size, hash)
		if !bytes.HasPrefix([]byte(s), b) {
			t.Fatalf("body %q re-encodes as %q", s, b)
		}
	})
}

func FuzzParseAddCheckpoint(f *testing.F) {
	f.Add([]byte("old 0\n\no\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— o AAAA\n"))
	f.Add(FormatAddCheckpoint(5, [][]byte{make([]byte, 32), bytes.Repeat([]byte{1}, 32)}, []byte("cp\n")))
	f.Fuzz(func(t *testing.T, b []byte) {
		old, proof, cp, err := ParseAddCheckpoint(b)
		if err != nil {
			return
		}
		if again := FormatAddCheckpoint(old, proof, cp); !bytes.Equal(again, b) {
			t.Fatalf("request %q re-encodes as %q", b, again)
		}
	})
}

func FuzzParseEntryBundle(f *testing.F) {
	f.Add(AppendEntry(AppendEntry(nil, []byte("a")), []byte("bc")))
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := ParseEntryBundle(b)
		if err != nil {
			return
		}
		var again []byte
		for _, e := range es {
			again = AppendEntry(again, e)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("bundle re-encodes differently")
		}
	})
}
