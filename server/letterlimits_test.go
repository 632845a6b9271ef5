package server_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"pouch.dev/client"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/server"
)

// TestLetterLimits: GET /v1/limits advertises the one limit on a letter's
// attachments and the payload limit it makes; a server accepts a letter
// whose attachments are at its limit, the payload's overhead counted, and
// refuses a payload over it with 413 and a hint naming the limit.
func TestLetterLimits(t *testing.T) {
	ctx := context.Background()
	_, def := startCorr(t, server.CorrOptions{})
	lim, err := def.Limits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lim.MaxAttachments != record.MaxAttachmentsSize || lim.MaxPayload != record.MaxPayloadSize || lim.MaxPouchFile != record.MaxPouchFile {
		t.Errorf("default limits %+v", lim)
	}

	const attach = 1 << 20
	_, c := startCorr(t, server.CorrOptions{MaxAttachments: attach})
	if lim, err = c.Limits(ctx); err != nil || lim.MaxAttachments != attach || lim.MaxPayload != record.PayloadLimit(attach) {
		t.Fatalf("limits %+v, %v", lim, err)
	}
	ps := cast(t, c, "ir/leader", "ru/president")
	seal := func(n int) (*letter.Sealed, []byte) {
		var p bytes.Buffer
		s, err := letter.Seal(&p, &letter.SealRequest{Author: ps[0], To: ps[1].Public(), Sections: []letter.Section{{Text: "Annexed."}},
			Attach: []letter.Attachment{{Name: "annex.bin", Size: int64(n), Content: bytes.NewReader(make([]byte, n))}}})
		if err != nil {
			t.Fatal(err)
		}
		return s, p.Bytes()
	}
	s, p := seal(attach)
	if _, err := c.SubmitPouch(ctx, s.Tag.Signed, p); err != nil {
		t.Fatalf("a letter with attachments at the limit: %v", err)
	}
	// Over PayloadLimit(attach): attachments of MaxPouchHead more.
	s, p = seal(attach + record.MaxPouchHead + record.MaxAgeHeader)
	_, err = c.SubmitPouch(ctx, s.Tag.Signed, p)
	var ce *client.Error
	if !errors.Is(err, record.ErrTooLarge) || !errors.As(err, &ce) || ce.Status != 413 || !strings.Contains(ce.Hint, "at most 1 MiB together") {
		t.Fatalf("a payload of %d bytes, over the limit of %d: %v (%+v)", len(p), lim.MaxPayload, err, ce)
	}
	if _, err := c.Pouch(ctx, s.Tag.Signed.ID(), ps[0]); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("the refused pouch is served: %v", err)
	}
}
