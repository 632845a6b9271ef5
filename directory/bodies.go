package directory

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"

	"filippo.io/age"
	"pouch.dev/record"
)

// RegistrarOffice is the reserved office name of a house's registrar: the
// house record is signed as "HOUSE/registrar" by the registrar key it
// names, and every admit and key-revoke of the house is signed by that key.
//
// SPEC: spec/directory.md#house
const RegistrarOffice = "registrar"

// OperatorHandle is the handle under which a deployment's operator key
// countersigns house records when the directory is in operator mode.
//
// SPEC: spec/directory.md#founding
const OperatorHandle record.Handle = "pouch/operator"

// DeploymentHouse is the house of the deployment itself, which no house
// record founds: its one office, EvidenceHandle, is admitted (and its key
// revoked) by the operator, signing as OperatorHandle with the key of the
// log's genesis record.
//
// SPEC: spec/directory.md#the-deployments-house
const DeploymentHouse = "pouch"

// EvidenceHandle is the office of the deployment that signs the evidence
// the deployment itself gives, such as a pouch's non-delivery after its
// deadline (spec/evidence.md#non-delivery). Its key is proven in the
// directory like any other.
//
// SPEC: spec/directory.md#the-deployments-house
const EvidenceHandle record.Handle = "pouch/evidence"

// A Genesis is the body of the first record of every log: it names the
// log (its origin), the deployment's founding rule and the operator's key.
// The record is public and signed as OperatorHandle by Operator. A client
// that holds only the log's key learns from it, proven at index 0, how
// houses are founded on this deployment and with which key, so the
// operator's key need not be trusted on first use.
//
// SPEC: spec/directory.md#genesis
type Genesis struct {
	Origin   string `cbor:"origin"`   // the log's origin, as in its checkpoints
	Founding string `cbor:"founding"` // "operator" or "open" (Mode.String)
	Operator []byte `cbor:"operator"` // the operator's Ed25519 public key
}

func (b *Genesis) check() error {
	if b.Origin == "" || len(b.Origin) > record.MaxOriginLen {
		return fmt.Errorf("genesis: origin of %d bytes (1 to %d)", len(b.Origin), record.MaxOriginLen)
	}
	if _, err := ParseMode(b.Founding); err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	if len(b.Operator) != ed25519.PublicKeySize {
		return fmt.Errorf("genesis: operator key of %d bytes, want an Ed25519 key of %d", len(b.Operator), ed25519.PublicKeySize)
	}
	return nil
}

// Registrar returns the registrar handle of house ("ir/registrar").
func Registrar(house string) record.Handle {
	return record.Handle(house + "/" + RegistrarOffice)
}

// A House is the body of a house record: a house is founded with its
// registrar key. The record's only (open mode) or first (operator mode)
// signer is Registrar(House), signing with Registrar.
//
// SPEC: spec/directory.md#house
type House struct {
	House     string `cbor:"house"`
	Registrar []byte `cbor:"registrar"`      // Ed25519 public key
	Name      string `cbor:"name,omitempty"` // for people: "Islamic Republic of Iran"
}

// An Admit is the body of an admit record: the registrar of a house admits
// the holder of an office with the holder's signing key and sealing
// (age) recipient. A later admit for the same handle is a key rotation: a
// new holder of the office.
//
// SPEC: spec/directory.md#admit
type Admit struct {
	Handle    record.Handle `cbor:"handle"`
	Key       []byte        `cbor:"key"`              // Ed25519 public key
	Recipient string        `cbor:"recipient"`        // hybrid age recipient ("age1pq1…")
	Holder    string        `cbor:"holder,omitempty"` // for people: "Vladimir Putin"
}

// A KeyRevoke is the body of a key-revoke record: the house registrar, or
// the holder itself, declares Key of Handle revoked from this record's log
// index on.
//
// SPEC: spec/directory.md#key-revoke
type KeyRevoke struct {
	Handle record.Handle `cbor:"handle"`
	Key    []byte        `cbor:"key"`
	Reason string        `cbor:"reason,omitempty"`
}

// An Ability is what a grant lets its grantee do.
type Ability string

// The abilities.
const (
	// Receive: open letters to the grantor (they are sealed to the
	// grantee too) and sign their delivery on the grantor's behalf.
	Receive Ability = "receive"
	// Carry: take custody of pouches in place of the grantor when the
	// grantor is an envoy on their route.
	Carry Ability = "carry"
	// Disclose: publish sections of the grantor's letters.
	Disclose Ability = "disclose"
)

func (a Ability) known() bool { return a == Receive || a == Carry || a == Disclose }

