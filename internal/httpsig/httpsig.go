// Package httpsig signs and verifies pouch's authenticated HTTP requests
// with HTTP Message Signatures (RFC 9421), algorithm "ed25519".
//
// A request reading private data carries
//
//	Signature-Input: pouch=("@method" "@path" "@query");created=1700000000;nonce="…";keyid="ru/president";alg="ed25519";tag="pouch.dev/v1/request"
//	Signature: pouch=:BASE64:
//
// The keyid is the principal's handle; the server checks the signature
// with that principal's current directory key, that created is within
// Window of its clock, and that the nonce was not seen in that window
// (replay). The tag parameter is pouch's versioned context string, so a
// request signature cannot be mistaken for a record signature.
//
// SPEC: spec/api.md#authentication
package httpsig

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"pouch.dev/record"
)

// Label is the signature label used by pouch.
const Label = "pouch"

// Tag is the RFC 9421 "tag" parameter: pouch's context string for request
// signatures.
const Tag = "pouch.dev/v1/request"

// Window is how far a request's created time may be from the server's
// clock.
const Window = 5 * time.Minute

// components are the covered components, in order.
const components = `("@method" "@path" "@query")`

// Errors.
var (
	ErrUnsigned = errors.New("request is not signed")
	ErrBadSig   = errors.New("request signature does not verify")
	ErrStale    = errors.New("request signature outside the replay window")
	ErrReplay   = errors.New("request signature replayed")
	ErrMalform  = errors.New("malformed request signature")
)

func query(r *http.Request) string {
	return "?" + r.URL.RawQuery
}

// base returns the RFC 9421 signature base for r with params.
func base(r *http.Request, params string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "\"@method\": %s\n", strings.ToUpper(r.Method))
	p := r.URL.EscapedPath()
	if p == "" {
		p = "/"
	}
	fmt.Fprintf(&b, "\"@path\": %s\n", p)
	fmt.Fprintf(&b, "\"@query\": %s\n", query(r))
	fmt.Fprintf(&b, "\"@signature-params\": %s", params)
	return []byte(b.String())
}

// Sign adds Signature-Input and Signature headers to r for principal
// handle with key, created at now. key is an Ed25519 crypto.Signer (an
// ed25519.PrivateKey, or an agent's); Sign fails only when key does.
func Sign(r *http.Request, handle string, key crypto.Signer, now time.Time) error {
	n := make([]byte, 16)
	rand.Read(n)
	params := fmt.Sprintf(`%s;created=%d;nonce="%s";keyid="%s";alg="ed25519";tag="%s"`,
		components, now.Unix(), hex.EncodeToString(n), handle, Tag)
	_, sig, err := record.SignEd25519(key, base(r, params))
	if err != nil {
		return fmt.Errorf("signing the request as %s: %w", handle, err)
	}
	r.Header.Set("Signature-Input", Label+"="+params)
	r.Header.Set("Signature", Label+"=:"+base64.StdEncoding.EncodeToString(sig)+":")
	return nil
}

// A Signed is a parsed, not yet verified request signature.
type Signed struct {
	KeyID   string
	Created time.Time
	Nonce   string
	params  string
	sig     []byte
}

// Parse extracts the pouch signature of r.
func Parse(r *http.Request) (*Signed, error) {
	in := r.Header.Get("Signature-Input")
	sh := r.Header.Get("Signature")
	if in == "" && sh == "" {
		return nil, ErrUnsigned
	}
	params, ok := strings.CutPrefix(in, Label+"=")
	if !ok {
		return nil, fmt.Errorf("%w: Signature-Input has no %q label", ErrMalform, Label)
	}
	sv, ok := strings.CutPrefix(sh, Label+"=:")
	if !ok || !strings.HasSuffix(sv, ":") {
		return nil, fmt.Errorf("%w: Signature has no %q label", ErrMalform, Label)
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(sv, ":"))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: Signature value", ErrMalform)
	}
	rest, ok := strings.CutPrefix(params, components)
	if !ok {
		return nil, fmt.Errorf("%w: covered components must be %s", ErrMalform, components)
	}
	s := &Signed{params: params, sig: sig}
	var alg, tag string
	for _, kv := range strings.Split(strings.TrimPrefix(rest, ";"), ";") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%w: parameter %q", ErrMalform, kv)
		}
		if strings.HasPrefix(v, `"`) {
			if len(v) < 2 || !strings.HasSuffix(v, `"`) {
				return nil, fmt.Errorf("%w: parameter %q", ErrMalform, kv)
			}
			v = v[1 : len(v)-1]
		}
		switch k {
		case "created":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: created", ErrMalform)
			}
			s.Created = time.Unix(n, 0)
		case "nonce":
			s.Nonce = v
		case "keyid":
			s.KeyID = v
		case "alg":
			alg = v
		case "tag":
			tag = v
		default:
			return nil, fmt.Errorf("%w: unknown parameter %q", ErrMalform, k)
		}
	}
	if alg != "ed25519" || tag != Tag || s.KeyID == "" || s.Nonce == "" || len(s.Nonce) > 64 || s.Created.IsZero() {
		return nil, fmt.Errorf("%w: need created, nonce, keyid, alg=\"ed25519\" and tag=%q", ErrMalform, Tag)
	}
	return s, nil
}

// Verify checks s over r with pub.
func (s *Signed) Verify(r *http.Request, pub ed25519.PublicKey) error {
	if !ed25519.Verify(pub, base(r, s.params), s.sig) {
		return ErrBadSig
	}
	return nil
}

// A Replay remembers nonces seen within Window.
type Replay struct {
	mu   sync.Mutex
	seen map[string]time.Time
	last time.Time
}

// Check reports an error if s is outside the window around now or its
// nonce was seen; otherwise it remembers the nonce.
func (rp *Replay) Check(s *Signed, now time.Time) error {
	if d := now.Sub(s.Created); d > Window || d < -Window {
		return fmt.Errorf("%w: created %s, server time %s (check your clock)", ErrStale, s.Created.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.seen == nil {
		rp.seen = map[string]time.Time{}
	}
	if now.Sub(rp.last) > Window {
		for k, t := range rp.seen {
			if now.Sub(t) > 2*Window {
				delete(rp.seen, k)
			}
		}
		rp.last = now
	}
	k := s.KeyID + " " + s.Nonce
	if _, ok := rp.seen[k]; ok {
		return ErrReplay
	}
	rp.seen[k] = s.Created
	return nil
}
