package line

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/subtle"
	"errors"
	"fmt"

	"pouch.dev/record"
)

// CallBody is the body of a call record (record.KindLine). The record's By
// is Participants, the TLS server first; its Time is End; it is private
// (salted), and either participant may publish it.
//
// SPEC: spec/line.md#call-record
type CallBody struct {
	Participants []record.Handle `cbor:"participants"`      // [TLS server, TLS client]: the handles in sorted order
	Start        int64           `cbor:"start"`             // Unix milliseconds, when the handshake completed
	End          int64           `cbor:"end"`               // Unix milliseconds, when the line closed
	Binding      []byte          `cbor:"binding"`           // TLS exported keying material, ExporterLabel, no context, BindingSize bytes
	Bytes        []uint64        `cbor:"bytes"`             // frame bytes of text and pouches sent by each participant, in Participants order
	Pouches      []Handover      `cbor:"pouches,omitempty"` // pouches handed over, the first participant's in order, then the second's
}

// A Handover names a pouch handed over on the line and who handed it.
type Handover struct {
	ID   []byte        `cbor:"id"` // the pouch's ID, 32 bytes
	From record.Handle `cbor:"from"`
}

// A Call is a verified call record.
type Call struct {
	Signed *record.Signed
	Record *record.Record
	Body   CallBody
}

// ErrBadCall is returned for a call record that is not well formed.
var ErrBadCall = errors.New("malformed call record")

// VerifyCall checks that b is a call record signed by both participants
// and well formed. A record with a signature missing fails with an error
// wrapping record.ErrMissingSig. It does not check the keys against the
// directory (CheckKeys does) nor the binding to a session (CheckBinding
// does).
//
// SPEC: spec/line.md#call-record
func VerifyCall(b []byte) (*Call, error) {
	s, r, err := record.Verify(b)
	if err != nil {
		return nil, fmt.Errorf("call record: %w", err)
	}
	return checkCall(s, r)
}

// CheckCall is VerifyCall for a record already parsed, as the server has
// it: it checks both signatures and the body.
func CheckCall(s *record.Signed, r *record.Record) (*Call, error) {
	if err := s.VerifySigs(r); err != nil {
		return nil, fmt.Errorf("call record: %w", err)
	}
	return checkCall(s, r)
}

// PouchIDs returns the IDs of the pouches handed over on the line, for the
// server to index the call record under them.
func (c *Call) PouchIDs() []record.ID {
	ids := make([]record.ID, len(c.Body.Pouches))
	for i, h := range c.Body.Pouches {
		ids[i] = record.ID(h.ID)
	}
	return ids
}

func checkCall(s *record.Signed, r *record.Record) (*Call, error) {
	if r.Kind != record.KindLine {
		return nil, fmt.Errorf("%w: kind %q, want %q", ErrBadCall, r.Kind, record.KindLine)
	}
	if !r.Private() {
		return nil, fmt.Errorf("%w: not private (no salt)", ErrBadCall)
	}
	c := &Call{Signed: s, Record: r}
	if err := r.DecodeBody(&c.Body); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCall, err)
	}
	b := &c.Body
	switch {
	case len(r.By) != 2 || len(b.Participants) != 2 || r.By[0] != b.Participants[0] || r.By[1] != b.Participants[1]:
		return nil, fmt.Errorf("%w: signers %v must be the two participants %v", ErrBadCall, r.By, b.Participants)
	case !(b.Participants[0] < b.Participants[1]):
		return nil, fmt.Errorf("%w: participants %v not in sorted order", ErrBadCall, b.Participants)
	case b.End < b.Start:
		return nil, fmt.Errorf("%w: ends before it starts", ErrBadCall)
	case r.Time != b.End:
		return nil, fmt.Errorf("%w: record time is not the end of the call", ErrBadCall)
	case len(b.Binding) != BindingSize:
		return nil, fmt.Errorf("%w: binding of %d bytes, want %d", ErrBadCall, len(b.Binding), BindingSize)
	case len(b.Bytes) != 2:
		return nil, fmt.Errorf("%w: want two byte counts", ErrBadCall)
	case len(b.Pouches) > MaxHandovers:
		return nil, fmt.Errorf("%w: %d pouches (limit %d)", ErrBadCall, len(b.Pouches), MaxHandovers)
	}
	for _, h := range b.Pouches {
		if len(h.ID) != len(record.ID{}) || (h.From != b.Participants[0] && h.From != b.Participants[1]) {
			return nil, fmt.Errorf("%w: pouch handover %x from %s", ErrBadCall, h.ID, h.From)
		}
	}
	return c, nil
}

