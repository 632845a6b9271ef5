package scenario

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/line"
	"pouch.dev/record"
	"pouch.dev/store"
)

// errorLog is a slog handler's output that keeps the lines logged at
// ERROR and above.
type errorLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *errorLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *errorLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startLogged starts a world whose server logs its errors to the
// returned errorLog, with the cast admitted.
func startLogged(t *testing.T) (*World, *errorLog) {
	t.Helper()
	el := &errorLog{}
	w, err := Start(context.Background(), Options{Logger: slog.New(slog.NewTextHandler(el, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	if err := Setup(ctx(t), w); err != nil {
		t.Fatal(err)
	}
	return w, el
}

// refusedAs checks that err is a refusal whose code maps back to want,
// and returns the code.
func refusedAs(t *testing.T, what string, err, want error) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || !errors.Is(err, want) {
		t.Errorf("%s: %v, want a refusal with the code of %q", what, err, want)
	}
}

// TestReplayNamedFirst: a tag, a custody record and a grant replayed
// after their signer's key was rotated are refused as replays (409,
// code replay), before the rule that the key is not current could say
// otherwise, on POST /v1/pouches, in a batch and on POST /v1/records.
//
// SPEC: spec/directory.md#authority
func TestReplayNamedFirst(t *testing.T) {
	w, el := startLogged(t)
	c := ctx(t)
	leader := w.As("ir/leader")
	sent, err := leader.Send(c, &client.Letter{To: "ru/president", Via: []record.Handle{"ir/speaker"}, Sections: []letter.Section{{Title: "x", Text: "y"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.As("ir/speaker").Take(c, sent.Pouch); err != nil {
		t.Fatal(err)
	}
	pv, err := w.Client.Pouch(c, sent.Pouch, leader.ID)
	if err != nil {
		t.Fatal(err)
	}
	cv, err := w.Client.Record(c, pv.Custody[0].ID, leader.ID)
	if err != nil {
		t.Fatal(err)
	}
	custody, _, err := record.Parse(cv.Signed)
	if err != nil {
		t.Fatal(err)
	}
	grant, err := w.Client.Grant(c, leader.ID, &directory.Grant{To: "ir/fm", Abilities: []directory.Ability{directory.Disclose}}, false)
	if err != nil {
		t.Fatal(err)
	}
	gv, err := w.Client.Record(c, grant.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	grantRec, _, err := record.Parse(gv.Signed)
	if err != nil {
		t.Fatal(err)
	}
	// Both signers' offices get new holders: the old keys are no longer
	// current.
	for _, h := range []record.Handle{"ir/leader", "ir/speaker"} {
		if _, err := w.Admit(c, h, "the next holder"); err != nil {
			t.Fatal(err)
		}
	}
	before, err := w.logSize(c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Client.SubmitPouch(c, sent.Sealed.Tag.Signed, sent.Payload)
	refusedAs(t, "the tag replayed after its sender's key rotated", err, store.ErrDuplicate)
	res, err := w.Client.SubmitPouches(c, []api.PouchSubmission{{Tag: sent.Sealed.Tag.Signed.Marshal(), Payload: sent.Payload}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != 409 || res[0].Error == nil || !errors.Is(api.ErrorOf(res[0].Error.Code), store.ErrDuplicate) {
		t.Errorf("the tag replayed in a batch after its sender's key rotated: %+v %+v, want 409 replay", res[0], res[0].Error)
	}
	_, err = w.Client.Submit(c, custody)
	refusedAs(t, "the custody record replayed after its signer's key rotated", err, store.ErrDuplicate)
	_, err = w.Client.Submit(c, grantRec)
	refusedAs(t, "the grant replayed after its grantor's key rotated", err, store.ErrDuplicate)
	// A tag that is not a replay, signed with the rotated key, is refused
	// for its key. (The verifying client would not sign it: it proves the
	// author's key from the log first. It is signed by hand, for the same
	// payload.)
	tag := *sent.Sealed.Tag.Tag
	fresh, err := letter.SignTag(&tag, leader.ID.Signing, record.NewSalt(), w.Clock.Now().UnixMilli(), w.Client.Origin)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Client.SubmitPouch(c, fresh, sent.Payload)
	refusedAs(t, "a new tag signed with the rotated key", err, directory.ErrKeyNotCurrent)
	if after, err := w.logSize(c); err != nil || after != before {
		t.Errorf("the log grew from %d to %d (%v)", before, after, err)
	}
	if s := el.String(); s != "" {
		t.Errorf("the server logged errors:\n%s", s)
	}
}

// TestOriginEveryPath: a tag naming another log's origin is refused with
// the same code (wrong-log) on POST /v1/pouches and in a batch, and so is
// any other record on POST /v1/records; the log does not grow.
//
// SPEC: spec/directory.md#authority
func TestOriginEveryPath(t *testing.T) {
	w, el := startLogged(t)
	c := ctx(t)
	elsewhere := client.New(w.URL)
	elsewhere.Origin = "pouch.test/another-deployment"
	leader := w.ID("ir/leader")
	sealed, err := elsewhere.Seal(c, leader, &client.Letter{To: "ru/president", Sections: []letter.Section{{Title: "x", Text: "y"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o := sealed.Sealed.Tag.Record.Origin; o != elsewhere.Origin {
		t.Fatalf("the tag names origin %q", o)
	}
	before, err := w.logSize(c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Client.SubmitPouch(c, sealed.Sealed.Tag.Signed, sealed.Payload)
	refusedAs(t, "POST /v1/pouches, a tag for another log", err, directory.ErrWrongLog)
	res, err := w.Client.SubmitPouches(c, []api.PouchSubmission{{Tag: sealed.Sealed.Tag.Signed.Marshal(), Payload: sealed.Payload}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != 400 || res[0].Error == nil || !errors.Is(api.ErrorOf(res[0].Error.Code), directory.ErrWrongLog) {
		t.Errorf("POST /v1/pouches/batch, a tag for another log: %+v %+v, want 400 wrong-log", res[0], res[0].Error)
	}
	g, err := record.Sign(&record.Record{Kind: record.KindGrant, Origin: elsewhere.Origin, By: []record.Handle{"ir/leader"}, Time: w.Clock.Now().UnixMilli()},
		&directory.Grant{To: "ir/fm", Abilities: []directory.Ability{directory.Disclose}}, leader.Signing)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Client.Submit(c, g)
	refusedAs(t, "POST /v1/records, a grant for another log", err, directory.ErrWrongLog)
	if after, err := w.logSize(c); err != nil || after != before {
		t.Errorf("the log grew from %d to %d (%v)", before, after, err)
	}
	if s := el.String(); s != "" {
		t.Errorf("the server logged errors:\n%s", s)
	}
}

// TestMalformedIsRefused signs records of every kind, by an admitted
// principal, with bodies that are malformed or say what no rule allows,
// and submits each on every path that takes it: each is refused with a
// 4xx and a code that names the rule (never the catch-all "refused"),
// nothing is stored, and the server logs no error. Among them, a tag
// whose from is not its signer.
func TestMalformedIsRefused(t *testing.T) {
	w, el := startLogged(t)
	c := ctx(t)
	leader := w.ID("ir/leader")
	short := []byte{1, 2, 3}
	zero := record.ID{}
	bodies := []any{
		map[string]any{}, 7, "x", []byte{}, []any{1, "two"},
		map[string]any{"record": zero[:], "pouch": zero[:], "from": "ir/fm", "to": "ru/fm", "house": "ir", "key": short},
		&directory.House{House: "pouch", Registrar: leader.SigningPublic()},
		&directory.Admit{Handle: "ir/nobody", Key: short},
		&directory.KeyRevoke{Handle: "ir/fm", Key: short},
		&directory.Grant{To: "ir/fm"},
		&directory.Grant{To: "ir/fm", Abilities: []directory.Ability{"fly"}},
		&directory.Grant{To: "nowhere/nobody", Abilities: []directory.Ability{directory.Receive}},
		&directory.Grant{To: "ir/fm", Abilities: []directory.Ability{directory.Disclose}, Letter: short},
		&directory.GrantRevoke{Grant: zero},
		&ledger.Publish{Record: zero},
		&letter.Custody{Pouch: zero, From: "ir/fm"},
		&letter.Tag{V: letter.TagVersion, From: "ir/fm", To: "ru/president", Size: 1},
		&letter.Tag{From: "ir/fm", To: "ru/president", Size: 1},
		&line.CallBody{Participants: []record.Handle{"ir/leader"}},
		&letter.Acceptance{Pouch: zero},
		&letter.Refusal{Pouch: zero, Reason: letter.RefusalDeclined},
		&letter.NonDelivery{Pouch: zero, Reason: letter.NonDeliveryStuck, Holder: "ir/fm", Next: "ir/leader"},
	}
	kinds := []record.Kind{record.KindGenesis, record.KindHouse, record.KindAdmit, record.KindKeyRevoke, record.KindGrant, record.KindGrantRevoke,
		record.KindLetter, record.KindTag, record.KindCustody, record.KindPublish, record.KindDisclosure, record.KindLine,
		record.KindAgreement, record.KindAgreementSign, record.KindAgreementWithdraw, record.KindAttest, record.KindStatement, record.KindCosign,
		record.KindAcceptance, record.KindRefusal, record.KindAccess, record.KindNonDelivery}
	before, err := w.logSize(c)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, status int, code api.Code) {
		t.Helper()
		if status < 400 || status > 499 || code == "" || code == "refused" {
			t.Errorf("%s: %d, code %q; want a 4xx naming its rule", what, status, code)
		}
	}
	n := 0
	for _, k := range kinds {
		for i, body := range bodies {
			for _, salted := range []bool{false, true} {
				r := &record.Record{Kind: k, Origin: w.Client.Origin, By: []record.Handle{"ir/leader"}, Time: w.Clock.Now().UnixMilli() + int64(n)}
				if salted {
					r.Salt = record.NewSalt()
				}
				s, err := record.Sign(r, body, leader.Signing)
				if err != nil {
					t.Fatal(err)
				}
				n++
				what := func(path string) string { return path + ", " + string(k) + " record with body " + string(rune('a'+i)) }
				_, err = w.Client.Submit(c, s)
				var ce *client.Error
				if err == nil || !errors.As(err, &ce) {
					t.Errorf("%s: %v, want a refusal", what("POST /v1/records"), err)
				} else {
					check(what("POST /v1/records"), ce.Status, ce.Code)
				}
				if k != record.KindTag {
					continue
				}
				_, err = w.Client.SubmitPouch(c, s, []byte("age-encryption.org/v1\n"))
				if err == nil || !errors.As(err, &ce) {
					t.Errorf("%s: %v, want a refusal", what("POST /v1/pouches"), err)
				} else {
					check(what("POST /v1/pouches"), ce.Status, ce.Code)
				}
				res, err := w.Client.SubmitPouches(c, []api.PouchSubmission{{Tag: s.Marshal(), Payload: []byte("x")}})
				if err != nil {
					t.Fatal(err)
				}
				code := api.Code("")
				if res[0].Error != nil {
					code = res[0].Error.Code
				}
				check(what("POST /v1/pouches/batch"), res[0].Status, code)
			}
		}
	}
	// The tag whose from is not its signer, by name.
	s, err := record.Sign(&record.Record{Kind: record.KindTag, Origin: w.Client.Origin, By: []record.Handle{"ir/leader"}, Time: w.Clock.Now().UnixMilli(), Salt: record.NewSalt()},
		&letter.Tag{V: letter.TagVersion, From: "ir/fm", To: "ru/president", Size: 1}, leader.Signing)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Client.SubmitPouch(c, s, []byte("x"))
	refusedAs(t, "a tag from ir/fm signed by ir/leader", err, letter.ErrMalformedLetter)
	if !strings.Contains(err.Error(), "tag from ir/fm but signed by ir/leader") {
		t.Errorf("the refusal does not say why: %v", err)
	}
	if after, err := w.logSize(c); err != nil || after != before {
		t.Errorf("the log grew from %d to %d (%v)", before, after, err)
	}
	if s := el.String(); s != "" {
		t.Errorf("the server logged errors:\n%s", s)
	}
	t.Logf("%d malformed records refused", n)
}
