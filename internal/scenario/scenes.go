package scenario

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/store"
)

// A Scene is one scene of docs/scenario.md. Run returns an error if any check
// failed; scenes run in order and may use Facts left by earlier ones.
type Scene struct {
	N      int
	Title  string
	Source string // the seed article
	Proves string
	Run    func(ctx context.Context, w *World) error
}

// Scenes are the scenes `pouch demo` plays, in order. Later scenes are
// appended by their own files with Register.
var Scenes = []Scene{
	{N: 1, Title: "The Leader's message through the Speaker", Source: "seed 002",
		Proves: "delegated receipt; custody chain sender → envoy → delegate, verified; selective disclosure against the signed header",
		Run:    Scene1},
	{N: 2, Title: "The reply through the Ambassador", Source: "seed 002",
		Proves: "reply threading; a different route back; the Ambassador, a carrier, cannot open it",
		Run:    Scene2},
}

// Register adds a scene to Scenes, kept in scene order.
func Register(s Scene) {
	Scenes = append(Scenes, s)
	for i := len(Scenes) - 1; i > 0 && Scenes[i].N < Scenes[i-1].N; i-- {
		Scenes[i], Scenes[i-1] = Scenes[i-1], Scenes[i]
	}
}

// The cast of the scenes, with the holders named in the articles (scene 7's
// offices are named by their office alone: the articles name no holder).
var Cast = []struct {
	Handle record.Handle
	Holder string
}{
	{"ir/leader", "Ayatollah Seyyed Ali Khamenei, Leader of the Islamic Revolution"},
	{"ir/president", "Hassan Rouhani, President"},
	{"ir/fm", "Mohammad Javad Zarif, Foreign Minister"},
	{"ir/speaker", "Mohammad Baqer Qalibaf, Speaker of Parliament"},
	{"ir/leader-advisor", "Ali Akbar Velayati, senior advisor to the Leader"},
	{"ru/president", "Vladimir Putin, President"},
	{"ru/fm", "Sergey Lavrov, Foreign Minister"},
	{"ru/duma-chair", "Vyacheslav Volodin, Chairman of the State Duma"},
	{"ru/amb-tehran", "Levan Jagarian, Ambassador to Iran"},
	{"us/president", "President of the United States (a third state)"},
	{"us/secretary-of-state", "Secretary of State of the United States"},
	{"ch/amb-tehran", "Ambassador of Switzerland to Iran, protecting power for United States interests"},
}

// Houses of the cast.
var Houses = []struct{ House, Name string }{
	{"ir", "Islamic Republic of Iran"},
	{"ru", "Russian Federation"},
	{"us", "United States of America"},
	{"ch", "Swiss Confederation"},
}

// Setup founds the houses and admits the cast. Every scene needs it first.
func Setup(ctx context.Context, w *World) error {
	w.Report.Scene(0, "The directory", "", "houses found themselves; registrars admit each office with its keys")
	for _, h := range Houses {
		if err := w.Found(ctx, h.House, h.Name); err != nil {
			return w.Report.Fail("%v", err)
		}
	}
	for _, c := range Cast {
		if _, err := w.Admit(ctx, c.Handle, c.Holder); err != nil {
			return w.Report.Fail("%v", err)
		}
	}
	w.Report.Info("%d offices admitted in %d houses, each with an Ed25519 signing key and an age (ML-KEM-768 + X25519) recipient", len(Cast), len(Houses))
	// The directory, as every client will prove it from the log: caught
	// up (waiting for the log to publish it) before anyone acts on it.
	if _, err := w.Client.View(ctx, nil); err != nil {
		return w.Report.Fail("proving the directory from the log: %v", err)
	}
	return nil
}

// The Leader's letter, in sections; section 1 is the one the Speaker
// later discloses. The wording is illustrative, after seed 002.
var leaderLetter = []letter.Section{
	{Title: "Greetings", Text: "To His Excellency Vladimir Putin, President of the Russian Federation."},
	{Title: "Relations between Iran and Russia", Text: "The relations between the Islamic Republic of Iran and the Russian Federation are strong and strategic; their quality makes them insusceptible to political changes and to unilateral approaches in the world."},
	{Title: "Matters for the President alone", Text: "(Not disclosed. The articles do not say what else the message contained.)"},
	{Title: "Closing", Text: "Delivered by the Speaker of the Islamic Consultative Assembly, Mohammad Baqer Qalibaf."},
}

