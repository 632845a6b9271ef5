package agreement

import (
	"fmt"
	"slices"

	"pouch.dev/record"
)

// Kinds lists the record kinds of this package: agreement, agreement-sign,
// agreement-withdraw, attest, statement and cosign.
var Kinds = []record.Kind{
	record.KindAgreement, record.KindAgreementSign, record.KindAgreementWithdraw, record.KindAttest,
	record.KindStatement, record.KindCosign,
}

// IsKind reports whether k is one of Kinds.
func IsKind(k record.Kind) bool { return slices.Contains(Kinds, k) }

// Target returns the agreement or statement that an action names: the
// agreement of an agreement-sign, agreement-withdraw or attest record, the
// statement of a cosign record. ok is false for other kinds and for
// bodies that do not decode.
func Target(r *record.Record) (id record.ID, ok bool) {
	var err error
	switch r.Kind {
	case record.KindAgreementSign:
		var b Sign
		err, id = r.DecodeBody(&b), b.Agreement
	case record.KindAgreementWithdraw:
		var b Withdraw
		err, id = r.DecodeBody(&b), b.Agreement
	case record.KindAttest:
		var b Attest
		err, id = r.DecodeBody(&b), b.Agreement
	case record.KindCosign:
		var b Cosign
		err, id = r.DecodeBody(&b), b.Statement
	default:
		return id, false
	}
	return id, err == nil
}

// Refs returns the records an agreement or statement record refers to, for
// a store's index by reference: its Target, if any.
func Refs(r *record.Record) []record.ID {
	if id, ok := Target(r); ok {
		return []record.ID{id}
	}
	return nil
}

// A Registry holds the timeline of every agreement and the roll of every
// statement of one log. A server keeps one, fed every record of Kinds in
// log order with Apply (at start, from its store; then as it sequences
// them), and calls Check before it sequences a new one. It does no I/O.
//
// A Registry is not safe for concurrent use.
type Registry struct {
	dir        Directory
	agreements map[record.ID]*Timeline
	statements map[record.ID]*Roll
	order      []record.ID // agreements and statements in log order
}

// NewRegistry returns an empty registry judging keys and authority with
// dir.
func NewRegistry(dir Directory) *Registry {
	return &Registry{dir: dir, agreements: map[record.ID]*Timeline{}, statements: map[record.ID]*Roll{}}
}

// Check reports whether the record e would be accepted next, without
// changing g. The error is a *Refusal.
func (g *Registry) Check(e Entry) error {
	_, err := g.prepare(e)
	return err
}

// Apply checks the record e and, if it is accepted, adds it. On refusal
// nothing changes and the error is a *Refusal.
func (g *Registry) Apply(e Entry) error {
	commit, err := g.prepare(e)
	if err != nil {
		return err
	}
	commit()
	return nil
}

func (g *Registry) prepare(e Entry) (func(), error) {
	if e.Signed == nil {
		return nil, &Refusal{Index: e.Index, Reason: ErrMalformed, Detail: "no record"}
	}
	id := e.Signed.ID()
	r, err := e.Signed.Open()
	if err != nil {
		return nil, &Refusal{ID: id, Index: e.Index, Reason: ErrMalformed, Detail: "cannot decode the record", Cause: err}
	}
	ref := refuser(r, id, e)
	if g.agreements[id] != nil || g.statements[id] != nil {
		return nil, ref(ErrReplayed, fmt.Sprintf("record %s is already in the log", id.Short()), nil)
	}
	switch r.Kind {
	case record.KindAgreement:
		t, err := New(g.dir, e)
		if err != nil {
			return nil, err
		}
		return func() { g.agreements[id] = t; g.order = append(g.order, id) }, nil
	case record.KindStatement:
		s, err := OpenStatement(g.dir, e)
		if err != nil {
			return nil, err
		}
		return func() { g.statements[id] = s; g.order = append(g.order, id) }, nil
	case record.KindAgreementSign, record.KindAgreementWithdraw, record.KindAttest:
		target, ok := Target(r)
		if !ok {
			var err error
			switch r.Kind {
			case record.KindAgreementSign:
				err = decodeBody(r, &Sign{})
			case record.KindAgreementWithdraw:
				err = decodeBody(r, &Withdraw{})
			default:
				err = decodeBody(r, &Attest{})
			}
			return nil, ref(ErrMalformed, "", err)
		}
		t := g.agreements[target]
		if t == nil {
			return nil, ref(ErrWrongAgreement, fmt.Sprintf("it names agreement %s, which is not in this log", target.Short()), nil)
		}
		return t.prepare(e)
	case record.KindCosign:
		target, ok := Target(r)
		if !ok {
			return nil, ref(ErrMalformed, "", decodeBody(r, &Cosign{}))
		}
		s := g.statements[target]
		if s == nil {
			return nil, ref(ErrWrongAgreement, fmt.Sprintf("it co-signs statement %s, which is not in this log", target.Short()), nil)
		}
		return s.prepare(e)
	}
	return nil, ref(ErrMalformed, fmt.Sprintf("a %s record is not an agreement or statement record", r.Kind), nil)
}

// Agreement returns the timeline of agreement id, or nil.
func (g *Registry) Agreement(id record.ID) *Timeline { return g.agreements[id] }

// Statement returns the roll of statement id, or nil.
func (g *Registry) Statement(id record.ID) *Roll { return g.statements[id] }

// Agreements returns the IDs of the agreements, in log order.
func (g *Registry) Agreements() []record.ID {
	var ids []record.ID
	for _, id := range g.order {
		if g.agreements[id] != nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// Statements returns the IDs of the statements, in log order.
func (g *Registry) Statements() []record.ID {
	var ids []record.ID
	for _, id := range g.order {
		if g.statements[id] != nil {
			ids = append(ids, id)
		}
	}
	return ids
}
