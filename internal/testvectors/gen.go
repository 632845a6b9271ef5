// Package testvectors generates and checks pouch's golden test vectors:
// the files in testdata/vectors, one JSON document per vector, which pin
// the wire formats of spec/letter.md, spec/keys.md and spec/records.md.
//
// The vectors are made by Generate from a fixed seed, with crypto/rand
// made deterministic by testing/cryptotest, so regenerating them gives
// the same bytes. To regenerate after a deliberate format change:
//
//	go test ./internal/testvectors -run TestVectorsReproducible -update
//
// A vector names the decoder it exercises (Kind), its input, what the
// decoder must say (Expect: "ok" or the name of an error in Errors) and,
// for valid inputs, some of what it must find. The kinds pin records and
// their bodies (record, grant, agreement, call-record), letters and
// pouches (commitment, markdown, pouch, disclosure), keys (public-key,
// key-file) and the log's signed checkpoints (checkpoint).
package testvectors

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"

	"pouch.dev/agreement"
	"pouch.dev/agreement/jcpoa"
	"pouch.dev/directory"
	"pouch.dev/keys"
	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/letter/lettertest"
	"pouch.dev/line"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// A Vector is one test case.
type Vector struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"` // "record", "tag", "event", "grant", "agreement", "call-record", "checkpoint", "pouch", "disclosure", "commitment", "public-key", "key-file", "markdown"
	Comment string `json:"comment"`
	Input   []byte `json:"input"`  // base64 in JSON
	Expect  string `json:"expect"` // "ok" or an error name from Errors

	// For "pouch": open it as Open with Identity (an age identity file).
	Open     string `json:"open,omitempty"`
	Identity string `json:"identity,omitempty"`
	// For "commitment": the section, its index and salt.
	Index int    `json:"index,omitempty"`
	Title string `json:"title,omitempty"`
	Salt  []byte `json:"salt,omitempty"`
	// For "checkpoint": the log's verifier key, and the witnesses' and
	// their quorum the verifier requires.
	LogKey      string   `json:"log_key,omitempty"`
	WitnessKeys []string `json:"witness_keys,omitempty"`
	Quorum      int      `json:"quorum,omitempty"`

	Want *Want `json:"want,omitempty"`
}

// Want is what a decoder must find in a valid input.
type Want struct {
	ID          string          `json:"id,omitempty"` // record or pouch ID, hex
	Kind        string          `json:"kind,omitempty"`
	By          []record.Handle `json:"by,omitempty"`
	From        record.Handle   `json:"from,omitempty"`
	To          record.Handle   `json:"to,omitempty"`
	Via         []record.Handle `json:"via,omitempty"`
	Delivered   bool            `json:"delivered,omitempty"`
	Custody     int             `json:"custody,omitempty"`
	Sections    []string        `json:"sections,omitempty"` // titles
	Text        string          `json:"text,omitempty"`     // a section's text, or the commitment in hex
	Attachments int             `json:"attachments,omitempty"`
	Undisclosed int             `json:"undisclosed,omitempty"`
	Abilities   []string        `json:"abilities,omitempty"` // a grant's
	Name        string          `json:"name,omitempty"`      // an agreement's
	Parties     int             `json:"parties,omitempty"`   // an agreement's
	Clauses     int             `json:"clauses,omitempty"`   // an agreement's
	Size        uint64          `json:"size,omitempty"`      // a checkpoint's tree size
	Root        string          `json:"root,omitempty"`      // a checkpoint's root hash, hex
}

// Errors names the errors vectors may expect.
var Errors = map[string]error{
	"ErrBadSignature":    record.ErrBadSignature,
	"ErrMalformedRecord": record.ErrMalformedRecord,
	"ErrNonCanonical":    record.ErrNonCanonical,
	"ErrUnknownVersion":  record.ErrUnknownVersion,
	"ErrUnknownKind":     record.ErrUnknownKind,
	"ErrPayload":         letter.ErrPayload,
	"ErrHeaderMismatch":  letter.ErrHeaderMismatch,
	"ErrMalformedFile":   letter.ErrMalformedFile,
	"ErrMalformedLetter": letter.ErrMalformedLetter,
	"ErrNotOnRoute":      directory.ErrNotOnRoute,
	"ErrCommitment":      letter.ErrCommitment,
	"ErrNotSealedToYou":  letter.ErrNotSealedToYou,
	"ErrNoSections":      letter.ErrNoSections,
	"ErrNotPostQuantum":  letter.ErrNotPostQuantum,
	"ErrBadCall":         line.ErrBadCall,
	"ErrMissingSig":      record.ErrMissingSig,
	"ErrBadCheckpoint":   tlog.ErrBadCheckpoint,
	"ErrNoQuorum":        tlog.ErrNoQuorum,
	"ErrMalformedBody":   directory.ErrMalformedBody,
	"error":              nil, // any error
}

