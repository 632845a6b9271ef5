package letter

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"filippo.io/age"

	"pouch.dev/keys"
	"pouch.dev/record"
)

// An Attachment is a file to seal with a letter. Its content is read twice
// (once to commit to it in the header, once to encrypt it), so it is an
// io.ReaderAt, such as an *os.File or a *bytes.Reader.
type Attachment struct {
	Name    string
	Size    int64
	Content io.ReaderAt
}

// A SealRequest is a letter to seal.
type SealRequest struct {
	Author   *keys.Principal
	To       *keys.Public   // the addressee
	Readers  []*keys.Public // more principals to seal to: extra readers and the addressee's receive delegates
	Via      []record.Handle
	Thread   *record.ID // for a reply: see ReplyThread
	Sections []Section  // their salts are chosen by Seal
	Attach   []Attachment
	Time     int64 // claimed time, Unix milliseconds; 0 means now
	// DeliverBy, Consent and Access are the sender's requests for
	// evidence, written in the tag (Tag.DeliverBy, Tag.Consent,
	// Tag.Access).
	DeliverBy int64
	Consent   bool
	Access    bool
	Origin    string    // the log the records are for; may be empty
	Rand      io.Reader // randomness for the letter ID and salts; nil means crypto/rand
}

// A Sealed letter: what Seal made besides the payload.
type Sealed struct {
	Tag      *SignedTag
	Header   *SignedHeader
	Sections []Section // with their salts
}

// ReplyThread returns the thread of a reply to the pouch tag: the thread of
// the pouch replied to, or that pouch's own ID if it started the thread.
func ReplyThread(to *SignedTag) *record.ID {
	if to.Tag.Thread != nil {
		t := *to.Tag.Thread
		return &t
	}
	id := to.PouchID()
	return &id
}

// Seal seals a letter: it signs the header, writes the payload — a plain
// age file to every reader — to w, and signs the tag over it. Nothing is
// signed before the payload is complete; if Seal fails, what was written
// to w must be discarded.
//
// SPEC: spec/letter.md#sealing
func Seal(w io.Writer, req *SealRequest) (*Sealed, error) {
	if req.Author == nil || req.To == nil {
		return nil, errors.New("seal: an author and an addressee are needed")
	}
	if err := checkSections(req.Sections); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	// The limits are checked before any attachment is read.
	if err := CheckAttachments(req.Attach, record.MaxAttachmentsSize); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	tm := req.Time
	if tm == 0 {
		tm = record.Now()
	}

	// Readers: the addressee, the extra readers and the author, once each,
	// sorted by handle.
	type reader struct {
		pub *keys.Public
		r   age.Recipient
	}
	byHandle := map[record.Handle]reader{req.Author.Handle: {r: req.Author.Recipient()}}
	for _, p := range append([]*keys.Public{req.To}, req.Readers...) {
		if q, ok := byHandle[p.Handle]; ok {
			if q.pub == nil && p.Age != req.Author.Recipient().String() || q.pub != nil && !q.pub.Equal(p) {
				return nil, fmt.Errorf("seal: two different keys given for %s", p.Handle)
			}
			continue
		}
		r, err := p.Recipient()
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		byHandle[p.Handle] = reader{pub: p, r: r}
	}
	if len(byHandle) > record.MaxReaders {
		return nil, fmt.Errorf("seal: %d readers: %w (limit %d)", len(byHandle), record.ErrTooLarge, record.MaxReaders)
	}
	handles := make([]record.Handle, 0, len(byHandle))
	for h := range byHandle {
		handles = append(handles, h)
	}
	slices.Sort(handles)
	recipients := make([]age.Recipient, len(handles))
	for i, h := range handles {
		recipients[i] = byHandle[h].r
	}

	// Sections with fresh salts, and their commitments.
	sections := slices.Clone(req.Sections)
	rnd := randReader(req.Rand)
	idb, err := randBytes(rnd, record.LetterIDSize)
	if err != nil {
		return nil, err
	}
	h := &Header{From: req.Author.Handle, To: req.To.Handle, Thread: req.Thread, Readers: handles}
	copy(h.ID[:], idb)
	for i := range sections {
		if sections[i].Salt, err = randBytes(rnd, record.SectionSaltSize); err != nil {
			return nil, err
		}
		c, err := Commit(i, &sections[i])
		if err != nil {
			return nil, err
		}
		h.Sections = append(h.Sections, c)
	}

	// Attachments are committed by their SHA-256 before anything is
	// encrypted, since the header comes first in the payload.
	var buf []byte
	if len(req.Attach) > 0 {
		buf = make([]byte, 64<<10)
	}
	for _, a := range req.Attach {
		// Nothing else can run until the header is signed, yet reading
		// a large attachment can overlap hashing it.
		d := newStreamHasher()
		_, err := d.readFrom(io.NewSectionReader(a.Content, 0, a.Size), a.Size, buf)
		sum, _ := d.sum()
		if err != nil {
			return nil, fmt.Errorf("seal: reading attachment %q: %w", a.Name, err)
		}
		h.Attachments = append(h.Attachments, AttachmentRef{Name: a.Name, Size: uint64(a.Size), SHA256: sum[:]})
	}
	for i, ref := range h.Attachments {
		if slices.ContainsFunc(h.Attachments[:i], func(x AttachmentRef) bool { return x.Name == ref.Name }) {
			return nil, fmt.Errorf("seal: two attachments named %q", ref.Name)
		}
	}

	hs, err := SignHeader(h, req.Author.Signing, tm, req.Origin)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	head, err := record.Marshal(payloadHead{Header: hs.Marshal(), Sections: sections})
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if len(head) > record.MaxPouchHead {
		return nil, fmt.Errorf("seal: letter of %d bytes: %w", len(head), record.ErrTooLarge)
	}

	// The payload: the age file, hashed as it is written.
	hasher := newStreamHasher()
	aw, err := age.Encrypt(&hashingWriter{w: w, s: hasher}, recipients...)
	if err != nil {
		hasher.sum()
		return nil, fmt.Errorf("seal: %w", err)
	}
	err = writePlaintext(aw, head, req.Attach, buf)
	if err == nil {
		err = aw.Close()
	}
	digest, size := hasher.sum()
	if err != nil {
		return nil, fmt.Errorf("seal: writing the payload: %w", err)
	}

	tag := &Tag{ID: h.ID, From: h.From, To: h.To, Via: req.Via, Thread: req.Thread, Payload: digest, Size: size,
		DeliverBy: req.DeliverBy, Consent: req.Consent, Access: req.Access}
	salt, err := randBytes(rnd, record.SaltSize)
	if err != nil {
		return nil, err
	}
	ts, err := SignTag(tag, req.Author.Signing, salt, tm, req.Origin)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	// Both records were just signed over values checked above: decode
	// them for the caller without verifying the signatures again.
	_, hr, err := record.Parse(hs.Marshal())
	if err != nil {
		return nil, err
	}
	_, tr, err := record.Parse(ts.Marshal())
	if err != nil {
		return nil, err
	}
	sh := &SignedHeader{Signed: hs, Record: hr, Header: h}
	st := &SignedTag{Signed: ts, Record: tr, Tag: tag}
	return &Sealed{Tag: st, Header: sh, Sections: sections}, nil
}

