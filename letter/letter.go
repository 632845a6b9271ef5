// Package letter implements pouch's letters and pouches: sections and their
// salted commitments, the author's signed header, sealing with age, the
// outer tag carriers see, custody records, disclosures and the portable
// .pouch file.
//
// # Letters
//
// A letter is a list of sections, each a title and a text, written as a
// Markdown file in which every "##" heading starts a section
// (ParseMarkdown). Each section gets a fresh random salt and is committed in
// the letter's header by
//
//	SHA-256("pouch.dev/v1/section" || 0x00 || salt || CBOR{index, title, text})
//
// (Commit), so that single sections can later be disclosed and checked
// against the header while the others stay hidden. The header is a signed
// record of kind "letter" by the author; it repeats the letter's ID, its
// author and its addressee, so a letter cannot be re-sealed to someone else
// and pass as addressed to them.
//
// # Pouches
//
// Seal encrypts the header, the sections and any attachments as one plain
// age file to the addressee, the extra readers and the author, and signs a
// private "tag" record that names the route (from, to, via) and the SHA-256
// of the age file: all that a carrier sees. Envoys append "custody" records;
// the last, the delivery, is signed by the addressee or by a delegate on its
// behalf; the custody rule, against the route and the directory, is package
// ledger's (CheckCustody, and CheckRoute without the log). A .pouch file (WriteFile, ReadFile) carries a
// tag, its custody records and the payload, so a pouch travels offline;
// fetched from a server, it also carries the directory records its
// signatures rest on and a C2SP tlog-proof of each record (FileProof),
// which ReadFile checks for structure and package client verifies against
// the log.
//
// A tag (version 2) may carry the sender's requests for evidence: a
// deadline, consent, proof of access. A pouch's other events are private
// records too (Event: Acceptance, Refusal, Access, NonDelivery; SignEvent,
// VerifyEvent), whose rules are package ledger's (spec/evidence.md).
//
// A payload is sealed to hybrid post-quantum recipients (ML-KEM-768 +
// X25519) only. A payload whose age header holds any other stanza, such as
// a classical X25519 recipient beside the hybrid ones (a downgrade), is
// refused when it is opened and when it is checked by CheckRecipients,
// which needs no key and is what verifiers and the server run.
//
// # Disclosures
//
// Disclose reveals chosen sections of a letter in a public "disclosure"
// record that carries the author's signed header; VerifyDisclosure
// recomputes each revealed commitment and says how many stay undisclosed.
//
// # Large attachments
//
// A letter's attachments may hold record.MaxAttachmentsSize bytes (1 GiB)
// together: the one limit on a letter's size, which Seal checks
// (CheckAttachments) before it reads any attachment. The payload and
// .pouch file limits (record.MaxPayloadSize, record.MaxPouchFile) add the
// most overhead a letter may have to it, so that every letter within it
// travels everywhere (spec/letter.md#limits). Nothing is held whole:
// Seal reads attachments from an io.ReaderAt and writes the age file as
// it goes; ReadFile, OpenPouch and Finish read a .pouch file as a stream,
// and Open hands attachments to a SaveFunc as they are decrypted.
//
// SHA-256 is about as fast as age's cipher, and a large attachment is
// hashed twice: its plaintext, for the header's commitment, and the age
// file, for the tag's digest. Past 1 MiB each stream is hashed on its own
// goroutine, fed through a few reused 256 KiB buffers: Seal reads the
// attachment on one goroutine while another hashes it, then encrypts on
// one while the other hashes the age file; Open decrypts on one while the
// age file and the attachment are hashed on others. The commitment has to
// be known before the header is signed and the first age chunk written, so
// sealing cannot overlap its two SHA-256 passes: it takes at least twice the
// time of one (see BENCHMARKS.md).
//
// The formats are written down in spec/letter.md.
package letter

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"pouch.dev/record"
)

// An ID names a letter: LetterIDSize random bytes chosen by the author.
// The tag of the pouch carrying it repeats it.
type ID [record.LetterIDSize]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText encodes id as hex, for JSON.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses a hex letter ID.
func (id *ID) UnmarshalText(b []byte) error {
	if len(b) != 2*len(id) {
		return fmt.Errorf("letter ID %q: want %d hex digits", b, 2*len(id))
	}
	_, err := hex.Decode(id[:], b)
	return err
}

// A Section is one part of a letter: a title and a text, with the salt of
// its commitment once sealed.
type Section struct {
	Title string `cbor:"title" json:"title"`
	Text  string `cbor:"text" json:"text"`
	Salt  []byte `cbor:"salt" json:"salt,omitempty"`
}

// sectionContext separates section commitments from every other hash.
const sectionContext = "pouch.dev/v1/section"

