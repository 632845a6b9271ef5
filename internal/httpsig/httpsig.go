// Package httpsig signs and verifies pouch's authenticated HTTP requests
// with HTTP Message Signatures (RFC 9421), algorithm "ed25519".
//
// A request reading private data carries
//
//	Pouch-Origin: pouch.localhost/log-3f2a9c
//	Signature-Input: pouch=("@method" "@path" "@query" "pouch-origin");created=1700000000;nonce="…";keyid="ru/president";alg="ed25519";tag="pouch.dev/v1/request"
//	Signature: pouch=:BASE64:
//
// The keyid is the principal's handle; the server checks the signature
// with that principal's current directory key, that created is within
// Window of its clock, and that the nonce was not seen in that window
// (replay). The tag parameter is pouch's versioned context string, so a
// request signature cannot be mistaken for a record signature.
//
// The signature covers the Pouch-Origin header, the origin of the log the
// request is meant for (the first line of its checkpoints, unique per
// deployment): a server refuses a request signed for another log
// (ErrWrongOrigin), so a request signed for one deployment is worthless at
// another where the same key is admitted. The origin, not the host name,
// is bound: it survives proxies and replicas, and names the log itself.
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

// OriginHeader is the request header that names the origin of the log a
// request is signed for; the signature covers it.
const OriginHeader = "Pouch-Origin"

// components are the covered components, in order.
const components = `("@method" "@path" "@query" "pouch-origin")`

// MaxOrigin is the longest origin a request may name (a log's origin is
// at most record.MaxOriginLen bytes; this bounds what is parsed).
const MaxOrigin = 256

// Errors.
var (
	ErrUnsigned = errors.New("request is not signed")
	ErrBadSig   = errors.New("request signature does not verify")
	ErrStale    = errors.New("request signature outside the replay window")
	ErrReplay   = errors.New("request signature replayed")
	ErrMalform  = errors.New("malformed request signature")
	// ErrWrongOrigin is returned for a request signed for another log.
	ErrWrongOrigin = errors.New("request signed for another log")
)

func query(r *http.Request) string {
	return "?" + r.URL.RawQuery
}

// base returns the RFC 9421 signature base for r with params, the
// request meant for the log named origin.
func base(r *http.Request, origin, params string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "\"@method\": %s\n", strings.ToUpper(r.Method))
	p := r.URL.EscapedPath()
	if p == "" {
		p = "/"
	}
	fmt.Fprintf(&b, "\"@path\": %s\n", p)
	fmt.Fprintf(&b, "\"@query\": %s\n", query(r))
	fmt.Fprintf(&b, "\"pouch-origin\": %s\n", origin)
	fmt.Fprintf(&b, "\"@signature-params\": %s", params)
	return []byte(b.String())
}

// Sign adds Pouch-Origin, Signature-Input and Signature headers to r for
// principal handle with key, created at now, for the log named origin. key
// is an Ed25519 crypto.Signer (an ed25519.PrivateKey, or an agent's); Sign
// fails when origin cannot be a header value, or when key fails.
func Sign(r *http.Request, origin, handle string, key crypto.Signer, now time.Time) error {
	if err := checkOrigin(origin); err != nil {
		return err
	}
	n := make([]byte, 16)
	rand.Read(n)
	params := fmt.Sprintf(`%s;created=%d;nonce="%s";keyid="%s";alg="ed25519";tag="%s"`,
		components, now.Unix(), hex.EncodeToString(n), handle, Tag)
	_, sig, err := record.SignEd25519(key, base(r, origin, params))
	if err != nil {
		return fmt.Errorf("signing the request as %s: %w", handle, err)
	}
	r.Header.Set(OriginHeader, origin)
	r.Header.Set("Signature-Input", Label+"="+params)
	r.Header.Set("Signature", Label+"=:"+base64.StdEncoding.EncodeToString(sig)+":")
	return nil
}

// checkOrigin checks that origin can be a covered field value: not empty,
// at most MaxOrigin bytes, printable ASCII.
func checkOrigin(origin string) error {
	if origin == "" || len(origin) > MaxOrigin {
		return fmt.Errorf("%w: the log's origin must be 1 to %d bytes, not %d", ErrMalform, MaxOrigin, len(origin))
	}
	for i := 0; i < len(origin); i++ {
		if c := origin[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: the log's origin %q has a character that is not printable ASCII", ErrMalform, origin)
		}
	}
	return nil
}

// A Signed is a parsed, not yet verified request signature.
type Signed struct {
	KeyID   string
	Created time.Time
	Nonce   string
	// Origin is the log the request says it is signed for (its
	// Pouch-Origin header, which the signature covers).
	Origin string
	params string
	sig    []byte
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
	origins := r.Header.Values(OriginHeader)
	if len(origins) != 1 {
		return nil, fmt.Errorf("%w: want one %s header naming the log's origin, got %d", ErrMalform, OriginHeader, len(origins))
	}
	if err := checkOrigin(origins[0]); err != nil {
		return nil, err
	}
	s := &Signed{Origin: origins[0], params: params, sig: sig}
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

// Verify checks s over r with pub, for the log named origin: a request
// signed for another log is refused with ErrWrongOrigin before its
// signature is looked at.
//
// SPEC: spec/api.md#authentication
func (s *Signed) Verify(r *http.Request, origin string, pub ed25519.PublicKey) error {
	if s.Origin != origin {
		return fmt.Errorf("%w: signed for log %q, this is %q", ErrWrongOrigin, s.Origin, origin)
	}
	if !record.VerifyEd25519(pub, base(r, origin, s.params), s.sig) {
		return ErrBadSig
	}
	return nil
}

// CheckWindow reports an error wrapping ErrStale if s was created more
// than Window away from now.
func CheckWindow(s *Signed, now time.Time) error {
	if d := now.Sub(s.Created); d > Window || d < -Window {
		return fmt.Errorf("%w: created %s, server time %s (check your clock)", ErrStale, s.Created.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// NonceKey is the name under which a shared replay cache keeps s's nonce:
// nonces are the signer's, so two principals' nonces never collide.
func NonceKey(s *Signed) string { return "request " + s.KeyID + " " + s.Nonce }

// A Replay remembers nonces seen within Window.
type Replay struct {
	mu   sync.Mutex
	seen map[string]time.Time
	last time.Time
}

// Check reports an error if s is outside the window around now or its
// nonce was seen; otherwise it remembers the nonce.
func (rp *Replay) Check(s *Signed, now time.Time) error {
	if err := CheckWindow(s, now); err != nil {
		return err
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
	k := NonceKey(s)
	if _, ok := rp.seen[k]; ok {
		return ErrReplay
	}
	rp.seen[k] = s.Created
	return nil
}