// A Grant is the body of a grant record, signed by the grantor (the
// record's first signer). A grant record with a salt is private: served
// only to its parties.
//
// SPEC: spec/directory.md#grant
type Grant struct {
	To        record.Handle `cbor:"to"`
	Abilities []Ability     `cbor:"abilities"`
	// Scope. Empty means any.
	Counterparts []record.Handle `cbor:"counterparts,omitempty"` // for receive: senders; for carry: senders; for disclose: -
	Thread       *record.ID      `cbor:"thread,omitempty"`       // a pouch ID: that pouch and the replies in its thread
	// Letter limits a disclose grant to the letter with this ID (its
	// header's id, record.LetterIDSize bytes), which is what a disclosure
	// shows: a disclose grant is judged by the disclosed header alone.
	Letter  []byte `cbor:"letter,omitempty"`
	Purpose string `cbor:"purpose,omitempty"` // for people: "special representative"
	// Validity window, Unix milliseconds, against the log's sequencing
	// time. NotAfter 0 means no expiry.
	NotBefore int64 `cbor:"not-before,omitempty"`
	NotAfter  int64 `cbor:"not-after,omitempty"`
}

// A GrantRevoke is the body of a grant-revoke record, signed by the
// grantor of Grant.
//
// SPEC: spec/directory.md#grant-revoke
type GrantRevoke struct {
	Grant  record.ID `cbor:"grant"`
	Reason string    `cbor:"reason,omitempty"`
}

// Limits of directory bodies.
const (
	MaxNameLen      = 200
	MaxPurposeLen   = 500
	MaxCounterparts = 64
	MaxRecipientLen = 4096
)

func (b *House) check() error {
	if _, err := record.ParseHouse(b.House); err != nil {
		return err
	}
	if b.House == OperatorHandle.House() {
		return fmt.Errorf("house %q is reserved for the deployment's operator", b.House)
	}
	if len(b.Registrar) != ed25519.PublicKeySize {
		return fmt.Errorf("house %s: registrar key of %d bytes, want an Ed25519 key of %d", b.House, len(b.Registrar), ed25519.PublicKeySize)
	}
	if len(b.Name) > MaxNameLen {
		return fmt.Errorf("house %s: name longer than %d bytes", b.House, MaxNameLen)
	}
	return nil
}

// check checks an admit's body; the recipient is parsed only if
// parseRecipient (Directory.Replay says when it need not be).
func (b *Admit) check(parseRecipient bool) error {
	if _, err := record.ParseHandle(string(b.Handle)); err != nil {
		return err
	}
	if b.Handle.Office() == RegistrarOffice {
		return fmt.Errorf("admit %s: the office %q is reserved for the house's registrar", b.Handle, RegistrarOffice)
	}
	if b.Handle.House() == DeploymentHouse && b.Handle != EvidenceHandle {
		return fmt.Errorf("admit %s: the deployment's house %s holds one office, %s", b.Handle, DeploymentHouse, EvidenceHandle)
	}
	if len(b.Key) != ed25519.PublicKeySize {
		return fmt.Errorf("admit %s: key of %d bytes, want an Ed25519 key of %d", b.Handle, len(b.Key), ed25519.PublicKeySize)
	}
	if len(b.Recipient) > MaxRecipientLen {
		return fmt.Errorf("admit %s: recipient longer than %d bytes", b.Handle, MaxRecipientLen)
	}
	if len(b.Holder) > MaxNameLen {
		return fmt.Errorf("admit %s: holder name longer than %d bytes", b.Handle, MaxNameLen)
	}
	if parseRecipient {
		if err := checkRecipient(b.Recipient); err != nil {
			return fmt.Errorf("admit %s: %w", b.Handle, err)
		}
	}
	return nil
}

// checkRecipient requires exactly one age recipient of the hybrid
// post-quantum kind (ML-KEM-768 + X25519, "age1pq1…"). A classical X25519
// recipient is refused with ErrClassicalRecipient: a letter sealed to it
// could be opened by whoever breaks X25519, and sealing to it alongside
// hybrid recipients is a downgrade that age and pouch refuse.
//
// SPEC: spec/directory.md#admit
func checkRecipient(s string) error {
	if s == "" || strings.ContainsAny(s, "\n\r# ") {
		return fmt.Errorf("recipient %q: want one hybrid age recipient such as age1pq1…", s)
	}
	sum := sha256.Sum256([]byte(s))
	if acceptedRecipients.has(sum) {
		return nil
	}
	if err := parseRecipient(s); err != nil {
		return err
	}
	acceptedRecipients.add(sum)
	return nil
}

