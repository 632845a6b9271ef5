package ledger

import "errors"

// Conditions callers branch on with errors.Is; package api gives each a
// code so that they survive the wire. The directory's own conditions
// (directory.ErrNotOnRoute, directory.ErrGrantExpired, ...) are returned
// as they are.
var (
	// ErrUnknownPouch: a record names a pouch this log does not hold.
	ErrUnknownPouch = errors.New("pouch not in the log")
	// ErrWrongHolder: a custody record names another previous holder than
	// the one who holds the pouch.
	ErrWrongHolder = errors.New("custody from another holder")
	// ErrDeliveryMark: a custody record is marked delivered when it is not
	// the delivery, or is the delivery and is not marked so.
	ErrDeliveryMark = errors.New("custody delivery mark wrong")
	// ErrOnBehalf: a stand-in does not name the position it stands in
	// for, or a principal standing for itself names another.
	ErrOnBehalf = errors.New("custody on_behalf wrong")
	// ErrOverLine: a custody record cites a call record that does not
	// show the hand-over.
	ErrOverLine = errors.New("custody over_line does not show the hand-over")
	// ErrThread: a tag's thread is not a pouch of this log.
	ErrThread = errors.New("thread not in the log")
	// ErrNotParty: a publish record's signer is not a party of the record
	// it publishes.
	ErrNotParty = errors.New("not a party of the record")
	// ErrPublished: the record is public already.
	ErrPublished = errors.New("record public already")
	// ErrDisclosure: a disclosure's header is not signed by a key of its
	// author's office.
	ErrDisclosure = errors.New("disclosure not by the author's key")
	// ErrNotLogged: a record of a kind that is never logged on its own (a
	// letter's signed header travels inside its sealed payload or a
	// disclosure), or of a kind this log has no rules for.
	ErrNotLogged = errors.New("record kind not logged on its own")
)