// The reference time of the vectors: 2021-02-08 12:00 UTC, Unix ms.
const t0 = 1612785600000

// Scene1 is the letter of the reference scenario's first scene.
const Scene1 = `# To His Excellency the President of the Russian Federation

In the name of God, the Compassionate, the Merciful.

## Relations

The relations between the Islamic Republic of Iran and the Russian
Federation are strong and strategic.

## The nuclear agreement

On the commitments of the parties to the agreement.

## Closing

With respect.
`

type gen struct {
	rnd io.Reader
	ps  map[record.Handle]*keys.Principal
}

// principal returns the principal for h: an Ed25519 key from the seeded
// reader, and an age identity from crypto/rand (deterministic under
// cryptotest.SetGlobalRandom).
func (g *gen) principal(h record.Handle) *keys.Principal {
	if p, ok := g.ps[h]; ok {
		return p
	}
	p, err := keys.Generate(h)
	if err != nil {
		panic(err)
	}
	seed := make([]byte, ed25519.SeedSize)
	io.ReadFull(g.rnd, seed)
	p.Signing = ed25519.NewKeyFromSeed(seed)
	g.ps[h] = p
	return p
}

// identityFile and keyFile are the principal's age identity file and
// plaintext key file; the generator's principals hold their keys.
func identityFile(p *keys.Principal) []byte {
	b, err := p.AgeIdentityFile()
	if err != nil {
		panic(err)
	}
	return b
}

func keyFile(p *keys.Principal) []byte {
	b, err := p.MarshalKeyFile()
	if err != nil {
		panic(err)
	}
	return b
}

func (g *gen) salt() []byte {
	b := make([]byte, record.SaltSize)
	io.ReadFull(g.rnd, b)
	return b
}

