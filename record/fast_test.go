package record

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"testing"
)

// checkFastAgrees fails t if the direct decoder accepts b as a Signed or
// as a Record where the generic strict decoder (Unmarshal, with the
// canonical check) does not, or decodes it into a different value. It
// reports which of the two the direct decoder took.
func checkFastAgrees(t *testing.T, b []byte) (signed, rec bool) {
	t.Helper()
	var fs, gs Signed
	if decodeSignedFast(b, &fs) {
		signed = true
		if err := Unmarshal(b, &gs); err != nil {
			t.Fatalf("direct decoder took a Signed the generic one refuses (%v): %x", err, b)
		}
		if !reflect.DeepEqual(fs, gs) {
			t.Fatalf("direct decoder's Signed differs from the generic one's:\n%+v\n%+v\n%x", fs, gs, b)
		}
	} else if !reflect.DeepEqual(fs, Signed{}) {
		t.Fatalf("direct decoder declined but changed the Signed: %x", b)
	}
	if signed {
		if enc := appendSignedFast(nil, &fs); !bytes.Equal(enc, b) {
			t.Fatalf("direct encoder's Signed differs from the input:\n%x\n%x", enc, b)
		}
	}
	var fr, gr Record
	if decodeRecordFast(b, &fr) {
		rec = true
		if enc := appendRecordFast(nil, &fr); !bytes.Equal(enc, b) {
			t.Fatalf("direct encoder's Record differs from the input:\n%x\n%x", enc, b)
		}
		if err := Unmarshal(b, &gr); err != nil {
			t.Fatalf("direct decoder took a Record the generic one refuses (%v): %x", err, b)
		}
		if !reflect.DeepEqual(fr, gr) {
			t.Fatalf("direct decoder's Record differs from the generic one's:\n%+v\n%+v\n%x", fr, gr, b)
		}
	} else if !reflect.DeepEqual(fr, Record{}) {
		t.Fatalf("direct decoder declined but changed the Record: %x", b)
	}
	return signed, rec
}

// fastSeeds returns signed records of various shapes: private and
// public, with and without origin, one and two signers, times before
// and after 1970.
func fastSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, r := range []*Record{
		{Kind: KindCustody, By: []Handle{"ir/speaker"}, Time: 1613000000000, Salt: bytes.Repeat([]byte{7}, SaltSize)},
		{Kind: KindCosign, Origin: "pouch.test/log", By: []Handle{"ir/president"}, Time: 1},
		{Kind: KindLine, By: []Handle{"ir/speaker", "us/president"}, Time: -1 << 62},
		{Kind: KindStatement, Origin: "o", By: []Handle{"ir/speaker"}, Time: 0, Salt: bytes.Repeat([]byte{1}, SaltSize)},
	} {
		var s *Signed
		var err error
		if len(r.By) == 2 {
			s, err = Sign(r, testBody{From: "ir/leader"}, testKey(1), testKey(2))
		} else {
			s, err = Sign(r, map[string]any{"from": "ir/leader", "n": []any{1, -2, "x", []byte{3}, map[string]any{"a": true}}}, testKey(1))
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s.Marshal(), s.Record)
	}
	return out
}

// The direct decoder takes the records pouch writes, and what it takes
// the generic decoder decodes alike.
func TestFastDecodeTakesOrdinaryRecords(t *testing.T) {
	for _, b := range fastSeeds(t) {
		signed, rec := checkFastAgrees(t, b)
		if !signed && !rec {
			t.Errorf("the direct decoder declined an ordinary record: %x", b)
		}
	}
	for _, b := range vectorInputs(t) {
		checkFastAgrees(t, b)
	}
}

