package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"pouch.dev/record"
)

// Version is the protocol version this package speaks: every request and
// every response carries it as "v".
//
// SPEC: spec/keys.md#agent-protocol
const Version = 1

// Limits of the protocol, in one place.
const (
	// MaxMessage is the largest message, request or response, in bytes
	// (the CBOR map after the 4-byte length). A record to sign is at most
	// record.MaxRecordSize; a pouch payload has at most record.MaxReaders
	// + 1 stanzas of about 1.2 KiB.
	MaxMessage = 512 << 10
	// MaxStanzas is the most age recipient stanzas one unwrap request may
	// carry.
	MaxStanzas = 256
	// MaxConns is the most connections the agent serves at once; more
	// wait to be accepted.
	MaxConns = 32
)

// The operations of a request.
const (
	OpList   = "list"   // what the agent holds
	OpAdd    = "add"    // hold a principal's keys (its plaintext key file)
	OpSign   = "sign"   // sign msg as handle (pure Ed25519)
	OpUnwrap = "unwrap" // unwrap an age file key from stanzas as handle
	OpLock   = "lock"   // forget handle's keys, or every key if no handle
	OpStop   = "stop"   // forget every key and exit
)

// A Request is one message from a client.
//
// SPEC: spec/keys.md#agent-protocol
type Request struct {
	V       int           `cbor:"v"`
	Op      string        `cbor:"op"`
	Handle  record.Handle `cbor:"handle,omitempty"`
	Msg     []byte        `cbor:"msg,omitempty"`
	Stanzas []Stanza      `cbor:"stanzas,omitempty"`
	Key     []byte        `cbor:"key,omitempty"`
}

// A Stanza is an age recipient stanza (age.Stanza) on the wire.
type Stanza struct {
	Type string   `cbor:"type"`
	Args []string `cbor:"args,omitempty"`
	Body []byte   `cbor:"body,omitempty"`
}

// A Response is the agent's answer to one request: Err, or the result of
// the operation.
type Response struct {
	V       int        `cbor:"v"`
	Err     *WireError `cbor:"error,omitempty"`
	Sig     []byte     `cbor:"sig,omitempty"`
	FileKey []byte     `cbor:"file_key,omitempty"`
	Agent   *Status    `cbor:"agent,omitempty"`
	Keys    []Held     `cbor:"keys,omitempty"`
	Forgot  int        `cbor:"forgot,omitempty"`
}

// Status describes a running agent.
type Status struct {
	PID     int   `cbor:"pid"`
	Timeout int64 `cbor:"timeout_ms"` // idle time after which a key is forgotten
}

// Held is a principal whose keys the agent holds, with its public keys.
type Held struct {
	Handle  record.Handle `cbor:"handle"`
	Ed25519 []byte        `cbor:"ed25519"`
	Age     string        `cbor:"age"`
	Used    int64         `cbor:"used"`    // last use (or unlock), Unix ms
	Expires int64         `cbor:"expires"` // when it is forgotten if unused, Unix ms
}

// A WireError is a refusal, with a code callers branch on (see Error).
type WireError struct {
	Code string `cbor:"code"`
	Msg  string `cbor:"msg"`
}

// Error codes.
const (
	CodeVersion           = "version"            // the request's "v" is not Version
	CodeBadRequest        = "bad-request"        // malformed, unknown op, missing field
	CodeForbidden         = "forbidden"          // the peer runs as another user
	CodeNotHeld           = "not-held"           // the agent holds no key for the handle
	CodeIncorrectIdentity = "incorrect-identity" // no stanza is sealed to the principal
	CodeBadKey            = "bad-key"            // add: not a valid key file
)

// Sentinel errors; an *Error from the agent matches the one of its code
// with errors.Is.
var (
	ErrNotRunning = errors.New("no agent is running")
	ErrVersion    = errors.New("unsupported agent protocol version")
	ErrBadRequest = errors.New("bad agent request")
	ErrForbidden  = errors.New("refused: another user")
	ErrNotHeld    = errors.New("the agent does not hold this key")
	ErrBadKey     = errors.New("not a valid key file")
	ErrProtocol   = errors.New("agent protocol error")
	// ErrKeyMismatch is returned when the agent holds other keys under a
	// principal's handle than the home's public file names.
	ErrKeyMismatch = errors.New("the agent holds other keys under this handle")
)

var codeErrs = map[string]error{
	CodeVersion:    ErrVersion,
	CodeBadRequest: ErrBadRequest,
	CodeForbidden:  ErrForbidden,
	CodeNotHeld:    ErrNotHeld,
	CodeBadKey:     ErrBadKey,
}

// An Error is a refusal by the agent.
type Error struct {
	Code, Msg string
}

func (e *Error) Error() string { return "agent: " + e.Msg }

// Is makes errors.Is(err, ErrNotHeld) and the like work across the
// socket.
func (e *Error) Is(target error) bool { return codeErrs[e.Code] == target }

// writeMsg writes v as one frame: its length as 4 bytes big-endian, then
// its deterministic CBOR encoding.
//
// SPEC: spec/keys.md#agent-protocol
func writeMsg(w io.Writer, v any) error {
	b, err := record.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > MaxMessage {
		return fmt.Errorf("%w: a message of %d bytes (limit %d)", record.ErrTooLarge, len(b), MaxMessage)
	}
	frame := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(frame, uint32(len(b)))
	copy(frame[4:], b)
	clear(b)
	_, err = w.Write(frame)
	clear(frame)
	return err
}

// readMsg reads one frame into v, strictly: a length from 1 to MaxMessage,
// then exactly that many bytes of canonical CBOR that decode into v with
// no unknown fields. io.EOF means the peer closed between frames.
func readMsg(r io.Reader, v any) error {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size == 0 || size > MaxMessage {
		return fmt.Errorf("%w: a message of %d bytes (limit %d)", ErrProtocol, size, MaxMessage)
	}
	b := make([]byte, size)
	defer clear(b)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if err := record.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return nil
}
