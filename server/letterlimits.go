package server

import (
	"net/http"

	"pouch.dev/api"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// The one limit on a letter's size is on its attachments, together
// (record.MaxAttachmentsSize, or the deployment's lower
// CorrOptions.MaxAttachments); the server accepts payloads of up to
// record.PayloadLimit of it, which counts the overhead of the letter's
// text, of age's header and of age's chunks, so that a letter within the
// limit is never refused for its size.
//
// SPEC: spec/letter.md#limits

// maxPayload is the largest payload the server accepts.
func (c *Correspondence) maxPayload() int64 { return record.PayloadLimit(c.opt.MaxAttachments) }

// letterLimits is what GET /v1/limits answers.
func (c *Correspondence) letterLimits() api.Limits {
	p := c.maxPayload()
	return api.Limits{MaxAttachments: c.opt.MaxAttachments, MaxPayload: p, MaxPouchFile: record.MaxPouchHead + 9 + p}
}

// payloadTooLarge is the refusal of a payload of n bytes (or a body of n
// bytes) over the server's limit, naming the limit people meet.
func (c *Correspondence) payloadTooLarge(n uint64) error {
	return errorf(http.StatusRequestEntityTooLarge,
		"this server accepts letters whose attachments hold at most "+letter.Bytes(c.opt.MaxAttachments)+" together (GET /v1/limits): send large files separately",
		"payload of %d bytes, more than this server's limit of %d: %w", n, c.maxPayload(), record.ErrTooLarge)
}

// handleLimits answers GET /v1/limits.
//
// SPEC: spec/api.md#get-v1-limits
func (c *Correspondence) handleLimits(w http.ResponseWriter, r *http.Request) {
	writeJSONTo(w, http.StatusOK, c.letterLimits())
}
