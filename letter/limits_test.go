package letter

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"pouch.dev/keys"
	"pouch.dev/record"
)

// A letter sealed to the most readers has an age header within
// record.MaxAgeHeader, and its payload is exactly what the overhead in
// record.PayloadLimit counts: so a letter whose attachments are within
// record.MaxAttachmentsSize seals into a payload within
// record.MaxPayloadSize, whatever its readers.
func TestPayloadOverhead(t *testing.T) {
	author := who(t, "ir/leader")
	var readers []*keys.Public
	for i := range record.MaxReaders - 2 {
		p, err := keys.Generate(record.Handle(fmt.Sprintf("ru/reader-%02d", i)))
		if err != nil {
			t.Fatal(err)
		}
		readers = append(readers, p.Public())
	}
	sections := []Section{{Title: "Relations", Text: "Strong and strategic."}}
	for _, sizes := range [][]int{{}, {1}, {65535}, {65536 - 200}, {3 << 20, 1, 0}} {
		var attach []Attachment
		total := 0
		for i, n := range sizes {
			attach = append(attach, Attachment{Name: fmt.Sprintf("annex-%d", i), Size: int64(n), Content: bytes.NewReader(bytes.Repeat([]byte{'x'}, n))})
			total += n
		}
		var payload bytes.Buffer
		sealed, err := Seal(&payload, &SealRequest{Author: author, To: who(t, "ru/president").Public(), Readers: readers, Sections: sections, Attach: attach})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(sealed.Header.Header.Readers); n != record.MaxReaders {
			t.Fatalf("sealed to %d readers, want %d", n, record.MaxReaders)
		}
		p := payload.Bytes()
		end := bytes.Index(p, []byte("\n--- "))
		if end < 0 {
			t.Fatal("no age header")
		}
		hdr := end + 1 + bytes.IndexByte(p[end+1:], '\n') + 1
		t.Logf("age header of %d bytes for %d readers", hdr, record.MaxReaders)
		if hdr > record.MaxAgeHeader/2 {
			t.Errorf("age header of %d bytes for %d readers: record.MaxAgeHeader (%d) leaves less than half for growth", hdr, record.MaxReaders, record.MaxAgeHeader)
		}
		// The plaintext: the first item, then a byte string per
		// attachment.
		o, err := Open(bytes.NewReader(p), author, nil)
		if err != nil {
			t.Fatal(err)
		}
		head, err := record.Marshal(payloadHead{Header: o.Header.Signed.Marshal(), Sections: o.Sections})
		if err != nil {
			t.Fatal(err)
		}
		pt := len(head)
		for _, n := range sizes {
			pt += len(record.AppendCBORHead(nil, majorBytes, uint64(n))) + n
		}
		chunks := max(1, (pt+65535)/65536)
		if want := hdr + 16 + pt + 16*chunks; len(p) != want {
			t.Errorf("attachments %v: payload of %d bytes, age's format makes it %d", sizes, len(p), want)
		}
		if lim := record.PayloadLimit(int64(total)); int64(len(p)) > lim {
			t.Errorf("attachments %v: payload of %d bytes, over PayloadLimit(%d) = %d", sizes, len(p), total, lim)
		}
	}
	if record.PayloadLimit(record.MaxAttachmentsSize) != record.MaxPayloadSize {
		t.Errorf("PayloadLimit(MaxAttachmentsSize) = %d, MaxPayloadSize = %d", record.PayloadLimit(record.MaxAttachmentsSize), record.MaxPayloadSize)
	}
	if record.PayloadLimit(1<<40) != record.MaxPayloadSize || record.PayloadLimit(10) >= record.PayloadLimit(1<<20) {
		t.Error("PayloadLimit is not capped at MaxAttachmentsSize, or does not grow with its argument")
	}
	if record.MaxPouchFile <= record.MaxPayloadSize+record.MaxPouchHead {
		t.Error("MaxPouchFile leaves no room for a .pouch file's head")
	}
}

// untouchable is an attachment's content that must not be read.
type untouchable struct{ t *testing.T }

func (u untouchable) ReadAt(p []byte, off int64) (int, error) {
	u.t.Error("an attachment over the limit was read")
	return 0, errors.New("not to be read")
}

// Seal refuses attachments over the limit before it reads any of them.
func TestSealChecksAttachmentsFirst(t *testing.T) {
	req := func(sizes ...int64) *SealRequest {
		r := &SealRequest{Author: who(t, "ir/leader"), To: who(t, "ru/president").Public(), Sections: []Section{{Text: "Annexed."}}}
		for i, n := range sizes {
			r.Attach = append(r.Attach, Attachment{Name: fmt.Sprintf("a%d", i), Size: n, Content: untouchable{t}})
		}
		return r
	}
	for _, sizes := range [][]int64{
		{record.MaxAttachmentsSize + 1},
		{record.MaxAttachmentsSize / 2, record.MaxAttachmentsSize/2 + 1},
		{1 << 62, 1 << 62, 1 << 62, 1 << 62}, // would overflow a plain sum
	} {
		var w bytes.Buffer
		_, err := Seal(&w, req(sizes...))
		var se *AttachmentsSizeError
		if !errors.Is(err, record.ErrTooLarge) || !errors.As(err, &se) || se.Limit != record.MaxAttachmentsSize {
			t.Fatalf("attachments %v: %v, want an AttachmentsSizeError", sizes, err)
		}
		if w.Len() != 0 {
			t.Errorf("attachments %v: %d bytes written before the refusal", sizes, w.Len())
		}
		if !strings.Contains(err.Error(), "the limit is 1 GiB") {
			t.Errorf("the refusal does not name the limit for people: %v", err)
		}
	}
	if err := CheckAttachments(req(10, 20).Attach, 30); err != nil {
		t.Errorf("30 bytes of attachments within a limit of 30: %v", err)
	}
	if err := CheckAttachments(req(10, 21).Attach, 30); !errors.Is(err, record.ErrTooLarge) {
		t.Errorf("31 bytes of attachments within a limit of 30: %v", err)
	}
	many := make([]Attachment, record.MaxAttachments+1)
	if err := CheckAttachments(many, record.MaxAttachmentsSize); !errors.Is(err, record.ErrTooLarge) {
		t.Errorf("%d attachments: %v", len(many), err)
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 bytes", 1023: "1023 bytes", 1024: "1 KiB", 1536: "1.5 KiB", 64 << 20: "64 MiB", 1 << 30: "1 GiB", 3 << 40: "3 TiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
