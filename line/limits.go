package line

import (
	"time"

	"pouch.dev/record"
)

// Limits of the line protocol, in one place. Input beyond a limit is
// refused, never truncated.
//
// SPEC: spec/line.md#limits
const (
	// MaxRequestSize bounds the encoded signed line request, before base64.
	MaxRequestSize = 1024

	// NonceSize is the size of a line request's nonce.
	NonceSize = 16

	// RequestWindow is how far a line request's time may be from the
	// relay's clock, either way. The relay remembers nonces for twice this
	// long, so a request cannot be replayed.
	RequestWindow = 2 * time.Minute

	// MaxNonces bounds the relay's memory of recent nonces; beyond it the
	// relay refuses new requests until old ones expire.
	MaxNonces = 1 << 20

	// DefaultWaitTimeout is how long the relay keeps a principal waiting
	// for the other to ask for the line.
	DefaultWaitTimeout = 5 * time.Minute

	// MaxTextSize bounds one text message, in bytes of UTF-8.
	MaxTextSize = 64 << 10

	// MaxPouchSize bounds one .pouch file handed over on the line: the
	// largest .pouch file of a letter within the one limit on a letter's
	// size (record.MaxPouchFile, spec/letter.md#limits), so that any
	// pouch that can be sealed can be handed over.
	MaxPouchSize = record.MaxPouchFile

	// MaxPartSize bounds the bytes of a .pouch file that one part frame
	// carries: a file is handed over a part at a time, never held whole.
	MaxPartSize = 256 << 10

	// MaxFrameSize bounds one encoded frame: a part of a pouch file, or a
	// call record, and its envelope.
	MaxFrameSize = max(MaxPartSize, record.MaxRecordSize) + 1024

	// MaxHandovers bounds the pouches handed over on one line, so the call
	// record stays below record.MaxRecordSize.
	MaxHandovers = 1024

	// MaxClockSkew is how far the start and end times the first
	// participant proposes for the call record may be from the second's
	// own clock.
	MaxClockSkew = 5 * time.Minute

	// BindingSize is the size of the exported keying material in a call
	// record.
	BindingSize = 32

	// relayBufferSize is the relay's copy buffer per direction, and
	// maxWSMessage the largest WebSocket message a line endpoint reads.
	relayBufferSize = 32 << 10
	maxWSMessage    = 1 << 20
)

// Context strings and labels.
//
// SPEC: spec/line.md#contexts
const (
	// RequestContext is the signature context of a line request.
	RequestContext = "pouch.dev/v1/line-request"
	// ExporterLabel is the TLS exporter label of the call record binding.
	ExporterLabel = "EXPORTER-pouch.dev/v1/line"
	// ALPN is the application protocol both ends of a line negotiate.
	ALPN = "pouch.dev/v1/line"
	// RequestHeader carries the signed line request to the relay.
	RequestHeader = "Pouch-Line-Request"
	// pairedMessage is the one text message the relay sends, when both
	// principals are there.
	pairedMessage = "pouch.dev/v1/line paired"
)
