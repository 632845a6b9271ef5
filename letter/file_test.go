package letter

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"pouch.dev/directory"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// fileProof returns the text of a structurally valid tlog-proof of leaf
// at index in a checkpoint of size 100 (whose signature nothing here
// checks; client.VerifyFile does).
func fileProof(l record.Leaf, index uint64, origin string) []byte {
	cp := fmt.Sprintf("%s\n100\n%s\n\n— %s AAAA\n", origin, base64.StdEncoding.EncodeToString(make([]byte, 32)), origin)
	p := &tlog.Proof{Index: index, Hashes: [][]byte{make([]byte, 32)}, Checkpoint: []byte(cp), Extra: record.LeafData(l)}
	return p.Marshal()
}

// withHead rewrites the .pouch file b with its head changed by edit.
func withHead(t *testing.T, b []byte, edit func(h *FileHead)) []byte {
	t.Helper()
	f, err := ReadFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := io.ReadAll(f.Payload)
	h := *f.Head
	edit(&h)
	var out bytes.Buffer
	if err := WriteFile(&out, &h, bytes.NewReader(payload), uint64(len(payload))); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestFileRecordsAndProofs: a .pouch file's records and proofs are read
// strictly: every record signed and of a kind the rules consult, every
// proof a strict tlog-proof whose leaf is that of one of the file's
// records, one proof per record, one checkpoint for all.
func TestFileRecordsAndProofs(t *testing.T) {
	s, file := sealTo(t, "ir/leader", "ru/president", nil, nil)
	reg := who(t, "ir/registrar")
	admit, err := record.Sign(&record.Record{Kind: record.KindAdmit, By: []record.Handle{"ir/registrar"}, Time: 1},
		&directory.Admit{Handle: "ir/leader", Key: who(t, "ir/leader").SigningPublic(), Recipient: who(t, "ir/leader").Recipient().String()}, reg.Signing)
	if err != nil {
		t.Fatal(err)
	}
	pid := s.Tag.PouchID()
	tagLeaf := record.Leaf{Kind: record.KindTag, ID: pid, Time: 5000, Private: true}
	admitLeaf := record.Leaf{Kind: record.KindAdmit, ID: admit.ID(), Time: 4000}
	good := withHead(t, file, func(h *FileHead) {
		h.Records = [][]byte{admit.Marshal()}
		h.Proofs = [][]byte{fileProof(tagLeaf, 9, "o"), fileProof(admitLeaf, 3, "o")}
	})
	f, err := ReadFile(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Records) != 1 || f.Records[0].ID() != admit.ID() || len(f.Proofs) != 2 ||
		f.Proofs[pid].Index != 9 || f.Proofs[pid].Leaf.Time != 5000 || f.Proofs[admit.ID()].Index != 3 {
		t.Fatalf("read %+v", f)
	}
	if err := f.Finish(); err != nil {
		t.Fatal(err)
	}
	// Custody added by a holder keeps the records and proofs.
	f, _ = ReadFile(bytes.NewReader(good))
	c, _ := SignCustody(&Custody{Pouch: pid, From: "ir/leader", Delivered: true}, "ru/president", who(t, "ru/president").Signing, record.NewSalt(), 6000, "")
	var again bytes.Buffer
	if err := Rewrite(&again, f, c); err != nil {
		t.Fatal(err)
	}
	if f2, err := ReadFile(bytes.NewReader(again.Bytes())); err != nil || len(f2.Records) != 1 || len(f2.Proofs) != 2 || len(f2.Custody) != 1 {
		t.Fatalf("after Rewrite: %v", err)
	}

	cases := []struct {
		name string
		edit func(h *FileHead)
		want string
	}{
		{"a record without a proof", func(h *FileHead) {
			h.Records = [][]byte{admit.Marshal()}
			h.Proofs = [][]byte{fileProof(tagLeaf, 9, "o")}
		}, "has no proof"},
		{"a proof of a record the file lacks", func(h *FileHead) {
			h.Proofs = [][]byte{fileProof(admitLeaf, 3, "o")}
		}, "which the file does not carry"},
		{"a proof of another kind", func(h *FileHead) {
			l := tagLeaf
			l.Kind = record.KindCustody
			h.Proofs = [][]byte{fileProof(l, 9, "o")}
		}, "for a leaf of kind custody"},
		{"a proof calling a private record public", func(h *FileHead) {
			l := tagLeaf
			l.Private = false
			h.Proofs = [][]byte{fileProof(l, 9, "o")}
		}, "private false"},
		{"two proofs of one record", func(h *FileHead) {
			h.Proofs = [][]byte{fileProof(tagLeaf, 9, "o"), fileProof(tagLeaf, 9, "o")}
		}, "two proofs"},
		{"two checkpoints", func(h *FileHead) {
			h.Records = [][]byte{admit.Marshal()}
			h.Proofs = [][]byte{fileProof(tagLeaf, 9, "o"), fileProof(admitLeaf, 3, "p")}
		}, "another checkpoint"},
		{"a proof without its leaf", func(h *FileHead) {
			p, _ := tlog.ParseProof(fileProof(tagLeaf, 9, "o"))
			p.Extra = nil
			h.Proofs = [][]byte{p.Marshal()}
		}, "no leaf"},
		{"a proof that is not a tlog-proof", func(h *FileHead) {
			h.Proofs = [][]byte{bytes.Replace(fileProof(tagLeaf, 9, "o"), []byte("index 9"), []byte("index 09"), 1)}
		}, "malformed tlog-proof"},
		{"a record of a kind a file does not carry", func(h *FileHead) {
			h.Records = [][]byte{s.Tag.Signed.Marshal()}
		}, "a tag record, which a .pouch file does not carry"},
		{"a record with a broken signature", func(h *FileHead) {
			bad := *admit
			bad.Sigs = []record.Sig{admit.Sigs[0]}
			bad.Sigs[0].Sig = bytes.Clone(bad.Sigs[0].Sig)
			bad.Sigs[0].Sig[0] ^= 1
			h.Records = [][]byte{bad.Marshal()}
			h.Proofs = [][]byte{fileProof(admitLeaf, 3, "o")}
		}, "signature"},
	}
	// An empty array where the field must be left out: the head has one
	// encoding.
	type loose struct {
		V       uint64   `cbor:"v"`
		Tag     []byte   `cbor:"tag"`
		Custody [][]byte `cbor:"custody"`
		Proofs  [][]byte `cbor:"proofs"`
	}
	f, _ = ReadFile(bytes.NewReader(file))
	head, _ := record.Marshal(loose{V: FileVersion, Tag: f.Head.Tag, Custody: [][]byte{}, Proofs: [][]byte{}})
	payload, _ := io.ReadAll(f.Payload)
	b := append(record.AppendCBORHead(head, majorBytes, uint64(len(payload))), payload...)
	if _, err := ReadFile(bytes.NewReader(b)); !errors.Is(err, ErrMalformedFile) {
		t.Errorf("an empty proofs array: %v", err)
	}
	for _, c := range cases {
		b := withHead(t, file, c.edit)
		if _, err := ReadFile(bytes.NewReader(b)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		} else if !errors.Is(err, ErrMalformedFile) && !errors.Is(err, record.ErrBadSignature) {
			t.Errorf("%s: %v is not ErrMalformedFile", c.name, err)
		}
	}
}
