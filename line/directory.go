package line

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"

	"pouch.dev/directory"
	"pouch.dev/record"
)

// A Directory answers the one question the line asks: what is the current
// signing key of this office? Both the relay and each end of a line ask it.
//
// CurrentKey returns an error wrapping ErrUnknownPrincipal if the handle
// was never admitted, and ErrRevoked if the office's key was revoked and no
// new holder admitted since; a *directory.KeyError does both. Any other error (the directory could not be
// reached) fails the line too.
type Directory interface {
	CurrentKey(ctx context.Context, h record.Handle) (ed25519.PublicKey, error)
}

// Errors a directory returns, and the line reports. The first three are
// the directory package's own, so the server's directory (and its
// *directory.KeyError, which carries the evidence) can answer CurrentKey
// as it is.
var (
	ErrUnknownPrincipal = directory.ErrUnknownPrincipal
	ErrRevoked          = directory.ErrKeyRevoked
	ErrNotCurrentKey    = directory.ErrKeyNotCurrent
	ErrClassical        = errors.New("classical-only key exchange offered; pouch lines require X25519MLKEM768")
	ErrWrongPeer        = errors.New("certificate names another principal")
)

// A PeerError says why a principal was refused: on the relay, or by the
// other end of a line in the TLS handshake. Err is one of the errors
// above or the directory's own.
type PeerError struct {
	Handle  record.Handle     // who was refused
	Key     ed25519.PublicKey // the key they presented, if any
	Current ed25519.PublicKey // the office's current key, if the key was not it
	Err     error
}

func (e *PeerError) Error() string {
	s := fmt.Sprintf("line: %s refused", e.Handle)
	if e.Key != nil {
		s += fmt.Sprintf(" (key %s)", keyString(e.Key))
	}
	s += ": " + e.Err.Error()
	if e.Current != nil {
		s += fmt.Sprintf("; the directory's current key for %s is %s", e.Handle, keyString(e.Current))
	}
	return s
}

func (e *PeerError) Unwrap() error { return e.Err }

func keyString(k ed25519.PublicKey) string {
	if len(k) < 8 {
		return hex.EncodeToString(k)
	}
	return hex.EncodeToString(k[:8])
}

// checkKey asks dir whether key is h's current key.
func checkKey(ctx context.Context, dir Directory, h record.Handle, key ed25519.PublicKey) error {
	cur, err := dir.CurrentKey(ctx, h)
	if err != nil {
		return &PeerError{Handle: h, Key: key, Err: err}
	}
	if !cur.Equal(key) {
		return &PeerError{Handle: h, Key: key, Current: cur, Err: ErrNotCurrentKey}
	}
	return nil
}

// DirectoryFunc adapts a function to the Directory interface.
type DirectoryFunc func(ctx context.Context, h record.Handle) (ed25519.PublicKey, error)

// CurrentKey implements Directory.
func (f DirectoryFunc) CurrentKey(ctx context.Context, h record.Handle) (ed25519.PublicKey, error) {
	return f(ctx, h)
}

// MapDirectory is a Directory held in memory: current keys by handle, and
// handles whose key is revoked. It is for tests and demos.
type MapDirectory struct {
	Keys    map[record.Handle]ed25519.PublicKey
	Revoked map[record.Handle]bool
}

// CurrentKey implements Directory.
func (d *MapDirectory) CurrentKey(_ context.Context, h record.Handle) (ed25519.PublicKey, error) {
	if d.Revoked[h] {
		return nil, ErrRevoked
	}
	k, ok := d.Keys[h]
	if !ok {
		return nil, ErrUnknownPrincipal
	}
	return k, nil
}
