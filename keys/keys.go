// Package keys holds pouch principals' keys: an Ed25519 signing key and an
// age hybrid (ML-KEM-768 + X25519) identity per principal, and the home
// folder where they are kept, encrypted at rest with an age passphrase.
//
// # Principals
//
// A Principal is one office's keys under its handle ("ru/president"): a
// crypto.Signer for its Ed25519 key and an Identity (an age.Identity that
// names its recipient) for its age key. Generate makes fresh ones, in
// memory; Public returns what others need to verify the principal's
// signatures and seal letters to it.
//
// The private halves need not be in this process. Lazy (and Home.Lazy)
// gives a principal whose key file is decrypted only when a private key is
// first used, so that a command that needs only public keys, or fails
// before it signs, asks for no passphrase and pays no scrypt. Package
// keys/agent gives a principal whose keys an agent process holds: it signs
// and unwraps for its clients, and a person types the passphrase once per
// working session. Code that signs (record.Sign, letter.Seal, the line's
// TLS certificate) or opens (letter.Open) takes any of them; only writing
// a key file and exporting the age identity need the keys in memory
// (InMemory).
//
// # Key files
//
// A principal's private key file is a short text file (see spec/keys.md):
//
//	# pouch principal key
//	# handle: ru/president
//	# ed25519: 9ZB1...=
//	# age: age1pq1...
//	AGE-SECRET-KEY-PQ-1...
//	-----BEGIN PRIVATE KEY-----
//	MC4CAQAwBQYDK2VwBCIEI...
//	-----END PRIVATE KEY-----
//
// At rest it is encrypted as an armored age file to a passphrase (age's
// scrypt recipient), so "age -d" recovers it. Its public companion is a
// small JSON file, the same format that "pouch key import" reads.
//
// # The home folder
//
// A Home is a folder ($POUCH_HOME, by default pouch/ in the user's
// configuration directory) holding own principals under
// principals/HOUSE/OFFICE.key (with OFFICE.pub beside it) and the public
// keys of others under contacts/HOUSE/OFFICE.pub; the agent's socket is
// agent/sock.
//
// The rules are written down in spec/keys.md.
package keys

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"filippo.io/age"
	"filippo.io/age/armor"

	"pouch.dev/record"
)

// A Principal is one office's keys: its handle, a signer and an age
// identity. The private halves are in memory (Generate, ParseKeyFile,
// Decrypt), decrypted on first use (Lazy, Home.Lazy), or held by another
// process that signs and unwraps on the principal's behalf (the agent,
// package keys/agent); the code that signs and opens is the same for all.
type Principal struct {
	Handle record.Handle

	// Signing signs as the principal, with pure Ed25519: its Public method
	// returns an ed25519.PublicKey and its Sign method takes crypto.Hash(0)
	// and the whole message. It is an ed25519.PrivateKey when the key is in
	// memory.
	Signing crypto.Signer

	// Sealing unwraps the file keys of age files sealed to the principal.
	// It is an *age.HybridIdentity when the key is in memory.
	Sealing Identity

	// recipient caches Sealing's recipient, which costs a key derivation.
	recipient atomic.Pointer[parsedRecipient]
}

// An Identity is a principal's age identity: it unwraps file keys (age
// calls Unwrap with a file's recipient stanzas) and names the recipient
// letters to the principal are sealed to. *age.HybridIdentity is one.
type Identity interface {
	age.Identity
	Recipient() *age.HybridRecipient
}

// ErrNotInMemory is returned by the methods that need a principal's
// private keys themselves (to write a key file or export the age
// identity) when another process holds them.
var ErrNotInMemory = errors.New("the private keys are not in this process (an agent holds them)")

// Generate returns a principal with fresh keys from crypto/rand.
func Generate(h record.Handle) (*Principal, error) {
	if _, err := record.ParseHandle(string(h)); err != nil {
		return nil, err
	}
	_, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the signing key of %s: %w", h, err)
	}
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		return nil, fmt.Errorf("generating the sealing key of %s: %w", h, err)
	}
	return &Principal{Handle: h, Signing: sk, Sealing: id}, nil
}

// SigningPublic returns the principal's Ed25519 public key.
func (p *Principal) SigningPublic() ed25519.PublicKey {
	pub, _ := p.Signing.Public().(ed25519.PublicKey)
	return pub
}

// Recipient returns the age recipient ("age1pq1...") letters to p are
// sealed to.
func (p *Principal) Recipient() *age.HybridRecipient {
	id, ok := p.Sealing.(*age.HybridIdentity)
	if !ok {
		return p.Sealing.Recipient() // held elsewhere: the recipient is at hand
	}
	if c := p.recipient.Load(); c != nil && c.id == id {
		return c.r
	}
	r := id.Recipient()
	p.recipient.Store(&parsedRecipient{id: id, r: r})
	return r
}

// Public returns the principal's public keys.
func (p *Principal) Public() *Public {
	r := p.Recipient()
	pub := &Public{Handle: p.Handle, Ed25519: p.SigningPublic(), Age: r.String()}
	pub.parsed.Store(&parsedRecipient{from: pub.Age, r: r})
	return pub
}