// CheckAttachments checks the number of attachments and their total size
// against limit (at most record.MaxAttachmentsSize; a deployment may set a
// lower one), as Seal does before it reads any: a letter within them seals
// into a payload that every path accepts (spec/letter.md#limits). Errors
// wrap record.ErrTooLarge.
//
// SPEC: spec/letter.md#limits
func CheckAttachments(attach []Attachment, limit int64) error {
	limit = min(limit, record.MaxAttachmentsSize)
	if len(attach) > record.MaxAttachments {
		return fmt.Errorf("%d attachments: %w (limit %d)", len(attach), record.ErrTooLarge, record.MaxAttachments)
	}
	var total int64
	for _, a := range attach {
		if a.Size < 0 {
			return fmt.Errorf("attachment %q: negative size", a.Name)
		}
		total += min(a.Size, record.MaxAttachmentsSize+1)
	}
	if total > limit {
		return &AttachmentsSizeError{Size: total, Limit: limit}
	}
	return nil
}

// An AttachmentsSizeError is a letter whose attachments hold more bytes
// together than a limit allows. It wraps record.ErrTooLarge.
type AttachmentsSizeError struct {
	Size, Limit int64
}

func (e *AttachmentsSizeError) Error() string {
	return fmt.Sprintf("attachments of %s: %v (the limit is %s for all of a letter's attachments together)", Bytes(e.Size), record.ErrTooLarge, Bytes(e.Limit))
}

// Unwrap returns record.ErrTooLarge.
func (e *AttachmentsSizeError) Unwrap() error { return record.ErrTooLarge }

// Bytes writes a size for people: "1.5 GiB", "512 KiB", "300 bytes".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	v, u := float64(n), 0
	for v >= unit && u < 4 {
		v /= unit
		u++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + [...]string{"", "KiB", "MiB", "GiB", "TiB"}[u]
}

// payloadHead is the first item of a payload's plaintext.
//
// SPEC: spec/letter.md#payload
type payloadHead struct {
	Header   []byte    `cbor:"header"` // the signed letter header
	Sections []Section `cbor:"sections"`
}

func writePlaintext(w io.Writer, head []byte, attach []Attachment, buf []byte) error {
	if _, err := w.Write(head); err != nil {
		return err
	}
	for _, a := range attach {
		if _, err := w.Write(record.AppendCBORHead(nil, majorBytes, uint64(a.Size))); err != nil {
			return err
		}
		n, err := io.CopyBuffer(w, io.NewSectionReader(a.Content, 0, a.Size), buf)
		if err != nil {
			return err
		}
		if n != a.Size {
			return fmt.Errorf("attachment %q changed size while it was sealed", a.Name)
		}
	}
	return nil
}

