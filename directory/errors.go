package directory

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"pouch.dev/record"
)

// Sentinel conditions callers branch on with errors.Is. The errors returned
// carry the evidence (which key, which grant, which log index) in their
// message and, where useful, as a typed error.
var (
	ErrUnknownHouse     = errors.New("unknown house")
	ErrUnknownPrincipal = errors.New("unknown principal")
	ErrHouseTaken       = errors.New("house already founded")
	ErrNotAuthorised    = errors.New("not authorised")
	ErrKeyNotCurrent    = errors.New("key not current")
	ErrKeyRevoked       = errors.New("key revoked")
	ErrNoGrant          = errors.New("no grant")
	ErrGrantExpired     = errors.New("grant expired")
	ErrGrantNotYet      = errors.New("grant not yet valid")
	ErrGrantRevoked     = errors.New("grant revoked")
	ErrGrantScope       = errors.New("outside the grant's scope")
	ErrNotOnRoute       = errors.New("not on the route")
	ErrDelivered        = errors.New("already delivered")
	ErrOutOfOrder       = errors.New("record out of log order")
	ErrMalformedBody    = errors.New("malformed body")
	ErrGenesis          = errors.New("genesis record")
	// ErrWrongLog: the record names another log's origin than the one
	// its genesis record names.
	ErrWrongLog = errors.New("record is for another log")
	// ErrClassicalRecipient: an admit names a classical X25519 age
	// recipient; only hybrid post-quantum ones are admitted. Such an
	// error wraps ErrMalformedBody too.
	ErrClassicalRecipient = errors.New("a classical X25519 recipient, not post-quantum")
)

// A KeyError says why a key may not sign for a handle at a point in the
// log.
type KeyError struct {
	Handle record.Handle
	Key    []byte
	Reason error // ErrKeyRevoked, ErrKeyNotCurrent or ErrUnknownPrincipal
	Index  uint64
	Time   time.Time // when revoked or superseded
	Detail string
}

func (e *KeyError) Error() string {
	k := keyShort(e.Key)
	switch e.Reason {
	case ErrKeyRevoked:
		return fmt.Sprintf("key %s of %s was revoked at log index %d", k, e.Handle, e.Index)
	case ErrUnknownPrincipal:
		return fmt.Sprintf("%s is not in the directory (no admit record for it)", e.Handle)
	}
	if e.Detail != "" {
		return fmt.Sprintf("key %s is not the current key of %s: %s", k, e.Handle, e.Detail)
	}
	return fmt.Sprintf("key %s is not the current key of %s", k, e.Handle)
}

func (e *KeyError) Unwrap() error { return e.Reason }

// A GrantError says why a principal may not act for another.
type GrantError struct {
	Grantee record.Handle
	Grantor record.Handle
	Ability Ability
	Grant   record.ID // zero if there is no grant at all
	Reason  error     // ErrNoGrant, ErrGrantExpired, ErrGrantNotYet, ErrGrantRevoked, ErrGrantScope
	Index   uint64    // revocation index
	At      time.Time // expiry or start
	Detail  string
}

func (e *GrantError) Error() string {
	g := e.Grant.Short()
	switch e.Reason {
	case ErrNoGrant:
		return fmt.Sprintf("%s holds no %s grant from %s", e.Grantee, e.Ability, e.Grantor)
	case ErrGrantExpired:
		return fmt.Sprintf("grant %s to %s expired at %s", g, e.Grantee, e.At.UTC().Format(time.RFC3339))
	case ErrGrantNotYet:
		return fmt.Sprintf("grant %s to %s is not valid before %s", g, e.Grantee, e.At.UTC().Format(time.RFC3339))
	case ErrGrantRevoked:
		return fmt.Sprintf("grant %s to %s was revoked at log index %d", g, e.Grantee, e.Index)
	}
	return fmt.Sprintf("grant %s to %s does not cover this: %s", g, e.Grantee, e.Detail)
}

func (e *GrantError) Unwrap() error { return e.Reason }

// A RouteError says why a principal may not take custody of a pouch.
type RouteError struct {
	Pouch  record.ID
	By     record.Handle
	Reason error
	Detail string
}

func (e *RouteError) Error() string {
	if e.Reason == ErrDelivered {
		return fmt.Sprintf("pouch %s was already delivered", e.Pouch.Short())
	}
	if e.Detail != "" {
		return fmt.Sprintf("%s is not on the route of pouch %s: %s", e.By, e.Pouch.Short(), e.Detail)
	}
	return fmt.Sprintf("%s is not on the route of pouch %s", e.By, e.Pouch.Short())
}

func (e *RouteError) Unwrap() error { return e.Reason }

func keyShort(k []byte) string {
	if len(k) > 6 {
		k = k[:6]
	}
	return hex.EncodeToString(k) + "…"
}
