package server

import (
	"time"

	"pouch.dev/directory"
	"pouch.dev/record"
)

// The JSON shapes of the API's answers. Field names are stable (v1).

// RecordView is a stored record with its place in the log.
type RecordView struct {
	ID          record.ID   `json:"id"`
	Kind        record.Kind `json:"kind"`
	Index       uint64      `json:"index"`
	Time        time.Time   `json:"time"`
	Public      bool        `json:"public"`
	PublishedBy *record.ID  `json:"published_by,omitempty"` // the publish record that made a private record public
	Signed      []byte      `json:"signed"`                 // the encoded record.Signed (base64 in JSON)
}

// HopView is one accepted custody record of a pouch.
type HopView struct {
	ID       record.ID     `json:"id"`
	By       record.Handle `json:"by"`
	As       record.Handle `json:"as"` // the envoy carried for, or the addressee delivered for
	Delivery bool          `json:"delivery"`
	Index    uint64        `json:"index"`
	Time     time.Time     `json:"time"`
}

// PouchView is a pouch's tag and custody so far.
type PouchView struct {
	ID        record.ID       `json:"id"`
	From      record.Handle   `json:"from"`
	To        record.Handle   `json:"to"`
	Via       []record.Handle `json:"via,omitempty"`
	Letter    string          `json:"letter"` // the letter's ID, as in its signed header
	Thread    *record.ID      `json:"thread,omitempty"`
	Size      uint64          `json:"size"` // the sealed payload's size
	Index     uint64          `json:"index"`
	Time      time.Time       `json:"time"`
	Custody   []HopView       `json:"custody"`
	Delivered bool            `json:"delivered"`
	// Next names whom the pouch awaits: the next envoy, or the addressee
	// (or its receive delegates) for delivery. Empty once delivered.
	Next record.Handle `json:"next,omitempty"`
}

// InboxItem is a pouch in a principal's inbox.
type InboxItem struct {
	PouchView
	Role     string `json:"role"`     // sender, addressee, delegate, envoy
	Awaiting bool   `json:"awaiting"` // the principal may take custody or delivery now
}

// KeyView is one admitted key of an office.
type KeyView struct {
	Handle       record.Handle `json:"handle"`
	Key          []byte        `json:"key"`
	Recipient    string        `json:"recipient"`
	Holder       string        `json:"holder,omitempty"`
	Admit        record.ID     `json:"admit"`
	Index        uint64        `json:"index"`
	Time         time.Time     `json:"time"`
	SupersededAt *uint64       `json:"superseded_at,omitempty"`
	RevokedAt    *uint64       `json:"revoked_at,omitempty"`
}

// PrincipalView is an office's current key and history.
type PrincipalView struct {
	Handle  record.Handle `json:"handle"`
	Current *KeyView      `json:"current,omitempty"`
	// HeldAt is the key that held the office at the index asked for with
	// ?index=N.
	HeldAt  *KeyView  `json:"held_at,omitempty"`
	History []KeyView `json:"history"`
}

// HouseView is a founded house.
type HouseView struct {
	House     string    `json:"house"`
	Name      string    `json:"name,omitempty"`
	Registrar []byte    `json:"registrar"`
	ID        record.ID `json:"id"`
	Index     uint64    `json:"index"`
	Time      time.Time `json:"time"`
}

// ReaderView is one principal a letter will be sealed to.
type ReaderView struct {
	Handle    record.Handle `json:"handle"`
	Key       []byte        `json:"key"` // Ed25519 public key
	Recipient string        `json:"recipient"`
	Role      string        `json:"role"`
	Grant     *record.ID    `json:"grant,omitempty"`
	NotAfter  *time.Time    `json:"not_after,omitempty"`
}

// SealView answers "whom must a letter from F to T be sealed to now".
type SealView struct {
	From    record.Handle `json:"from"`
	To      record.Handle `json:"to"`
	Readers []ReaderView  `json:"readers"`
}

// GrantView is a logged grant.
type GrantView struct {
	ID           record.ID           `json:"id"`
	From         record.Handle       `json:"from"`
	To           record.Handle       `json:"to"`
	Abilities    []directory.Ability `json:"abilities"`
	Counterparts []record.Handle     `json:"counterparts,omitempty"`
	Thread       *record.ID          `json:"thread,omitempty"`
	Purpose      string              `json:"purpose,omitempty"`
	NotBefore    *time.Time          `json:"not_before,omitempty"`
	NotAfter     *time.Time          `json:"not_after,omitempty"`
	Private      bool                `json:"private"`
	Index        uint64              `json:"index"`
	Time         time.Time           `json:"time"`
	RevokedAt    *uint64             `json:"revoked_at,omitempty"`
}

func keyView(e *directory.KeyEntry) KeyView {
	v := KeyView{Handle: e.Handle, Key: e.Key, Recipient: e.Recipient, Holder: e.Holder, Admit: e.ID, Index: e.Admitted.Index, Time: e.Admitted.Time}
	if e.Superseded != nil {
		v.SupersededAt = &e.Superseded.Index
	}
	if e.Revoked != nil {
		v.RevokedAt = &e.Revoked.Index
	}
	return v
}

func grantView(g *directory.GrantEntry) GrantView {
	v := GrantView{ID: g.ID, From: g.From, To: g.Grant.To, Abilities: g.Grant.Abilities, Counterparts: g.Grant.Counterparts,
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
func (p *pouchState) view() PouchView {
	v := PouchView{ID: p.ID, From: p.From, To: p.Tag.To, Via: p.Tag.Via, Letter: p.Tag.ID.String(), Thread: p.Tag.Thread, Size: p.Tag.Size,
		Index: p.Pos.Index, Time: p.Pos.Time, Custody: []HopView{}, Delivered: p.delivered()}
	for _, c := range p.Custody {
		v.Custody = append(v.Custody, HopView{ID: c.ID, By: c.Hop.By, As: c.Hop.As, Delivery: c.Hop.Delivery, Index: c.Pos.Index, Time: c.Pos.Time})
	}
	if !v.Delivered {
		if k := len(p.Hops); k < len(p.Tag.Via) {
			v.Next = p.Tag.Via[k]
		} else {
			v.Next = p.Tag.To
		}
	}
	return v
}
