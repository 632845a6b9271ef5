package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"pouch.dev/client"
	"pouch.dev/internal/scenario"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// untouchable is an attachment that must not be read.
type untouchable struct{ t *testing.T }

func (u untouchable) ReadAt([]byte, int64) (int, error) {
	u.t.Error("an attachment over the server's limit was read")
	return 0, errors.New("not to be read")
}

// TestLargeLetter: on a server that lowers the limit on attachments, the
// client learns the limit (GET /v1/limits) and refuses a letter over it
// before it proves whom to seal to or reads an attachment; a letter
// exactly at the limit travels, its payload's overhead counted by the
// server, sealed to a temporary file and streamed up (Send), streamed down
// into a .pouch file that verifies (FetchTo), and opened as it streams
// (OpenFetched).
func TestLargeLetter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const limit = client.SpoolAbove + 1<<20
	w, err := scenario.Start(ctx, scenario.Options{MaxAttachments: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, h := range []string{"ir", "ru"} {
		if err := w.Found(ctx, h, h); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []record.Handle{"ir/leader", "ru/president"} {
		if _, err := w.Admit(ctx, h, string(h)); err != nil {
			t.Fatal(err)
		}
	}
	leader, president := w.ID("ir/leader"), w.ID("ru/president")
	c := w.Client
	c.TempDir = t.TempDir()

	lim, err := c.Limits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lim.MaxAttachments != limit || lim.MaxPayload != record.PayloadLimit(limit) || lim.MaxPouchFile <= lim.MaxPayload {
		t.Fatalf("limits %+v, want attachments of %d", lim, limit)
	}

	sections := []letter.Section{{Title: "Annexes", Text: "The annexes to the agreement."}}
	over := &client.Letter{To: "ru/president", Sections: sections, Attach: []letter.Attachment{
		{Name: "annex-a.bin", Size: limit / 2, Content: untouchable{t}},
		{Name: "annex-b.bin", Size: limit/2 + 1, Content: untouchable{t}}}}
	asked := false
	_, err = c.Send(ctx, leader, over, func(*client.Plan) error { asked = true; return nil })
	var se *letter.AttachmentsSizeError
	if !errors.As(err, &se) || !errors.Is(err, record.ErrTooLarge) || se.Limit != limit || se.Size != limit+1 {
		t.Fatalf("a letter one byte over the server's limit: %v", err)
	}
	if asked {
		t.Error("the plan was proven, and shown, for a letter the server would refuse")
	}

	// At the limit: sealed to a temporary file, streamed up.
	a := bytes.Repeat([]byte("Annex A. "), limit/2/9+1)[:limit/2]
	b := bytes.Repeat([]byte("Annex B! "), limit/2/9+1)[:limit/2]
	sent, err := c.Send(ctx, leader, &client.Letter{To: "ru/president", Sections: sections, Attach: []letter.Attachment{
		{Name: "annex-a.bin", Size: int64(len(a)), Content: bytes.NewReader(a)},
		{Name: "annex-b.bin", Size: int64(len(b)), Content: bytes.NewReader(b)}}}, nil)
	if err != nil {
		t.Fatalf("a letter at the server's limit: %v", err)
	}
	if sent.Payload != nil {
		t.Error("a letter over SpoolAbove was held in memory")
	}
	if size := sent.Sealed.Tag.Tag.Size; size <= limit || int64(size) > lim.MaxPayload {
		t.Errorf("a payload of %d bytes for attachments of %d, limit %d", size, limit, lim.MaxPayload)
	}
	if left, _ := os.ReadDir(c.TempDir); len(left) != 0 {
		t.Errorf("Send left %d temporary files", len(left))
	}

	// Down, into a .pouch file that verifies and opens.
	var file bytes.Buffer
	fd, err := c.FetchTo(ctx, president, sent.Pouch, &file)
	if err != nil {
		t.Fatal(err)
	}
	if fd.Payload != nil {
		t.Error("FetchTo held the payload in memory")
	}
	f, err := letter.ReadFile(bytes.NewReader(file.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if vf, err := client.VerifyFile(f, w.Verifier); err != nil || vf.Tag == nil || !vf.TagKey {
		t.Fatalf("the fetched file: %+v, %v", vf, err)
	}
	want := map[string][32]byte{"annex-a.bin": sha256.Sum256(a), "annex-b.bin": sha256.Sum256(b)}
	check := func(what string, f *letter.File) {
		t.Helper()
		got := map[string][32]byte{}
		_, err := letter.OpenPouch(f, president, func(ref letter.AttachmentRef, r io.Reader) error {
			h := sha256.New()
			_, err := io.Copy(h, r)
			got[ref.Name] = [32]byte(h.Sum(nil))
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(got) != 2 || got["annex-a.bin"] != want["annex-a.bin"] || got["annex-b.bin"] != want["annex-b.bin"] {
			t.Errorf("%s: the attachments differ from those sent", what)
		}
	}
	check("the fetched file", f)

	_, sf, done, err := c.OpenFetched(ctx, president, sent.Pouch)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	check("opened as it streams", sf)
}
