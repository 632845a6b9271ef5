package letter

import (
	"crypto"
	"errors"
	"fmt"
	"unicode/utf8"

	"pouch.dev/record"
)

// The events of a pouch besides its custody: the addressee's side
// accepting it (consent), refusing it with a reason, taking its sealed
// payload (access), and the deployment stating that it was not delivered
// by its deadline, and why. Each is a private record naming the pouch,
// signed by one principal; its parties are the pouch's. The rules that
// say who may sign each, and when, are package ledger's.
//
// SPEC: spec/evidence.md#events

// An Acceptance is the body of an acceptance record: the addressee, or a
// receive delegate on its behalf, consents to the pouch's delivery, as a
// pouch whose tag asks for consent requires before it is delivered.
//
// SPEC: spec/evidence.md#acceptance
type Acceptance struct {
	Pouch    record.ID     `cbor:"pouch"`
	OnBehalf record.Handle `cbor:"on_behalf,omitempty"` // the addressee, when a receive delegate signs
}

// A Refusal is the body of a refusal record: the addressee, or a receive
// delegate on its behalf, refuses the pouch, with a reason. The pouch is
// returned: nothing but its non-delivery (at its deadline) follows.
//
// SPEC: spec/evidence.md#refusal
type Refusal struct {
	Pouch    record.ID     `cbor:"pouch"`
	Reason   RefusalReason `cbor:"reason"`
	Text     string        `cbor:"text,omitempty"` // the reason in words, at most record.MaxReasonText bytes
	OnBehalf record.Handle `cbor:"on_behalf,omitempty"`
}

// A RefusalReason is a refusal's reason code.
type RefusalReason string

// The refusal reason codes.
//
// SPEC: spec/evidence.md#refusal-reasons
const (
	// RefusalDeclined: the addressee does not accept the letter.
	RefusalDeclined RefusalReason = "declined"
	// RefusalWrongAddressee: the letter is not for this office.
	RefusalWrongAddressee RefusalReason = "wrong-addressee"
	// RefusalUnreadable: the pouch cannot be opened or read.
	RefusalUnreadable RefusalReason = "unreadable"
	// RefusalOther: another reason, which the text gives.
	RefusalOther RefusalReason = "other"
)

// RefusalReasons lists the refusal reason codes.
var RefusalReasons = []RefusalReason{RefusalDeclined, RefusalWrongAddressee, RefusalUnreadable, RefusalOther}

// An Access is the body of an access record: the addressee, or a receive
// delegate on its behalf, takes the pouch's sealed payload. A pouch whose
// tag asks for access (or consent) is served to the addressee's side only
// once its signer logged one: the log then proves when it first took the
// sealed content.
//
// SPEC: spec/evidence.md#access
type Access struct {
	Pouch    record.ID     `cbor:"pouch"`
	OnBehalf record.Handle `cbor:"on_behalf,omitempty"`
}

// A NonDelivery is the body of a non-delivery record: the deployment's
// evidence office (directory.EvidenceHandle) states that the pouch was
// not delivered by its deadline, who held it then, which route position
// it awaited, and why. The reason is not the deployment's to choose: the
// rules derive it from the pouch's records (ledger.NonDeliveryFor), and
// refuse any other.
//
// SPEC: spec/evidence.md#non-delivery
type NonDelivery struct {
	Pouch   record.ID         `cbor:"pouch"`
	Reason  NonDeliveryReason `cbor:"reason"`
	Holder  record.Handle     `cbor:"holder"`            // who held the pouch at the deadline: the sender, or the last custody signer
	Next    record.Handle     `cbor:"next"`              // the route position it awaited: the next envoy, or the addressee
	Refusal *record.ID        `cbor:"refusal,omitempty"` // the refusal record, for reason "refused"
}

// A NonDeliveryReason is a non-delivery's reason code.
type NonDeliveryReason string

