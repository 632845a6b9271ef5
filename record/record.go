// Package record defines pouch's signed records: the one envelope in which
// every statement that matters travels, is stored and is sequenced in the
// log.
//
// A Record is a small, versioned CBOR map: its kind, the log it belongs to,
// the principals who sign it, the time they claim, a random salt if it is
// private, and a kind-specific body. A Signed carries the record's exact
// bytes and one signature per signer. The bytes signed are
//
//	"pouch.dev/v1/" kind || 0x00 || record
//
// computed by SignedMessage, the one function used both to sign and to
// verify, so that a signature made for one kind can never be read as
// another. A record's ID is the SHA-256 of its record bytes; the log's leaf
// for it names its kind and ID, never its body.
//
// Decoding is strict (see Unmarshal): a record that decodes re-encodes to
// the identical bytes, so an ID names exactly one encoding.
//
// The rules are written down in spec/records.md.
package record

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Version is the record format version this package writes and reads.
const Version = 1

// ContextPrefix starts every signature context string.
const ContextPrefix = "pouch.dev/v1/"

// A Kind names what a record says. Each kind has its own signature context,
// ContextPrefix followed by the kind, such as "pouch.dev/v1/custody".
type Kind string

// The record kinds. spec/records.md describes each body.
const (
	KindGenesis           Kind = "genesis"            // the first record of every log: the deployment's founding rule and operator key
	KindHouse             Kind = "house"              // a house is founded, with its registrar key
	KindAdmit             Kind = "admit"              // a registrar admits an office's holder (or a new holder: rotation)
	KindKeyRevoke         Kind = "key-revoke"         // a registrar revokes an office's key
	KindGrant             Kind = "grant"              // a principal delegates abilities to another
	KindGrantRevoke       Kind = "grant-revoke"       // a grant is withdrawn
	KindLetter            Kind = "letter"             // a letter's signed header (inside the sealed payload)
	KindTag               Kind = "tag"                // a pouch's outer tag
	KindCustody           Kind = "custody"            // a hand-over, or the final delivery
	KindPublish           Kind = "publish"            // a party makes one of its private records public
	KindDisclosure        Kind = "disclosure"         // chosen sections of a letter, revealed
	KindLine              Kind = "line"               // a secure line's call record
	KindAgreement         Kind = "agreement"          // a depositary registers an instrument
	KindAgreementSign     Kind = "agreement-sign"     // a party signs an agreement
	KindAgreementWithdraw Kind = "agreement-withdraw" // a party withdraws
	KindAttest            Kind = "attest"             // a verifier attests a party's compliance
	KindStatement         Kind = "statement"          // a joint statement, open for co-signature
	KindCosign            Kind = "cosign"             // a co-signature of a statement
	KindAcceptance        Kind = "acceptance"         // the addressee's side consents to a pouch's delivery
	KindRefusal           Kind = "refusal"            // the addressee's side refuses a pouch, with a reason
	KindAccess            Kind = "access"             // the addressee's side takes a pouch's sealed payload
	KindNonDelivery       Kind = "non-delivery"       // the deployment: a pouch passed its deadline undelivered, and why
)

// Kinds lists every kind this version knows, in a stable order.
var Kinds = []Kind{
	KindGenesis, KindHouse, KindAdmit, KindKeyRevoke, KindGrant, KindGrantRevoke,
	KindLetter, KindTag, KindCustody, KindPublish, KindDisclosure, KindLine,
	KindAgreement, KindAgreementSign, KindAgreementWithdraw, KindAttest,
	KindStatement, KindCosign,
	KindAcceptance, KindRefusal, KindAccess, KindNonDelivery,
}

// Known reports whether k is a kind of this version.
func (k Kind) Known() bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// AlwaysPublic reports whether records of kind k are public by rule: a
// record of k with a salt is refused, and a private leaf of kind k in a
// log hides from clients a record every one of them must be able to read.
// Grants and grant-revokes may be private; tags, custody, line records
// and the events of a pouch (acceptance, refusal, access, non-delivery)
// are always private.
//
// SPEC: spec/records.md#kinds
func (k Kind) AlwaysPublic() bool {
	switch k {
	case KindGenesis, KindHouse, KindAdmit, KindKeyRevoke, KindGrantRevoke, KindPublish, KindDisclosure,
		KindAgreement, KindAgreementSign, KindAgreementWithdraw, KindAttest, KindStatement, KindCosign:
		return true
	}
	return false
}

