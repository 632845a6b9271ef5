package server

import (
	"context"
	"crypto/ed25519"
	"fmt"

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
		Verify: func(s *record.Signed, r *record.Record) (any, error) {
			call, err := line.CheckCall(s, r)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", record.ErrMalformedRecord, err)
			}
			return call, nil
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
	c.shareLines(r)
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
func (c *Correspondence) registerLine(mux Mux) {
	mux.Handle("GET /v1/line", c.newLineRelay())
}