// The non-delivery reason codes, in the order the rules try them.
//
// SPEC: spec/evidence.md#non-delivery-reasons
const (
	// NonDeliveryRefused: the addressee's side refused the pouch.
	NonDeliveryRefused NonDeliveryReason = "refused"
	// NonDeliveryKeyRevoked: the office the pouch awaited (the next
	// envoy, or the addressee) held no key at the deadline.
	NonDeliveryKeyRevoked NonDeliveryReason = "key-revoked"
	// NonDeliveryNotAccepted: the pouch asked for consent and the
	// addressee's side never accepted it.
	NonDeliveryNotAccepted NonDeliveryReason = "not-accepted"
	// NonDeliveryNotTaken: the first envoy never took the pouch.
	NonDeliveryNotTaken NonDeliveryReason = "not-taken"
	// NonDeliveryStuck: an envoy holds the pouch and the next envoy never
	// took it.
	NonDeliveryStuck NonDeliveryReason = "stuck"
	// NonDeliveryNotDelivered: the pouch reached its last holder before
	// the addressee, whose side never signed its delivery.
	NonDeliveryNotDelivered NonDeliveryReason = "not-delivered"
)

// NonDeliveryReasons lists the non-delivery reason codes.
var NonDeliveryReasons = []NonDeliveryReason{NonDeliveryRefused, NonDeliveryKeyRevoked, NonDeliveryNotAccepted,
	NonDeliveryNotTaken, NonDeliveryStuck, NonDeliveryNotDelivered}

// IsEventKind reports whether k is the kind of a pouch event other than
// custody: acceptance, refusal, access or non-delivery.
func IsEventKind(k record.Kind) bool {
	switch k {
	case record.KindAcceptance, record.KindRefusal, record.KindAccess, record.KindNonDelivery:
		return true
	}
	return false
}

// An Event is a verified pouch event: exactly one of its bodies is set,
// the one of its record's kind.
type Event struct {
	Signed      *record.Signed
	Record      *record.Record
	Acceptance  *Acceptance
	Refusal     *Refusal
	Access      *Access
	NonDelivery *NonDelivery
}

// Kind returns the event's kind.
func (e *Event) Kind() record.Kind { return e.Record.Kind }

// By returns the principal who signed the event.
func (e *Event) By() record.Handle { return e.Record.By[0] }

// ID returns the event record's ID.
func (e *Event) ID() record.ID { return e.Signed.ID() }

// Pouch returns the pouch the event names.
func (e *Event) Pouch() record.ID {
	switch {
	case e.Acceptance != nil:
		return e.Acceptance.Pouch
	case e.Refusal != nil:
		return e.Refusal.Pouch
	case e.Access != nil:
		return e.Access.Pouch
	}
	return e.NonDelivery.Pouch
}

// OnBehalf returns the route position the signer stands in for, if it
// says so ("" for a non-delivery).
func (e *Event) OnBehalf() record.Handle {
	switch {
	case e.Acceptance != nil:
		return e.Acceptance.OnBehalf
	case e.Refusal != nil:
		return e.Refusal.OnBehalf
	case e.Access != nil:
		return e.Access.OnBehalf
	}
	return ""
}

// ErrNotEvent is returned for a record that is not a pouch event.
var ErrNotEvent = errors.New("not a pouch event")

// VerifyEvent parses a signed pouch event, checks its signature and its
// body strictly.
func VerifyEvent(b []byte) (*Event, error) {
	s, r, err := record.Verify(b)
	if err != nil {
		return nil, err
	}
	return EventOf(s, r)
}

