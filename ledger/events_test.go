package ledger

import (
	"errors"
	"strings"
	"testing"
	"time"

	"pouch.dev/directory"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// event signs a pouch event (an *letter.Acceptance, *letter.Refusal,
// *letter.Access or *letter.NonDelivery) by by.
func (w *world) event(body any, by record.Handle) *letter.Event {
	w.t.Helper()
	s, err := letter.SignEvent(body, by, w.ps[by].Signing, record.NewSalt(), w.now.UnixMilli(), "")
	if err != nil {
		w.t.Fatal(err)
	}
	e, err := letter.VerifyEvent(s.Marshal())
	if err != nil {
		w.t.Fatal(err)
	}
	return e
}

// act runs CheckEvent at the next index and, if it passes, applies it.
func (w *world) act(p *Pouch, e *letter.Event) (Event, error) {
	ev, err := CheckEvent(w.d, p, e, w.pos())
	if err == nil {
		p.Apply(ev)
		w.idx++
	}
	return ev, err
}

func (w *world) deadlinePouch(deadline time.Duration, consent bool, via ...record.Handle) *Pouch {
	w.t.Helper()
	return w.pouchTag(&letter.Tag{From: "us/secretary-of-state", To: "ir/fm", Via: via, Size: 1,
		DeliverBy: w.now.Add(deadline).UnixMilli(), Consent: consent})
}

func eventWorld(t *testing.T) *world {
	w := newWorld(t, "us/secretary-of-state", "us/envoy", "us/envoy-2", "ir/fm", "ir/deputy-fm", "ir/speaker")
	w.grant("ir/fm", "ir/deputy-fm", directory.Grant{Abilities: []directory.Ability{directory.Receive}})
	return w
}

func TestAcceptanceAndConsent(t *testing.T) {
	w := eventWorld(t)
	p := w.deadlinePouch(48*time.Hour, true, "us/envoy")
	if _, err := w.take(p, w.custody(p, "us/envoy", "us/secretary-of-state", false, ""), nil); err != nil {
		t.Fatal(err)
	}
	// Consent: the delivery waits for the acceptance.
	if _, err := w.take(p, w.custody(p, "ir/fm", "us/envoy", true, ""), nil); !errors.Is(err, ErrConsent) {
		t.Fatalf("delivery before acceptance: %v", err)
	}
	// Only the addressee's side accepts: not the envoy, not the sender.
	if _, err := w.act(p, w.event(&letter.Acceptance{Pouch: p.ID}, "us/envoy")); !errors.Is(err, ErrNotAddressee) || !strings.Contains(err.Error(), "is an envoy") {
		t.Fatalf("acceptance by the envoy: %v", err)
	}
	if _, err := w.act(p, w.event(&letter.Acceptance{Pouch: p.ID}, "us/secretary-of-state")); !errors.Is(err, ErrNotAddressee) {
		t.Fatalf("acceptance by the sender: %v", err)
	}
	// A delegate names the addressee; the addressee names no one.
	if _, err := w.act(p, w.event(&letter.Acceptance{Pouch: p.ID}, "ir/deputy-fm")); !errors.Is(err, ErrOnBehalf) {
		t.Fatalf("delegate without on_behalf: %v", err)
	}
	if _, err := w.act(p, w.event(&letter.Acceptance{Pouch: p.ID, OnBehalf: "ir/deputy-fm"}, "ir/fm")); !errors.Is(err, ErrOnBehalf) {
		t.Fatalf("addressee on behalf of another: %v", err)
	}
	ev, err := w.act(p, w.event(&letter.Acceptance{Pouch: p.ID, OnBehalf: "ir/fm"}, "ir/deputy-fm"))
	if err != nil || ev.Grant == nil || p.Accepted == nil {
		t.Fatalf("acceptance by a receive delegate: %+v %v", ev, err)
	}
	if _, err := w.act(p, w.event(&letter.Acceptance{Pouch: p.ID}, "ir/fm")); !errors.Is(err, ErrConsent) {
		t.Fatalf("a second acceptance: %v", err)
	}
	// Accepted: no longer refused.
	if _, err := w.act(p, w.event(&letter.Refusal{Pouch: p.ID, Reason: letter.RefusalDeclined}, "ir/fm")); !errors.Is(err, ErrConsent) {
		t.Fatalf("refusal after acceptance: %v", err)
	}
	if _, err := w.take(p, w.custody(p, "ir/fm", "us/envoy", true, ""), nil); err != nil {
		t.Fatalf("delivery after acceptance: %v", err)
	}

	// A pouch that asks for no consent takes no acceptance.
	q := w.deadlinePouch(time.Hour, false)
	if _, err := w.act(q, w.event(&letter.Acceptance{Pouch: q.ID}, "ir/fm")); !errors.Is(err, ErrConsent) {
		t.Fatalf("acceptance without consent asked: %v", err)
	}
	// An event names its pouch.
	if _, err := w.act(q, w.event(&letter.Refusal{Pouch: p.ID, Reason: letter.RefusalDeclined}, "ir/fm")); !errors.Is(err, ErrUnknownPouch) {
		t.Fatalf("an event of another pouch: %v", err)
	}
}

func TestRefusal(t *testing.T) {
	w := eventWorld(t)
	p := w.deadlinePouch(48*time.Hour, true, "us/envoy")
	// Neither addressee nor delegate: a third party, the envoy.
	if _, err := w.act(p, w.event(&letter.Refusal{Pouch: p.ID, Reason: letter.RefusalDeclined}, "ir/speaker")); !errors.Is(err, ErrNotAddressee) ||
		!strings.Contains(err.Error(), "holds no receive grant") {
		t.Fatalf("refusal by a third party: %v", err)
	}
	if _, err := w.act(p, w.event(&letter.Refusal{Pouch: p.ID, Reason: letter.RefusalDeclined}, "us/envoy")); !errors.Is(err, ErrNotAddressee) {
		t.Fatalf("refusal by the envoy: %v", err)
	}
	ev, err := w.act(p, w.event(&letter.Refusal{Pouch: p.ID, Reason: letter.RefusalDeclined, Text: "Tehran firmly rejects the extension of the embargo"}, "ir/fm"))
	if err != nil || ev.Reason != "declined" || p.Refused == nil {
		t.Fatalf("refusal by the addressee: %+v %v", ev, err)
	}
	// Returned: no custody, acceptance, access or second refusal follows.
	if _, err := w.take(p, w.custody(p, "us/envoy", "us/secretary-of-state", false, ""), nil); !errors.Is(err, ErrClosed) ||
		!strings.Contains(err.Error(), "returned to its sender") {
		t.Fatalf("custody after the refusal: %v", err)
	}
	if _, err := MayTakeNext(w.d, p, "us/envoy", w.pos()); !errors.Is(err, ErrClosed) {
		t.Fatalf("the envoy may take a refused pouch: %v", err)
	}
	for _, body := range []any{&letter.Acceptance{Pouch: p.ID}, &letter.Access{Pouch: p.ID}, &letter.Refusal{Pouch: p.ID, Reason: letter.RefusalUnreadable}} {
		if _, err := w.act(p, w.event(body, "ir/fm")); !errors.Is(err, ErrClosed) {
			t.Fatalf("%T after the refusal: %v", body, err)
		}
	}

	// A delegate whose grant expired is told so.
	until := w.now.Add(time.Hour)
	w.grant("ir/fm", "ir/speaker", directory.Grant{Abilities: []directory.Ability{directory.Receive}, NotAfter: until.UnixMilli()})
	q := w.deadlinePouch(48*time.Hour, false)
	w.now = until
	if _, err := w.act(q, w.event(&letter.Refusal{Pouch: q.ID, Reason: letter.RefusalDeclined, OnBehalf: "ir/fm"}, "ir/speaker")); !errors.Is(err, directory.ErrGrantExpired) {
		t.Fatalf("refusal under an expired grant: %v", err)
	}
	// Delivered: no refusal.
	if _, err := w.take(q, w.custody(q, "ir/fm", "us/secretary-of-state", true, ""), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.act(q, w.event(&letter.Refusal{Pouch: q.ID, Reason: letter.RefusalDeclined}, "ir/fm")); !errors.Is(err, directory.ErrDelivered) {
		t.Fatalf("refusal after delivery: %v", err)
	}
}

func TestRefusalBody(t *testing.T) {
	w := eventWorld(t)
	for _, tc := range []struct {
		body any
		want error
	}{
		{&letter.Refusal{Reason: "bored"}, letter.ErrMalformedLetter},
		{&letter.Refusal{Reason: letter.RefusalOther}, letter.ErrMalformedLetter},
		{&letter.Refusal{Reason: letter.RefusalDeclined, Text: strings.Repeat("x", record.MaxReasonText+1)}, record.ErrTooLarge},
		{&letter.Refusal{Reason: letter.RefusalDeclined, OnBehalf: "ir/fm"}, letter.ErrMalformedLetter},
		{&letter.NonDelivery{Reason: "lost", Holder: "ir/fm", Next: "ir/fm"}, letter.ErrMalformedLetter},
		{&letter.NonDelivery{Reason: letter.NonDeliveryRefused, Holder: "ir/fm", Next: "ir/fm"}, letter.ErrMalformedLetter},
	} {
		if _, err := letter.SignEvent(tc.body, "ir/fm", w.ps["ir/fm"].Signing, record.NewSalt(), 1, ""); !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.body, err, tc.want)
		}
	}
	// Events are private.
	s, err := record.Sign(&record.Record{Kind: record.KindRefusal, By: []record.Handle{"ir/fm"}, Time: 1},
		&letter.Refusal{Reason: letter.RefusalDeclined}, w.ps["ir/fm"].Signing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := letter.VerifyEvent(s.Marshal()); !errors.Is(err, letter.ErrMalformedLetter) {
		t.Fatalf("a public refusal: %v", err)
	}
}

func TestAccess(t *testing.T) {
	w := eventWorld(t)
	p := w.deadlinePouch(48*time.Hour, true, "us/envoy")
	// The payload: the sender and the envoy have it; the addressee's side
	// needs its acceptance, then its access record.
	if err := MayFetch(p, "us/secretary-of-state", false); err != nil {
		t.Fatal(err)
	}
	if err := MayFetch(p, "us/envoy", false); err != nil {
		t.Fatal(err)
	}
	if err := MayFetch(p, "ir/fm", true); !errors.Is(err, ErrAccessRequired) || !strings.Contains(err.Error(), "accept it") {
		t.Fatalf("payload to the addressee before acceptance: %v", err)
	}
	if _, err := w.act(p, w.event(&letter.Access{Pouch: p.ID}, "us/envoy")); !errors.Is(err, ErrNotAddressee) {
		t.Fatalf("access by a carrier: %v", err)
	}
	if _, err := w.act(p, w.event(&letter.Access{Pouch: p.ID}, "ir/fm")); !errors.Is(err, ErrConsent) {
		t.Fatalf("access before acceptance: %v", err)
	}
	if _, err := w.act(p, w.event(&letter.Acceptance{Pouch: p.ID}, "ir/fm")); err != nil {
		t.Fatal(err)
	}
	if err := MayFetch(p, "ir/fm", true); !errors.Is(err, ErrAccessRequired) || !strings.Contains(err.Error(), "log your access") {
		t.Fatalf("payload to the addressee before its access: %v", err)
	}
	if _, err := w.act(p, w.event(&letter.Access{Pouch: p.ID}, "ir/fm")); err != nil {
		t.Fatalf("access after acceptance: %v", err)
	}
	if err := MayFetch(p, "ir/fm", true); err != nil {
		t.Fatalf("payload to the addressee after its access: %v", err)
	}
	if err := MayFetch(p, "ir/deputy-fm", true); !errors.Is(err, ErrAccessRequired) {
		t.Fatalf("payload to a delegate that logged no access: %v", err)
	}
	if _, err := w.act(p, w.event(&letter.Access{Pouch: p.ID}, "ir/fm")); !errors.Is(err, ErrAccessLogged) {
		t.Fatalf("a second access: %v", err)
	}
	// Undelivered past its deadline: no access; delivered, access any time.
	w.now = w.now.Add(48 * time.Hour)
	if _, err := w.act(p, w.event(&letter.Access{Pouch: p.ID, OnBehalf: "ir/fm"}, "ir/deputy-fm")); !errors.Is(err, ErrOverdue) {
		t.Fatalf("access past the deadline: %v", err)
	}
	q := w.deadlinePouch(time.Hour, false)
	if _, err := w.take(q, w.custody(q, "ir/fm", "us/secretary-of-state", true, ""), nil); err != nil {
		t.Fatal(err)
	}
	w.now = w.now.Add(2 * time.Hour)
	if _, err := w.act(q, w.event(&letter.Access{Pouch: q.ID}, "ir/fm")); err != nil {
		t.Fatalf("access to a pouch delivered in time, after its deadline: %v", err)
	}
	// A pouch that asks for nothing is served to its addressee.
	r := w.pouch("us/secretary-of-state", "ir/fm")
	if err := MayFetch(r, "ir/fm", true); err != nil {
		t.Fatal(err)
	}
}

// nonDelivery signs the non-delivery the rules expect of p now, changed
// by edit.
func (w *world) nonDelivery(p *Pouch, edit func(*letter.NonDelivery)) *letter.Event {
	w.t.Helper()
	nd := NonDeliveryFor(w.d, p, w.pos())
	if edit != nil {
		edit(nd)
	}
	return w.event(nd, directory.EvidenceHandle)
}

func TestNonDelivery(t *testing.T) {
	w := eventWorld(t)
	start := w.now
	p := w.deadlinePouch(24*time.Hour, false, "us/envoy", "us/envoy-2")

	// Not before the deadline.
	if _, err := w.act(p, w.nonDelivery(p, nil)); !errors.Is(err, ErrNotOverdue) {
		t.Fatalf("non-delivery before the deadline: %v", err)
	}
	// The deadline is judged at the record's time of sequencing: a custody
	// record a moment before passes, one at the deadline is refused.
	w.now = start.Add(24*time.Hour - time.Millisecond)
	if _, err := w.take(p, w.custody(p, "us/envoy", "us/secretary-of-state", false, ""), nil); err != nil {
		t.Fatal(err)
	}
	w.now = start.Add(24 * time.Hour)
	if _, err := w.take(p, w.custody(p, "us/envoy-2", "us/envoy", false, ""), nil); !errors.Is(err, ErrOverdue) {
		t.Fatalf("custody at the deadline: %v", err)
	}
	// Only the deployment's evidence office signs it.
	nd := NonDeliveryFor(w.d, p, w.pos())
	if _, err := w.act(p, w.event(nd, "ir/fm")); !errors.Is(err, directory.ErrNotAuthorised) {
		t.Fatalf("non-delivery signed by another office: %v", err)
	}
	// With the reason the records give, and no other.
	if _, err := w.act(p, w.nonDelivery(p, func(n *letter.NonDelivery) { n.Reason = letter.NonDeliveryNotTaken })); !errors.Is(err, ErrNonDeliveryReason) {
		t.Fatalf("a wrong reason: %v", err)
	}
	if _, err := w.act(p, w.nonDelivery(p, func(n *letter.NonDelivery) { n.Holder = "us/secretary-of-state" })); !errors.Is(err, ErrNonDeliveryReason) {
		t.Fatalf("a wrong holder: %v", err)
	}
	ev, err := w.act(p, w.nonDelivery(p, nil))
	if err != nil || ev.Reason != "stuck" || nd.Holder != "us/envoy" || nd.Next != "us/envoy-2" {
		t.Fatalf("stuck at envoy 1: %+v %+v %v", ev, nd, err)
	}
	if _, err := w.act(p, w.nonDelivery(p, nil)); !errors.Is(err, ErrClosed) {
		t.Fatalf("a second non-delivery: %v", err)
	}

	// No deadline, no non-delivery.
	q := w.pouch("us/secretary-of-state", "ir/fm", "us/envoy")
	if _, err := w.act(q, w.event(&letter.NonDelivery{Pouch: q.ID, Reason: letter.NonDeliveryNotTaken, Holder: "us/secretary-of-state", Next: "us/envoy"},
		directory.EvidenceHandle)); !errors.Is(err, ErrNotOverdue) {
		t.Fatalf("non-delivery of a pouch without a deadline: %v", err)
	}

	// Delivered in time: refused.
	d := w.deadlinePouch(time.Hour, false)
	if _, err := w.take(d, w.custody(d, "ir/fm", "us/secretary-of-state", true, ""), nil); err != nil {
		t.Fatal(err)
	}
	w.now = w.now.Add(time.Hour)
	nd = &letter.NonDelivery{Pouch: d.ID, Reason: letter.NonDeliveryNotDelivered, Holder: "us/secretary-of-state", Next: "ir/fm"}
	if _, err := w.act(d, w.event(nd, directory.EvidenceHandle)); !errors.Is(err, directory.ErrDelivered) || !strings.Contains(err.Error(), "before its deadline") {
		t.Fatalf("non-delivery of a pouch delivered in time: %v", err)
	}
}

func TestNonDeliveryReasons(t *testing.T) {
	w := eventWorld(t)
	type setup func(p *Pouch)
	for _, tc := range []struct {
		name    string
		consent bool
		via     []record.Handle
		do      setup
		want    letter.NonDeliveryReason
		holder  record.Handle
		next    record.Handle
	}{
		{"the first envoy never took it", false, []record.Handle{"us/envoy"}, nil, letter.NonDeliveryNotTaken, "us/secretary-of-state", "us/envoy"},
		{"the last envoy holds it", false, []record.Handle{"us/envoy"}, func(p *Pouch) {
			if _, err := w.take(p, w.custody(p, "us/envoy", "us/secretary-of-state", false, ""), nil); err != nil {
				t.Fatal(err)
			}
		}, letter.NonDeliveryNotDelivered, "us/envoy", "ir/fm"},
		{"no envoy, never delivered", false, nil, nil, letter.NonDeliveryNotDelivered, "us/secretary-of-state", "ir/fm"},
		{"consent never given", true, []record.Handle{"us/envoy"}, nil, letter.NonDeliveryNotAccepted, "us/secretary-of-state", "us/envoy"},
		{"refused", true, nil, func(p *Pouch) {
			if _, err := w.act(p, w.event(&letter.Refusal{Pouch: p.ID, Reason: letter.RefusalWrongAddressee}, "ir/fm")); err != nil {
				t.Fatal(err)
			}
		}, letter.NonDeliveryRefused, "us/secretary-of-state", "ir/fm"},
	} {
		start := w.now
		p := w.deadlinePouch(time.Hour, tc.consent, tc.via...)
		if tc.do != nil {
			tc.do(p)
		}
		w.now = start.Add(time.Hour)
		nd := NonDeliveryFor(w.d, p, w.pos())
		if _, err := w.act(p, w.event(nd, directory.EvidenceHandle)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if nd.Reason != tc.want || nd.Holder != tc.holder || nd.Next != tc.next {
			t.Errorf("%s: %s (held by %s, awaiting %s), want %s (%s, %s)", tc.name, nd.Reason, nd.Holder, nd.Next, tc.want, tc.holder, tc.next)
		}
		if tc.want == letter.NonDeliveryRefused && (nd.Refusal == nil || *nd.Refusal != p.Refused.ID) {
			t.Errorf("%s: the non-delivery does not name the refusal", tc.name)
		}
	}

	// The addressee's key revoked before the deadline.
	start := w.now
	p := w.deadlinePouch(time.Hour, false)
	w.apply(record.KindKeyRevoke, false, &directory.KeyRevoke{Handle: "ir/fm", Key: w.ps["ir/fm"].SigningPublic()}, directory.Registrar("ir"), w.regs["ir"])
	w.now = start.Add(time.Hour)
	nd := NonDeliveryFor(w.d, p, w.pos())
	if _, err := w.act(p, w.event(nd, directory.EvidenceHandle)); err != nil || nd.Reason != letter.NonDeliveryKeyRevoked {
		t.Fatalf("addressee's key revoked: %s %v", nd.Reason, err)
	}
}

func TestTagDeadline(t *testing.T) {
	w := eventWorld(t)
	sign := func(tag *letter.Tag) *letter.SignedTag {
		s, err := letter.SignTag(tag, w.ps[tag.From].Signing, record.NewSalt(), 1, "")
		if err != nil {
			t.Fatal(err)
		}
		st, err := letter.VerifyTag(s.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	past := sign(&letter.Tag{From: "us/secretary-of-state", To: "ir/fm", Size: 1, DeliverBy: w.now.UnixMilli()})
	if err := CheckTag(w.d, past, w.pos(), func(record.ID) bool { return false }); !errors.Is(err, ErrOverdue) {
		t.Fatalf("a deadline at the time of sequencing: %v", err)
	}
	// A deployment without its evidence office takes no deadline.
	w.apply(record.KindKeyRevoke, false, &directory.KeyRevoke{Handle: directory.EvidenceHandle, Key: w.ps[directory.EvidenceHandle].SigningPublic()},
		directory.OperatorHandle, w.op)
	later := sign(&letter.Tag{From: "us/secretary-of-state", To: "ir/fm", Size: 1, DeliverBy: w.now.Add(time.Hour).UnixMilli()})
	if err := CheckTag(w.d, later, w.pos(), func(record.ID) bool { return false }); !errors.Is(err, directory.ErrNotAuthorised) {
		t.Fatalf("a deadline with no evidence office: %v", err)
	}
	// The tag's own rules: consent implies access; a version is required.
	for _, tag := range []*letter.Tag{
		{From: "us/secretary-of-state", To: "ir/fm", Size: 1, Consent: true, Access: true},
		{From: "us/secretary-of-state", To: "ir/fm", Size: 1, DeliverBy: -1},
	} {
		if _, err := letter.SignTag(tag, w.ps["us/secretary-of-state"].Signing, record.NewSalt(), 1, ""); !errors.Is(err, letter.ErrMalformedLetter) {
			t.Errorf("%+v: %v", tag, err)
		}
	}
	v1, err := record.Sign(&record.Record{Kind: record.KindTag, By: []record.Handle{"ir/fm"}, Time: 1, Salt: record.NewSalt()},
		map[string]any{"id": make([]byte, 16), "from": "ir/fm", "to": "ru/president", "payload": make([]byte, 32), "size": 1}, w.ps["ir/fm"].Signing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := letter.VerifyTag(v1.Marshal()); !errors.Is(err, record.ErrUnknownVersion) || !strings.Contains(err.Error(), "seal the pouch again") {
		t.Fatalf("a version 1 tag: %v", err)
	}
}

func TestDeploymentHouse(t *testing.T) {
	w := eventWorld(t)
	p := w.ps["ir/fm"]
	// Admits of the deployment's house are the operator's: a registrar of
	// another house, or another key, is refused.
	r := &record.Record{Kind: record.KindAdmit, By: []record.Handle{directory.Registrar("ir")}, Time: 1}
	s, err := record.Sign(r, &directory.Admit{Handle: directory.EvidenceHandle, Key: p.SigningPublic(), Recipient: p.Recipient().String()}, w.regs["ir"])
	if err != nil {
		t.Fatal(err)
	}
	_, rec, _ := record.Verify(s.Marshal())
	if err := w.d.Check(s, rec, w.pos()); !errors.Is(err, directory.ErrNotAuthorised) {
		t.Fatalf("an admit of %s by a house registrar: %v", directory.EvidenceHandle, err)
	}
	// The house holds one office.
	r = &record.Record{Kind: record.KindAdmit, By: []record.Handle{directory.OperatorHandle}, Time: 1}
	s, err = record.Sign(r, &directory.Admit{Handle: "pouch/notary", Key: p.SigningPublic(), Recipient: p.Recipient().String()}, w.op)
	if err != nil {
		t.Fatal(err)
	}
	_, rec, _ = record.Verify(s.Marshal())
	if err := w.d.Check(s, rec, w.pos()); !errors.Is(err, directory.ErrMalformedBody) {
		t.Fatalf("an admit of pouch/notary: %v", err)
	}
}