// An Opened letter.
type Opened struct {
	Header      *SignedHeader
	Sections    []Section // with their salts
	Attachments []OpenedAttachment
}

// An OpenedAttachment is an attachment read into memory.
type OpenedAttachment struct {
	AttachmentRef
	Data []byte
}

// SaveFunc receives an attachment's content while a payload is opened. The
// content is checked against the header's SHA-256 only once r is drained,
// so a SaveFunc must not act on it before Open returns without error.
type SaveFunc func(ref AttachmentRef, r io.Reader) error

// ErrNotSealedToYou is returned when a payload is not sealed to the
// identity given.
var ErrNotSealedToYou = errors.New("not sealed to you")

// MaxInMemoryAttachments is the most attachment bytes Open reads into
// memory when no SaveFunc is given.
const MaxInMemoryAttachments = 256 << 20

// Open decrypts a payload with the identity of principal me, verifies the
// author's signature on the header and every section and attachment
// against it. Attachments go to save, or into memory if save is nil.
//
// A payload whose age header holds any stanza that is not hybrid
// post-quantum is refused before anything is unwrapped, with a
// *StanzaError (ErrNotPostQuantum): see CheckRecipients.
//
// Open does not check the tag: OpenPouch does, for a payload that came in
// a pouch.
func Open(payload io.Reader, me *keys.Principal, save SaveFunc) (*Opened, error) {
	return open(payload, me, save, nil)
}

func open(payload io.Reader, me *keys.Principal, save SaveFunc, check func(*SignedHeader) error) (*Opened, error) {
	// SPEC: spec/letter.md#post-quantum-only
	ar, err := age.Decrypt(payload, pqOnly{me.Sealing})
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.Is(err, ErrNotPostQuantum) {
			return nil, err
		}
		if errors.As(err, &nm) {
			return nil, fmt.Errorf("%w (%s)", ErrNotSealedToYou, me.Handle)
		}
		return nil, fmt.Errorf("decrypting the payload: %w", err)
	}
	return readPlaintext(bufio.NewReaderSize(ar, 16<<10), me.Handle, save, check)
}

func readPlaintext(r *bufio.Reader, me record.Handle, save SaveFunc, check func(*SignedHeader) error) (*Opened, error) {
	item, err := readItem(r, record.MaxPouchHead)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformedLetter, err)
	}
	var ph payloadHead
	if err := record.Unmarshal(item, &ph); err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformedLetter, err)
	}
	hs, err := VerifyHeader(ph.Header)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(hs); err != nil {
			return nil, err
		}
	}
	if err := checkSections(ph.Sections); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedLetter, err)
	}
	if err := hs.Header.CheckSections(ph.Sections); err != nil {
		return nil, err
	}
	if me != "" && !slices.Contains(hs.Header.Readers, me) {
		return nil, fmt.Errorf("%w: %s opened a letter whose header does not list it as a reader", ErrMalformedLetter, me)
	}
	o := &Opened{Header: hs, Sections: ph.Sections}
	var inMemory uint64
	for _, ref := range hs.Header.Attachments {
		n, err := readBytesHead(r)
		if err != nil {
			return nil, fmt.Errorf("%w: attachment %q: %w", ErrMalformedLetter, ref.Name, noEOF(err))
		}
		if n != ref.Size {
			return nil, fmt.Errorf("attachment %q: %d bytes, the header says %d: %w", ref.Name, n, ref.Size, ErrAttachment)
		}
		// The plaintext is hashed on its own goroutine, beside the
		// decryption on this one and the payload's hashing on a third.
		d := newStreamHasher()
		defer d.sum() // ends its goroutine if this attachment fails
		body := &attachmentReader{r: io.LimitReader(r, int64(n)), size: n, s: d}
		if save != nil {
			if err := save(ref, body); err != nil {
				return nil, fmt.Errorf("attachment %q: %w", ref.Name, err)
			}
			if _, err := io.Copy(io.Discard, body); err != nil {
				return nil, fmt.Errorf("attachment %q: %w", ref.Name, err)
			}
		} else {
			inMemory += n
			if inMemory > MaxInMemoryAttachments {
				return nil, fmt.Errorf("attachments of more than %d bytes: %w (save them to files)", MaxInMemoryAttachments, record.ErrTooLarge)
			}
			data := make([]byte, n)
			if _, err := io.ReadFull(body, data); err != nil {
				return nil, fmt.Errorf("attachment %q: %w", ref.Name, noEOF(err))
			}
			o.Attachments = append(o.Attachments, OpenedAttachment{AttachmentRef: ref, Data: data})
		}
		if got, _ := d.sum(); string(got[:]) != string(ref.SHA256) {
			return nil, fmt.Errorf("attachment %q: %w", ref.Name, ErrAttachment)
		}
	}
	if err := expectEOF(r); err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformedLetter, err)
	}
	return o, nil
}
