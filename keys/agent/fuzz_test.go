package agent

import (
	"bytes"
	"encoding/binary"
	"testing"

	"pouch.dev/record"
)

// FuzzReadMsg feeds arbitrary frames to the agent's decoder: a request it
// accepts must be written back as exactly the same frame.
func FuzzReadMsg(f *testing.F) {
	for _, r := range []*Request{
		{V: Version, Op: OpList},
		{V: Version, Op: OpSign, Handle: "ir/leader", Msg: []byte("pouch.dev/v1/tag\x00...")},
		{V: Version, Op: OpUnwrap, Handle: "ru/president", Stanzas: []Stanza{{Type: "mlkem768x25519", Args: []string{"AAAA"}, Body: []byte{1, 2, 3}}}},
		{V: Version, Op: OpAdd, Key: []byte("# pouch principal key (spec/keys.md)\n")},
		{V: Version, Op: OpLock},
	} {
		var buf bytes.Buffer
		if err := writeMsg(&buf, r); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add(binary.BigEndian.AppendUint32(nil, MaxMessage+1))
	f.Fuzz(func(t *testing.T, b []byte) {
		var req Request
		if err := readMsg(bytes.NewReader(b), &req); err != nil {
			return
		}
		var again bytes.Buffer
		if err := writeMsg(&again, &req); err != nil {
			t.Fatalf("accepted request does not encode: %v", err)
		}
		n := 4 + int(binary.BigEndian.Uint32(b))
		if !bytes.Equal(again.Bytes(), b[:n]) {
			t.Fatalf("accepted frame re-encodes differently:\n%x\n%x", b[:n], again.Bytes())
		}
		if _, err := record.Marshal(&req); err != nil {
			t.Fatal(err)
		}
	})
}
