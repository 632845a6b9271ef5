package server

import (
	"pouch.dev/ledger"
	"pouch.dev/record"
)

// parsePublish reads a publish record's body (package ledger's Publish):
// the tag and custody bodies are read through package letter where the
// rules replay a pouch.
func parsePublish(r *record.Record) (*ledger.Publish, error) { return ledger.ParsePublish(r) }
