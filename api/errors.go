package api

import (
	"errors"

	"pouch.dev/agreement"
	"pouch.dev/directory"
	"pouch.dev/internal/httpsig"
	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/store"
)

// A Code names the rule that refused a request. The server puts it in the
// JSON error body (ErrorBody.Code); the client maps it back to the same
// sentinel error (ErrorOf), so that errors.Is works across HTTP and a test
// fails when the wrong rule refuses. Codes are stable: a code once
// published keeps its meaning.
//
// SPEC: spec/api.md#errors
type Code string

// ErrBusy is the refusal of a request that found a budget of the server
// spent (memory for bodies, upload or download slots, connections): 503,
// with Retry-After. Nothing was written; retry later.
//
// SPEC: spec/api.md#limits
var ErrBusy = errors.New("server busy")

// A refusal is one code, the sentinel error it stands for, and the HTTP
// status it is answered with.
type refusal struct {
	code   Code
	err    error
	status int
}

// refusals is the table of codes, most specific first: CodeOf returns the
// first whose sentinel the error matches.
var refusals = []refusal{
	// The log and the store.
	{"replay", store.ErrDuplicate, 409},
	{"agreement-replay", agreement.ErrReplayed, 409},
	{"not-found", store.ErrNotFound, 404},

	// The record's envelope.
	{"too-large", record.ErrTooLarge, 413},
	{"non-canonical", record.ErrNonCanonical, 400},
	{"unknown-kind", record.ErrUnknownKind, 400},
	{"unknown-version", record.ErrUnknownVersion, 400},
	{"unknown-alg", record.ErrUnknownAlg, 400},
	{"missing-signature", record.ErrMissingSig, 400},
	{"bad-signature", record.ErrBadSignature, 400},

	// Letters and pouches.
	{"payload-mismatch", letter.ErrPayload, 400},
	{"header-mismatch", letter.ErrHeaderMismatch, 400},
	{"commitment", letter.ErrCommitment, 400},
	{"not-a-tag", letter.ErrNotTag, 400},
	{"not-post-quantum", letter.ErrNotPostQuantum, 400},
	{"malformed-letter", letter.ErrMalformedLetter, 400},

	// The directory.
	{"genesis", directory.ErrGenesis, 403},
	{"wrong-log", directory.ErrWrongLog, 400},
	{"key-revoked", directory.ErrKeyRevoked, 403},
	{"key-not-current", directory.ErrKeyNotCurrent, 403},
	{"unknown-principal", directory.ErrUnknownPrincipal, 403},
	{"unknown-house", directory.ErrUnknownHouse, 403},
	{"house-taken", directory.ErrHouseTaken, 403},
	{"grant-expired", directory.ErrGrantExpired, 403},
	{"grant-not-yet", directory.ErrGrantNotYet, 403},
	{"grant-revoked", directory.ErrGrantRevoked, 403},
	{"grant-scope", directory.ErrGrantScope, 403},
	{"no-grant", directory.ErrNoGrant, 403},
	{"delivered", directory.ErrDelivered, 403},
	{"not-on-route", directory.ErrNotOnRoute, 403},
	{"not-authorised", directory.ErrNotAuthorised, 403},
	{"classical-recipient", directory.ErrClassicalRecipient, 400}, // before malformed-body, which it wraps too
	{"malformed-body", directory.ErrMalformedBody, 400},

	// The rules of pouches, custody, disclosure and publishing.
	{"unknown-pouch", ledger.ErrUnknownPouch, 404},
	{"wrong-holder", ledger.ErrWrongHolder, 403},
	{"delivery-mark", ledger.ErrDeliveryMark, 403},
	{"on-behalf", ledger.ErrOnBehalf, 403},
	{"over-line", ledger.ErrOverLine, 403},
	{"unknown-thread", ledger.ErrThread, 400},
	{"not-a-party", ledger.ErrNotParty, 403},
	{"published", ledger.ErrPublished, 409},
	{"disclosure-key", ledger.ErrDisclosure, 403},
	{"not-logged", ledger.ErrNotLogged, 400},

	// The events of a pouch: deadlines, consent, refusal, access.
	{"not-addressee", ledger.ErrNotAddressee, 403},
	{"pouch-closed", ledger.ErrClosed, 403},
	{"overdue", ledger.ErrOverdue, 403},
	{"consent", ledger.ErrConsent, 403},
	{"access-logged", ledger.ErrAccessLogged, 409},
	{"access-required", ledger.ErrAccessRequired, 403},
	{"not-overdue", ledger.ErrNotOverdue, 403},
	{"non-delivery-reason", ledger.ErrNonDeliveryReason, 403},
	{"not-an-event", letter.ErrNotEvent, 400},

	// Agreements and statements.
	{"agreement-unknown", agreement.ErrWrongAgreement, 404},
	{"agreement-wrong-log", agreement.ErrWrongLog, 400},
	{"agreement-private", agreement.ErrPrivate, 400},
	{"agreement-bad-signature", agreement.ErrBadSignature, 400},
	{"agreement-malformed", agreement.ErrMalformed, 400},
	{"agreement-wrong-key", agreement.ErrWrongKey, 403},
	{"agreement-not-authorised", agreement.ErrNotAuthorised, 403},
	{"agreement-not-invited", agreement.ErrNotInvited, 403},
	{"agreement-not-party", agreement.ErrNotParty, 403},
	{"agreement-not-verifier", agreement.ErrNotVerifier, 403},
	{"agreement-already-signed", agreement.ErrAlreadySigned, 422},
	{"agreement-already-cosigned", agreement.ErrAlreadyCosigned, 422},
	{"agreement-closed", agreement.ErrClosed, 422},
	{"agreement-unknown-clause", agreement.ErrUnknownClause, 422},
	{"agreement-bad-date", agreement.ErrBadDate, 422},
	{"agreement-out-of-order", agreement.ErrOutOfOrder, 422},

	// Request signatures.
	{"unsigned", httpsig.ErrUnsigned, 401},
	{"request-signature", httpsig.ErrBadSig, 401},
	{"request-stale", httpsig.ErrStale, 401},
	{"request-replay", httpsig.ErrReplay, 401},
	{"request-malformed", httpsig.ErrMalform, 401},
	{"request-wrong-log", httpsig.ErrWrongOrigin, 401},

	// The server's budgets and its storage (spec/api.md#limits).
	{"busy", ErrBusy, 503},
	{"storage-full", store.ErrFull, 507},
	{"storage-error", store.ErrIO, 503},

	// Generic: the record does not parse.
	{"malformed-record", record.ErrMalformedRecord, 400},
	// A rule refused and named no reason the table knows (a server bug).
	{"refused", ErrRefused, 400},
}

// ErrRefused stands for a refusal by a rule that carries no code of its
// own. A server answers such a refusal with 400 and the code "refused"
// rather than with a 500: a rule's refusal is the client's doing, never
// an internal error. Every rule is meant to carry a code; this one marks
// the gap.
var ErrRefused = errors.New("refused by the server's rules")

// CodeOf returns the code of the first rule err matches (errors.Is), and
// the status it is answered with; "" and 0 if it matches none.
func CodeOf(err error) (Code, int) {
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			return r.code, r.status
		}
	}
	return "", 0
}

// ErrorOf returns the sentinel error a code stands for, or nil for an
// unknown code (a newer server's).
func ErrorOf(c Code) error {
	for _, r := range refusals {
		if r.code == c {
			return r.err
		}
	}
	return nil
}