// Generate makes the vectors from rnd.
func Generate(rnd io.Reader) ([]*Vector, error) {
	g := &gen{rnd: rnd, ps: map[record.Handle]*keys.Principal{}}
	var vs []*Vector
	add := func(v *Vector) { vs = append(vs, v) }

	leader, speaker := g.principal("ir/leader"), g.principal("ir/speaker")
	president, duma := g.principal("ru/president"), g.principal("ru/duma-chair")

	// Commitments.
	salt := make([]byte, record.SectionSaltSize)
	for i := range salt {
		salt[i] = byte(i)
	}
	c, err := letter.Commit(1, &letter.Section{Title: "Relations", Text: "Strong and strategic.", Salt: salt})
	if err != nil {
		return nil, err
	}
	add(&Vector{Name: "commitment", Kind: "commitment", Comment: "SHA-256(\"pouch.dev/v1/section\" || 0x00 || salt || CBOR{index, title, text}) of section 1",
		Input: []byte("Strong and strategic."), Index: 1, Title: "Relations", Salt: salt, Expect: "ok", Want: &Want{Text: c.String()}})

	// Markdown.
	add(&Vector{Name: "markdown-scene1", Kind: "markdown", Comment: "a preamble section, then one section per ## heading",
		Input: []byte(Scene1), Expect: "ok", Want: &Want{Sections: []string{"", "Relations", "The nuclear agreement", "Closing"}}})
	add(&Vector{Name: "markdown-blank", Kind: "markdown", Comment: "a blank letter has no sections",
		Input: []byte("\n  \n"), Expect: "ErrNoSections"})

	// Scene 1: sealed, carried by the Speaker, delivered by the Duma
	// chairman on behalf of the President.
	sections, err := letter.ParseMarkdown([]byte(Scene1))
	if err != nil {
		return nil, err
	}
	annex := []byte("Annex: the joint comprehensive plan of action.\n")
	var payload bytes.Buffer
	sealed, err := letter.Seal(&payload, &letter.SealRequest{
		Author: leader, To: president.Public(), Readers: []*keys.Public{speaker.Public(), duma.Public()},
		Via: []record.Handle{"ir/speaker"}, Sections: sections, Time: t0, Origin: "pouch.example/log", Rand: rnd,
		Attach: []letter.Attachment{{Name: "annex.txt", Size: int64(len(annex)), Content: bytes.NewReader(annex)}},
	})
	if err != nil {
		return nil, err
	}
	tag := sealed.Tag
	pid := tag.PouchID()
	take, err := letter.SignCustody(&letter.Custody{Pouch: pid, From: "ir/leader"}, "ir/speaker", speaker.Signing, g.salt(), t0+3600_000, "pouch.example/log")
	if err != nil {
		return nil, err
	}
	deliver, err := letter.SignCustody(&letter.Custody{Pouch: pid, From: "ir/speaker", Delivered: true, OnBehalf: "ru/president"}, "ru/duma-chair", duma.Signing, g.salt(), t0+7200_000, "pouch.example/log")
	if err != nil {
		return nil, err
	}
	file := func(tagB []byte, custody [][]byte, p []byte) []byte {
		var b bytes.Buffer
		if err := letter.WriteFile(&b, &letter.FileHead{Tag: tagB, Custody: custody}, bytes.NewReader(p), uint64(len(p))); err != nil {
			panic(err)
		}
		return b.Bytes()
	}
	scene1 := file(tag.Signed.Marshal(), [][]byte{take.Marshal(), deliver.Marshal()}, payload.Bytes())
	titles := []string{"", "Relations", "The nuclear agreement", "Closing"}
	for _, p := range []*keys.Principal{president, duma, leader} {
		add(&Vector{Name: "pouch-scene1-open-" + string(p.Handle.House()) + "-" + p.Handle.Office(), Kind: "pouch",
			Comment: "scene 1: the Leader's letter via the Speaker, delivered to the Duma chairman on behalf of the President; opened by a reader",
			Input:   scene1, Open: string(p.Handle), Identity: string(identityFile(p)), Expect: "ok",
			Want: &Want{ID: pid.String(), From: "ir/leader", To: "ru/president", Via: []record.Handle{"ir/speaker"}, Delivered: true, Custody: 2,
				Sections: titles, Text: sections[1].Text, Attachments: 1}})
	}
	// The Speaker is a reader too in this vector: a carrier who is not.
	carrier := g.principal("ru/amb-tehran")
	add(&Vector{Name: "pouch-scene1-not-sealed-to-carrier", Kind: "pouch", Comment: "a principal the pouch is not sealed to cannot open it",
		Input: scene1, Open: string(carrier.Handle), Identity: string(identityFile(carrier)), Expect: "ErrNotSealedToYou"})
	add(&Vector{Name: "pouch-scene1-verify", Kind: "pouch", Comment: "verified without opening: tag, custody, payload digest",
		Input: scene1, Expect: "ok", Want: &Want{ID: pid.String(), From: "ir/leader", To: "ru/president", Via: []record.Handle{"ir/speaker"}, Delivered: true, Custody: 2}})

	tampered := bytes.Clone(scene1)
	tampered[len(tampered)-100] ^= 0x01
	add(&Vector{Name: "pouch-tampered-payload", Kind: "pouch", Comment: "one payload byte changed", Input: tampered, Expect: "ErrPayload"})
	add(&Vector{Name: "pouch-trailing-data", Kind: "pouch", Comment: "a byte after the payload", Input: append(bytes.Clone(scene1), 0), Expect: "ErrMalformedFile"})
	add(&Vector{Name: "pouch-truncated", Kind: "pouch", Comment: "the last byte missing", Input: scene1[:len(scene1)-1], Expect: "error"})

	forged := *tag.Signed
	forged.Sigs = []record.Sig{tag.Signed.Sigs[0]}
	forged.Sigs[0].Sig = bytes.Clone(forged.Sigs[0].Sig)
	forged.Sigs[0].Sig[0] ^= 0x01
	add(&Vector{Name: "pouch-forged-tag-signature", Kind: "pouch", Comment: "the tag's signature changed",
		Input: file(forged.Marshal(), nil, payload.Bytes()), Expect: "ErrBadSignature"})

	add(&Vector{Name: "pouch-custody-off-route", Kind: "pouch", Comment: "delivery signed without the envoy having carried it",
		Input: file(tag.Signed.Marshal(), [][]byte{deliver.Marshal()}, payload.Bytes()), Expect: "ErrNotOnRoute"})

	// The same payload under a tag to a third party, signed by the
	// Speaker in the Leader's name: the header names the President.
	third := *tag.Tag
	third.To = "cn/president"
	resealed, err := letter.SignTag(&third, speaker.Signing, g.salt(), t0, "")
	if err != nil {
		return nil, err
	}
	add(&Vector{Name: "pouch-tag-for-another-addressee", Kind: "pouch",
		Comment: "the payload under a tag that names another addressee, signed by another key: the signed header does not match",
		Input:   file(resealed.Marshal(), nil, payload.Bytes()), Open: "ru/president", Identity: string(identityFile(president)), Expect: "ErrHeaderMismatch"})

	// Records.
	add(&Vector{Name: "record-tag", Kind: "record", Comment: "a pouch tag: private, signed by the sender", Input: tag.Signed.Marshal(), Expect: "ok",
		Want: &Want{ID: pid.String(), Kind: "tag", By: []record.Handle{"ir/leader"}}})
	add(&Vector{Name: "record-custody-delivery", Kind: "record", Comment: "a delivery on behalf of the addressee", Input: deliver.Marshal(), Expect: "ok",
		Want: &Want{ID: deliver.ID().String(), Kind: "custody", By: []record.Handle{"ru/duma-chair"}}})
	add(&Vector{Name: "record-letter-header", Kind: "record", Comment: "a letter's signed header", Input: sealed.Header.Signed.Marshal(), Expect: "ok",
		Want: &Want{ID: sealed.Header.Signed.ID().String(), Kind: "letter", By: []record.Handle{"ir/leader"}}})
	badSig := *deliver
	badSig.Sigs = []record.Sig{deliver.Sigs[0]}
	badSig.Sigs[0].Sig = bytes.Clone(badSig.Sigs[0].Sig)
	badSig.Sigs[0].Sig[63] ^= 0x80
	add(&Vector{Name: "record-bad-signature", Kind: "record", Comment: "a custody record with a changed signature", Input: badSig.Marshal(), Expect: "ErrBadSignature"})
	wrongKind := bytes.Replace(deliver.Marshal(), []byte("custody"), []byte("custodx"), 1)
	add(&Vector{Name: "record-unknown-kind", Kind: "record", Comment: "an unknown kind", Input: wrongKind, Expect: "ErrUnknownKind"})
	// A non-canonical encoding: the outer map's length in a longer head.
	nc := deliver.Marshal()
	nc = append([]byte{0xb8, nc[0] & 0x1f}, nc[1:]...)
	add(&Vector{Name: "record-non-canonical", Kind: "record", Comment: "a map length in a two-byte head", Input: nc, Expect: "ErrMalformedRecord"})

	// Disclosures.
	opened := &letter.Opened{Header: sealed.Header, Sections: sealed.Sections}
	disc, err := letter.Disclose(opened, []int{1}, "ir/speaker", speaker.Signing, &pid, t0+86400_000, "pouch.example/log")
	if err != nil {
		return nil, err
	}
	add(&Vector{Name: "disclosure-relations", Kind: "disclosure", Comment: "the Speaker discloses the section on relations; three stay undisclosed",
		Input: disc.Marshal(), Expect: "ok", Want: &Want{By: []record.Handle{"ir/speaker"}, Sections: []string{"Relations"}, Text: sections[1].Text, Undisclosed: 3}})
	changed := *opened
	changed.Sections = append([]letter.Section(nil), opened.Sections...)
	changed.Sections[1].Text = "The relations are merely tactical."
	bad, err := letter.Disclose(&changed, []int{1}, "ir/speaker", speaker.Signing, &pid, t0+86400_000, "")
	if err != nil {
		return nil, err
	}
	add(&Vector{Name: "disclosure-not-matching", Kind: "disclosure", Comment: "a disclosed section that is not the one committed to", Input: bad.Marshal(), Expect: "ErrCommitment"})

	// Keys.
	add(&Vector{Name: "public-key-file", Kind: "public-key", Comment: "the public file of pouch key export --public", Input: president.Public().Marshal(), Expect: "ok",
		Want: &Want{From: "ru/president"}})
	add(&Vector{Name: "key-file", Kind: "key-file", Comment: "a principal's plaintext key file (stored encrypted to a passphrase)", Input: keyFile(president), Expect: "ok",
		Want: &Want{From: "ru/president"}})
	mixed := bytes.Replace(keyFile(president), []byte(president.Public().Age), []byte(duma.Public().Age), 1)
	add(&Vector{Name: "key-file-mismatched-comment", Kind: "key-file", Comment: "the # age: line names another key", Input: mixed, Expect: "error"})

	// Scene 1's letter sealed again by the Leader to the same readers and
	// to a classical X25519 recipient as well: a downgrade. (Made last, so
	// that the randomness it draws changes no vector above.)
	classical, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	var hybrids []age.Recipient
	for _, p := range []*keys.Principal{leader, duma, president, speaker} {
		hybrids = append(hybrids, p.Recipient())
	}
	down, err := lettertest.Reseal(file(tag.Signed.Marshal(), nil, payload.Bytes()), president, leader.Signing, append(hybrids, classical.Recipient())...)
	if err != nil {
		return nil, err
	}
	add(&Vector{Name: "pouch-classical-recipient", Kind: "pouch",
		Comment: "the payload also wraps its file key to a classical X25519 recipient: a downgrade, refused when verified",
		Input:   down.File, Expect: "ErrNotPostQuantum"})
	add(&Vector{Name: "pouch-classical-recipient-open", Kind: "pouch",
		Comment: "the payload also wraps its file key to a classical X25519 recipient: a downgrade, refused before anything is unwrapped",
		Input:   down.File, Open: "ru/president", Identity: string(identityFile(president)), Expect: "ErrNotPostQuantum"})

	// Scene 7: a tag with a deadline that asks for consent, its refusal,
	// and a non-delivery (spec/evidence.md).
	sec, fm, ev := g.principal("us/secretary-of-state"), g.principal("ir/fm"), g.principal("pouch/evidence")
	t7 := &letter.Tag{ID: letter.ID{7}, From: "us/secretary-of-state", To: "ir/fm", Via: []record.Handle{"ch/amb-tehran"},
		Payload: [32]byte{7}, Size: 4243, DeliverBy: t0 + 7*24*3600*1000, Consent: true}
	tag7, err := letter.SignTag(t7, sec.Signing, g.salt(), t0, "pouch.example/log")
	if err != nil {
		return nil, err
	}
	add(&Vector{Name: "tag-scene7-consent", Kind: "tag", Comment: "a version 2 tag with a deadline (deliver_by) that asks for consent",
		Input: tag7.Marshal(), Expect: "ok",
		Want: &Want{ID: tag7.ID().String(), From: "us/secretary-of-state", To: "ir/fm", Via: []record.Handle{"ch/amb-tehran"}}})
	v1, err := record.Sign(&record.Record{Kind: record.KindTag, Origin: "pouch.example/log", By: []record.Handle{"us/secretary-of-state"}, Time: t0, Salt: g.salt()},
		map[string]any{"id": make([]byte, 16), "from": "us/secretary-of-state", "to": "ir/fm", "payload": make([]byte, 32), "size": 1}, sec.Signing)
	if err != nil {
		return nil, err
	}
	add(&Vector{Name: "tag-version-1", Kind: "tag", Comment: "a tag without its version (the first tag format): refused", Input: v1.Marshal(), Expect: "ErrUnknownVersion"})
	ref, err := letter.SignEvent(&letter.Refusal{Pouch: tag7.ID(), Reason: letter.RefusalDeclined, Text: "Tehran firmly rejects Washington's plans."},
		"ir/fm", fm.Signing, g.salt(), t0+3600*1000, "pouch.example/log")
	if err != nil {
		return nil, err
	}
	add(&Vector{Name: "event-refusal-scene7", Kind: "event", Comment: "the Foreign Minister refuses the pouch, reason declined",
		Input: ref.Marshal(), Expect: "ok", Want: &Want{ID: ref.ID().String(), Kind: "refusal", By: []record.Handle{"ir/fm"}, Text: "declined"}})
	nd, err := letter.SignEvent(&letter.NonDelivery{Pouch: tag7.ID(), Reason: letter.NonDeliveryNotTaken, Holder: "us/secretary-of-state", Next: "ch/amb-tehran"},
		"pouch/evidence", ev.Signing, g.salt(), t0+8*24*3600*1000, "pouch.example/log")
	if err != nil {
		return nil, err
	}
	add(&Vector{Name: "event-non-delivery-scene7", Kind: "event", Comment: "the deployment's evidence office: not delivered by its deadline, the first envoy never took it",
		Input: nd.Marshal(), Expect: "ok", Want: &Want{ID: nd.ID().String(), Kind: "non-delivery", By: []record.Handle{"pouch/evidence"}, Text: "not-taken"}})
	pubRef, err := record.Sign(&record.Record{Kind: record.KindRefusal, Origin: "pouch.example/log", By: []record.Handle{"ir/fm"}, Time: t0},
		&letter.Refusal{Pouch: tag7.ID(), Reason: letter.RefusalDeclined}, fm.Signing)
	if err != nil {
		return nil, err
	}
	add(&Vector{Name: "event-refusal-public", Kind: "event", Comment: "a refusal without a salt: events are private", Input: pubRef.Marshal(), Expect: "ErrMalformedLetter"})

	// Made after the vectors above, so that the randomness they draw
	// changes none of them.
	more, err := g.moreVectors(leader, president)
	if err != nil {
		return nil, err
	}
	return append(vs, more...), nil
}

