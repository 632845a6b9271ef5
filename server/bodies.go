package server

import (
	"pouch.dev/directory"
	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// This file is the one place where the server reads the bodies of the
// correspondence kinds (tag: package letter; custody, publish). It adapts them to what the
// authorisation rules of package directory need.

// parseTag verifies a tag record's body (package letter's Tag).
func parseTag(b []byte) (*letter.SignedTag, error) {
	return letter.VerifyTag(b)
}

// parseCustody verifies a custody record's body (package letter's
// Custody).
func parseCustody(b []byte) (*letter.SignedCustody, error) {
	return letter.VerifyCustody(b)
}

func parsePublish(r *record.Record) (*ledger.Publish, error) { return ledger.ParsePublish(r) }

// route returns the directory's view of a pouch's route.
func (p *pouchState) route() directory.Route {
	ids := []record.ID{p.ID}
	if p.Tag.Thread != nil {
		ids = append(ids, *p.Tag.Thread)
	}
	return directory.Route{Pouch: p.ID, From: p.From, To: p.Tag.To, Via: p.Tag.Via, IDs: ids}
}
