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

	// ErrNotAddressee: an acceptance, refusal or access record signed by
	// someone who is neither the pouch's addressee nor a receive delegate
	// of it (an envoy, the sender, a third party).
	ErrNotAddressee = errors.New("not the addressee's side")
	// ErrClosed: an event of a pouch that was refused, or whose
	// non-delivery is logged: it is returned to its sender, and nothing
	// but its non-delivery follows.
	ErrClosed = errors.New("pouch refused or not delivered")
	// ErrOverdue: custody, acceptance, refusal or access of an undelivered
	// pouch at or after its deadline: only its non-delivery follows.
	ErrOverdue = errors.New("pouch past its deadline")
	// ErrConsent: a delivery of a pouch that asks for consent before its
	// acceptance; an acceptance of a pouch that asks for none, or a second
	// one; a refusal after the acceptance; an access before it.
	ErrConsent = errors.New("consent rule")
	// ErrAccessLogged: a second access record of one pouch by one signer.
	ErrAccessLogged = errors.New("access already logged")
	// ErrAccessRequired: the payload of a pouch whose tag asks for access
	// (or consent), asked for by the addressee's side before its access
	// record is logged.
	ErrAccessRequired = errors.New("access record required")
	// ErrNotOverdue: a non-delivery of a pouch without a deadline, or
	// before its deadline.
	ErrNotOverdue = errors.New("pouch not past a deadline")
	// ErrNonDeliveryReason: a non-delivery whose reason, holder or next
	// position is not the one the pouch's records give.
	ErrNonDeliveryReason = errors.New("non-delivery reason does not fit the pouch")
)