// acceptedRecipients remembers, by their SHA-256, the recipients
// checkRecipient has accepted in this process. Parsing a hybrid recipient
// (a 1.9 kB bech32 string and an ML-KEM-768 key) takes about 100 µs, and a
// client replays every admit its View holds in each command, twice in a
// sync (whose work is done on a copy); hashing the string takes about
// 1 µs. The verdict is a pure function of the string, so remembering it
// changes no outcome; refusals are not remembered.
var acceptedRecipients = recipientSet{m: make(map[[sha256.Size]byte]struct{})}

// maxAcceptedRecipients bounds acceptedRecipients (about 3 MiB when full);
// when full it is emptied and fills again.
const maxAcceptedRecipients = 1 << 16

type recipientSet struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]struct{}
}

func (rs *recipientSet) has(sum [sha256.Size]byte) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	_, ok := rs.m[sum]
	return ok
}

func (rs *recipientSet) add(sum [sha256.Size]byte) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.m) >= maxAcceptedRecipients {
		clear(rs.m)
	}
	rs.m[sum] = struct{}{}
}

// parseRecipient is checkRecipient's parse of s, not remembered.
func parseRecipient(s string) error {
	rs, err := age.ParseRecipients(strings.NewReader(s))
	if err != nil || len(rs) != 1 {
		return fmt.Errorf("recipient %q is not an age recipient: %v", short(s), err)
	}
	switch rs[0].(type) {
	case *age.HybridRecipient:
		return nil
	case *age.X25519Recipient:
		return fmt.Errorf("recipient %q: %w: only hybrid post-quantum recipients (age1pq1…) are admitted; \"pouch init\" makes such keys, and \"pouch key export --public\" shows them", short(s), ErrClassicalRecipient)
	}
	return fmt.Errorf("recipient %q: only hybrid post-quantum age recipients (age1pq1…) are admitted", short(s))
}

func short(s string) string {
	if len(s) > 24 {
		return s[:20] + "…"
	}
	return s
}

func (b *KeyRevoke) check() error {
	if _, err := record.ParseHandle(string(b.Handle)); err != nil {
		return err
	}
	if len(b.Key) != ed25519.PublicKeySize {
		return fmt.Errorf("key-revoke %s: key of %d bytes, want %d", b.Handle, len(b.Key), ed25519.PublicKeySize)
	}
	if len(b.Reason) > MaxPurposeLen {
		return fmt.Errorf("key-revoke %s: reason longer than %d bytes", b.Handle, MaxPurposeLen)
	}
	return nil
}

func (b *Grant) check() error {
	if _, err := record.ParseHandle(string(b.To)); err != nil {
		return fmt.Errorf("grant: to: %w", err)
	}
	if len(b.Abilities) == 0 {
		return fmt.Errorf("grant to %s names no ability (want receive, carry or disclose)", b.To)
	}
	seen := map[Ability]bool{}
	for _, a := range b.Abilities {
		if !a.known() {
			return fmt.Errorf("grant to %s: unknown ability %q (want receive, carry or disclose)", b.To, a)
		}
		if seen[a] {
			return fmt.Errorf("grant to %s: ability %q named twice", b.To, a)
		}
		seen[a] = true
	}
	if len(b.Counterparts) > MaxCounterparts {
		return fmt.Errorf("grant to %s: more than %d counterparts", b.To, MaxCounterparts)
	}
	for _, c := range b.Counterparts {
		if _, err := record.ParseHandle(string(c)); err != nil {
			return fmt.Errorf("grant to %s: counterpart: %w", b.To, err)
		}
	}
	if b.Letter != nil && len(b.Letter) != record.LetterIDSize {
		return fmt.Errorf("grant to %s: letter ID of %d bytes, want %d", b.To, len(b.Letter), record.LetterIDSize)
	}
	if b.Letter != nil && (len(b.Abilities) != 1 || b.Abilities[0] != Disclose) {
		return fmt.Errorf("grant to %s: a grant scoped to one letter is a disclose grant alone", b.To)
	}
	if len(b.Purpose) > MaxPurposeLen {
		return fmt.Errorf("grant to %s: purpose longer than %d bytes", b.To, MaxPurposeLen)
	}
	if b.NotBefore < 0 || b.NotAfter < 0 {
		return fmt.Errorf("grant to %s: negative validity time", b.To)
	}
	if b.NotAfter != 0 && b.NotAfter <= b.NotBefore {
		return fmt.Errorf("grant to %s: not-after is not after not-before", b.To)
	}
	return nil
}

// Has reports whether g includes ability a.
func (g *Grant) Has(a Ability) bool {
	for _, x := range g.Abilities {
		if x == a {
			return true
		}
	}
	return false
}
