package line

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
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

func FuzzReadFrame(f *testing.F) {
	for _, fr := range []*frame{{T: FrameText, Time: 1, Text: "hi"}, {T: FrameBye}, {T: FramePouch, ID: make([]byte, 32), Size: 9}, {T: FramePart, Data: []byte("pouch")}} {
		b, _ := appendFrame(nil, fr)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
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
