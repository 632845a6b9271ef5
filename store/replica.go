package store

import (
	"context"
	"errors"
	"time"
)

// # Replicas
//
// A store shared by several server processes (replicas), such as
// PostgreSQL, implements the optional interfaces below; a server finds
// them with a type assertion. A store used by one process alone, such as
// SQLite, implements none of them: that process always sequences, and
// keeps its nonces and lines in memory.

// A Leader lets one replica at a time sequence the log: integrate the
// appended leaves into the tree and sign checkpoints (package tlog).
//
// The lead is a fence of convenience, not of safety: Integrate's check
// of the tree's old size is what keeps two sequencers from forking the
// log. The lead keeps the replicas from racing one another for every
// round, and says which one asks the witnesses.
//
// SPEC: spec/store.md#replicas
type Leader interface {
	// Lead blocks until this replica holds the lead, or ctx is done.
	// Then lost is closed when the lead is lost (the store's connection
	// broke or timed out, so another replica may take over), and
	// release gives the lead up; release may be called more than once,
	// also after lost.
	Lead(ctx context.Context) (lost <-chan struct{}, release func(), err error)
}

// Nonces is a request-nonce replay cache shared by the replicas, so that
// a signed request replayed to another replica is refused.
//
// SPEC: spec/store.md#replicas
type Nonces interface {
	// UseNonce records key as used until expires. It fails with an error
	// wrapping ErrNonceUsed if key was recorded before and has not
	// expired.
	UseNonce(ctx context.Context, key string, expires time.Time) error
}

// ErrNonceUsed: UseNonce met a nonce already used.
var ErrNonceUsed = errors.New("nonce already used")

// Replicas is the registry of the replicas serving one store, and the
// place where the two ends of a secure line meet when they reach
// different replicas.
//
// SPEC: spec/store.md#replicas
type Replicas interface {
	// Heartbeat registers the replica reachable at addr (an http or https
	// URL) as alive for ttl from now, by the store's clock.
	Heartbeat(ctx context.Context, addr string, ttl time.Duration) error
	// Depart removes the replica at addr from the registry.
	Depart(ctx context.Context, addr string) error
	// Meet claims the meeting place named key for the replica at self,
	// for ttl, and returns self; or, if a live replica (one whose
	// heartbeat has not expired) holds an unexpired claim on key, returns
	// that replica's address. Of two replicas that claim one key at once,
	// exactly one gets it.
	Meet(ctx context.Context, key, self string, ttl time.Duration) (at string, err error)
	// Leave drops self's claim on key, if it holds it.
	Leave(ctx context.Context, key, self string) error
}
