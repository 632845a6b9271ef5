package letter

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"pouch.dev/keys"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// FileVersion is the .pouch file version this package writes and reads.
const FileVersion = 2

// A FileHead is the first item of a .pouch file: the tag, the custody
// records gathered so far and, to verify it offline against the log, the
// directory records its signatures rest on and the proofs that the log
// holds them.
//
// SPEC: spec/letter.md#pouch-file
type FileHead struct {
	V       uint64   `cbor:"v"`
	Tag     []byte   `cbor:"tag"`               // the signed tag record
	Custody [][]byte `cbor:"custody"`           // signed custody records, in order
	Records [][]byte `cbor:"records,omitempty"` // signed directory and call records, in log order
	Proofs  [][]byte `cbor:"proofs,omitempty"`  // C2SP tlog-proof texts, one per proven record
}

// ErrMalformedFile is wrapped by errors about a .pouch file's structure.
var ErrMalformedFile = errors.New("malformed .pouch file")

// FileRecordKinds are the kinds of record a .pouch file's records may
// hold: those the rules consult to check its tag and custody.
var FileRecordKinds = []record.Kind{record.KindGenesis, record.KindHouse, record.KindAdmit, record.KindKeyRevoke,
	record.KindGrant, record.KindGrantRevoke, record.KindLine}

// WriteFile writes a .pouch file: head, then the payload of size bytes
// read from payload, streamed.
func WriteFile(w io.Writer, head *FileHead, payload io.Reader, size uint64) error {
	b, err := EncodeFileHead(head, size)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	n, err := io.Copy(w, payload)
	if err != nil {
		return err
	}
	if uint64(n) != size {
		return fmt.Errorf("payload of %d bytes, expected %d", n, size)
	}
	return nil
}

// EncodeFileHead returns the start of a .pouch file whose payload is size
// bytes long: head, then the head of the payload's byte string. The
// payload's bytes follow it.
func EncodeFileHead(head *FileHead, size uint64) ([]byte, error) {
	head.V = FileVersion
	if head.Custody == nil {
		head.Custody = [][]byte{}
	}
	b, err := record.Marshal(head)
	if err != nil {
		return nil, err
	}
	if len(b) > record.MaxPouchHead {
		return nil, fmt.Errorf(".pouch head of %d bytes: %w", len(b), record.ErrTooLarge)
	}
	return record.AppendCBORHead(b, majorBytes, size), nil
}

// A File is an open .pouch file: its verified tag and custody records, its
// directory records, its proofs, and a reader positioned at the start of
// the payload.
type File struct {
	Head    *FileHead
	Tag     *SignedTag
	Custody []*SignedCustody
	// Records are the directory and call records the file carries, their
	// signatures verified; each has a proof in Proofs.
	Records []*record.Signed
	// Proofs are the file's proofs, parsed, by the ID of the record each
	// proves; the leaf each proves (its extra data) names that record's
	// kind and privacy. They are not verified against any log here: see
	// client.VerifyFile.
	Proofs map[record.ID]*FileProof
	// Payload reads the payload: exactly Tag.Tag.Size bytes. Read it
	// through once; Finish then checks its digest and the file's end.
	Payload io.Reader

	r      *bufio.Reader
	hasher *streamHasher
}

// A FileProof is one proof of a .pouch file: a C2SP tlog-proof whose
// extra data is the leaf it proves.
type FileProof struct {
	*tlog.Proof
	Leaf record.Leaf
}

