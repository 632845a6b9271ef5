package scenario

import (
	"context"
	"errors"
	"fmt"
	"time"

	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/store"
)

// MustFail plays docs/scenario.md's "what must fail" cases that concern the
// correspondence. Each is refused by the rule it names (errors.Is on the
// sentinel the refusal's code maps to), with a message that names the
// problem, and the log does not grow (see refuse). It needs the cast
// (Setup) and scene 1's grant to ru/duma-chair. The expired-grant case
// moves the clock, so it runs last, and only in-process.
func MustFail(ctx context.Context, w *World) error {
	r := w.Report
	r.Scene(90, "What must fail", "docs/scenario.md", "each refused by the rule it names, with a message that names the problem, and the log did not grow")
	leader, speaker := w.As("ir/leader"), w.As("ir/speaker")
	sent, err := leader.Send(ctx, &client.Letter{To: "ru/president", Via: []record.Handle{"ir/speaker"},
		Sections: []letter.Section{{Title: "A second message", Text: "For the President."}}})
	if err != nil {
		return err
	}
	pouch := sent.Pouch

	// Custody from someone off the route, and out of order.
	// (The client would not even get the pouch's custody so far: ru/fm is
	// no party. The record is signed by hand, so that the server's route
	// check is what refuses it.)
	if err := w.refuseCustody(ctx, "ru/fm", "takes custody", pouch, "ir/leader", false, "", directory.ErrNotOnRoute,
		"ru/fm is not on the route of pouch "+pouch.Short()); err != nil {
		return err
	}
	if err := w.refuseCustody(ctx, "ru/duma-chair", "signs delivery before the envoy carried it", pouch, "ir/leader", true, "ru/president", directory.ErrNotOnRoute,
		"the next holder is ir/speaker"); err != nil {
		return err
	}

	// A replayed record.
	cu := &letter.Custody{Pouch: pouch, From: "ir/leader"}
	s, err := letter.SignCustody(cu, "ir/speaker", speaker.ID.Signing, record.NewSalt(), w.Clock.Now().UnixMilli(), w.Client.Origin)
	if err != nil {
		return r.Fail("%v", err)
	}
	acc, err := w.Client.Submit(ctx, s)
	if err != nil {
		return r.Fail("ir/speaker takes custody: %v", err)
	}
	r.Step("ir/speaker", "takes custody of pouch "+pouch.Short(), acc)
	if err := w.refuse(ctx, refusalCase{who: "anyone", what: "replays ir/speaker's custody record", want: store.ErrDuplicate, says: []string{"already in the log"},
		act: func() error {
			_, err := w.Client.Submit(ctx, s)
			if err != nil && !errors.Is(err, client.ErrReplay) {
				return fmt.Errorf("not a 409: %w", err)
			}
			return err
		}}); err != nil {
		return err
	}

	// A forged signature and a tampered payload. (The forged record has
	// the ID of the custody record in the log, whose signature it
	// alters: the log must not grow.)
	forged := *s
	forged.Sigs = []record.Sig{s.Sigs[0]}
	forged.Sigs[0].Sig = append([]byte(nil), s.Sigs[0].Sig...)
	forged.Sigs[0].Sig[7] ^= 1
	if err := w.refuse(ctx, refusalCase{who: "a forger", what: "submits a record with one signature bit flipped", want: record.ErrBadSignature, says: []string{"signature"},
		act: func() error { _, err := w.Client.Submit(ctx, &forged); return err }}); err != nil {
		return err
	}
	fresh, err := w.Client.Seal(ctx, leader.ID, &client.Letter{To: "ru/president", Sections: []letter.Section{{Title: "x", Text: "y"}}}, nil)
	if err != nil {
		return r.Fail("sealing: %v", err)
	}
	tampered := append([]byte(nil), fresh.Payload...)
	tampered[len(tampered)-1] ^= 1
	freshID := fresh.Sealed.Tag.Signed.ID()
	if err := w.refuse(ctx, refusalCase{who: "a carrier", what: "submits a pouch with one payload byte changed", want: letter.ErrPayload, says: []string{"payload"}, record: &freshID,
		act: func() error { _, err := w.Client.SubmitPouch(ctx, fresh.Sealed.Tag.Signed, tampered); return err }}); err != nil {
		return err
	}

	// A revoked key: ru/fm is the envoy of a pouch when its key is revoked.
	viaFM, err := leader.Send(ctx, &client.Letter{To: "ru/president", Via: []record.Handle{"ru/fm"},
		Sections: []letter.Section{{Title: "Through the Foreign Minister", Text: "For the President."}}})
	if err != nil {
		return err
	}
	fm := w.ID("ru/fm")
	acc, err = w.Client.RevokeKey(ctx, w.registrars["ru"], "ru/fm", fm.SigningPublic(), "key lost")
	if err != nil {
		return r.Fail("revoking ru/fm's key: %v", err)
	}
	r.Step("ru/registrar", "revokes the key of ru/fm", acc)
	if err := w.refuse(ctx, refusalCase{who: "ru/fm", what: "signs a grant with its revoked key", want: directory.ErrKeyRevoked, says: []string{"was revoked at log index"},
		act: func() error {
			_, err := w.Client.Grant(ctx, fm, &directory.Grant{To: "ru/amb-tehran", Abilities: []directory.Ability{directory.Carry}}, false)
			return err
		}}); err != nil {
		return err
	}
	if err := w.refuseCustody(ctx, "ru/fm", "takes custody, on the route, with its revoked key", viaFM.Pouch, "ir/leader", false, "", directory.ErrKeyRevoked,
		"was revoked at log index"); err != nil {
		return err
	}

	if w.Remote {
		r.Note("(against a remote server the clock cannot be moved: the expired-grant case is skipped)")
		return nil
	}
	// A delegate whose grant expired is no longer sealed to, and may not
	// sign delivery.
	if err := w.Advance(ctx, 31*24*time.Hour); err != nil {
		return r.Fail("the witness did not cosign at the new time: %v", err)
	}
	r.Note("(31 days later: ru/duma-chair's grant has expired)")
	sent3, err := leader.Send(ctx, &client.Letter{To: "ru/president", Sections: []letter.Section{{Title: "A third message", Text: "Sent after the grant expired."}}})
	if err != nil {
		return err
	}
	if hasReader(sent3, "ru/duma-chair") {
		return r.Fail("a letter sent after the grant expired is sealed to ru/duma-chair")
	}
	if err := w.As("ru/duma-chair").CannotOpen(ctx, sent3.Pouch, sent3.Payload, "its grant expired before the letter was sealed"); err != nil {
		return err
	}
	return w.refuseCustody(ctx, "ru/duma-chair", "signs delivery after its grant expired", sent3.Pouch, "ir/leader", true, "ru/president", directory.ErrGrantExpired,
		"expired at")
}

// refuseCustody signs a custody record by hand and checks that the server
// refuses it by the rule want, and stores nothing (refuse).
func (w *World) refuseCustody(ctx context.Context, by record.Handle, what string, pouch record.ID, from record.Handle, delivered bool, onBehalf record.Handle, want error, says ...string) error {
	cu := &letter.Custody{Pouch: pouch, From: from, Delivered: delivered, OnBehalf: onBehalf}
	s, err := letter.SignCustody(cu, by, w.ID(by).Signing, record.NewSalt(), w.Clock.Now().UnixMilli(), w.Client.Origin)
	if err != nil {
		return w.Report.Fail("signing custody by %s: %v", by, err)
	}
	id := s.ID()
	return w.refuse(ctx, refusalCase{who: string(by), what: what, want: want, says: says, record: &id,
		act: func() error { _, err := w.Client.Submit(ctx, s); return err }})
}
