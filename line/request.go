package line

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"pouch.dev/record"
)

// A Request asks the relay for a line from one principal to another.
//
// SPEC: spec/line.md#request
type Request struct {
	From  record.Handle `cbor:"from"`
	To    record.Handle `cbor:"to"`
	Relay string        `cbor:"relay,omitempty"` // the relay's origin, so a request is good for one deployment only
	Time  int64         `cbor:"time"`            // Unix milliseconds
	Nonce []byte        `cbor:"nonce"`           // NonceSize random bytes
}

// A SignedRequest is a Request's exact encoding and its signature by From.
//
// SPEC: spec/line.md#request
type SignedRequest struct {
	Request []byte `cbor:"request"`
	Alg     string `cbor:"alg"`
	Key     []byte `cbor:"key"`
	Sig     []byte `cbor:"sig"`
}

// Errors of line requests.
var (
	ErrBadRequest = errors.New("malformed line request")
	ErrStale      = errors.New("line request outside the time window")
	ErrReplay     = errors.New("line request replayed")
)

// requestMessage returns the bytes a line request signature covers.
//
// SPEC: spec/line.md#request
func requestMessage(req []byte) []byte {
	m := make([]byte, 0, len(RequestContext)+1+len(req))
	m = append(m, RequestContext...)
	m = append(m, 0)
	return append(m, req...)
}

// NewRequest builds and signs a line request from -> to for relay, at now.
func NewRequest(from, to record.Handle, relay string, now time.Time, key crypto.Signer) (*SignedRequest, error) {
	r := Request{From: from, To: to, Relay: relay, Time: now.UnixMilli(), Nonce: make([]byte, NonceSize)}
	rand.Read(r.Nonce)
	if err := r.check(); err != nil {
		return nil, err
	}
	b, err := record.Marshal(&r)
	if err != nil {
		return nil, err
	}
	pub, sig, err := record.SignEd25519(key, requestMessage(b))
	if err != nil {
		return nil, fmt.Errorf("line: signing the request: %w", err)
	}
	return &SignedRequest{Request: b, Alg: record.AlgEd25519, Key: pub, Sig: sig}, nil
}

func (r *Request) check() error {
	if !r.From.Valid() || !r.To.Valid() {
		return fmt.Errorf("%w: handles %q and %q must be house/office", ErrBadRequest, r.From, r.To)
	}
	if r.From == r.To {
		return fmt.Errorf("%w: %s asks for a line to itself", ErrBadRequest, r.From)
	}
	if len(r.Nonce) != NonceSize {
		return fmt.Errorf("%w: nonce of %d bytes, want %d", ErrBadRequest, len(r.Nonce), NonceSize)
	}
	if len(r.Relay) > record.MaxOriginLen {
		return fmt.Errorf("%w: relay name too long", ErrBadRequest)
	}
	return nil
}

// Header returns the request in its header form: unpadded base64url of
// its deterministic CBOR encoding.
func (s *SignedRequest) Header() string {
	b, err := record.Marshal(s)
	if err != nil {
		panic("line: encoding a SignedRequest cannot fail: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseRequest decodes a request header and checks its signature. It does
// not check the key against the directory, the time or the nonce: the
// relay does that.
func ParseRequest(h string) (*Request, ed25519.PublicKey, error) {
	if base64.RawURLEncoding.DecodedLen(len(h)) > MaxRequestSize {
		return nil, nil, fmt.Errorf("%w: larger than %d bytes", ErrBadRequest, MaxRequestSize)
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s header is not unpadded base64url", ErrBadRequest, RequestHeader)
	}
	var s SignedRequest
	if err := record.Unmarshal(b, &s); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	var r Request
	if err := record.Unmarshal(s.Request, &r); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if err := r.check(); err != nil {
		return nil, nil, err
	}
	if s.Alg != record.AlgEd25519 {
		return nil, nil, fmt.Errorf("%w: signature algorithm %q", ErrBadRequest, s.Alg)
	}
	if len(s.Key) != ed25519.PublicKeySize || len(s.Sig) != ed25519.SignatureSize {
		return nil, nil, fmt.Errorf("%w: wrong key or signature length", ErrBadRequest)
	}
	if !record.VerifyEd25519(s.Key, requestMessage(s.Request), s.Sig) {
		return nil, nil, fmt.Errorf("line request from %s: %w", r.From, record.ErrBadSignature)
	}
	return &r, ed25519.PublicKey(s.Key), nil
}