var putinReply = []letter.Section{
	{Title: "Reply", Text: "To the Leader of the Islamic Revolution, Ayatollah Seyyed Ali Khamenei: thank you for your message."},
	{Title: "Bilateral relations", Text: "We share the wish to develop our relations in all areas, including defence."},
}

// Scene1 plays the Leader's message through the Speaker.
func Scene1(ctx context.Context, w *World) error {
	r := w.Report
	r.Note("(dates in the articles: February 2021; the demo runs in today's time, so its dates are illustrative)")
	president, leader, speaker, duma := w.As("ru/president"), w.As("ir/leader"), w.As("ir/speaker"), w.As("ru/duma-chair")

	grant, err := president.Grant(ctx, GrantSpec{To: "ru/duma-chair", Abilities: []directory.Ability{directory.Receive},
		Counterparts: []record.Handle{"ir/leader"}, Purpose: "special representative for the Leader's message", For: 30 * 24 * time.Hour})
	if err != nil {
		return err
	}
	w.Facts["scene1.grant"] = grant

	l := &client.Letter{To: "ru/president", Via: []record.Handle{"ir/speaker"}, Readers: []record.Handle{"ir/speaker"}, Sections: leaderLetter}
	sent, err := leader.Send(ctx, l)
	if err != nil {
		return err
	}
	pouch := sent.Pouch
	w.Facts["scene1.pouch"] = pouch
	for _, want := range []record.Handle{"ru/president", "ru/duma-chair", "ir/speaker", "ir/leader"} {
		if !hasReader(sent, want) {
			return r.Fail("the letter is not sealed to %s", want)
		}
	}
	letterID := sent.Sealed.Header.Header.ID
	if _, err := leader.Grant(ctx, GrantSpec{To: "ir/speaker", Abilities: []directory.Ability{directory.Disclose}, Letter: letterID[:],
		Purpose: "may make public what the Leader's message says of relations"}); err != nil {
		return err
	}

	if err := speaker.Take(ctx, pouch); err != nil {
		return err
	}
	if err := duma.Deliver(ctx, pouch, "ru/president"); err != nil {
		return err
	}

	// Who can open it, and who cannot.
	if _, err := president.Open(ctx, pouch, len(leaderLetter)); err != nil {
		return err
	}
	if _, err := duma.Open(ctx, pouch, len(leaderLetter)); err != nil {
		return err
	}
	opened, err := speaker.Open(ctx, pouch, len(leaderLetter))
	if err != nil {
		return err
	}
	if err := w.As("us/president").CannotOpen(ctx, pouch, sent.Payload, "a third state"); err != nil {
		return err
	}
	if err := w.ServerCannotRead(ctx, pouch, leaderLetter); err != nil {
		return err
	}

	// The chain of custody, as the sender sees it.
	if _, err := leader.VerifyPouch(ctx, pouch); err != nil {
		return err
	}

	// The Speaker discloses the section on relations, and only it.
	did, err := speaker.Disclose(ctx, pouch, opened, []int{1})
	if err != nil {
		return err
	}
	return w.CheckDisclosure(ctx, did, 1, len(leaderLetter))
}

// Scene2 plays the reply through the Ambassador.
func Scene2(ctx context.Context, w *World) error {
	orig, ok := w.Facts["scene1.pouch"]
	if !ok {
		return w.Report.Fail("scene 2 needs scene 1's pouch")
	}
	r := w.Report
	leader, advisor, president, amb := w.As("ir/leader"), w.As("ir/leader-advisor"), w.As("ru/president"), w.As("ru/amb-tehran")
	if _, err := leader.Grant(ctx, GrantSpec{To: "ir/leader-advisor", Abilities: []directory.Ability{directory.Receive},
		Counterparts: []record.Handle{"ru/president"}, Purpose: "receives the President of Russia's correspondence for the Leader"}); err != nil {
		return err
	}
	l := &client.Letter{Via: []record.Handle{"ru/amb-tehran"}, Sections: putinReply}
	sent, err := president.Reply(ctx, orig, l)
	if err != nil {
		return err
	}
	pouch := sent.Pouch
	w.Facts["scene2.pouch"] = pouch
	if sent.Sealed.Tag.Tag.Thread == nil || *sent.Sealed.Tag.Tag.Thread != orig {
		return r.Fail("the reply is not threaded to pouch %s", orig.Short())
	}
	r.Pass("the reply's tag and signed header name thread %s (the Leader's pouch)", orig.Short())
	if err := amb.Take(ctx, pouch); err != nil {
		return err
	}
	if err := amb.CannotOpen(ctx, pouch, sent.Payload, "a carrier on the route"); err != nil {
		return err
	}
	if err := advisor.Deliver(ctx, pouch, "ir/leader"); err != nil {
		return err
	}
	if _, err := advisor.Open(ctx, pouch, len(putinReply)); err != nil {
		return err
	}
	if _, err := leader.Open(ctx, pouch, len(putinReply)); err != nil {
		return err
	}
	if err := w.As("ir/speaker").CannotOpen(ctx, pouch, sent.Payload, "the first letter's envoy, not on this route"); err != nil {
		return err
	}
	if _, err := president.VerifyPouch(ctx, pouch); err != nil {
		return err
	}
	return nil
}

