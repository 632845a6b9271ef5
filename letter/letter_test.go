package letter

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"filippo.io/age"

	"pouch.dev/keys"
	"pouch.dev/record"
)

const leaderLetter = `# To the President of the Russian Federation

Your Excellency,

## Relations
The relations between our two countries are strong and strategic.

## The agreement
` + "```" + `
## not a heading inside a fence
` + "```" + `
Details of the nuclear agreement.

## Closing

With respect.
`

var cast = map[record.Handle]*keys.Principal{}

func who(t testing.TB, h record.Handle) *keys.Principal {
	if p, ok := cast[h]; ok {
		return p
	}
	p, err := keys.Generate(h)
	if err != nil {
		t.Fatal(err)
	}
	cast[h] = p
	return p
}

func TestParseMarkdown(t *testing.T) {
	ss, err := ParseMarkdown([]byte(leaderLetter))
	if err != nil {
		t.Fatal(err)
	}
	titles := []string{"", "Relations", "The agreement", "Closing"}
	if len(ss) != len(titles) {
		t.Fatalf("%d sections: %+v", len(ss), ss)
	}
	for i, s := range ss {
		if s.Title != titles[i] {
			t.Errorf("section %d: title %q, want %q", i, s.Title, titles[i])
		}
	}
	if ss[0].Text != "# To the President of the Russian Federation\n\nYour Excellency," {
		t.Errorf("preamble %q", ss[0].Text)
	}
	if !strings.Contains(ss[2].Text, "## not a heading") {
		t.Errorf("fenced heading split the section: %q", ss[2].Text)
	}
	again, err := ParseMarkdown(Markdown(ss))
	if err != nil || len(again) != len(ss) {
		t.Fatalf("Markdown round trip: %v", err)
	}
	for i := range ss {
		if again[i].Title != ss[i].Title || again[i].Text != ss[i].Text {
			t.Errorf("round trip section %d: %+v != %+v", i, again[i], ss[i])
		}
	}
	// A blank preamble is not a section.
	ss, _ = ParseMarkdown([]byte("\n\n## Only\ntext\n"))
	if len(ss) != 1 || ss[0].Title != "Only" {
		t.Fatalf("%+v", ss)
	}
	if _, err := ParseMarkdown([]byte("  \n")); !errors.Is(err, ErrNoSections) {
		t.Fatalf("empty letter: %v", err)
	}
}

func sealTo(t testing.TB, from, to record.Handle, via []record.Handle, readers []record.Handle, attach ...Attachment) (*Sealed, []byte) {
	t.Helper()
	ss, err := ParseMarkdown([]byte(leaderLetter))
	if err != nil {
		t.Fatal(err)
	}
	req := &SealRequest{Author: who(t, from), To: who(t, to).Public(), Via: via, Sections: ss, Attach: attach, Time: 1613000000000}
	for _, r := range readers {
		req.Readers = append(req.Readers, who(t, r).Public())
	}
	var payload bytes.Buffer
	s, err := Seal(&payload, req)
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if err := WriteFile(&file, &FileHead{Tag: s.Tag.Signed.Marshal()}, &payload, uint64(payload.Len())); err != nil {
		t.Fatal(err)
	}
	return s, file.Bytes()
}

