package server

import (
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
