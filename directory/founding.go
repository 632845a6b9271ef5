package directory

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"pouch.dev/record"
)

// FoundingRequestType is the PEM (RFC 7468) label of a founding request.
//
// SPEC: spec/directory.md#founding-request
const FoundingRequestType = "POUCH HOUSE REQUEST"

// ErrNotFoundingRequest is wrapped by the errors of ParseFoundingRequest
// for input that is not a founding request: no POUCH HOUSE REQUEST block,
// another record kind, other signers, or a request already countersigned.
var ErrNotFoundingRequest = errors.New("not a house founding request")

// A FoundingRequest is how a house is founded on a deployment in operator
// mode without the operator's key leaving the operator's machine: the
// house record, signed by the new registrar, naming OperatorHandle as its
// second signer but not yet signed by it. The founder sends it (Marshal:
// a PEM block, to travel by mail); the operator checks it
// (ParseFoundingRequest), looks at what it founds, countersigns it
// (Countersign) and submits the record.
//
// SPEC: spec/directory.md#founding-request
type FoundingRequest struct {
	Signed *record.Signed // one signature: the registrar's
	Record *record.Record
	House  House
}

// NewFoundingRequest makes and signs a founding request for house, named
// name for people, with registrar, the new registrar's key, for the log
// origin (may be empty) at claimed time tm (Unix milliseconds).
func NewFoundingRequest(house, name string, registrar crypto.Signer, origin string, tm int64) (*FoundingRequest, error) {
	pub, ok := registrar.Public().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("founding request: the registrar key is %w", record.ErrNotEd25519)
	}
	body := House{House: house, Name: name, Registrar: pub}
	if err := body.check(); err != nil {
		return nil, err
	}
	b, err := record.Marshal(&body)
	if err != nil {
		return nil, err
	}
	r := &record.Record{V: record.Version, Kind: record.KindHouse, Origin: origin,
		By: []record.Handle{Registrar(house), OperatorHandle}, Time: tm, Body: b}
	rec, err := record.Marshal(r)
	if err != nil {
		return nil, err
	}
	s := &record.Signed{Record: rec}
	if err := s.AddSignature(registrar); err != nil {
		return nil, fmt.Errorf("signing the founding request of %s: %w", house, err)
	}
	return verifyFoundingRequest(s)
}

// Marshal encodes q as text: a few lines that say what it founds, for
// people (ignored by ParseFoundingRequest), then the encoded signed record
// in a PEM block of type FoundingRequestType.
func (q *FoundingRequest) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "pouch house founding request (spec/directory.md#founding-request)\n")
	fmt.Fprintf(&b, "house:     %s\n", q.House.House)
	if q.House.Name != "" {
		fmt.Fprintf(&b, "name:      %s\n", strings.Map(printable, q.House.Name))
	}
	fmt.Fprintf(&b, "registrar: %s\n", KeyFingerprint(q.House.Registrar))
	if q.Record.Origin != "" {
		fmt.Fprintf(&b, "log:       %s\n", strings.Map(printable, q.Record.Origin))
	}
	fmt.Fprintf(&b, "The log's operator approves it with: pouch house approve FILE\n")
	pem.Encode(&b, &pem.Block{Type: FoundingRequestType, Bytes: q.Signed.Marshal()})
	return b.Bytes()
}

// printable keeps the explanatory text to one line per field.
func printable(r rune) rune {
	if r < 0x20 || r == 0x7f {
		return ' '
	}
	return r
}