// CheckBinding checks that the call record is bound to the TLS session
// whose exported keying material (ExporterLabel, BindingSize bytes) is ekm.
//
// SPEC: spec/line.md#call-record
func (c *Call) CheckBinding(ekm []byte) error {
	if len(ekm) != BindingSize || subtle.ConstantTimeCompare(ekm, c.Body.Binding) != 1 {
		return fmt.Errorf("call record of %s and %s is not bound to this TLS session", c.Body.Participants[0], c.Body.Participants[1])
	}
	return nil
}

// CheckKeys checks that each signature is by its participant's current
// key in dir.
func (c *Call) CheckKeys(ctx context.Context, dir Directory) error {
	for i, h := range c.Record.By {
		if err := checkKey(ctx, dir, h, c.Signed.KeyOf(i)); err != nil {
			return fmt.Errorf("call record: %w", err)
		}
	}
	return nil
}

// proposeCall builds the call record the first participant signs.
func proposeCall(origin string, body *CallBody, key crypto.Signer) (*record.Signed, error) {
	r := &record.Record{
		V:      record.Version,
		Kind:   record.KindLine,
		Origin: origin,
		By:     body.Participants,
		Time:   body.End,
		Salt:   record.NewSalt(),
	}
	var err error
	if r.Body, err = record.Marshal(body); err != nil {
		return nil, err
	}
	rec, err := record.Marshal(r)
	if err != nil {
		return nil, err
	}
	s := &record.Signed{Record: rec}
	if err := s.AddSignature(key); err != nil {
		return nil, fmt.Errorf("signing the call record: %w", err)
	}
	if _, err := s.Open(); err != nil { // the record package's own checks
		return nil, err
	}
	return s, nil
}

// countersign checks a call record proposed by the first participant
// against what the second saw (want, whose Start and End are the second's
// own clock) and adds the second signature. firstKey is the key the first
// participant's TLS certificate carried.
func countersign(b []byte, origin string, want *CallBody, firstKey ed25519.PublicKey, key crypto.Signer) (*record.Signed, error) {
	s, r, err := record.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("proposed call record: %w", err)
	}
	if len(s.Sigs) != 1 || !bytes.Equal(s.Sigs[0].Key, firstKey) || s.Sigs[0].Alg != record.AlgEd25519 ||
		!record.VerifyEd25519(firstKey, record.SignedMessage(r.Kind, s.Record), s.Sigs[0].Sig) {
		return nil, fmt.Errorf("proposed call record: not signed by %s with the key of this line", want.Participants[0])
	}
	c, err := checkCall(s, r)
	if err != nil {
		return nil, fmt.Errorf("proposed call record: %w", err)
	}
	got := &c.Body
	skew := MaxClockSkew.Milliseconds()
	switch {
	case r.Origin != origin:
		err = fmt.Errorf("for log %q, not %q", r.Origin, origin)
	case got.Participants[0] != want.Participants[0] || got.Participants[1] != want.Participants[1]:
		err = fmt.Errorf("participants %v, not %v", got.Participants, want.Participants)
	case !bytes.Equal(got.Binding, want.Binding):
		err = errors.New("binding is not this TLS session's")
	case abs(got.Start-want.Start) > skew || abs(got.End-want.End) > skew:
		err = fmt.Errorf("start or end more than %v off our clock", MaxClockSkew)
	case got.Bytes[0] != want.Bytes[0] || got.Bytes[1] != want.Bytes[1]:
		err = fmt.Errorf("byte counts %v, we counted %v", got.Bytes, want.Bytes)
	case !sameHandovers(got.Pouches, want.Pouches):
		err = errors.New("pouches handed over differ from ours")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: proposed call record: %w", ErrBadCall, err)
	}
	if err := s.AddSignature(key); err != nil {
		return nil, fmt.Errorf("countersigning the call record: %w", err)
	}
	return s, nil
}

func sameHandovers(a, b []Handover) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].ID, b[i].ID) || a[i].From != b[i].From {
			return false
		}
	}
	return true
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
