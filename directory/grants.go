package directory

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"pouch.dev/record"
)

// SPEC: spec/directory.md#grant-validity
func (g *GrantEntry) validAt(pos Pos) error {
	e := &GrantError{Grantee: g.Grant.To, Grantor: g.From, Grant: g.ID}
	switch {
	case pos.Index <= g.Pos.Index:
		e.Reason, e.Detail = ErrGrantNotYet, fmt.Sprintf("it is logged only at index %d", g.Pos.Index)
		e.At = g.Pos.Time
	case g.Revoked != nil && g.Revoked.Index <= pos.Index:
		e.Reason, e.Index = ErrGrantRevoked, g.Revoked.Index
	case g.Grant.NotBefore != 0 && pos.Time.UnixMilli() < g.Grant.NotBefore:
		e.Reason, e.At = ErrGrantNotYet, time.UnixMilli(g.Grant.NotBefore)
	case g.Grant.NotAfter != 0 && pos.Time.UnixMilli() >= g.Grant.NotAfter:
		e.Reason, e.At = ErrGrantExpired, time.UnixMilli(g.Grant.NotAfter)
	default:
		return nil
	}
	return e
}

// covers reports whether g's scope includes counterpart and one of ids.
func (g *GrantEntry) covers(counterpart record.Handle, ids []record.ID) error {
	if len(g.Grant.Counterparts) > 0 && counterpart != "" && !slices.Contains(g.Grant.Counterparts, counterpart) {
		return &GrantError{Grantee: g.Grant.To, Grantor: g.From, Grant: g.ID, Reason: ErrGrantScope,
			Detail: fmt.Sprintf("it covers only %v, not %s", g.Grant.Counterparts, counterpart)}
	}
	if g.Grant.Thread != nil && !slices.Contains(ids, *g.Grant.Thread) {
		return &GrantError{Grantee: g.Grant.To, Grantor: g.From, Grant: g.ID, Reason: ErrGrantScope,
			Detail: fmt.Sprintf("it covers only thread %s", g.Grant.Thread.Short())}
	}
	return nil
}

// find returns a grant from grantor to grantee with ability a that is valid
// at pos and covers counterpart and one of ids; or the error that best
// explains why there is none (the one of the most recent candidate).
func (d *Directory) find(grantee, grantor record.Handle, a Ability, counterpart record.Handle, ids []record.ID, pos Pos) (*GrantEntry, error) {
	var last error
	for _, g := range d.granted[grantee] {
		if g.From != grantor || !g.Grant.Has(a) {
			continue
		}
		if err := g.validAt(pos); err != nil {
			if g.Pos.Index < pos.Index {
				last = err
			}
			continue
		}
		if err := g.covers(counterpart, ids); err != nil {
			last = err
			continue
		}
		return g, nil
	}
	if last != nil {
		if ge, ok := last.(*GrantError); ok {
			ge.Ability = a
		}
		return nil, last
	}
	return nil, &GrantError{Grantee: grantee, Grantor: grantor, Ability: a, Reason: ErrNoGrant}
}

// MayReceive reports whether p may open and sign delivery of a letter to
// addressee from sender, in the threads ids (the pouch's ID and its
// thread's root), at pos. It returns the grant relied upon, or nil when p is
// the addressee.
//
// SPEC: spec/directory.md#grant
func (d *Directory) MayReceive(p, addressee, sender record.Handle, ids []record.ID, pos Pos) (*GrantEntry, error) {
	if p == addressee {
		return nil, nil
	}
	return d.find(p, addressee, Receive, sender, ids, pos)
}

// MayCarry reports whether p may take custody in place of envoy on a pouch
// from sender, at pos.
//
// SPEC: spec/directory.md#grant
func (d *Directory) MayCarry(p, envoy, sender record.Handle, ids []record.ID, pos Pos) (*GrantEntry, error) {
	if p == envoy {
		return nil, nil
	}
	return d.find(p, envoy, Carry, sender, ids, pos)
}