// InMemory returns p's private keys themselves. A principal loaded with
// Lazy is decrypted now; one whose keys an agent holds gives
// ErrNotInMemory.
func (p *Principal) InMemory() (ed25519.PrivateKey, *age.HybridIdentity, error) {
	signing, sealing := p.Signing, p.Sealing
	if l, ok := signing.(*lazySigner); ok {
		q, err := l.k.get()
		if err != nil {
			return nil, nil, err
		}
		signing, sealing = q.Signing, q.Sealing
	}
	sk, ok1 := signing.(ed25519.PrivateKey)
	id, ok2 := sealing.(*age.HybridIdentity)
	if !ok1 || !ok2 {
		return nil, nil, fmt.Errorf("%s: %w", p.Handle, ErrNotInMemory)
	}
	return sk, id, nil
}

// A Public is a principal's public keys: what others need to check its
// signatures and to seal letters to it.
//
// SPEC: spec/keys.md#public-file
type Public struct {
	Handle  record.Handle     `json:"handle"`
	Ed25519 ed25519.PublicKey `json:"ed25519"` // base64 in JSON
	Age     string            `json:"age"`     // "age1pq1..."

	// parsed caches the parsed age recipient: parsing a post-quantum
	// recipient costs about as much as sealing to it.
	parsed atomic.Pointer[parsedRecipient]
}

type parsedRecipient struct {
	from string              // the recipient string it was parsed from, or
	id   *age.HybridIdentity // the in-memory identity it was derived from
	r    *age.HybridRecipient
}

// Recipient parses the age recipient.
func (p *Public) Recipient() (*age.HybridRecipient, error) {
	if c := p.parsed.Load(); c != nil && c.from == p.Age {
		return c.r, nil
	}
	r, err := age.ParseHybridRecipient(p.Age)
	if err != nil {
		return nil, fmt.Errorf("public key of %s: age recipient: %w", p.Handle, err)
	}
	p.parsed.Store(&parsedRecipient{from: p.Age, r: r})
	return r, nil
}

// Equal reports whether p and q name the same handle and keys.
func (p *Public) Equal(q *Public) bool {
	return p.Handle == q.Handle && p.Ed25519.Equal(q.Ed25519) && p.Age == q.Age
}

// Marshal returns the public file: indented JSON ending in a newline.
func (p *Public) Marshal() []byte {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		panic("keys: encoding a public key cannot fail: " + err.Error())
	}
	return append(b, '\n')
}

// MaxPublicFile is the largest public file ParsePublic reads.
const MaxPublicFile = 16 << 10

// ParsePublic reads a public file and checks every field.
func ParsePublic(b []byte) (*Public, error) {
	if len(b) > MaxPublicFile {
		return nil, fmt.Errorf("public key file of %d bytes: %w", len(b), record.ErrTooLarge)
	}
	var p Public
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("public key file: %w", err)
	}
	if dec.More() {
		return nil, errors.New("public key file: trailing data after the JSON object")
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return &p, nil
}

func (p *Public) check() error {
	if _, err := record.ParseHandle(string(p.Handle)); err != nil {
		return fmt.Errorf("public key file: %w", err)
	}
	if len(p.Ed25519) != ed25519.PublicKeySize {
		return fmt.Errorf("public key file of %s: ed25519 key of %d bytes, want %d", p.Handle, len(p.Ed25519), ed25519.PublicKeySize)
	}
	if _, err := p.Recipient(); err != nil {
		return err
	}
	return nil
}

// keyFileHeader starts every plaintext key file.
const keyFileHeader = "# pouch principal key (spec/keys.md)\n"

// MarshalKeyFile returns the plaintext key file of p. It holds secrets:
// write it only encrypted (Home.Save does). It needs p's keys in memory
// (see InMemory).
//
// SPEC: spec/keys.md#key-file
func (p *Principal) MarshalKeyFile() ([]byte, error) {
	sk, id, err := p.InMemory()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(keyFileHeader)
	pub := p.Public()
	fmt.Fprintf(&b, "# handle: %s\n", p.Handle)
	fmt.Fprintf(&b, "# ed25519: %s\n", base64Std(pub.Ed25519))
	fmt.Fprintf(&b, "# age: %s\n", pub.Age)
	fmt.Fprintf(&b, "%s\n", id)
	b.Write(MarshalEd25519PEM(sk))
	return b.Bytes(), nil
}

// AgeIdentityFile returns p's age identity as a file that "age -d -i"
// reads: comment lines naming the principal, then the identity line. It
// needs p's keys in memory (see InMemory).
//
// SPEC: spec/keys.md#age-export
func (p *Principal) AgeIdentityFile() ([]byte, error) {
	_, id, err := p.InMemory()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# pouch principal %s\n", p.Handle)
	fmt.Fprintf(&b, "# public key: %s\n", p.Recipient())
	fmt.Fprintf(&b, "%s\n", id)
	return b.Bytes(), nil
}

