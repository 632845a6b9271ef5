package agreement

import (
	"crypto/sha256"
	"fmt"
	"unicode/utf8"

	"pouch.dev/record"
)

// The bodies of the six agreement and statement record kinds. Each is a
// CBOR map in deterministic encoding, decoded strictly with
// record.Unmarshal; Check validates what the encoding cannot express.

// An Agreement is the body of an "agreement" record: a depositary (the
// record's signer) registers an instrument.
//
// SPEC: spec/agreement.md#agreement
type Agreement struct {
	Name      string          `cbor:"name" json:"name"`                               // a short label, such as "jcpoa"
	Title     string          `cbor:"title" json:"title"`                             // the instrument's title
	Text      []byte          `cbor:"text" json:"text"`                               // SHA-256 of the instrument's text
	Parties   []Party         `cbor:"parties" json:"parties"`                         // the invited parties, each a house
	Force     Force           `cbor:"force" json:"force"`                             // the entry-into-force rule
	Verifiers []record.Handle `cbor:"verifiers,omitempty" json:"verifiers,omitempty"` // who may attest compliance
	Clauses   []Clause        `cbor:"clauses,omitempty" json:"clauses,omitempty"`
}

// A Party is an invited house and the offices that may sign or withdraw
// for it.
type Party struct {
	House   string          `cbor:"house" json:"house"`
	Signers []record.Handle `cbor:"signers" json:"signers"` // offices of House
}

// Force is the entry-into-force rule: the instrument enters into force on
// the first day on which at least Need parties are in force, and remains
// in force while at least Keep are.
//
// SPEC: spec/agreement.md#force
type Force struct {
	Need uint64 `cbor:"need,omitempty" json:"need,omitempty"` // 0: every invited party
	Keep uint64 `cbor:"keep,omitempty" json:"keep,omitempty"` // 0: two parties, or one if only one is invited
}

// A Clause is a provision with its own life inside an instrument. It is
// active on a day when the instrument is in force, the day is on or after
// From and before Until, StartOn has fired (if set) and EndOn has not.
//
// SPEC: spec/agreement.md#clauses
type Clause struct {
	ID      string   `cbor:"id" json:"id"`
	Title   string   `cbor:"title" json:"title"`
	From    Date     `cbor:"from,omitempty" json:"from,omitempty"`         // effective date
	Until   Date     `cbor:"until,omitempty" json:"until,omitempty"`       // sunset: the first day the clause is no longer active
	StartOn *Trigger `cbor:"start-on,omitempty" json:"start-on,omitempty"` // active only from the day this attestation is made
	EndOn   *Trigger `cbor:"end-on,omitempty" json:"end-on,omitempty"`     // lapses on the day this attestation is made
	Attest  *Expect  `cbor:"attest,omitempty" json:"attest,omitempty"`     // attestations expected while active
}

// A Trigger is an attestation by a named verifier, of a party, on a
// clause: it fires on the date of the first such attestation.
type Trigger struct {
	By     record.Handle `cbor:"by" json:"by"`
	Of     string        `cbor:"of" json:"of"`
	Clause string        `cbor:"clause" json:"clause"`
}

func (t *Trigger) String() string {
	return fmt.Sprintf("an attestation by %s that %s complies with %s", t.By, t.Of, t.Clause)
}

// An Expect says which attestations a clause expects: by each of By, of
// each party in Of (every party in force if Of is empty), covering the
// time up to at most Every days ago.
type Expect struct {
	By    []record.Handle `cbor:"by" json:"by"`
	Of    []string        `cbor:"of,omitempty" json:"of,omitempty"`
	Every uint64          `cbor:"every" json:"every"` // days
}

// MaxEvery is the longest attestation period an Expect may name: a
// century of days.
const MaxEvery = 36600

// A Sign is the body of an "agreement-sign" record: a party signs, by one
// of its named signers.
//
// SPEC: spec/agreement.md#agreement-sign
type Sign struct {
	Agreement record.ID `cbor:"agreement" json:"agreement"`
	Party     string    `cbor:"party" json:"party"`
	Date      Date      `cbor:"date" json:"date"` // the day of signature
}

// A Withdraw is the body of an "agreement-withdraw" record: a party
// withdraws, effective on Date.
//
// SPEC: spec/agreement.md#agreement-withdraw
type Withdraw struct {
	Agreement record.ID `cbor:"agreement" json:"agreement"`
	Party     string    `cbor:"party" json:"party"`
	Date      Date      `cbor:"date" json:"date"` // the first day the party is no longer bound
}

// An Attest is the body of an "attest" record: a named verifier attests
// that a party complied with a clause from From to To, both included.
//
// SPEC: spec/agreement.md#attest
type Attest struct {
	Agreement record.ID `cbor:"agreement" json:"agreement"`
	Party     string    `cbor:"party" json:"party"`
	Clause    string    `cbor:"clause" json:"clause"`
	From      Date      `cbor:"from" json:"from"`
	To        Date      `cbor:"to" json:"to"`
	Date      Date      `cbor:"date" json:"date"`                     // the day the attestation is made
	Note      string    `cbor:"note,omitempty" json:"note,omitempty"` // a reference, such as a report number
}

