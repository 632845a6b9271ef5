package server

import (
	"cmp"
	"slices"
	"time"

	"pouch.dev/api"
	"pouch.dev/directory"
	"pouch.dev/ledger"
)

// The JSON shapes of the API's answers. Field names are stable (v1).

func keyView(e *directory.KeyEntry) api.KeyView {
	v := api.KeyView{Handle: e.Handle, Key: e.Key, Recipient: e.Recipient, Holder: e.Holder, Admit: e.ID, Index: e.Admitted.Index, Time: e.Admitted.Time}
	if e.Superseded != nil {
		v.SupersededAt = &e.Superseded.Index
	}
	if e.Revoked != nil {
		v.RevokedAt = &e.Revoked.Index
	}
	return v
}

func grantView(g *directory.GrantEntry) api.GrantView {
	v := api.GrantView{ID: g.ID, From: g.From, To: g.Grant.To, Abilities: g.Grant.Abilities, Counterparts: g.Grant.Counterparts,
		Thread: g.Grant.Thread, Purpose: g.Grant.Purpose, Private: g.Private, Index: g.Pos.Index, Time: g.Pos.Time}
	if g.Grant.NotBefore != 0 {
		t := time.UnixMilli(g.Grant.NotBefore).UTC()
		v.NotBefore = &t
	}
	if g.Grant.NotAfter != 0 {
		t := time.UnixMilli(g.Grant.NotAfter).UTC()
		v.NotAfter = &t
	}
	if g.Revoked != nil {
		v.RevokedAt = &g.Revoked.Index
	}
	return v
}

// view returns p's view; the caller holds pmu for reading.
func (p *pouchState) view() api.PouchView {
	v := api.PouchView{ID: p.ID, From: p.From, To: p.Tag.To, Via: p.Tag.Via, Letter: p.Tag.ID.String(), Thread: p.Tag.Thread, Size: p.Tag.Size,
		Index: p.Pos.Index, Time: p.Pos.Time, Custody: []api.HopView{}, Delivered: p.Delivered()}
	for _, c := range p.Custody {
		v.Custody = append(v.Custody, api.HopView{ID: c.ID, By: c.Hop.By, As: c.Hop.As, Delivery: c.Hop.Delivery, Index: c.Pos.Index, Time: c.Pos.Time})
	}
	if dl, ok := p.Tag.Deadline(); ok {
		v.DeliverBy = &dl
	}
	v.Consent, v.Access = p.Tag.Consent, p.Tag.Access
	var evs []ledger.Event
	for _, e := range []*ledger.Event{p.Accepted, p.Refused, p.NonDelivery} {
		if e != nil {
			evs = append(evs, *e)
		}
	}
	evs = append(evs, p.Accessed...)
	slices.SortFunc(evs, func(a, b ledger.Event) int { return cmp.Compare(a.Pos.Index, b.Pos.Index) })
	for _, e := range evs {
		v.Events = append(v.Events, api.EventView{ID: e.ID, Kind: e.Kind, By: e.By, Reason: e.Reason, Index: e.Pos.Index, Time: e.Pos.Time})
	}
	switch {
	case v.Delivered:
		v.Outcome = "delivered"
	case p.NonDelivery != nil:
		v.Outcome, v.Reason = "not-delivered", p.NonDelivery.Reason
	case p.Refused != nil:
		v.Outcome, v.Reason = "refused", p.Refused.Reason
	default:
		v.Next, _ = p.Next()
	}
	return v
}
