package line

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"pouch.dev/record"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, f := range []*frame{
		{T: FrameText, Time: 1, Text: "hello"},
		{T: FramePouch, Time: 2, ID: make([]byte, 32), Size: 4},
		{T: FramePart, Data: []byte("file")},
		{T: FrameBye, Time: 3},
		{T: FrameRecord, Data: []byte{0xa0}},
	} {
		b, err := appendFrame(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		g, n, err := readFrame(bufio.NewReader(bytes.NewReader(b)))
		if err != nil || n != len(b) || g.T != f.T || g.Text != f.Text || g.Size != f.Size || !bytes.Equal(g.Data, f.Data) {
			t.Fatalf("%+v: got %+v, %d, %v", f, g, n, err)
		}
	}
}

func TestFrameRejects(t *testing.T) {
	enc := func(v any) []byte {
		b, err := record.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return binary.BigEndian.AppendUint32(nil, uint32(len(b)))[:4:4]
	}
	_ = enc
	wire := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	mustCBOR := func(v any) []byte {
		b, err := record.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, in := range map[string][]byte{
		"oversize":      binary.BigEndian.AppendUint32(nil, MaxFrameSize+1),
		"unknown type":  wire(mustCBOR(map[string]any{"t": "shout"})),
		"unknown key":   wire(mustCBOR(map[string]any{"t": "bye", "x": 1})),
		"text data":     wire(mustCBOR(map[string]any{"t": "text", "data": []byte{1}})),
		"pouch no id":   wire(mustCBOR(map[string]any{"t": "pouch", "size": 1})),
		"pouch data":    wire(mustCBOR(map[string]any{"t": "pouch", "id": make([]byte, 32), "size": 1, "data": []byte{1}})),
		"pouch empty":   wire(mustCBOR(map[string]any{"t": "pouch", "id": make([]byte, 32)})),
		"pouch too big": wire(mustCBOR(map[string]any{"t": "pouch", "id": make([]byte, 32), "size": uint64(MaxPouchSize) + 1})),
		"part empty":    wire(mustCBOR(map[string]any{"t": "part"})),
		"part too big":  wire(mustCBOR(map[string]any{"t": "part", "data": make([]byte, MaxPartSize+1)})),
		"part with id":  wire(mustCBOR(map[string]any{"t": "part", "id": make([]byte, 32), "data": []byte{1}})),
		"non-canonical": wire([]byte{0xa1, 0x61, 't', 0x78, 0x03, 'b', 'y', 'e'}), // text length not minimal
		"bad utf-8":     wire([]byte{0xa2, 0x61, 't', 0x64, 't', 'e', 'x', 't', 0x64, 't', 'e', 'x', 't', 0x61, 0xff}),
		"truncated":     wire(mustCBOR(map[string]any{"t": "bye"}))[:5],
	} {
		if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(in))); err == nil {
			t.Errorf("%s: accepted", name)
		} else if name != "truncated" && !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: %v, want ErrBadFrame", name, err)
		}
	}
	if _, err := appendFrame(nil, &frame{T: FrameText, Text: string(make([]byte, MaxTextSize+1))}); err == nil {
		t.Error("oversize text sent")
	}
}

// partFrame, the fast path for part frames, takes exactly the part frames
// the strict decoder takes, and nothing else.
func TestPartFrame(t *testing.T) {
	for _, n := range []int{1, 23, 24, 255, 256, 65535, 65536, MaxPartSize} {
		data := bytes.Repeat([]byte{7}, n)
		b, err := appendFrame(nil, &frame{T: FramePart, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		body := b[4:]
		p := partFrame(body)
		if p == nil || !bytes.Equal(p.Data, data) {
			t.Fatalf("a part of %d bytes not recognised", n)
		}
		for name, bad := range map[string][]byte{
			"trailing byte":  append(slices.Clone(body), 0),
			"one byte short": body[:len(body)-1],
			"longer head":    append(append(slices.Clone(partPrefix), appendLongHead(n)...), data...),
			"other type":     append(append(slices.Clone(partPrefix[:3]), 0x64, 't', 'e', 'x', 't'), body[len(partPrefix)-5:]...),
		} {
			if partFrame(bad) != nil {
				t.Errorf("part of %d bytes, %s: accepted", n, name)
			}
		}
	}
	if partFrame(append(slices.Clone(partPrefix), 0x40)) != nil {
		t.Error("an empty part accepted")
	}
	if partFrame(append(append(slices.Clone(partPrefix), 0x5a, 0, 4, 0, 1), make([]byte, MaxPartSize+1)...)) != nil {
		t.Error("a part over MaxPartSize accepted")
	}
}

// appendLongHead is a byte-string head for n that is one size too long:
// not the shortest form.
func appendLongHead(n int) []byte {
	switch {
	case n < 24:
		return []byte{0x58, byte(n)}
	case n <= 0xff:
		return []byte{0x59, 0, byte(n)}
	case n <= 0xffff:
		return []byte{0x5a, 0, 0, byte(n >> 8), byte(n)}
	}
	return []byte{0x5b, 0, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

func FuzzReadFrame(f *testing.F) {
	for _, fr := range []*frame{{T: FrameText, Time: 1, Text: "hi"}, {T: FrameBye}, {T: FramePouch, ID: make([]byte, 32), Size: 9}, {T: FramePart, Data: []byte("pouch")}} {
		b, _ := appendFrame(nil, fr)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// The fast path for part frames accepts exactly what the strict
		// decoder accepts as a part frame.
		if p := partFrame(in); p != nil {
			var strict frame
			if err := record.Unmarshal(in, &strict); err != nil || strict.check() != nil || strict.T != FramePart || !bytes.Equal(strict.Data, p.Data) {
				t.Fatalf("partFrame accepted %x, which the strict decoder reads as %+v (%v)", in, strict, err)
			}
		}
		fr, n, err := readFrame(bufio.NewReader(bytes.NewReader(in)))
		if err != nil {
			return
		}
		again, err := appendFrame(nil, fr)
		if err != nil || !bytes.Equal(again, in[:n]) {
			t.Fatalf("accepted frame does not re-encode to the same bytes")
		}
	})
}