// A Statement is the body of a "statement" record: a joint statement
// opened for co-signature by its signer.
//
// SPEC: spec/agreement.md#statement
type Statement struct {
	Title  string `cbor:"title" json:"title"`
	Text   []byte `cbor:"text" json:"text"`                         // SHA-256 of the statement's text
	Opened Date   `cbor:"opened" json:"opened"`                     // the day it opened
	Closes Date   `cbor:"closes,omitempty" json:"closes,omitempty"` // the last day on which co-signatures are sequenced
}

// A Cosign is the body of a "cosign" record: its signer co-signs a
// statement.
//
// SPEC: spec/agreement.md#cosign
type Cosign struct {
	Statement record.ID `cbor:"statement" json:"statement"`
}

// Digest returns the SHA-256 digest of an instrument's or statement's text,
// the value of their Text fields.
func Digest(text []byte) []byte {
	d := sha256.Sum256(text)
	return d[:]
}

// Check validates b beyond its encoding.
func (b *Agreement) Check() error {
	if err := checkLabel("name", b.Name); err != nil {
		return err
	}
	if err := checkTitle("title", b.Title); err != nil {
		return err
	}
	if len(b.Text) != sha256.Size {
		return fmt.Errorf("text digest of %d bytes, want %d (SHA-256 of the text)", len(b.Text), sha256.Size)
	}
	if len(b.Parties) == 0 {
		return fmt.Errorf("no parties: an agreement invites at least one house")
	}
	if len(b.Parties) > record.MaxParties {
		return fmt.Errorf("%d parties: %w (limit %d)", len(b.Parties), record.ErrTooLarge, record.MaxParties)
	}
	houses := map[string]bool{}
	for _, p := range b.Parties {
		if _, err := record.ParseHouse(p.House); err != nil {
			return fmt.Errorf("party: %v", err)
		}
		if houses[p.House] {
			return fmt.Errorf("party %s invited twice", p.House)
		}
		houses[p.House] = true
		if len(p.Signers) == 0 {
			return fmt.Errorf("party %s names no signer", p.House)
		}
		if len(p.Signers) > record.MaxPartySigners {
			return fmt.Errorf("party %s names %d signers: %w (limit %d)", p.House, len(p.Signers), record.ErrTooLarge, record.MaxPartySigners)
		}
		seen := map[record.Handle]bool{}
		for _, h := range p.Signers {
			if _, err := record.ParseHandle(string(h)); err != nil {
				return fmt.Errorf("party %s: signer: %v", p.House, err)
			}
			if h.House() != p.House {
				return fmt.Errorf("party %s: signer %s is not an office of %s", p.House, h, p.House)
			}
			if seen[h] {
				return fmt.Errorf("party %s: signer %s named twice", p.House, h)
			}
			seen[h] = true
		}
	}
	n := uint64(len(b.Parties))
	if b.Force.Need > n {
		return fmt.Errorf("force: needs %d parties but only %d are invited", b.Force.Need, n)
	}
	need := b.Force.Need
	if need == 0 {
		need = n
	}
	if b.Force.Keep > need {
		return fmt.Errorf("force: remains in force with %d parties but enters into force with %d: keep may not exceed need", b.Force.Keep, need)
	}
	if len(b.Verifiers) > record.MaxVerifiers {
		return fmt.Errorf("%d verifiers: %w (limit %d)", len(b.Verifiers), record.ErrTooLarge, record.MaxVerifiers)
	}
	verifiers := map[record.Handle]bool{}
	for _, h := range b.Verifiers {
		if _, err := record.ParseHandle(string(h)); err != nil {
			return fmt.Errorf("verifier: %v", err)
		}
		if verifiers[h] {
			return fmt.Errorf("verifier %s named twice", h)
		}
		verifiers[h] = true
	}
	if len(b.Clauses) > record.MaxClauses {
		return fmt.Errorf("%d clauses: %w (limit %d)", len(b.Clauses), record.ErrTooLarge, record.MaxClauses)
	}
	clauses := map[string]bool{}
	for _, c := range b.Clauses {
		if err := checkLabel("clause id", c.ID); err != nil {
			return err
		}
		if clauses[c.ID] {
			return fmt.Errorf("clause %s defined twice", c.ID)
		}
		clauses[c.ID] = true
	}
	for _, c := range b.Clauses {
		if err := c.check(houses, verifiers, clauses); err != nil {
			return fmt.Errorf("clause %s: %v", c.ID, err)
		}
	}
	return nil
}

