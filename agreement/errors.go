package agreement

import (
	"errors"
	"fmt"

	"pouch.dev/record"
)

// Reasons for refusing an action, for errors.Is. Every refusal is a
// *Refusal whose Reason is one of these.
var (
	ErrMalformed       = errors.New("malformed record")
	ErrWrongAgreement  = errors.New("record is for another agreement or statement")
	ErrWrongLog        = errors.New("record is for another log")
	ErrPrivate         = errors.New("agreement and statement records are public")
	ErrBadSignature    = errors.New("signature does not verify")
	ErrWrongKey        = errors.New("signing key not valid for the signer")
	ErrNotAuthorised   = errors.New("signer not authorised for the party")
	ErrNotInvited      = errors.New("house not invited")
	ErrNotParty        = errors.New("not a party")
	ErrAlreadySigned   = errors.New("party already signed")
	ErrNotVerifier     = errors.New("signer not a named verifier")
	ErrUnknownClause   = errors.New("no such clause")
	ErrBadDate         = errors.New("date not acceptable")
	ErrReplayed        = errors.New("record already in the log")
	ErrOutOfOrder      = errors.New("record out of log order")
	ErrClosed          = errors.New("statement closed")
	ErrAlreadyCosigned = errors.New("already co-signed")
)

// A Refusal says why an action was refused: which record, by whom, at
// which log index, the Reason (one of the Err values of this package) and
// a sentence for people. Cause, if set, is the underlying error, such as
// the directory's key error.
type Refusal struct {
	ID     record.ID
	Kind   record.Kind
	By     record.Handle
	Index  uint64
	Reason error
	Detail string
	Cause  error
}

func (e *Refusal) Error() string {
	who := ""
	if e.By != "" {
		who = " by " + string(e.By)
	}
	kind := string(e.Kind)
	if kind == "" {
		kind = "record"
	}
	msg := fmt.Sprintf("%s%s refused: %s", kind, who, e.Detail)
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Unwrap returns the Reason and the Cause, so errors.Is finds both.
func (e *Refusal) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Reason, e.Cause}
	}
	return []error{e.Reason}
}
