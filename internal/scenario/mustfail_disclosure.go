package scenario

import (
	"context"
	"slices"

	"pouch.dev/letter"
)

// MustFailDisclosure plays SCENARIO.md's "a disclosure whose section does
// not match the signed commitment": the Speaker, who may disclose the
// Leader's letter of scene 1, publishes section 1 with one word changed.
// The server must refuse it and store nothing. It needs scene 1.
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
	before, err := w.logSize(ctx)
	if err != nil {
		return err
	}
	_, err = w.Client.Submit(ctx, s)
	if err := w.Refuse(string(speaker.Handle()), "discloses section 1 of the Leader's letter with its text altered", err, "does not match its commitment"); err != nil {
		return err
	}
	return w.nothingStored(ctx, s.ID(), before)
}