// A Record is the signed content of every pouch statement.
//
// SPEC: spec/records.md#record
type Record struct {
	V      uint64          `cbor:"v"`
	Kind   Kind            `cbor:"kind"`
	Origin string          `cbor:"origin,omitempty"` // the log this record is for; empty before it is bound to one
	By     []Handle        `cbor:"by"`               // who signs, in signature order
	Time   int64           `cbor:"time"`             // claimed time, Unix milliseconds; the log's time is authoritative
	Salt   []byte          `cbor:"salt,omitempty"`   // SaltSize random bytes if the record is private
	Body   cbor.RawMessage `cbor:"body"`             // the kind's body, a CBOR map
}

// Private reports whether r carries a salt, which makes it a private record.
func (r *Record) Private() bool { return len(r.Salt) > 0 }

// Signer returns the first signer.
func (r *Record) Signer() Handle {
	if len(r.By) == 0 {
		return ""
	}
	return r.By[0]
}

// Claimed returns the record's claimed time.
func (r *Record) Claimed() time.Time { return time.UnixMilli(r.Time).UTC() }

// DecodeBody decodes the record's body strictly into v, a pointer to the
// body type of r.Kind.
func (r *Record) DecodeBody(v any) error {
	if err := Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("%s record body: %w", r.Kind, err)
	}
	return nil
}

// A Sig is one signature over a record's signed message.
type Sig struct {
	Alg string `cbor:"alg"` // "ed25519"; a post-quantum composite can be added later
	Key []byte `cbor:"key"` // the signer's public key
	Sig []byte `cbor:"sig"`
}

// AlgEd25519 is the only signature algorithm of this version.
const AlgEd25519 = "ed25519"

// A Signed is a record with its signatures: Sigs[i] is by Record.By[i].
//
// SPEC: spec/records.md#signed
type Signed struct {
	Record []byte `cbor:"record"` // the record's exact deterministic CBOR encoding
	Sigs   []Sig  `cbor:"sigs"`
}

// An ID names a record: the SHA-256 of its record bytes.
type ID [32]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short is the first 12 hex digits, for people.
func (id ID) Short() string { return hex.EncodeToString(id[:6]) }

// IsZero reports whether id is all zeros.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText encodes id as hex, so IDs read well in JSON.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses a hex ID.
func (id *ID) UnmarshalText(b []byte) error {
	x, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = x
	return nil
}

// ParseID parses the 64-hex-digit form of an ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 64 {
		return id, fmt.Errorf("record ID %q: want 64 hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("record ID %q: %v", s, err)
	}
	return id, nil
}

// ID returns the record's ID.
func (s *Signed) ID() ID { return sha256.Sum256(s.Record) }

// SignedMessage returns the bytes a signature covers for a record of kind k
// with encoding rec. It is the only place they are computed.
//
// SPEC: spec/records.md#signed-message
func SignedMessage(k Kind, rec []byte) []byte {
	return appendSignedMessage(make([]byte, 0, len(ContextPrefix)+len(k)+1+len(rec)), k, rec)
}

// appendSignedMessage appends SignedMessage(k, rec) to m.
func appendSignedMessage(m []byte, k Kind, rec []byte) []byte {
	m = append(m, ContextPrefix...)
	m = append(m, k...)
	m = append(m, 0)
	return append(m, rec...)
}

// msgBufs holds VerifySigs' buffers for signed messages, which
// VerifyEd25519 reads and does not keep, and checkCanonicalFast's.
var msgBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// NewSalt returns a fresh random salt for a private record.
func NewSalt() []byte {
	s := make([]byte, SaltSize)
	rand.Read(s)
	return s
}

