package line

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"pouch.dev/record"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.txt")

// exampleKey is a fixed key for the worked example of spec/line.md.
func exampleKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

// TestGolden pins the wire formats of the line request, a frame and the
// call record: the worked example of spec/line.md.
func TestGolden(t *testing.T) {
	sp, pr := exampleKey(1), exampleKey(2)
	var out strings.Builder
	emit := func(name string, b []byte) {
		d, err := cbor.Diagnose(b)
		if err != nil {
			d = "(not CBOR)"
		}
		fmt.Fprintf(&out, "# %s (%d bytes)\n%s\n%s\n\n", name, len(b), d, hex.EncodeToString(b))
	}

	// A line request, as ru/president asks for a line to ir/speaker.
	req := Request{From: president, To: speaker, Relay: "pouch.example/log", Time: 1774000000000, Nonce: bytes.Repeat([]byte{0xaa}, NonceSize)}
	rb, err := record.Marshal(&req)
	if err != nil {
		t.Fatal(err)
	}
	sr := SignedRequest{Request: rb, Alg: record.AlgEd25519, Key: pr.Public().(ed25519.PublicKey), Sig: ed25519.Sign(pr, requestMessage(rb))}
	srb, _ := record.Marshal(&sr)
	emit("request", rb)
	emit("signed request", srb)
	fmt.Fprintf(&out, "# %s header\n%s\n\n", RequestHeader, sr.Header())
	if _, _, err := ParseRequest(sr.Header()); err != nil {
		t.Fatal(err)
	}

	// A text frame.
	fb, err := appendFrame(nil, &frame{T: FrameText, Time: 1774000060000, Text: "Good evening, Mr Speaker."})
	if err != nil {
		t.Fatal(err)
	}
	emit("text frame, length prefix and CBOR", fb)

	// The call record of an hour's line on which one pouch was handed over.
	body := &CallBody{
		Participants: []record.Handle{speaker, president},
		Start:        1774000001000,
		End:          1774003601000,
		Binding:      bytes.Repeat([]byte{0xbb}, BindingSize),
		Bytes:        []uint64{5230, 191544},
		Pouches:      []Handover{{ID: bytes.Repeat([]byte{0xcc}, 32), From: president}},
	}
	bb, _ := record.Marshal(body)
	r := &record.Record{V: record.Version, Kind: record.KindLine, Origin: "pouch.example/log", By: body.Participants, Time: body.End, Salt: bytes.Repeat([]byte{0xdd}, record.SaltSize), Body: bb}
	recb, _ := record.Marshal(r)
	s := &record.Signed{Record: recb}
	s.AddSignature(sp)
	s.AddSignature(pr)
	emit("call record body", bb)
	emit("call record", recb)
	emit("signed call record", s.Marshal())
	fmt.Fprintf(&out, "# call record ID\n%s\n", s.ID())
	if _, err := VerifyCall(s.Marshal()); err != nil {
		t.Fatal(err)
	}

	const path = "testdata/golden.txt"
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update)", err)
	}
	if string(want) != out.String() {
		t.Errorf("wire format changed; if on purpose, run go test -run TestGolden -update and update spec/line.md\n%s", out.String())
	}
}
