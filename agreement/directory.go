package agreement

import (
	"pouch.dev/record"
)

// A KeyChecker says whether a key may sign for an office in a record at a
// log index. *directory.Directory is one.
type KeyChecker interface {
	CheckKey(h record.Handle, key []byte, index uint64) error
}

// A Directory is what the agreement rules need to know about principals,
// as of a point in the log.
type Directory interface {
	KeyChecker
	// Authorised reports whether office h may act for house in a
	// record at log index.
	Authorised(h record.Handle, house string, index uint64) bool
}

// Offices returns a Directory in which an office acts for its own house
// and nobody else, with keys checked by kc. It is the rule of pouch's
// directory today.
func Offices(kc KeyChecker) Directory { return offices{kc} }

type offices struct{ KeyChecker }

func (o offices) Authorised(h record.Handle, house string, index uint64) bool {
	return h.House() == house
}

// An Entry is one record as the log sequenced it.
type Entry struct {
	Signed *record.Signed
	Index  uint64 // its log index
	Time   int64  // its sequencing time, Unix milliseconds: the authoritative time
	// SigsChecked says the caller has itself verified Signed's
	// signatures against its record (when it stored the record, say),
	// so they are not verified again. Keys are still checked against
	// the directory.
	SigsChecked bool
}

// Date returns the UTC day on which e was sequenced.
func (e Entry) Date() Date { return DateOfMillis(e.Time) }