// ParseFoundingRequest parses a founding request as Marshal writes it and
// checks everything that can be checked without the directory: exactly one
// PEM block of type FoundingRequestType with no headers and nothing but
// space after it, a strictly encoded house record whose body is valid,
// signed first as Registrar(house) with the key the body names (the
// signature verifies), naming OperatorHandle as second and last signer,
// and not yet countersigned. Text before the block is ignored.
//
// Whether the house is still free, and whether the record is for the
// operator's log, depend on the directory and the server: the operator
// checks those before countersigning, and the directory when the record
// is submitted.
//
// SPEC: spec/directory.md#founding-request
func ParseFoundingRequest(b []byte) (*FoundingRequest, error) {
	blk, rest := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%w: no %s block", ErrNotFoundingRequest, FoundingRequestType)
	}
	if blk.Type != FoundingRequestType {
		return nil, fmt.Errorf("%w: a PEM block of type %q, want %q", ErrNotFoundingRequest, blk.Type, FoundingRequestType)
	}
	if len(blk.Headers) != 0 {
		return nil, fmt.Errorf("%w: the %s block has headers", ErrNotFoundingRequest, FoundingRequestType)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: data after the %s block", ErrNotFoundingRequest, FoundingRequestType)
	}
	s, _, err := record.Parse(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotFoundingRequest, err)
	}
	return verifyFoundingRequest(s)
}

func verifyFoundingRequest(s *record.Signed) (*FoundingRequest, error) {
	r, err := s.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotFoundingRequest, err)
	}
	if r.Kind != record.KindHouse {
		return nil, fmt.Errorf("%w: a %s record", ErrNotFoundingRequest, r.Kind)
	}
	if r.Private() {
		return nil, fmt.Errorf("%w: a house record is public, and this one has a salt", ErrNotFoundingRequest)
	}
	if len(r.By) != 2 || r.By[1] != OperatorHandle {
		return nil, fmt.Errorf("%w: signers %v, want the registrar and then %s", ErrNotFoundingRequest, r.By, OperatorHandle)
	}
	switch len(s.Sigs) {
	case 1:
	case 2:
		return nil, fmt.Errorf("%w: it is countersigned already: submit the record itself", ErrNotFoundingRequest)
	default:
		return nil, fmt.Errorf("%w: %d signatures, want the registrar's alone", ErrNotFoundingRequest, len(s.Sigs))
	}
	b, err := checkHouseRecord(s, r)
	if err != nil {
		return nil, err
	}
	sg := s.Sigs[0]
	if sg.Alg != record.AlgEd25519 {
		return nil, fmt.Errorf("house record, signature of %s: %w %q", r.By[0], record.ErrUnknownAlg, sg.Alg)
	}
	if len(sg.Sig) != ed25519.SignatureSize || !record.VerifyEd25519(b.Registrar, record.SignedMessage(r.Kind, s.Record), sg.Sig) {
		return nil, fmt.Errorf("house record: signature of %s: %w (the request was changed after it was signed)", r.By[0], record.ErrBadSignature)
	}
	return &FoundingRequest{Signed: s, Record: r, House: *b}, nil
}

// Countersign returns the house record of q signed by operator, the
// deployment's operator key, as OperatorHandle: the record to submit.
// q is not changed.
func (q *FoundingRequest) Countersign(operator crypto.Signer) (*record.Signed, error) {
	s := &record.Signed{Record: q.Signed.Record, Sigs: append([]record.Sig(nil), q.Signed.Sigs...)}
	if err := s.AddSignature(operator); err != nil {
		return nil, fmt.Errorf("countersigning the founding request: %w", err)
	}
	if _, _, err := record.Verify(s.Marshal()); err != nil {
		return nil, err
	}
	return s, nil
}

// KeyFingerprint returns the fingerprint of an Ed25519 public key as
// OpenSSH prints it ("SHA256:" and the unpadded base64 of the SHA-256 of
// the key's SSH encoding, RFC 8709), so that people can compare a
// registrar key over the telephone, and ssh-keygen -l agrees.
//
// SPEC: spec/directory.md#founding-request
func KeyFingerprint(k []byte) string {
	const alg = "ssh-ed25519"
	var enc []byte
	enc = binary.BigEndian.AppendUint32(enc, uint32(len(alg)))
	enc = append(enc, alg...)
	enc = binary.BigEndian.AppendUint32(enc, uint32(len(k)))
	enc = append(enc, k...)
	sum := sha256.Sum256(enc)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}