func openFile(b []byte, me *keys.Principal) (*Opened, error) {
	f, err := ReadFile(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return OpenPouch(f, me, nil)
}

func TestSealOpen(t *testing.T) {
	att := []byte("annex: the joint comprehensive plan of action")
	s, file := sealTo(t, "ir/leader", "ru/president", []record.Handle{"ir/speaker"}, []record.Handle{"ru/duma-chair"},
		Attachment{Name: "annex.txt", Size: int64(len(att)), Content: bytes.NewReader(att)})
	if got := s.Header.Header.Readers; len(got) != 3 || got[0] != "ir/leader" || got[1] != "ru/duma-chair" || got[2] != "ru/president" {
		t.Fatalf("readers %v", got)
	}
	for _, h := range []record.Handle{"ru/president", "ru/duma-chair", "ir/leader"} {
		o, err := openFile(file, who(t, h))
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		if len(o.Sections) != 4 || o.Sections[1].Title != "Relations" {
			t.Fatalf("%s: sections %+v", h, o.Sections)
		}
		if len(o.Attachments) != 1 || !bytes.Equal(o.Attachments[0].Data, att) {
			t.Fatalf("%s: attachments %+v", h, o.Attachments)
		}
	}
	// The envoy cannot open it, and is told why.
	_, err := openFile(file, who(t, "ir/speaker"))
	var ns *NotSealedError
	if !errors.As(err, &ns) || !errors.Is(err, ErrNotSealedToYou) {
		t.Fatalf("envoy opening: %v", err)
	}
	if want := "this pouch is not sealed to ir/speaker (it is addressed to ru/president; you are on its route as a carrier)"; err.Error() != want {
		t.Fatalf("message:\n got %s\nwant %s", err, want)
	}
	_, err = openFile(file, who(t, "us/president"))
	if err == nil || !strings.Contains(err.Error(), "you are not on its route") {
		t.Fatalf("stranger opening: %v", err)
	}
}

// The payload is a plain age file: age opens it with the reader's identity.
func TestPayloadIsAgeFile(t *testing.T) {
	_, file := sealTo(t, "ru/president", "ir/leader", nil, nil)
	f, err := ReadFile(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	idf, err := who(t, "ir/leader").AgeIdentityFile()
	if err != nil {
		t.Fatal(err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(idf))
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(f.Payload, ids...)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(plain, []byte("strong and strategic")) {
		t.Fatal("plaintext does not hold the letter")
	}
	if err := f.Finish(); err != nil {
		t.Fatal(err)
	}
}

// Every single-byte change of a .pouch file is caught: by the structure
// check, a signature, the payload digest or age's authentication.
func TestMangledFileRejected(t *testing.T) {
	_, file := sealTo(t, "ir/leader", "ru/president", []record.Handle{"ir/speaker"}, nil)
	me := who(t, "ru/president")
	step := 1
	if testing.Short() {
		step = 7
	}
	for i := 0; i < len(file); i += step {
		m := bytes.Clone(file)
		m[i] ^= 0x01
		if _, err := openFile(m, me); err == nil {
			t.Fatalf("byte %d changed: accepted", i)
		}
	}
	if _, err := openFile(append(bytes.Clone(file), 0), me); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if _, err := openFile(file[:len(file)-1], me); err == nil {
		t.Fatal("truncated file accepted")
	}
}

func TestTamperedPayloadNamesTheProblem(t *testing.T) {
	_, file := sealTo(t, "ir/leader", "ru/president", nil, nil)
	m := bytes.Clone(file)
	m[len(m)-20] ^= 0x40
	f, err := ReadFile(bytes.NewReader(m))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Finish(); !errors.Is(err, ErrPayload) || !strings.Contains(err.Error(), "a byte was changed") {
		t.Fatalf("verify of a tampered payload: %v", err)
	}
	if _, err := openFile(m, who(t, "ru/president")); !errors.Is(err, ErrPayload) {
		t.Fatalf("open of a tampered payload: %v", err)
	}
}

// A letter re-sealed by a reader under a tag to a third party fails: the
// signed header names the original addressee.
func TestResealedHeaderCaught(t *testing.T) {
	s, _ := sealTo(t, "ir/leader", "ru/president", nil, nil)
	o := &Opened{Header: s.Header, Sections: s.Sections}
	mallory := who(t, "ru/president") // a reader of the original
	ph, _ := record.Marshal(payloadHead{Header: o.Header.Signed.Marshal(), Sections: o.Sections})
	var payload bytes.Buffer
	w, _ := age.Encrypt(&payload, who(t, "cn/president").Recipient())
	w.Write(ph)
	w.Close()
	tag := &Tag{ID: s.Header.Header.ID, From: "ir/leader", To: "cn/president", Payload: PayloadDigest(payload.Bytes()), Size: uint64(payload.Len())}
	// The reader cannot sign as ir/leader, so the forged tag carries its
	// own key under the leader's name.
	ts, err := SignTag(tag, mallory.Signing, record.NewSalt(), 1, "")
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	WriteFile(&file, &FileHead{Tag: ts.Marshal()}, bytes.NewReader(payload.Bytes()), uint64(payload.Len()))
	if _, err := openFile(file.Bytes(), who(t, "cn/president")); !errors.Is(err, ErrHeaderMismatch) {
		t.Fatalf("re-sealed letter: %v", err)
	}
}

func custody(t testing.TB, tag *SignedTag, by, from record.Handle, delivered bool, onBehalf record.Handle) *SignedCustody {
	t.Helper()
	s, err := SignCustody(&Custody{Pouch: tag.PouchID(), From: from, Delivered: delivered, OnBehalf: onBehalf}, by, who(t, by).Signing, record.NewSalt(), 1613000001000, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := VerifyCustody(s.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDisclosure(t *testing.T) {
	s, _ := sealTo(t, "ir/leader", "ru/president", []record.Handle{"ir/speaker"}, []record.Handle{"ir/speaker"})
	o := &Opened{Header: s.Header, Sections: s.Sections}
	speaker := who(t, "ir/speaker")
	pid := s.Tag.PouchID()
	d, err := Disclose(o, []int{1}, speaker.Handle, speaker.Signing, &pid, 1613100000000, "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := VerifyDisclosure(d.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if v.Undisclosed != 3 || len(v.Sections) != 1 || v.Sections[0].Title != "Relations" || v.IsAuthor() {
		t.Fatalf("%+v", v)
	}
	// A disclosure whose section was changed does not verify.
	var body Disclosure
	_, r, _ := record.Parse(d.Marshal())
	r.DecodeBody(&body)
	body.Sections[0].Text = "The relations are merely tactical."
	forged, err := record.Sign(&record.Record{Kind: record.KindDisclosure, By: []record.Handle{"ir/speaker"}, Time: 1}, body, speaker.Signing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyDisclosure(forged.Marshal()); !errors.Is(err, ErrCommitment) {
		t.Fatalf("forged disclosure: %v", err)
	}
	if _, err := Disclose(o, []int{2, 1}, speaker.Handle, speaker.Signing, nil, 1, ""); err == nil {
		t.Fatal("unordered indexes accepted")
	}
}

func TestHeadHelpers(t *testing.T) {
	for _, n := range []uint64{0, 1, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32} {
		var want []byte
		if n <= 1<<17 {
			want, _ = record.Marshal(make([]byte, n))
			want = want[:len(want)-int(n)]
		}
		got := record.AppendCBORHead(nil, majorBytes, n)
		if want != nil && !bytes.Equal(got, want) {
			t.Errorf("head of %d: %x, want %x", n, got, want)
		}
	}
}

// Every single-byte change of a .pouch file carrying custody records, and
// of a disclosure, is rejected.
func TestMangledCustodyAndDisclosureRejected(t *testing.T) {
	s, file := sealTo(t, "ir/leader", "ru/president", []record.Handle{"ir/speaker"}, nil)
	f, err := ReadFile(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	var withCustody bytes.Buffer
	if err := Rewrite(&withCustody, f, custody(t, s.Tag, "ir/speaker", "ir/leader", false, "").Signed); err != nil {
		t.Fatal(err)
	}
	b := withCustody.Bytes()
	headLen := len(b) - int(s.Tag.Tag.Size)
	for i := 0; i < headLen; i++ {
		m := bytes.Clone(b)
		m[i] ^= 0x01
		f, err := ReadFile(bytes.NewReader(m))
		if err != nil {
			continue
		}
		if err := f.Finish(); err != nil {
			continue
		}
		t.Fatalf("byte %d of the head changed: accepted", i)
	}

	o := &Opened{Header: s.Header, Sections: s.Sections}
	d, err := Disclose(o, []int{1, 3}, "ir/leader", who(t, "ir/leader").Signing, nil, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	db := d.Marshal()
	for i := range db {
		m := bytes.Clone(db)
		m[i] ^= 0x01
		if _, err := VerifyDisclosure(m); err == nil {
			t.Fatalf("byte %d of a disclosure changed: accepted", i)
		}
	}
}

func TestFileHeadCustodyMustBeArray(t *testing.T) {
	_, file := sealTo(t, "ir/leader", "ru/president", nil, nil)
	f, _ := ReadFile(bytes.NewReader(file))
	type loose struct {
		V       uint64 `cbor:"v"`
		Tag     []byte `cbor:"tag"`
		Custody any    `cbor:"custody"`
	}
	head, _ := record.Marshal(loose{V: FileVersion, Tag: f.Head.Tag, Custody: nil})
	payload, _ := io.ReadAll(f.Payload)
	b := record.AppendCBORHead(head, majorBytes, uint64(len(payload)))
	b = append(b, payload...)
	if _, err := ReadFile(bytes.NewReader(b)); !errors.Is(err, ErrMalformedFile) {
		t.Fatalf("custody: null accepted: %v", err)
	}
}