// sectionCommitted is what a commitment hashes after the salt.
type sectionCommitted struct {
	Index uint64 `cbor:"index"`
	Title string `cbor:"title"`
	Text  string `cbor:"text"`
}

// A Commitment is a section's salted hash, as listed in the header.
type Commitment [sha256.Size]byte

func (c Commitment) String() string { return hex.EncodeToString(c[:]) }

// MarshalText encodes c as hex, for JSON.
func (c Commitment) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Commit returns the commitment of section s at position index.
//
// SPEC: spec/letter.md#commitment
func Commit(index int, s *Section) (Commitment, error) {
	if len(s.Salt) != record.SectionSaltSize {
		return Commitment{}, fmt.Errorf("section %d: salt of %d bytes, want %d", index, len(s.Salt), record.SectionSaltSize)
	}
	b, err := record.Marshal(sectionCommitted{Index: uint64(index), Title: s.Title, Text: s.Text})
	if err != nil {
		return Commitment{}, fmt.Errorf("section %d: %w", index, err)
	}
	h := sha256.New()
	h.Write([]byte(sectionContext))
	h.Write([]byte{0})
	h.Write(s.Salt)
	h.Write(b)
	var c Commitment
	h.Sum(c[:0])
	return c, nil
}

// checkSections checks the limits of a letter's sections.
func checkSections(ss []Section) error {
	if len(ss) == 0 {
		return ErrNoSections
	}
	if len(ss) > record.MaxSections {
		return fmt.Errorf("%d sections: %w (limit %d)", len(ss), record.ErrTooLarge, record.MaxSections)
	}
	total := 0
	for i, s := range ss {
		if len(s.Title) > record.MaxSectionTitleLen {
			return fmt.Errorf("section %d: title of %d bytes: %w (limit %d)", i, len(s.Title), record.ErrTooLarge, record.MaxSectionTitleLen)
		}
		if !utf8.ValidString(s.Title) || !utf8.ValidString(s.Text) {
			return fmt.Errorf("section %d: not valid UTF-8", i)
		}
		total += len(s.Title) + len(s.Text)
	}
	if total > record.MaxLetterText {
		return fmt.Errorf("letter text of %d bytes: %w (limit %d)", total, record.ErrTooLarge, record.MaxLetterText)
	}
	return nil
}

// ErrNoSections is returned for a letter without sections.
var ErrNoSections = errors.New("letter has no sections")

// ParseMarkdown splits a Markdown letter into sections.
//
// Every line that starts with "## " (or is exactly "##") outside a fenced
// code block starts a section; its title is the rest of the line, trimmed.
// The section's text is everything up to the next such line, without
// leading and trailing blank lines. Text before the first "##" heading
// (typically a "# Title" line and a salutation) is a section with an empty
// title if it is not blank, and is dropped if it is. Line endings (CR LF,
// or a lone CR) are normalised to "\n".
//
// SPEC: spec/letter.md#markdown
func ParseMarkdown(md []byte) ([]Section, error) {
	if !utf8.Valid(md) {
		return nil, errors.New("letter is not valid UTF-8")
	}
	text := strings.ReplaceAll(strings.ReplaceAll(string(md), "\r\n", "\n"), "\r", "\n")
	var (
		ss      []Section
		cur     = Section{}
		body    []string
		started bool // a "##" heading was seen
		fence   string
	)
	flush := func() {
		t := strings.Trim(strings.Join(body, "\n"), "\n")
		if started || strings.TrimSpace(t) != "" {
			cur.Text = t
			ss = append(ss, cur)
		}
		body = nil
	}
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			body = append(body, line)
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			body = append(body, line)
			continue
		}
		if line == "##" || strings.HasPrefix(line, "## ") {
			flush()
			started = true
			cur = Section{Title: strings.TrimSpace(line[2:])}
			continue
		}
		body = append(body, line)
	}
	flush()
	if err := checkSections(ss); err != nil {
		return nil, err
	}
	return ss, nil
}

// Markdown renders sections back into a Markdown letter that
// ParseMarkdown splits into the same sections.
func Markdown(ss []Section) []byte {
	var b bytes.Buffer
	for i, s := range ss {
		if i > 0 {
			b.WriteString("\n")
		}
		// A section becomes the preamble only if it would parse back as
		// one: first, untitled and not blank.
		if i > 0 || s.Title != "" || strings.TrimSpace(s.Text) == "" {
			b.WriteString("## " + s.Title + "\n")
			if s.Text != "" {
				b.WriteString("\n")
			}
		}
		if s.Text != "" {
			b.WriteString(s.Text + "\n")
		}
	}
	return b.Bytes()
}

// randReader returns r, or crypto/rand's reader if r is nil.
func randReader(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

func randBytes(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(randReader(r), b); err != nil {
		return nil, fmt.Errorf("reading randomness: %w", err)
	}
	return b, nil
}
