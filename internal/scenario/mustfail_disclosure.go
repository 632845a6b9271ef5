package scenario

import (
	"context"
	"slices"

	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// MustFailDisclosure plays docs/scenario.md's "a disclosure whose section does
// not match the signed commitment": the Speaker, who may disclose the
// Leader's letter of scene 1, publishes section 1 with one word changed.
// The server must refuse it by the rule of commitments and store nothing.
// It needs scene 1.
func MustFailDisclosure(ctx context.Context, w *World) error {
	r := w.Report
	pouch, ok := w.Facts["scene1.pouch"]
	if !ok {
		return r.Fail("the disclosure case needs scene 1's pouch")
	}
	speaker := w.As("ir/speaker")
	o, _, err := w.Client.Open(ctx, speaker.ID, pouch)
	if err != nil {
		return r.Fail("ir/speaker opens pouch %s: %v", pouch.Short(), err)
	}
	forged := *o
	forged.Sections = slices.Clone(o.Sections)
	forged.Sections[1].Text = "The relations between Iran and Russia are merely tactical."
	s, err := letter.Disclose(&forged, []int{1}, speaker.Handle(), speaker.ID.Signing, &pouch, w.Clock.Now().UnixMilli(), w.Client.Origin)
	if err != nil {
		return r.Fail("signing the altered disclosure: %v", err)
	}
	if _, err := letter.VerifyDisclosure(s.Marshal()); err == nil {
		return r.Fail("an altered section verifies against the author's commitment")
	}
	id := s.ID()
	if err := w.refuse(ctx, refusalCase{who: string(speaker.Handle()), what: "discloses section 1 of the Leader's letter with its text altered",
		want: letter.ErrCommitment, says: []string{"does not match its commitment"}, record: &id,
		act: func() error { _, err := w.Client.Submit(ctx, s); return err }}); err != nil {
		return err
	}
	return mustFailDiscloseOtherLetter(ctx, w, pouch)
}

// mustFailDiscloseOtherLetter: the Speaker's disclose grant covers the
// Leader's letter of scene 1 alone. A later letter of the Leader, sealed
// to the Speaker as a reader, may not be disclosed under it, even by a
// disclosure that claims to come from scene 1's pouch: authority is
// judged by what the disclosed header carries (its letter ID), not by
// what the discloser says.
func mustFailDiscloseOtherLetter(ctx context.Context, w *World, scene1 record.ID) error {
	leader, speaker := w.As("ir/leader"), w.As("ir/speaker")
	l := &client.Letter{To: "ru/president", Via: []record.Handle{"ir/speaker"}, Readers: []record.Handle{"ir/speaker"}, Sections: []letter.Section{
		{Title: "Not for publication", Text: "What the Leader tells the President alone."},
	}}
	sent, err := w.Client.Send(ctx, leader.ID, l, nil)
	if err != nil {
		return w.Report.Fail("ir/leader sends a second letter: %v", err)
	}
	o, _, err := w.Client.Open(ctx, speaker.ID, sent.Pouch)
	if err != nil {
		return w.Report.Fail("ir/speaker opens the second letter as a reader: %v", err)
	}
	s, err := letter.Disclose(o, []int{0}, speaker.Handle(), speaker.ID.Signing, &scene1, w.Clock.Now().UnixMilli(), w.Client.Origin)
	if err != nil {
		return w.Report.Fail("signing the disclosure: %v", err)
	}
	id := s.ID()
	return w.refuse(ctx, refusalCase{who: string(speaker.Handle()), what: "discloses another letter of the Leader, claiming it came in scene 1's pouch",
		want: directory.ErrGrantScope, says: []string{"covers only letter"}, record: &id,
		act: func() error { _, err := w.Client.Submit(ctx, s); return err }})
}