// Sign encodes body into r, encodes r and signs it with keys, one per
// r.By entry and in the same order. r.V is set to Version. A key is any
// Ed25519 crypto.Signer: an ed25519.PrivateKey, or a signer whose private
// key is held elsewhere, such as by pouch's agent (package keys/agent).
func Sign(r *Record, body any, keys ...crypto.Signer) (*Signed, error) {
	if body != nil {
		b, err := Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding %s body: %w", r.Kind, err)
		}
		r.Body = b
	}
	r.V = Version
	if len(keys) != len(r.By) {
		return nil, fmt.Errorf("%s record: %d signers named but %d keys given", r.Kind, len(r.By), len(keys))
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	rec, err := Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding %s record: %w", r.Kind, err)
	}
	if len(rec) > MaxRecordSize {
		return nil, fmt.Errorf("%s record: %d bytes: %w (limit %d)", r.Kind, len(rec), ErrTooLarge, MaxRecordSize)
	}
	s := &Signed{Record: rec}
	for i, k := range keys {
		if err := s.AddSignature(k); err != nil {
			return nil, fmt.Errorf("signing the %s record as %s: %w", r.Kind, r.By[i], err)
		}
	}
	return s, nil
}

// AddSignature appends a signature by key. It is used when the signers of a
// record sign one after the other, as both ends of a secure line do. It
// fails only when key does (an agent that is gone) or is not Ed25519.
func (s *Signed) AddSignature(key crypto.Signer) error {
	k := s.mustKind()
	pub, sig, err := SignEd25519(key, SignedMessage(k, s.Record))
	if err != nil {
		return err
	}
	s.Sigs = append(s.Sigs, Sig{Alg: AlgEd25519, Key: pub, Sig: sig})
	return nil
}

// ErrNotEd25519 is returned for a signer whose public key is not Ed25519.
var ErrNotEd25519 = errors.New("not an Ed25519 key")

// SignEd25519 signs msg with key, pure Ed25519 (RFC 8032, no prehash, no
// context: msg carries its own context string), and returns a copy of
// key's public key and the signature. key is an ed25519.PrivateKey or any
// crypto.Signer for an Ed25519 key, such as an agent's; a signature of
// the wrong size is an error.
func SignEd25519(key crypto.Signer, msg []byte) (ed25519.PublicKey, []byte, error) {
	if key == nil {
		return nil, nil, errors.New("no signing key")
	}
	pub, ok := key.Public().(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return nil, nil, fmt.Errorf("a %T signer: %w", key, ErrNotEd25519)
	}
	if sk, ok := key.(ed25519.PrivateKey); ok {
		return bytes.Clone(pub), ed25519.Sign(sk, msg), nil
	}
	sig, err := key.Sign(nil, msg, crypto.Hash(0))
	if err != nil {
		return nil, nil, err
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, nil, fmt.Errorf("a %T signer returned a signature of %d bytes, want %d", key, len(sig), ed25519.SignatureSize)
	}
	return bytes.Clone(pub), sig, nil
}

func (s *Signed) mustKind() Kind {
	var r Record
	if err := decMode.Unmarshal(s.Record, &r); err != nil {
		panic("record: AddSignature on an undecodable record: " + err.Error())
	}
	return r.Kind
}

// Errors a verifier branches on.
var (
	ErrBadSignature    = errors.New("signature does not verify")
	ErrMissingSig      = errors.New("signature missing")
	ErrUnknownKind     = errors.New("unknown record kind")
	ErrUnknownVersion  = errors.New("unknown record version")
	ErrUnknownAlg      = errors.New("unknown signature algorithm")
	ErrMalformedRecord = errors.New("malformed record")
)

// Parse decodes a Signed from b strictly, and its Record, without checking
// signatures. Use Verify for that.
func Parse(b []byte) (*Signed, *Record, error) {
	if len(b) > MaxRecordSize {
		return nil, nil, fmt.Errorf("signed record of %d bytes: %w (limit %d)", len(b), ErrTooLarge, MaxRecordSize)
	}
	var s Signed
	var err error
	if decodeSignedFast(b, &s) {
		err = checkCanonicalFast(b, &s, nil)
	} else {
		err = Unmarshal(b, &s)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformedRecord, err)
	}
	r, err := s.Open()
	if err != nil {
		return nil, nil, err
	}
	return &s, r, nil
}