// Inputs the direct decoder must decline (the generic decoder refuses
// some, takes others), each a small change to a record it takes.
func TestFastDecodeAgrees(t *testing.T) {
	rec := func(mid string) []byte {
		// {"v": 1, "by": ["a/b"], "body": {}, "kind": "cosign", <mid>}
		b, _ := hex.DecodeString("a5" + "617601" + "6262798163612f62" + "64626f6479a0" + "646b696e6466636f7369676e" + mid)
		return b
	}
	ok := rec("6474696d6501") // "time": 1
	if _, r := checkFastAgrees(t, ok); !r {
		t.Fatalf("the direct decoder declined %x", ok)
	}
	cases := map[string][]byte{
		"time as a non-minimal head":        rec("6474696d651801"),
		"time beyond int64":                 rec("6474696d651b8000000000000000"),
		"time as a float":                   rec("6474696d65f93c00"),
		"most negative time":                rec("6474696d653b7fffffffffffffff"),
		"time below int64":                  rec("6474696d653b8000000000000000"),
		"an unknown key at the end":         append(append([]byte{0xa6}, rec("6474696d6501")[1:]...), 0x61, 'z', 0x00),
		"trailing bytes":                    append(rec("6474696d6501"), 0x00),
		"a missing time":                    append([]byte{0xa4}, rec("")[1:]...),
		"a pair count too high":             append([]byte{0xa6}, rec("6474696d6501")[1:]...),
		"an empty salt":                     append([]byte{0xa6}, rec("6473616c74406474696d6501")[1:]...),
		"a salt as text":                    append([]byte{0xa6}, rec("6473616c74616b6474696d6501")[1:]...),
		"an empty origin":                   append([]byte{0xa6}, rec("6474696d650166" + hex.EncodeToString([]byte("origin")) + "60")[1:]...),
		"an origin not UTF-8":               append([]byte{0xa6}, rec("6474696d650166" + hex.EncodeToString([]byte("origin")) + "61ff")[1:]...),
		"an indefinite body":                bytes.Replace(ok, []byte("body\xa0"), []byte("body\xbf\xff"), 1),
		"a null body":                       bytes.Replace(ok, []byte("body\xa0"), []byte("body\xf6"), 1),
		"a tagged body":                     bytes.Replace(ok, []byte("body\xa0"), []byte("body\xc1\xa0"), 1),
		"a body with a non-minimal integer": bytes.Replace(ok, []byte("body\xa0"), []byte("body\xa1\x61a\x18\x01"), 1),
		"a body nested deep":                bytes.Replace(ok, []byte("body\xa0"), []byte("body\xa1\x61a"+string(bytes.Repeat([]byte{0x81}, 20))+"\x00"), 1),
		"a truncated body":                  bytes.Replace(ok, []byte("body\xa0"), []byte("body\xa1"), 1),
		"an indefinite by":                  bytes.Replace(ok, []byte("by\x81\x63a/b"), []byte("by\x9f\x63a/b\xff"), 1),
		"no signer":                         bytes.Replace(ok, []byte("by\x81\x63a/b"), []byte("by\x80"), 1),
		"a signer not UTF-8":                bytes.Replace(ok, []byte("by\x81\x63a/b"), []byte("by\x81\x63a/\xff"), 1),
		"a version in a non-minimal head":   bytes.Replace(ok, []byte("\x61v\x01"), []byte("\x61v\x18\x01"), 1),
		"a negative version":                bytes.Replace(ok, []byte("\x61v\x01"), []byte("\x61v\x20"), 1),
		"keys out of order":                 bytes.Replace(ok, []byte("\x61v\x01\x62by\x81\x63a/b"), []byte("\x62by\x81\x63a/b\x61v\x01"), 1),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, r := checkFastAgrees(t, b); r && name != "most negative time" {
				t.Errorf("the direct decoder took %x", b)
			}
		})
	}
	if _, r := checkFastAgrees(t, cases["most negative time"]); !r {
		t.Error("the direct decoder declined the most negative time")
	}
	// Signed envelopes.
	s := fastSeeds(t)[0]
	rec0 := bytes.Clone(s)
	at := bytes.Index(rec0, []byte("record")) + len("record")
	rec0[at] = rec0[at]&0x1f | 4<<5
	if sg, _ := checkFastAgrees(t, s); !sg {
		t.Fatal("the direct decoder declined a signed record")
	}
	for name, b := range map[string][]byte{
		"no signatures":         {0xa2, 0x64, 's', 'i', 'g', 's', 0x80, 0x66, 'r', 'e', 'c', 'o', 'r', 'd', 0x41, 0x00},
		"trailing bytes":        append(bytes.Clone(s), 0),
		"truncated":             s[:len(s)-1],
		"an alg not UTF-8":      bytes.Replace(s, []byte("ed25519"), []byte("ed2551\xff"), 1),
		"another alg":           bytes.Replace(s, []byte("ed25519"), []byte("ed25518"), 1),
		"a key as text":         bytes.Replace(s, []byte("key\x58\x20"), []byte("key\x78\x20"), 1),
		"a key in a long head":  bytes.Replace(s, []byte("key\x58\x20"), []byte("key\x59\x00\x20"), 1),
		"a record as an array":  rec0,
		"a signature map of 4":  bytes.Replace(s, []byte("\x81\xa3"), []byte("\x81\xa4"), 1),
		"an indefinite sigs":    bytes.Replace(s, []byte("sigs\x81"), []byte("sigs\x9f"), 1),
		"sigs counted too high": bytes.Replace(s, []byte("sigs\x81"), []byte("sigs\x82"), 1),
	} {
		t.Run(name, func(t *testing.T) {
			if sg, _ := checkFastAgrees(t, b); sg && name != "another alg" {
				t.Errorf("the direct decoder took %x", b)
			}
		})
	}
}

