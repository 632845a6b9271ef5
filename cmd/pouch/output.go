package main

// What pouch writes for scripts: with --json, every line of standard
// output is one envelope (spec/cli.md#envelope), on success and on
// failure alike, and an error carries the code the API would give it
// (spec/cli.md#errors).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/evidence"
	"pouch.dev/keys"
	"pouch.dev/keys/agent"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// JSONVersion is the version of the envelope and of every verb's result
// shape. A change that removes or renames a field, or changes its
// meaning, makes a new version; adding a field does not.
const JSONVersion = 1

// An envelope is one line of --json output.
//
// SPEC: spec/cli.md#envelope
type envelope struct {
	V    int    `json:"v"`
	Verb string `json:"verb"`
	OK   bool   `json:"ok"`
	// Event names what a line of a stream says (inbox --follow, line).
	Event  string     `json:"event,omitempty"`
	Result any        `json:"result,omitempty"`
	Error  *jsonError `json:"error,omitempty"`
}

// jsonError is a failure, in an envelope whose ok is false.
//
// SPEC: spec/cli.md#errors
type jsonError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
	Exit    int    `json:"exit"`
}

// emit writes result as the verb's one envelope. Verbs call it only with
// --json.
func emit(ctx *cmdContext, result any) error {
	return writeEnvelope(ctx.stdout, &envelope{V: JSONVersion, Verb: ctx.verb, OK: true, Result: result})
}

// emitEvent writes one line of a stream.
func emitEvent(ctx *cmdContext, event string, result any) error {
	return writeEnvelope(ctx.stdout, &envelope{V: JSONVersion, Verb: ctx.verb, OK: true, Event: event, Result: result})
}

func writeEnvelope(w io.Writer, e *envelope) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// resultError is a failure that still has something to show: a chain of
// custody in which one step could not be proven, say. With --json, the
// envelope of the failure carries the result too.
type resultError struct {
	err    error
	result any
}

func (e *resultError) Error() string { return e.err.Error() }
func (e *resultError) Unwrap() error { return e.err }

// failWith returns err with the result to show beside it.
func failWith(result any, err error) error { return &resultError{err: err, result: result} }

// CLI-only error codes, for what the CLI refuses on its own, beside the
// API's (api/errors.go), which come first. Most specific first.
//
// SPEC: spec/cli.md#codes
var cliCodes = []struct {
	code string
	err  error
}{
	// The log, as the verifying client sees it.
	{"fork", tlog.ErrFork},
	{"rollback", tlog.ErrRollback},
	{"no-quorum", tlog.ErrNoQuorum},
	{"stale", tlog.ErrStale},
	{"bad-checkpoint", tlog.ErrBadCheckpoint},
	{"malformed-checkpoint", tlog.ErrMalformedCheckpoint},
	{"bad-proof", tlog.ErrBadProof},
	{"malformed-proof", tlog.ErrMalformedProof},
	{"key-changed", client.ErrKeyChanged},
	{"withheld", client.ErrWithheld},
	{"mismatch", client.ErrMismatch},
	{"rules-broken", client.ErrRulesBroken},
	{"unproven", client.ErrUnproven},
	{"not-in-view", client.ErrNotInView},
	{"no-match", client.ErrNoMatch},

	// Files and letters.
	{"not-a-pouch-file", letter.ErrMalformedFile},
	{"not-an-evidence-bundle", evidence.ErrMalformed},
	{"not-sealed-to-you", letter.ErrNotSealedToYou},
	{"attachment-mismatch", letter.ErrAttachment},
	{"no-sections", letter.ErrNoSections},
	{"unknown-signer", errUnknownSigner},
	{"key-mismatch", errKeyMismatch},
	{"unproven-chain", errUnprovenChain},
	{"no-such-file", os.ErrNotExist},

	// Servers.
	{"unreachable", errUnreachable},
	{"not-a-pouch-server", errNotPouchServer},

	// Keys and the agent.
	{"wrong-passphrase", keys.ErrWrongPassphrase},
	{"no-principal", keys.ErrNotFound},
	{"key-conflict", keys.ErrConflict},
	{"exists", keys.ErrExists},
	{"locked", errLocked},
	{"agent-not-running", agent.ErrNotRunning},
}

// errorCode returns the code of err for the JSON error object: "usage"
// for a misuse of the command line; the API's code for a server's
// refusal or any error that stands for one of its rules; a CLI code from
// cliCodes; or "failed".
//
// SPEC: spec/cli.md#codes
func errorCode(err error) string {
	var ue *usageError
	if errors.As(err, &ue) {
		return "usage"
	}
	var ce *client.Error
	if errors.As(err, &ce) && ce.Code != "" {
		return string(ce.Code)
	}
	if c, _ := api.CodeOf(err); c != "" && c != "refused" {
		return string(c)
	}
	for _, c := range cliCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	if c, _ := api.CodeOf(err); c != "" {
		return string(c)
	}
	return "failed"
}

// jsonRequested reports whether a command line asks for JSON, before its
// flags are parsed, so that a usage error is answered as JSON too.
func jsonRequested(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "json" {
			continue
		}
		return !hasVal || val == "true" || val == "1" || val == "t" || val == "T" || val == "TRUE" || val == "True"
	}
	return false
}

// recorded reports the record a verb made: its ID alone on standard output,
// so that scripts keep it (ID=$(pouch send ...)), and what was done on
// standard error, for people; with --json, the envelope of result instead.
//
// SPEC: spec/cli.md#output
func recorded(ctx *cmdContext, id record.ID, result any, format string, a ...any) error {
	if ctx.json {
		return emit(ctx, result)
	}
	if _, err := fmt.Fprintln(ctx.stdout, id); err != nil {
		return err
	}
	fmt.Fprintf(ctx.stderr, "pouch: "+format+"\n", a...)
	return nil
}