// MaxKeyFile is the largest plaintext key file ParseKeyFile reads.
const MaxKeyFile = 16 << 10

// ParseKeyFile reads a plaintext key file. The comment lines are checked
// against the keys: a file whose comments name another handle or other
// public keys is rejected, so a renamed or edited file is caught.
func ParseKeyFile(b []byte) (*Principal, error) {
	if len(b) > MaxKeyFile {
		return nil, fmt.Errorf("key file of %d bytes: %w", len(b), record.ErrTooLarge)
	}
	var (
		p        Principal
		comments = map[string]string{}
		pemText  bytes.Buffer
		inPEM    bool
	)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case inPEM:
			pemText.WriteString(line + "\n")
			if strings.HasPrefix(line, "-----END ") {
				inPEM = false
			}
		case line == "":
		case strings.HasPrefix(line, "#"):
			if k, v, ok := strings.Cut(strings.TrimSpace(line[1:]), ": "); ok {
				comments[k] = strings.TrimSpace(v)
			}
		case strings.HasPrefix(line, "AGE-SECRET-KEY-PQ-1"):
			if p.Sealing != nil {
				return nil, fmt.Errorf("key file line %d: a second age identity", n)
			}
			id, err := age.ParseHybridIdentity(line)
			if err != nil {
				return nil, fmt.Errorf("key file line %d: %w", n, err)
			}
			p.Sealing = id
		case strings.HasPrefix(line, "-----BEGIN PRIVATE KEY-----"):
			if pemText.Len() > 0 {
				return nil, fmt.Errorf("key file line %d: a second private key block", n)
			}
			inPEM = true
			pemText.WriteString(line + "\n")
		default:
			return nil, fmt.Errorf("key file line %d: unexpected content (want a comment, an AGE-SECRET-KEY-PQ-1 line or a PRIVATE KEY block)", n)
		}
	}
	if inPEM {
		return nil, errors.New("key file: unterminated PRIVATE KEY block")
	}
	if p.Sealing == nil {
		return nil, errors.New("key file: no age identity (AGE-SECRET-KEY-PQ-1...)")
	}
	sk, err := ParseEd25519PEM(pemText.Bytes())
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	p.Signing = sk
	h, err := record.ParseHandle(comments["handle"])
	if err != nil {
		return nil, fmt.Errorf("key file: \"# handle:\" line: %w", err)
	}
	p.Handle = h
	pub := p.Public()
	if v, ok := comments["ed25519"]; ok && v != base64Std(pub.Ed25519) {
		return nil, fmt.Errorf("key file of %s: the \"# ed25519:\" line does not match the private key", h)
	}
	if v, ok := comments["age"]; ok && v != pub.Age {
		return nil, fmt.Errorf("key file of %s: the \"# age:\" line does not match the age identity", h)
	}
	return &p, nil
}

// Encrypt returns the key file of p encrypted to passphrase as an armored
// age file, with scrypt work factor 2^logN (0: age's default).
//
// SPEC: spec/keys.md#at-rest
func (p *Principal) Encrypt(passphrase string, logN int) ([]byte, error) {
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, err
	}
	if logN != 0 {
		r.SetWorkFactor(logN)
	}
	var b bytes.Buffer
	aw := armorWriter(&b)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return nil, err
	}
	kf, err := p.MarshalKeyFile()
	if err != nil {
		return nil, err
	}
	defer clear(kf)
	if _, err := w.Write(kf); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ErrWrongPassphrase is returned when a key file does not decrypt with the
// passphrase given.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// Decrypt opens an encrypted key file with passphrase.
func Decrypt(b []byte, passphrase string) (*Principal, error) {
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(armorReader(bytes.NewReader(b)), id)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) || errors.Is(err, age.ErrIncorrectIdentity) {
			return nil, ErrWrongPassphrase
		}
		return nil, fmt.Errorf("decrypting the key file: %w", err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, MaxKeyFile+1))
	defer clear(plain)
	if err != nil {
		return nil, fmt.Errorf("decrypting the key file: %w", err)
	}
	return ParseKeyFile(plain)
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func armorWriter(w io.Writer) io.WriteCloser { return armor.NewWriter(w) }
func armorReader(r io.Reader) io.Reader      { return armor.NewReader(r) }

// ParseIdentityFile reads an age identity file, as written by
// AgeIdentityFile or age-keygen -pq, for principal h. The principal it
// returns can open letters sealed to h, but has no signing key: it cannot
// sign.
func ParseIdentityFile(h record.Handle, b []byte) (*Principal, error) {
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("age identity of %s: %w", h, err)
	}
	if len(ids) != 1 {
		return nil, fmt.Errorf("age identity of %s: %d identities in the file, want 1", h, len(ids))
	}
	id, ok := ids[0].(*age.HybridIdentity)
	if !ok {
		return nil, fmt.Errorf("age identity of %s: a %T, want a post-quantum AGE-SECRET-KEY-PQ-1 identity", h, ids[0])
	}
	return &Principal{Handle: h, Sealing: id}, nil
}
