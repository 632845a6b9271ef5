package server

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"slices"

	"pouch.dev/directory"
	"pouch.dev/letter"
	"pouch.dev/line"
	"pouch.dev/record"
)

// The secure line: the relay at GET /v1/line (package line), checking
// principals against the correspondence API's directory, and the rules for
// call records (record.KindLine) and for custody records that cite one.
//
// SPEC: spec/line.md

// The server's rules for call records: both signatures, a well-formed
// body, indexed under the pouches handed over. Readable by the two
// participants (the signers).
//
// SPEC: spec/line.md#call-record
func init() {
	RegisterKind(record.KindLine, KindRules{
		Check: func(_ *directory.Directory, s *record.Signed, r *record.Record, _ directory.Pos) error {
			if _, err := line.CheckCall(s, r); err != nil {
				return fmt.Errorf("%w: %w", record.ErrMalformedRecord, err)
			}
			return nil
		},
		Refs: func(r *record.Record) []record.ID {
			var b line.CallBody
			if r.DecodeBody(&b) != nil {
				return nil
			}
			ids := make([]record.ID, 0, len(b.Pouches))
			for _, h := range b.Pouches {
				if len(h.ID) == len(record.ID{}) {
					ids = append(ids, record.ID(h.ID))
				}
			}
			return ids
		},
	})
}

// CurrentKey returns the current signing key of office h, as the directory
// stands now: it makes the Correspondence a line.Directory. The error is a
// *directory.KeyError wrapping directory.ErrUnknownPrincipal or
// directory.ErrKeyRevoked when h has no current key.
func (c *Correspondence) CurrentKey(_ context.Context, h record.Handle) (ed25519.PublicKey, error) {
	c.dirMu.RLock()
	defer c.dirMu.RUnlock()
	e, err := c.dir.CurrentKey(h, c.dir.Next())
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(e.Key), nil
}

// newLineRelay returns the relay the API mounts at GET /v1/line.
func (c *Correspondence) newLineRelay() *line.Relay {
	r := line.NewRelay(c, c.opt.Origin)
	r.Logger = c.log
	r.Tap = c.opt.LineTap
	r.OnClose = func(s line.Session) {
		c.log.Info("line closed", "a", s.A, "b", s.B, "took", s.Duration(), "bytes_ab", s.BytesAB, "bytes_ba", s.BytesBA)
		if c.opt.OnLineClose != nil {
			c.opt.OnLineClose(s)
		}
	}
	return r
}

// registerLine mounts the secure line relay.
//
// SPEC: spec/line.md#relay
func (c *Correspondence) registerLine(mux *http.ServeMux) {
	mux.Handle("GET /v1/line", c.newLineRelay())
}

// checkOverLine checks a custody record's over_line: it must name a call
// record in the log, between the signer and the one it received the pouch
// from, on which that one handed the pouch over.
//
// SPEC: spec/line.md#custody
func (c *Correspondence) checkOverLine(ctx context.Context, b *letter.Custody, by record.Handle) error {
	if b.OverLine == nil {
		return nil
	}
	id := *b.OverLine
	hint := "submit the call record (pouch line does) before the custody record that cites it"
	e, err := c.st.Get(ctx, id)
	if err != nil {
		return errorf(http.StatusForbidden, hint, "custody of pouch %s cites line %s, which is not in the log", b.Pouch.Short(), id.Short())
	}
	if e.Kind != record.KindLine {
		return errorf(http.StatusForbidden, "", "custody of pouch %s cites line %s, which is a %s record, not a call record", b.Pouch.Short(), id.Short(), e.Kind)
	}
	s, r, err := record.Parse(e.Signed)
	if err != nil {
		return err
	}
	call, err := line.CheckCall(s, r)
	if err != nil {
		return err
	}
	p := call.Body.Participants
	if !slices.Contains(p, by) || !slices.Contains(p, b.From) {
		return errorf(http.StatusForbidden, "", "custody of pouch %s by %s from %s cites a line between %s and %s", b.Pouch.Short(), by, b.From, p[0], p[1])
	}
	for _, h := range call.Body.Pouches {
		if len(h.ID) == len(record.ID{}) && record.ID(h.ID) == b.Pouch && h.From == b.From {
			return nil
		}
	}
	return errorf(http.StatusForbidden, "", "custody of pouch %s cites line %s, on which %s handed over no such pouch", b.Pouch.Short(), id.Short(), b.From)
}
