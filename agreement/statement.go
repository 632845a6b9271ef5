package agreement

import (
	"fmt"
	"sort"

	"pouch.dev/record"
)

// A Roll is the roll of signatories of a joint statement: the statement
// record and the co-signatures accepted on it, in log order. It is not
// safe for concurrent use.
type Roll struct {
	dir    Directory
	id     record.ID
	rec    *record.Record
	body   *Statement
	opened Entry
	next   uint64

	sigs     []Signatory
	by       map[record.Handle]int // index into sigs
	seen     map[record.ID]uint64
	rejected []*Refusal
}

// A Signatory is one accepted co-signature.
type Signatory struct {
	By    record.Handle `json:"by"`
	ID    record.ID     `json:"id"`    // the cosign record
	Index uint64        `json:"index"` // its log index
	Time  int64         `json:"time"`  // its sequencing time, Unix ms
}

// OpenStatement starts the roll of the statement recorded by e. It
// returns a *Refusal if e is not a valid statement record.
//
// SPEC: spec/agreement.md#statement
func OpenStatement(dir Directory, e Entry) (*Roll, error) {
	r, id, err := open(dir, e, "", record.KindStatement)
	if err != nil {
		return nil, err
	}
	var b Statement
	if err := decodeBody(r, &b); err != nil {
		return nil, refuser(r, id, e)(ErrMalformed, "", err)
	}
	return &Roll{
		dir: dir, id: id, rec: r, body: &b, opened: e, next: e.Index + 1,
		by:   map[record.Handle]int{},
		seen: map[record.ID]uint64{id: e.Index},
	}, nil
}

// ReplayStatement builds a statement's roll from its records in log
// order: entries[0] is the statement, the rest co-sign it. Refused
// co-signatures are skipped and listed by Rejected.
func ReplayStatement(dir Directory, entries []Entry) (*Roll, error) {
	if len(entries) == 0 {
		return nil, &Refusal{Reason: ErrMalformed, Detail: "no records: a statement's history starts with its statement record"}
	}
	r, err := OpenStatement(dir, entries[0])
	if err != nil {
		return nil, err
	}
	for _, e := range entries[1:] {
		if err := r.Apply(e); err != nil {
			r.rejected = append(r.rejected, err.(*Refusal))
		}
		if e.Index >= r.next {
			r.next = e.Index + 1
		}
	}
	return r, nil
}

// ID returns the statement's record ID.
func (r *Roll) ID() record.ID { return r.id }

// Statement returns the statement's body. The caller must not change it.
func (r *Roll) Statement() *Statement { return r.body }

// Opener returns the principal who opened the statement.
func (r *Roll) Opener() record.Handle { return r.rec.Signer() }

// Opened returns the statement record's log entry.
func (r *Roll) Opened() Entry { return r.opened }

// Rejected returns the refusals met by ReplayStatement, in log order.
func (r *Roll) Rejected() []*Refusal { return r.rejected }

// Count returns the number of accepted co-signatures.
func (r *Roll) Count() int { return len(r.sigs) }

// Signatories returns the accepted co-signatures in log order.
func (r *Roll) Signatories() []Signatory { return r.sigs }

// SignatoriesAt returns the co-signatures in a log of size n: those at a
// log index below n, as a client holding a checkpoint of size n sees them.
func (r *Roll) SignatoriesAt(n uint64) []Signatory {
	i := sort.Search(len(r.sigs), func(i int) bool { return r.sigs[i].Index >= n })
	return r.sigs[:i]
}

// Check reports whether the co-signature e would be accepted next,
// without changing r. The error is a *Refusal.
func (r *Roll) Check(e Entry) error {
	_, err := r.prepare(e)
	return err
}

// Apply checks the co-signature e and, if it is accepted, adds it to the
// roll. On refusal r is unchanged and the error is a *Refusal.
func (r *Roll) Apply(e Entry) error {
	commit, err := r.prepare(e)
	if err != nil {
		return err
	}
	commit()
	return nil
}

// SPEC: spec/agreement.md#cosign
func (r *Roll) prepare(e Entry) (func(), error) {
	rec, id, err := open(r.dir, e, r.rec.Origin, record.KindCosign)
	if err != nil {
		return nil, err
	}
	ref := refuser(rec, id, e)
	if at, ok := r.seen[id]; ok {
		return nil, ref(ErrReplayed, fmt.Sprintf("record %s is already in the log at index %d", id.Short(), at), nil)
	}
	if e.Index < r.next {
		return nil, ref(ErrOutOfOrder, fmt.Sprintf("log index %d comes before index %d, already applied", e.Index, r.next-1), nil)
	}
	var b Cosign
	if err := decodeBody(rec, &b); err != nil {
		return nil, ref(ErrMalformed, "", err)
	}
	if b.Statement != r.id {
		return nil, ref(ErrWrongAgreement, fmt.Sprintf("it co-signs statement %s, not %s", b.Statement.Short(), r.id.Short()), nil)
	}
	signer := rec.Signer()
	if i, ok := r.by[signer]; ok {
		return nil, ref(ErrAlreadyCosigned, fmt.Sprintf("%s already co-signed this statement (record %s, log index %d)", signer, r.sigs[i].ID.Short(), r.sigs[i].Index), nil)
	}
	if day := e.Date(); r.body.Closes != "" && day > r.body.Closes {
		return nil, ref(ErrClosed, fmt.Sprintf("the statement closed for co-signature after %s; this co-signature was logged on %s", r.body.Closes, day), nil)
	}
	return func() {
		r.by[signer] = len(r.sigs)
		r.sigs = append(r.sigs, Signatory{By: signer, ID: id, Index: e.Index, Time: e.Time})
		r.seen[id] = e.Index
		r.next = e.Index + 1
	}, nil
}