// Open decodes and checks the record inside s, without checking signatures.
func (s *Signed) Open() (*Record, error) {
	var r Record
	var err error
	if decodeRecordFast(s.Record, &r) {
		err = checkCanonicalFast(s.Record, nil, &r)
	} else {
		err = Unmarshal(s.Record, &r)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedRecord, err)
	}
	if err := Wellformed(r.Body); err != nil {
		return nil, fmt.Errorf("%w: body: %w", ErrMalformedRecord, err)
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	if len(s.Sigs) > MaxSignatures {
		return nil, fmt.Errorf("%s record has %d signatures: %w (limit %d)", r.Kind, len(s.Sigs), ErrTooLarge, MaxSignatures)
	}
	return &r, nil
}

func (r *Record) check() error {
	if r.V != Version {
		return fmt.Errorf("record version %d: %w (this pouch reads version %d)", r.V, ErrUnknownVersion, Version)
	}
	if !r.Kind.Known() {
		return fmt.Errorf("%w %q", ErrUnknownKind, r.Kind)
	}
	if len(r.Origin) > MaxOriginLen {
		return fmt.Errorf("%s record: origin: %w", r.Kind, ErrTooLarge)
	}
	if len(r.By) == 0 {
		return fmt.Errorf("%w: %s record names no signer", ErrMalformedRecord, r.Kind)
	}
	if len(r.By) > MaxSigners {
		return fmt.Errorf("%s record names %d signers: %w (limit %d)", r.Kind, len(r.By), ErrTooLarge, MaxSigners)
	}
	for _, h := range r.By {
		if _, err := ParseHandle(string(h)); err != nil {
			return fmt.Errorf("%w: %s record: signer %v", ErrMalformedRecord, r.Kind, err)
		}
	}
	if r.Salt != nil && len(r.Salt) != SaltSize {
		return fmt.Errorf("%w: %s record: salt of %d bytes, want %d", ErrMalformedRecord, r.Kind, len(r.Salt), SaltSize)
	}
	return nil
}

// Verify parses b and checks that it carries exactly one valid signature
// per signer. It does not check that the keys belong to the signers: that
// is the directory's job, as of the record's place in the log.
func Verify(b []byte) (*Signed, *Record, error) {
	s, r, err := Parse(b)
	if err != nil {
		return nil, nil, err
	}
	if err := s.VerifySigs(r); err != nil {
		return nil, nil, err
	}
	return s, r, nil
}

// VerifySigs checks s's signatures against its decoded record r.
func (s *Signed) VerifySigs(r *Record) error {
	if len(s.Sigs) < len(r.By) {
		missing := r.By[len(s.Sigs):]
		return fmt.Errorf("%s record: %w: not signed by %v", r.Kind, ErrMissingSig, missing)
	}
	if len(s.Sigs) > len(r.By) {
		return fmt.Errorf("%w: %s record has %d signatures for %d signers", ErrMalformedRecord, r.Kind, len(s.Sigs), len(r.By))
	}
	bp := msgBufs.Get().(*[]byte)
	msg := appendSignedMessage((*bp)[:0], r.Kind, s.Record)
	defer func() {
		if cap(msg) <= 64<<10 {
			*bp = msg[:0]
			msgBufs.Put(bp)
		}
	}()
	for i, sg := range s.Sigs {
		if sg.Alg != AlgEd25519 {
			return fmt.Errorf("%s record, signature of %s: %w %q", r.Kind, r.By[i], ErrUnknownAlg, sg.Alg)
		}
		if len(sg.Key) != ed25519.PublicKeySize || len(sg.Sig) != ed25519.SignatureSize {
			return fmt.Errorf("%w: %s record, signature of %s: wrong key or signature length", ErrMalformedRecord, r.Kind, r.By[i])
		}
		if !VerifyEd25519(sg.Key, msg, sg.Sig) {
			return fmt.Errorf("%s record: signature of %s: %w", r.Kind, r.By[i], ErrBadSignature)
		}
	}
	return nil
}

// Marshal returns the deterministic encoding of s.
func (s *Signed) Marshal() []byte {
	b, err := Marshal(s)
	if err != nil {
		panic("record: encoding a Signed cannot fail: " + err.Error())
	}
	return b
}

// KeyOf returns the public key of signer i.
func (s *Signed) KeyOf(i int) ed25519.PublicKey {
	if i >= len(s.Sigs) {
		return nil
	}
	return ed25519.PublicKey(s.Sigs[i].Key)
}

// Now returns the current time in the records' unit, Unix milliseconds.
func Now() int64 { return time.Now().UnixMilli() }