// Parse's allocations are few: the direct decoder allocates a record's
// memory at once, where the generic one allocates per field.
func TestParseAllocations(t *testing.T) {
	b := fastSeeds(t)[0]
	n := testing.AllocsPerRun(100, func() {
		if _, _, err := Parse(b); err != nil {
			t.Fatal(err)
		}
	})
	if n > 8 {
		t.Errorf("Parse made %v allocations, want at most 8", n)
	}
}

// FuzzFastDecode: the direct decoder takes nothing the generic decoder
// refuses, and decodes alike what it takes.
func FuzzFastDecode(f *testing.F) {
	for _, b := range vectorInputs(f) {
		f.Add(b)
	}
	for _, b := range fastSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastAgrees(t, b)
	})
}

// The direct encoder gives the bytes the generic deterministic encoder
// gives, for values of the shapes the direct decoder takes, including
// heads of every width.
func TestFastEncodeAgrees(t *testing.T) {
	long := func(n int) string { return string(bytes.Repeat([]byte{'a'}, n)) }
	for _, r := range []*Record{
		{V: 1, Kind: KindCosign, By: []Handle{"ir/president"}, Time: 1700000000000, Body: []byte{0xa0}},
		{V: 23, Kind: KindCustody, By: []Handle{"a/b", "c/d"}, Time: -1, Salt: bytes.Repeat([]byte{1}, SaltSize), Origin: "o", Body: []byte{0xa1, 0x61, 'a', 0x01}},
		{V: 24, Kind: Kind(long(300)), By: []Handle{Handle(long(24))}, Time: -25, Salt: bytes.Repeat([]byte{1}, 70000), Origin: long(255), Body: []byte{0xa0}},
		{V: 1 << 40, Kind: "", By: []Handle{""}, Time: 1<<63 - 1, Body: []byte{0xa0}},
		{V: 1<<64 - 1, Kind: "x", By: []Handle{"x"}, Time: -1 << 63, Body: []byte{0xa0}},
		{V: 256, Kind: "x", By: []Handle{"x"}, Time: 65536, Body: []byte{0xa0}},
	} {
		want, err := Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendRecordFast(nil, r); !bytes.Equal(got, want) {
			t.Errorf("Record %+v:\n%x, want\n%x", r, got, want)
		}
		s := &Signed{Record: want, Sigs: []Sig{{Alg: AlgEd25519, Key: make([]byte, 32), Sig: make([]byte, 64)}, {Alg: long(30), Key: []byte{}, Sig: make([]byte, 300)}}}
		want, err = Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendSignedFast(nil, s); !bytes.Equal(got, want) {
			t.Errorf("Signed:\n%x, want\n%x", got, want)
		}
	}
}

// LeafData gives the bytes the generic deterministic encoder gives a
// Leaf: every kind, times at every head width and negative, both values
// of Private.
func TestLeafDataAgrees(t *testing.T) {
	kinds := append(append([]Kind(nil), Kinds...), "", Kind(bytes.Repeat([]byte{'k'}, 300)))
	times := []int64{0, 1, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1612792800000, 1<<63 - 1, -1, -24, -25, -1 << 63}
	for i, k := range kinds {
		for j, tm := range times {
			l := Leaf{Kind: k, Time: tm, Private: (i+j)%2 == 0}
			l.ID[0], l.ID[31] = byte(i), byte(j)
			want, err := Marshal(l)
			if err != nil {
				t.Fatal(err)
			}
			if got := LeafData(l); !bytes.Equal(got, want) {
				t.Fatalf("LeafData(%+v) = %x, want %x", l, got, want)
			}
		}
	}
}

// TestCBORHeadRules: the argument widths and the shortest forms that the
// hand-written readers of CBOR heads share agree with the one encoder,
// AppendCBORHead, at every width's edges, and refuse indefinite lengths
// and reserved values.
func TestCBORHeadRules(t *testing.T) {
	for ai := range byte(32) {
		n, ok := CBORArgWidth(ai)
		want, wantOK := map[byte]int{24: 1, 25: 2, 26: 4, 27: 8}[ai], ai <= 27
		if ok != wantOK || n != want {
			t.Errorf("CBORArgWidth(%d) = %d, %v; want %d, %v", ai, n, ok, want, wantOK)
		}
	}
	for _, arg := range []uint64{0, 23, 24, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000, 1<<64 - 1} {
		shortest := AppendCBORHead(nil, 0, arg)
		n, _ := CBORArgWidth(shortest[0] & 0x1f)
		for _, width := range []int{0, 1, 2, 4, 8} {
			if width == 0 && arg >= 24 || width > 0 && width < 8 && arg>>(8*width) != 0 {
				continue // does not fit
			}
			if got := CBORShortest(width, arg); got != (width == n) {
				t.Errorf("CBORShortest(%d, %d) = %v; the shortest width is %d", width, arg, got, n)
			}
		}
	}
}