// ReadFile reads a .pouch file's head from r strictly and checks the
// signatures of its tag, custody and directory records, and the structure
// of its proofs: each is a strict C2SP tlog-proof, its extra data the leaf
// of one record of the file, all against one checkpoint. The payload is
// not read: read it from f.Payload (or pass f to OpenPouch), then call
// f.Finish.
//
// The custody chain is not checked against the route here (see
// ledger.CheckRoute), nor the proofs against a log (client.VerifyFile).
func ReadFile(r io.Reader) (*File, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 16<<10)
	}
	item, err := readItem(br, record.MaxPouchHead)
	if err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: empty", ErrMalformedFile)
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformedFile, err)
	}
	var h FileHead
	if err := record.Unmarshal(item, &h); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedFile, err)
	}
	if h.V != FileVersion {
		return nil, fmt.Errorf("%w: version %d (this pouch reads version %d; fetch or seal it again)", ErrMalformedFile, h.V, FileVersion)
	}
	if h.Custody == nil {
		return nil, fmt.Errorf("%w: custody is not an array", ErrMalformedFile)
	}
	if len(h.Custody) > record.MaxCustody || len(h.Records) > record.MaxFileRecords || len(h.Proofs) > record.MaxProofs {
		return nil, fmt.Errorf("%w: %d custody records, %d records and %d proofs: %w", ErrMalformedFile,
			len(h.Custody), len(h.Records), len(h.Proofs), record.ErrTooLarge)
	}
	tag, err := VerifyTag(h.Tag)
	if err != nil {
		return nil, err
	}
	f := &File{Head: &h, Tag: tag, r: br}
	kinds := map[record.ID]record.Kind{tag.PouchID(): record.KindTag}
	private := map[record.ID]bool{tag.PouchID(): tag.Record.Private()}
	for i, c := range h.Custody {
		sc, err := VerifyCustody(c)
		if err != nil {
			return nil, fmt.Errorf("custody record %d: %w", i+1, err)
		}
		f.Custody = append(f.Custody, sc)
		kinds[sc.Signed.ID()], private[sc.Signed.ID()] = record.KindCustody, sc.Record.Private()
	}
	for i, b := range h.Records {
		s, rec, err := record.Verify(b)
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %w", ErrMalformedFile, i+1, err)
		}
		if !slices.Contains(FileRecordKinds, rec.Kind) {
			return nil, fmt.Errorf("%w: record %d is a %s record, which a .pouch file does not carry", ErrMalformedFile, i+1, rec.Kind)
		}
		if _, dup := kinds[s.ID()]; dup {
			return nil, fmt.Errorf("%w: record %s twice", ErrMalformedFile, s.ID().Short())
		}
		kinds[s.ID()], private[s.ID()] = rec.Kind, rec.Private()
		f.Records = append(f.Records, s)
	}
	if err := f.readProofs(kinds, private); err != nil {
		return nil, err
	}
	n, err := readBytesHead(br)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformedFile, noEOF(err))
	}
	if n != tag.Tag.Size {
		return nil, fmt.Errorf("%w: %d bytes, the tag says %d", ErrPayload, n, tag.Tag.Size)
	}
	f.hasher = newStreamHasher()
	f.Payload = &hashingReader{r: io.LimitReader(br, int64(n)), s: f.hasher}
	return f, nil
}

// readProofs parses the head's proofs and matches each to the record whose
// leaf it carries.
//
// SPEC: spec/letter.md#pouch-file
func (f *File) readProofs(kinds map[record.ID]record.Kind, private map[record.ID]bool) error {
	ps, err := ParseProofs(f.Head.Proofs, kinds, private, ErrMalformedFile)
	if err != nil {
		return err
	}
	f.Proofs = ps
	for _, s := range f.Records {
		if f.Proofs[s.ID()] == nil {
			return fmt.Errorf("%w: record %s has no proof", ErrMalformedFile, s.ID().Short())
		}
	}
	return nil
}

// ParseProofs parses the proofs of a .pouch file or an evidence bundle
// (one format, spec/letter.md#proofs): each a strict C2SP tlog-proof of at
// most record.MaxProofSize bytes whose extra data is, in canonical form,
// the leaf of one record the file carries (kinds and private give each
// record's kind and privacy, by ID), with that record's kind and privacy;
// no record proven twice; every proof against one checkpoint. Errors
// wrap malformed. The proofs are not verified against any log here.
//
// SPEC: spec/letter.md#proofs
func ParseProofs(proofs [][]byte, kinds map[record.ID]record.Kind, private map[record.ID]bool, malformed error) (map[record.ID]*FileProof, error) {
	out := map[record.ID]*FileProof{}
	var checkpoint []byte
	for i, b := range proofs {
		if len(b) > record.MaxProofSize {
			return nil, fmt.Errorf("%w: proof %d of %d bytes: %w", malformed, i+1, len(b), record.ErrTooLarge)
		}
		p, err := tlog.ParseProof(b)
		if err != nil {
			return nil, fmt.Errorf("%w: proof %d: %w", malformed, i+1, err)
		}
		if p.Extra == nil {
			return nil, fmt.Errorf("%w: proof %d carries no leaf in its extra data", malformed, i+1)
		}
		l, err := record.ParseLeaf(p.Extra)
		if err != nil {
			return nil, fmt.Errorf("%w: proof %d: %w", malformed, i+1, err)
		}
		if !bytes.Equal(p.Extra, record.LeafData(l)) {
			return nil, fmt.Errorf("%w: proof %d: its leaf is not in canonical form", malformed, i+1)
		}
		k, ok := kinds[l.ID]
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: proof %d is for record %s, which the file does not carry", malformed, i+1, l.ID.Short())
		case k != l.Kind || private[l.ID] != l.Private:
			return nil, fmt.Errorf("%w: proof %d is for a leaf of kind %s (private %v), record %s is a %s record (private %v)",
				malformed, i+1, l.Kind, l.Private, l.ID.Short(), k, private[l.ID])
		case out[l.ID] != nil:
			return nil, fmt.Errorf("%w: two proofs for record %s", malformed, l.ID.Short())
		case checkpoint != nil && !bytes.Equal(p.Checkpoint, checkpoint):
			return nil, fmt.Errorf("%w: proof %d is against another checkpoint than proof 1", malformed, i+1)
		}
		checkpoint = p.Checkpoint
		out[l.ID] = &FileProof{Proof: p, Leaf: l}
	}
	return out, nil
}