func hasReader(s *client.Sent, h record.Handle) bool {
	for _, r := range s.Readers {
		if r.Handle == h {
			return true
		}
	}
	return false
}

// ServerCannotRead checks that nothing the server stores for pouch holds
// the letter's text: the tag is a route and a digest, the payload age
// ciphertext.
func (w *World) ServerCannotRead(ctx context.Context, pouch record.ID, sections []letter.Section) error {
	if w.Store == nil {
		w.Report.Info("(against a remote server: the server's storage is not inspected)")
		return nil
	}
	e, err := w.Store.Get(ctx, pouch)
	if err != nil {
		return w.Report.Fail("reading the server's copy: %v", err)
	}
	payload, err := readPayload(ctx, w.Store, pouch)
	if err != nil {
		return w.Report.Fail("reading the server's copy: %v", err)
	}
	for _, s := range sections {
		for _, b := range [][]byte{e.Signed, payload} {
			if strings.Contains(string(b), s.Text[:min(24, len(s.Text))]) {
				return w.Report.Fail("the server's copy contains the letter's text")
			}
		}
	}
	if !strings.HasPrefix(string(payload), "age-encryption.org/v1\n") {
		return w.Report.Fail("the stored payload is not an age file")
	}
	w.Report.Pass("the server cannot open it: it stores the tag (route and digest) and an age file sealed to no key it holds")
	return nil
}

// CheckDisclosure fetches a disclosure as the public (no signature) and
// verifies it against the author's signed header and the log.
func (w *World) CheckDisclosure(ctx context.Context, id record.ID, revealed, total int) error {
	v, err := w.Client.Record(ctx, id, nil)
	if err != nil {
		return w.Report.Fail("fetching the disclosure as the public: %v", err)
	}
	d, err := letter.VerifyDisclosure(v.Signed)
	if err != nil {
		return w.Report.Fail("disclosure: %v", err)
	}
	if len(d.Sections) != revealed || d.Undisclosed != total-revealed {
		return w.Report.Fail("disclosure reveals %d sections and hides %d; want %d and %d", len(d.Sections), d.Undisclosed, revealed, total-revealed)
	}
	pv, err := w.Client.Prove(ctx, id, record.KindDisclosure, nil)
	if err != nil {
		return w.Report.Fail("disclosure proof: %v", err)
	}
	w.Report.Pass("anyone verifies the disclosure: section %q matches the commitment in %s's signed header; %d sections stay sealed; in the log at #%d",
		d.Sections[0].Title, d.Header.Header.From, d.Undisclosed, pv.Index)
	return nil
}

// Play runs Setup and then every scene in Scenes, stopping at the first
// failing scene. It returns the number of failed checks.
func Play(ctx context.Context, w *World, only ...int) error {
	if err := Setup(ctx, w); err != nil {
		return err
	}
	for _, s := range Scenes {
		if len(only) > 0 && !contains(only, s.N) {
			continue
		}
		w.Report.Scene(s.N, s.Title, s.Source, s.Proves)
		if err := s.Run(ctx, w); err != nil {
			return fmt.Errorf("scene %d: %w", s.N, err)
		}
	}
	return nil
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// readPayload reads the payload of record id from st, whole: the
// scenario's payloads are small.
func readPayload(ctx context.Context, st store.Store, id record.ID) ([]byte, error) {
	r, err := st.OpenPayload(ctx, id)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}