// moreVectors makes the vectors of grants, agreements, call records and
// checkpoints.
func (g *gen) moreVectors(leader, president *keys.Principal) ([]*Vector, error) {
	var vs []*Vector
	add := func(v *Vector) { vs = append(vs, v) }
	const origin = "pouch.example/log"

	// Grants: scene 1's, public and bounded, and a private one.
	grant := &directory.Grant{To: "ru/duma-chair", Abilities: []directory.Ability{directory.Receive}, Counterparts: []record.Handle{"ir/leader"},
		Purpose: "special representative", NotAfter: t0 + 30*86400_000}
	pub, err := record.Sign(&record.Record{Kind: record.KindGrant, Origin: origin, By: []record.Handle{"ru/president"}, Time: t0 - 86400_000}, grant, president.Signing)
	if err != nil {
		return nil, err
	}
	add(&Vector{Name: "grant-receive", Kind: "grant", Comment: "scene 1: the President grants the Duma chairman receive for letters from the Leader, for 30 days; public",
		Input: pub.Marshal(), Expect: "ok", Want: &Want{ID: pub.ID().String(), Kind: "grant", By: []record.Handle{"ru/president"}, To: "ru/duma-chair", Abilities: []string{"receive"}}})
	priv, err := record.Sign(&record.Record{Kind: record.KindGrant, Origin: origin, By: []record.Handle{"ir/leader"}, Time: t0, Salt: g.salt()},
		&directory.Grant{To: "ir/speaker", Abilities: []directory.Ability{directory.Disclose}, Letter: bytes.Repeat([]byte{0x5a}, record.LetterIDSize)}, leader.Signing)
	if err != nil {
		return nil, err
	}
	add(&Vector{Name: "grant-disclose-private", Kind: "grant", Comment: "scene 1: the Leader grants the Speaker disclose on one letter; private (salted)",
		Input: priv.Marshal(), Expect: "ok", Want: &Want{ID: priv.ID().String(), Kind: "grant", By: []record.Handle{"ir/leader"}, To: "ir/speaker", Abilities: []string{"disclose"}}})
	unknownField, err := record.Sign(&record.Record{Kind: record.KindGrant, Origin: origin, By: []record.Handle{"ru/president"}, Time: t0},
		map[string]any{"to": "ru/duma-chair", "abilities": []string{"receive"}, "scope": "all"}, president.Signing)
	if err != nil {
		return nil, err
	}
	add(&Vector{Name: "grant-unknown-field", Kind: "grant", Comment: "a grant body with a field the format does not have", Input: unknownField.Marshal(), Expect: "error"})

	// Agreements: the JCPOA as scene 4 registers it, and a withdrawal.
	sc, err := jcpoa.Build(origin, func(h record.Handle) ed25519.PrivateKey { return g.principal(h).Signing.(ed25519.PrivateKey) }, t0)
	if err != nil {
		return nil, err
	}
	reg := sc.JCPOA[0].Signed
	add(&Vector{Name: "agreement-jcpoa", Kind: "agreement", Comment: "scene 4: the JCPOA registered by its depositary: 7 parties, 4 clauses",
		Input: reg.Marshal(), Expect: "ok", Want: &Want{ID: reg.ID().String(), Kind: "agreement", By: []record.Handle{jcpoa.Depositary}, Name: "jcpoa", Parties: 7, Clauses: 4}})
	for _, st := range sc.JCPOA {
		if st.Signed.ID() == reg.ID() {
			continue
		}
		_, r, err := record.Verify(st.Signed.Marshal())
		if err != nil {
			return nil, err
		}
		if r.Kind == record.KindAgreementWithdraw {
			add(&Vector{Name: "agreement-withdraw-us", Kind: "agreement", Comment: "scene 4: the United States withdraw from the JCPOA, effective 2018-05-08",
				Input: st.Signed.Marshal(), Expect: "ok", Want: &Want{ID: st.Signed.ID().String(), Kind: "agreement-withdraw", By: []record.Handle{"us/president"}}})
		}
	}

	// A call record, signed by both ends of the line, with a pouch handed
	// over; and one signature short.
	fm := g.principal("ir/fm")
	binding := make([]byte, line.BindingSize)
	io.ReadFull(g.rnd, binding)
	pouch := make([]byte, 32)
	io.ReadFull(g.rnd, pouch)
	call := &line.CallBody{Participants: []record.Handle{"ir/fm", "ru/president"}, Start: t0, End: t0 + 3600_000, Binding: binding,
		Bytes: []uint64{5120, 812}, Pouches: []line.Handover{{ID: pouch, From: "ir/fm"}}}
	callRec := &record.Record{Kind: record.KindLine, Origin: origin, By: call.Participants, Time: call.End, Salt: g.salt()}
	signed, err := record.Sign(callRec, call, fm.Signing, president.Signing)
	if err != nil {
		return nil, err
	}
	add(&Vector{Name: "call-record-scene3", Kind: "call-record", Comment: "scene 3: the hour-long line between the Foreign Minister and the President, one pouch handed over; signed by both",
		Input: signed.Marshal(), Expect: "ok", Want: &Want{ID: signed.ID().String(), Kind: "line", By: call.Participants}})
	half := *signed
	half.Sigs = signed.Sigs[:1]
	add(&Vector{Name: "call-record-one-signature", Kind: "call-record", Comment: "the call record with the second participant's signature removed", Input: half.Marshal(), Expect: "ErrMissingSig"})

	// Checkpoints: signed by the log; changed; and lacking a witness's
	// cosignature the verifier requires.
	skey, vkey, err := tlog.GenerateKey(origin)
	if err != nil {
		return nil, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	root := sha256.Sum256([]byte("pouch test vector tree"))
	cp, err := note.Sign(&note.Note{Text: string(tlog.CheckpointBody(origin, 1234, root[:]))}, signer)
	if err != nil {
		return nil, err
	}
	add(&Vector{Name: "checkpoint-signed", Kind: "checkpoint", Comment: "a C2SP tlog-checkpoint signed note: origin, size, root; no witness required",
		Input: cp, LogKey: vkey, Expect: "ok", Want: &Want{Size: 1234, Root: hex.EncodeToString(root[:])}})
	changed := bytes.Replace(cp, []byte("\n1234\n"), []byte("\n1235\n"), 1)
	add(&Vector{Name: "checkpoint-changed-size", Kind: "checkpoint", Comment: "the size changed after signing", Input: changed, LogKey: vkey, Expect: "ErrBadCheckpoint"})
	_, wkey, err := tlog.GenerateKey("witness.example")
	if err != nil {
		return nil, err
	}
	add(&Vector{Name: "checkpoint-no-quorum", Kind: "checkpoint", Comment: "the verifier requires a witness's cosignature, which the checkpoint lacks",
		Input: cp, LogKey: vkey, WitnessKeys: []string{wkey}, Quorum: 1, Expect: "ErrNoQuorum"})
	return vs, nil
}

// Check runs the decoder a vector names on its input and returns an
// error describing how the result differs from what the vector expects.
func Check(v *Vector) error {
	got, err := run(v)
	if v.Expect == "ok" {
		if err != nil {
			return fmt.Errorf("want success, got %v", err)
		}
		if v.Want != nil {
			return compare(v.Want, got)
		}
		return nil
	}
	want, known := Errors[v.Expect]
	if !known {
		return fmt.Errorf("unknown expectation %q", v.Expect)
	}
	if err == nil {
		return fmt.Errorf("want %s, got success", v.Expect)
	}
	if want != nil && !errors.Is(err, want) {
		return fmt.Errorf("want %s, got %v", v.Expect, err)
	}
	return nil
}

func compare(want, got *Want) error {
	w, g := fmt.Sprintf("%+v", *want), fmt.Sprintf("%+v", *got)
	if w != g {
		return fmt.Errorf("decoded:\n got %s\nwant %s", g, w)
	}
	return nil
}

func run(v *Vector) (*Want, error) {
	switch v.Kind {
	case "commitment":
		c, err := letter.Commit(v.Index, &letter.Section{Title: v.Title, Text: string(v.Input), Salt: v.Salt})
		return &Want{Text: c.String()}, err
	case "markdown":
		ss, err := letter.ParseMarkdown(v.Input)
		if err != nil {
			return nil, err
		}
		w := &Want{}
		for _, s := range ss {
			w.Sections = append(w.Sections, s.Title)
		}
		return w, nil
	case "record":
		s, r, err := record.Verify(v.Input)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(s.Marshal(), v.Input) {
			return nil, errors.New("re-encoding differs")
		}
		return &Want{ID: s.ID().String(), Kind: string(r.Kind), By: r.By}, nil
	case "disclosure":
		d, err := letter.VerifyDisclosure(v.Input)
		if err != nil {
			return nil, err
		}
		w := &Want{By: []record.Handle{d.Discloser}, Undisclosed: d.Undisclosed}
		for _, s := range d.Sections {
			w.Sections = append(w.Sections, s.Title)
			w.Text = s.Text
		}
		return w, nil
	case "public-key":
		p, err := keys.ParsePublic(v.Input)
		if err != nil {
			return nil, err
		}
		return &Want{From: p.Handle}, nil
	case "key-file":
		p, err := keys.ParseKeyFile(v.Input)
		if err != nil {
			return nil, err
		}
		kf, err := p.MarshalKeyFile()
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(kf, v.Input) {
			return nil, errors.New("re-encoding differs")
		}
		return &Want{From: p.Handle}, nil
	case "pouch":
		return runPouch(v)
	case "tag":
		st, err := letter.VerifyTag(v.Input)
		if err != nil {
			return nil, err
		}
		return &Want{ID: st.PouchID().String(), From: st.Tag.From, To: st.Tag.To, Via: st.Tag.Via}, nil
	case "event":
		e, err := letter.VerifyEvent(v.Input)
		if err != nil {
			return nil, err
		}
		w := &Want{ID: e.ID().String(), Kind: string(e.Kind()), By: e.Record.By}
		switch {
		case e.Refusal != nil:
			w.Text = string(e.Refusal.Reason)
		case e.NonDelivery != nil:
			w.Text = string(e.NonDelivery.Reason)
		}
		return w, nil

	case "grant":
		s, r, err := verifyCanonical(v.Input)
		if err != nil {
			return nil, err
		}
		var g directory.Grant
		if err := r.DecodeBody(&g); err != nil {
			return nil, err
		}
		w := &Want{ID: s.ID().String(), Kind: string(r.Kind), By: r.By, To: g.To}
		for _, a := range g.Abilities {
			w.Abilities = append(w.Abilities, string(a))
		}
		return w, nil
	case "agreement":
		s, r, err := verifyCanonical(v.Input)
		if err != nil {
			return nil, err
		}
		w := &Want{ID: s.ID().String(), Kind: string(r.Kind), By: r.By}
		switch r.Kind {
		case record.KindAgreement:
			var a agreement.Agreement
			if err := r.DecodeBody(&a); err != nil {
				return nil, err
			}
			if err := a.Check(); err != nil {
				return nil, err
			}
			w.Name, w.Parties, w.Clauses = a.Name, len(a.Parties), len(a.Clauses)
		case record.KindAgreementWithdraw:
			var a agreement.Withdraw
			if err := r.DecodeBody(&a); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("an agreement vector of kind %s", r.Kind)
		}
		return w, nil
	case "call-record":
		c, err := line.VerifyCall(v.Input)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(c.Signed.Marshal(), v.Input) {
			return nil, errors.New("re-encoding differs")
		}
		return &Want{ID: c.Signed.ID().String(), Kind: string(c.Record.Kind), By: c.Body.Participants}, nil
	case "checkpoint":
		ver, err := tlog.NewVerifier(v.LogKey, v.WitnessKeys, v.Quorum)
		if err != nil {
			return nil, err
		}
		cp, err := ver.Open(v.Input)
		if err != nil {
			return nil, err
		}
		return &Want{Size: cp.Size, Root: hex.EncodeToString(cp.Hash)}, nil
	}
	return nil, fmt.Errorf("unknown vector kind %q", v.Kind)
}

// verifyCanonical verifies a signed record and checks that it re-encodes
// to the same bytes.
func verifyCanonical(b []byte) (*record.Signed, *record.Record, error) {
	s, r, err := record.Verify(b)
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(s.Marshal(), b) {
		return nil, nil, errors.New("re-encoding differs")
	}
	return s, r, nil
}

func runPouch(v *Vector) (*Want, error) {
	f, err := letter.ReadFile(bufio.NewReader(bytes.NewReader(v.Input)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The route alone, as a verifier without the log checks it.
	p, err := ledger.RouteChain(f.Tag, f.Custody)
	if err != nil {
		return nil, err
	}
	t := f.Tag.Tag
	w := &Want{ID: f.Tag.PouchID().String(), From: t.From, To: t.To, Via: t.Via, Delivered: p.Delivered(), Custody: len(f.Custody)}
	if v.Open == "" {
		// As pouch verify: the recipients, then the payload's digest.
		rerr := f.CheckRecipients()
		if err := f.Finish(); err != nil {
			return nil, err
		}
		return w, rerr
	}
	me, err := keys.ParseIdentityFile(record.Handle(v.Open), []byte(v.Identity))
	if err != nil {
		return nil, err
	}
	o, err := letter.OpenPouch(f, me, nil)
	if err != nil {
		return nil, err
	}
	for _, s := range o.Sections {
		w.Sections = append(w.Sections, s.Title)
	}
	w.Text = o.Sections[1].Text
	w.Attachments = len(o.Attachments)
	return w, nil
}