// Finish reads what is left of the payload, checks its SHA-256 and size
// against the tag and that nothing follows it.
func (f *File) Finish() error {
	if f.hasher == nil {
		return errors.New("letter: File.Finish called twice")
	}
	_, err := io.Copy(io.Discard, f.Payload)
	d, n := f.hasher.sum()
	f.hasher = nil
	if err != nil {
		return fmt.Errorf("reading the payload: %w", err)
	}
	if err := f.Tag.Tag.CheckPayload(d, n); err != nil {
		return err
	}
	if err := expectEOF(f.r); err != nil {
		return fmt.Errorf("%w: after the payload: %w", ErrMalformedFile, err)
	}
	return nil
}

// Close releases the hashing goroutine of a File that is abandoned before
// Finish.
func (f *File) Close() {
	if f.hasher != nil {
		f.hasher.sum()
		f.hasher = nil
	}
}

// NotSealedError says that a pouch is not sealed to the principal trying to
// open it, and what that principal is to the pouch.
type NotSealedError struct {
	Me   record.Handle
	Tag  *Tag
	Role string // "a carrier", "the sender", "the addressee" or ""
}

func (e *NotSealedError) Error() string {
	s := fmt.Sprintf("this pouch is not sealed to %s (it is addressed to %s", e.Me, e.Tag.To)
	switch e.Role {
	case "":
		s += "; you are not on its route)"
	case "a carrier":
		s += "; you are on its route as a carrier)"
	default:
		s += "; you are " + e.Role + ", yet not among its readers)"
	}
	return s
}

// Unwrap returns ErrNotSealedToYou.
func (e *NotSealedError) Unwrap() error { return ErrNotSealedToYou }

// OpenPouch opens a pouch read with ReadFile as principal me: it decrypts
// and checks the letter (see Open), checks the header against the tag, and
// the payload against the tag's digest. Custody is not checked here.
func OpenPouch(f *File, me *keys.Principal, save SaveFunc) (*Opened, error) {
	defer f.Close()
	o, err := open(f.Payload, me, save, f.Tag.CheckHeader)
	if errors.Is(err, ErrNotSealedToYou) {
		e := &NotSealedError{Me: me.Handle, Tag: f.Tag.Tag}
		switch {
		case slices.Contains(f.Tag.Tag.Via, me.Handle):
			e.Role = "a carrier"
		case me.Handle == f.Tag.Tag.To:
			e.Role = "the addressee"
		case me.Handle == f.Tag.Tag.From:
			e.Role = "the sender"
		}
		return nil, e
	}
	// The payload's digest is checked even when decryption failed: a
	// changed byte is best reported as such.
	if ferr := f.Finish(); ferr != nil {
		return nil, ferr
	}
	if err != nil {
		return nil, err
	}
	return o, nil
}

// Rewrite writes f to w with its custody records followed by more, and
// its payload, checking the payload's digest on the way. It is how a
// holder adds its custody record to a .pouch file. f must be fresh from
// ReadFile; Rewrite consumes its payload.
func Rewrite(w io.Writer, f *File, more ...*record.Signed) error {
	head := *f.Head
	head.Custody = slices.Clone(head.Custody)
	for _, c := range more {
		if _, err := VerifyCustody(c.Marshal()); err != nil {
			return err
		}
		head.Custody = append(head.Custody, c.Marshal())
	}
	if len(head.Custody) > record.MaxCustody {
		return fmt.Errorf("%d custody records: %w (limit %d)", len(head.Custody), record.ErrTooLarge, record.MaxCustody)
	}
	if err := WriteFile(w, &head, f.Payload, f.Tag.Tag.Size); err != nil {
		return err
	}
	return f.Finish()
}
