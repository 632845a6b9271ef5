package letter

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"pouch.dev/record"
)

// Fuzz targets for every decoder of the package: none may panic, and what
// a decoder accepts re-encodes to the identical bytes.

func fuzzPouchSeeds(f *testing.F) [][]byte {
	att := []byte("annex")
	s, file := sealTo(f, "ir/leader", "ru/president", []record.Handle{"ir/speaker"}, nil,
		Attachment{Name: "a.txt", Size: int64(len(att)), Content: bytes.NewReader(att)})
	c := custody(f, s.Tag, "ir/speaker", "ir/leader", false, "")
	fl, err := ReadFile(bytes.NewReader(file))
	if err != nil {
		f.Fatal(err)
	}
	var withCustody bytes.Buffer
	if err := Rewrite(&withCustody, fl, c.Signed); err != nil {
		f.Fatal(err)
	}
	// With a proof of its tag (structurally valid; nothing here checks its
	// signatures).
	fl, _ = ReadFile(bytes.NewReader(file))
	payload, _ := io.ReadAll(fl.Payload)
	head := *fl.Head
	head.Proofs = [][]byte{fileProof(record.Leaf{Kind: record.KindTag, ID: s.Tag.PouchID(), Time: 7, Private: true}, 2, "o")}
	var withProof bytes.Buffer
	if err := WriteFile(&withProof, &head, bytes.NewReader(payload), uint64(len(payload))); err != nil {
		f.Fatal(err)
	}
	return [][]byte{file, withCustody.Bytes(), withProof.Bytes()}
}

func FuzzReadFile(f *testing.F) {
	for _, s := range fuzzPouchSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := ReadFile(bytes.NewReader(b))
		if err != nil {
			return
		}
		payload, err := io.ReadAll(fl.Payload)
		if err != nil {
			fl.Close()
			return
		}
		if err := fl.Finish(); err != nil {
			return
		}
		var again bytes.Buffer
		if err := WriteFile(&again, fl.Head, bytes.NewReader(payload), uint64(len(payload))); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Bytes(), b) {
			t.Fatalf("accepted .pouch file re-encodes differently:\n%x\n%x", b, again.Bytes())
		}
	})
}

// plaintextSeeds are payload plaintexts: the head item, then attachments.
func plaintextSeeds(f *testing.F) [][]byte {
	s, _ := sealTo(f, "ir/leader", "ru/president", nil, nil)
	head, err := record.Marshal(payloadHead{Header: s.Header.Signed.Marshal(), Sections: s.Sections})
	if err != nil {
		f.Fatal(err)
	}
	return [][]byte{head}
}

func FuzzPlaintext(f *testing.F) {
	for _, s := range plaintextSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := readPlaintext(bufio.NewReader(bytes.NewReader(b)), "", nil, nil)
		if err != nil {
			return
		}
		again, err := record.Marshal(payloadHead{Header: o.Header.Signed.Marshal(), Sections: o.Sections})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range o.Attachments {
			again = record.AppendCBORHead(again, majorBytes, uint64(len(a.Data)))
			again = append(again, a.Data...)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted plaintext re-encodes differently")
		}
	})
}

func FuzzVerifyDisclosure(f *testing.F) {
	s, _ := sealTo(f, "ir/leader", "ru/president", nil, nil)
	o := &Opened{Header: s.Header, Sections: s.Sections}
	d, err := Disclose(o, []int{0, 2}, "ir/leader", who(f, "ir/leader").Signing, nil, 1, "")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(d.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := VerifyDisclosure(b)
		if err != nil {
			return
		}
		if !bytes.Equal(v.Signed.Marshal(), b) {
			t.Fatal("accepted disclosure re-encodes differently")
		}
		if v.Undisclosed < 0 {
			t.Fatal("negative undisclosed count")
		}
	})
}

func FuzzReadItem(f *testing.F) {
	for _, s := range fuzzPouchSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte{0x9f, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		item, err := readItem(bufio.NewReader(bytes.NewReader(b)), 1<<16)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(b, item) {
			t.Fatal("item is not a prefix of the input")
		}
	})
}

func FuzzParseMarkdown(f *testing.F) {
	f.Add([]byte(leaderLetter))
	f.Add([]byte("##\n"))
	f.Add([]byte("preamble\n## a\n```\n## b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ss, err := ParseMarkdown(b)
		if err != nil {
			return
		}
		again, err := ParseMarkdown(Markdown(ss))
		if err != nil {
			t.Fatalf("rendered letter does not parse: %v\n%q", err, Markdown(ss))
		}
		if len(again) != len(ss) {
			t.Fatalf("%d sections, %d after rendering:\n%q\n%q", len(ss), len(again), b, Markdown(ss))
		}
		for i := range ss {
			if again[i].Title != ss[i].Title || again[i].Text != ss[i].Text {
				t.Fatalf("section %d changed by rendering: %+v -> %+v", i, ss[i], again[i])
			}
		}
	})
}

// FuzzCheckRecipients feeds arbitrary payloads to CheckRecipients, which
// the server runs on every payload it is sent: it must not panic, and it
// must answer nil, ErrNotPostQuantum or ErrMalformedLetter.
func FuzzCheckRecipients(f *testing.F) {
	for _, s := range fuzzPouchSeeds(f) {
		fl, err := ReadFile(bytes.NewReader(s))
		if err != nil {
			f.Fatal(err)
		}
		p, _ := io.ReadAll(fl.Payload)
		fl.Close()
		f.Add(p)
		f.Add(bytes.Replace(p, []byte("mlkem768x25519"), []byte("X25519"), 1))
	}
	f.Add([]byte("age-encryption.org/v1\n-> X25519 AAAA\nAAAA\n--- AAAA\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := CheckRecipients(bytes.NewReader(b))
		if err != nil && !errors.Is(err, ErrNotPostQuantum) && !errors.Is(err, ErrMalformedLetter) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