// EventOf checks the body of a pouch event whose signatures were verified.
func EventOf(s *record.Signed, r *record.Record) (*Event, error) {
	if !IsEventKind(r.Kind) {
		return nil, fmt.Errorf("%w: a %s record", ErrNotEvent, r.Kind)
	}
	if len(r.By) != 1 || !r.Private() {
		return nil, fmt.Errorf("%w: a %s record is private and has one signer", ErrMalformedLetter, r.Kind)
	}
	e := &Event{Signed: s, Record: r}
	var err error
	switch r.Kind {
	case record.KindAcceptance:
		e.Acceptance = new(Acceptance)
		err = r.DecodeBody(e.Acceptance)
	case record.KindRefusal:
		e.Refusal = new(Refusal)
		if err = r.DecodeBody(e.Refusal); err == nil {
			err = e.Refusal.check()
		}
	case record.KindAccess:
		e.Access = new(Access)
		err = r.DecodeBody(e.Access)
	case record.KindNonDelivery:
		e.NonDelivery = new(NonDelivery)
		if err = r.DecodeBody(e.NonDelivery); err == nil {
			err = e.NonDelivery.check()
		}
	}
	if err != nil {
		if errors.Is(err, ErrMalformedLetter) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformedLetter, err)
	}
	if ob := e.OnBehalf(); ob != "" {
		if _, err := record.ParseHandle(string(ob)); err != nil {
			return nil, fmt.Errorf("%w: %s: on_behalf: %v", ErrMalformedLetter, r.Kind, err)
		}
		if ob == r.By[0] {
			return nil, fmt.Errorf("%w: %s: %s names itself in on_behalf; leave it out", ErrMalformedLetter, r.Kind, ob)
		}
	}
	return e, nil
}

func (r *Refusal) check() error {
	known := false
	for _, x := range RefusalReasons {
		known = known || x == r.Reason
	}
	switch {
	case !known:
		return fmt.Errorf("%w: refusal reason %q (want one of %v)", ErrMalformedLetter, r.Reason, RefusalReasons)
	case len(r.Text) > record.MaxReasonText:
		return fmt.Errorf("refusal text of %d bytes: %w (limit %d)", len(r.Text), record.ErrTooLarge, record.MaxReasonText)
	case !utf8.ValidString(r.Text):
		return fmt.Errorf("%w: refusal text is not UTF-8", ErrMalformedLetter)
	case r.Reason == RefusalOther && r.Text == "":
		return fmt.Errorf("%w: a refusal for reason %q says it in its text", ErrMalformedLetter, RefusalOther)
	}
	return nil
}

func (n *NonDelivery) check() error {
	known := false
	for _, x := range NonDeliveryReasons {
		known = known || x == n.Reason
	}
	if !known {
		return fmt.Errorf("%w: non-delivery reason %q (want one of %v)", ErrMalformedLetter, n.Reason, NonDeliveryReasons)
	}
	for _, h := range []record.Handle{n.Holder, n.Next} {
		if _, err := record.ParseHandle(string(h)); err != nil {
			return fmt.Errorf("%w: non-delivery: %v", ErrMalformedLetter, err)
		}
	}
	if (n.Reason == NonDeliveryRefused) != (n.Refusal != nil) {
		return fmt.Errorf("%w: a non-delivery names the refusal record exactly when its reason is %q", ErrMalformedLetter, NonDeliveryRefused)
	}
	return nil
}

// SignEvent signs body, an *Acceptance, *Refusal, *Access or
// *NonDelivery, as a private event record by by, with salt (of
// record.SaltSize bytes) and claimed time t, and checks it as VerifyEvent
// does.
func SignEvent(body any, by record.Handle, key crypto.Signer, salt []byte, t int64, origin string) (*record.Signed, error) {
	var k record.Kind
	switch body.(type) {
	case *Acceptance:
		k = record.KindAcceptance
	case *Refusal:
		k = record.KindRefusal
	case *Access:
		k = record.KindAccess
	case *NonDelivery:
		k = record.KindNonDelivery
	default:
		return nil, fmt.Errorf("%w: a %T", ErrNotEvent, body)
	}
	s, err := record.Sign(&record.Record{Kind: k, Origin: origin, By: []record.Handle{by}, Time: t, Salt: salt}, body, key)
	if err != nil {
		return nil, err
	}
	r, err := s.Open()
	if err != nil {
		return nil, err
	}
	if _, err := EventOf(s, r); err != nil {
		return nil, err
	}
	return s, nil
}