// MayDisclose reports whether p may disclose sections of a letter by
// author, at pos, judged by what the letter's signed header carries: its
// letter ID, and its thread (the thread's first pouch) if it is a reply. A
// disclose grant scoped to a letter covers that letter; one scoped to a
// thread covers the replies in that thread. Nothing a discloser merely
// claims (such as the pouch the letter came in) widens it.
//
// SPEC: spec/directory.md#grant
func (d *Directory) MayDisclose(p, author record.Handle, letter []byte, thread *record.ID, pos Pos) (*GrantEntry, error) {
	if p == author {
		return nil, nil
	}
	var last error
	for _, g := range d.granted[p] {
		if g.From != author || !g.Grant.Has(Disclose) {
			continue
		}
		if err := g.validAt(pos); err != nil {
			if g.Pos.Index < pos.Index {
				last = err
			}
			continue
		}
		if err := g.coversLetter(letter, thread); err != nil {
			last = err
			continue
		}
		return g, nil
	}
	if ge, ok := last.(*GrantError); ok {
		ge.Ability = Disclose
		return nil, ge
	}
	return nil, &GrantError{Grantee: p, Grantor: author, Ability: Disclose, Reason: ErrNoGrant}
}

// coversLetter reports whether a disclose grant's scope includes the
// letter with ID letter in thread (nil for a thread's first letter).
func (g *GrantEntry) coversLetter(letter []byte, thread *record.ID) error {
	e := &GrantError{Grantee: g.Grant.To, Grantor: g.From, Grant: g.ID, Reason: ErrGrantScope}
	if g.Grant.Letter != nil && !bytes.Equal(g.Grant.Letter, letter) {
		e.Detail = fmt.Sprintf("it covers only letter %x", g.Grant.Letter)
		return e
	}
	if g.Grant.Thread != nil && (thread == nil || *thread != *g.Grant.Thread) {
		e.Detail = fmt.Sprintf("it covers only the replies in thread %s", g.Grant.Thread.Short())
		return e
	}
	return nil
}

// A Reader is one principal a letter is sealed to, with why.
type Reader struct {
	Handle    record.Handle
	Recipient string
	Key       *KeyEntry
	Grant     *GrantEntry // the receive grant, for a delegate
	Role      string      // "addressee", "delegate", "author" or "reader"
}

// ReceiveDelegates returns the principals holding a receive grant from
// addressee valid at pos for letters from sender in threads ids, with
// their current keys, ordered by handle.
func (d *Directory) ReceiveDelegates(addressee, sender record.Handle, ids []record.ID, pos Pos) []Reader {
	var rs []Reader
	seen := map[record.Handle]bool{}
	for _, g := range d.grantor[addressee] {
		if !g.Grant.Has(Receive) || seen[g.Grant.To] {
			continue
		}
		if g.validAt(pos) != nil || g.covers(sender, ids) != nil {
			continue
		}
		k, err := d.KeyAt(g.Grant.To, pos.Index)
		if err != nil {
			continue
		}
		seen[g.Grant.To] = true
		rs = append(rs, Reader{Handle: g.Grant.To, Recipient: k.Recipient, Key: k, Grant: g, Role: "delegate"})
	}
	slices.SortFunc(rs, func(a, b Reader) int {
		if a.Handle < b.Handle {
			return -1
		}
		if a.Handle > b.Handle {
			return 1
		}
		return 0
	})
	return rs
}

// SealTo returns whom a letter from sender to addressee must be sealed to
// at pos: the addressee and its current receive delegates for that sender
// and thread. The author and any extra readers are the sender's choice and
// are added by the caller.
//
// SPEC: spec/directory.md#seal-to
func (d *Directory) SealTo(addressee, sender record.Handle, ids []record.ID, pos Pos) ([]Reader, error) {
	k, err := d.KeyAt(addressee, pos.Index)
	if err != nil {
		return nil, fmt.Errorf("addressee: %w", err)
	}
	rs := []Reader{{Handle: addressee, Recipient: k.Recipient, Key: k, Role: "addressee"}}
	return append(rs, d.ReceiveDelegates(addressee, sender, ids, pos)...), nil
}