func (c *Clause) check(houses map[string]bool, verifiers map[record.Handle]bool, clauses map[string]bool) error {
	if err := checkTitle("title", c.Title); err != nil {
		return err
	}
	for _, d := range []Date{c.From, c.Until} {
		if d != "" {
			if err := d.check(); err != nil {
				return err
			}
		}
	}
	if c.From != "" && c.Until != "" && c.Until <= c.From {
		return fmt.Errorf("sunset %s is not after its effective date %s", c.Until, c.From)
	}
	for _, t := range []*Trigger{c.StartOn, c.EndOn} {
		if t == nil {
			continue
		}
		if !verifiers[t.By] {
			return fmt.Errorf("trigger: %s is not a named verifier", t.By)
		}
		if !houses[t.Of] {
			return fmt.Errorf("trigger: %q is not an invited party", t.Of)
		}
		if !clauses[t.Clause] {
			return fmt.Errorf("trigger: no clause %q", t.Clause)
		}
	}
	if e := c.Attest; e != nil {
		if len(e.By) == 0 {
			return fmt.Errorf("attest: names no verifier")
		}
		if e.Every == 0 || e.Every > MaxEvery {
			return fmt.Errorf("attest: every %d days: want 1 to %d", e.Every, MaxEvery)
		}
		if len(e.By) > record.MaxVerifiers || len(e.Of) > record.MaxParties {
			return fmt.Errorf("attest: %w", record.ErrTooLarge)
		}
		seen := map[string]bool{}
		for _, h := range e.By {
			if !verifiers[h] {
				return fmt.Errorf("attest: %s is not a named verifier", h)
			}
			if seen[string(h)] {
				return fmt.Errorf("attest: verifier %s named twice", h)
			}
			seen[string(h)] = true
		}
		for _, p := range e.Of {
			if !houses[p] {
				return fmt.Errorf("attest: %q is not an invited party", p)
			}
			if seen["of:"+p] {
				return fmt.Errorf("attest: party %s named twice", p)
			}
			seen["of:"+p] = true
		}
	}
	return nil
}

// Check validates b beyond its encoding.
func (b *Sign) Check() error {
	if _, err := record.ParseHouse(b.Party); err != nil {
		return fmt.Errorf("party: %v", err)
	}
	return b.Date.check()
}

// Check validates b beyond its encoding.
func (b *Withdraw) Check() error {
	if _, err := record.ParseHouse(b.Party); err != nil {
		return fmt.Errorf("party: %v", err)
	}
	return b.Date.check()
}

// Check validates b beyond its encoding.
func (b *Attest) Check() error {
	if _, err := record.ParseHouse(b.Party); err != nil {
		return fmt.Errorf("party: %v", err)
	}
	if err := checkLabel("clause", b.Clause); err != nil {
		return err
	}
	for _, d := range []Date{b.From, b.To, b.Date} {
		if err := d.check(); err != nil {
			return err
		}
	}
	if b.To < b.From {
		return fmt.Errorf("period %s to %s ends before it starts", b.From, b.To)
	}
	if b.Date < b.To {
		return fmt.Errorf("attestation dated %s for a period that ends later, on %s: attest only what has happened", b.Date, b.To)
	}
	if len(b.Note) > record.MaxNoteLen {
		return fmt.Errorf("note: %w (limit %d bytes)", record.ErrTooLarge, record.MaxNoteLen)
	}
	return nil
}

// Check validates b beyond its encoding.
func (b *Statement) Check() error {
	if err := checkTitle("title", b.Title); err != nil {
		return err
	}
	if len(b.Text) != sha256.Size {
		return fmt.Errorf("text digest of %d bytes, want %d (SHA-256 of the text)", len(b.Text), sha256.Size)
	}
	if err := b.Opened.check(); err != nil {
		return fmt.Errorf("opened: %v", err)
	}
	if b.Closes != "" {
		if err := b.Closes.check(); err != nil {
			return fmt.Errorf("closes: %v", err)
		}
		if b.Closes < b.Opened {
			return fmt.Errorf("closes %s before it opens %s", b.Closes, b.Opened)
		}
	}
	return nil
}

// Check validates b beyond its encoding.
func (b *Cosign) Check() error {
	if b.Statement.IsZero() {
		return fmt.Errorf("names no statement")
	}
	return nil
}

func checkLabel(what, s string) error {
	if s == "" || len(s) > record.MaxLabelLen {
		return fmt.Errorf("%s %q: want 1 to %d characters", what, s, record.MaxLabelLen)
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return fmt.Errorf("%s %q: starts or ends with '-'", what, s)
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%s %q: character %q not allowed (use a-z, 0-9 and '-')", what, s, c)
		}
	}
	return nil
}

func checkTitle(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if len(s) > record.MaxTitleLen {
		return fmt.Errorf("%s: %w (limit %d bytes)", what, record.ErrTooLarge, record.MaxTitleLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	return nil
}

// checker is a body with a Check method.
type checker interface{ Check() error }

// decodeBody decodes the body of r strictly into v and validates it.
func decodeBody(r *record.Record, v checker) error {
	if err := r.DecodeBody(v); err != nil {
		return err
	}
	if err := v.Check(); err != nil {
		return fmt.Errorf("%s record body: %w", r.Kind, err)
	}
	return nil
}
