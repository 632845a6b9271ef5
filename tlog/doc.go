// Package tlog is pouch's transparency log: the RFC 6962 Merkle tree in
// which every record is sequenced, kept as C2SP tlog-tiles in a store, its
// C2SP tlog-checkpoint checkpoints signed as signed notes, its proofs, the
// witness protocol, and the client-side verification that makes the log
// worth having.
//
// # The server side
//
// A Log sequences the leaves a store.Store has appended: Run integrates
// them in rounds (group commit), each round signing a checkpoint, asking
// the configured witnesses to cosign it, and publishing it. Inclusion,
// Consistency, Tile and EntryBundle serve what package server puts on the
// wire. A log entry is record.LeafData: a record's kind and ID, its time of
// sequencing and whether it is private, never its body.
//
// A round gives the store, with each tile it changed, the upper levels of
// the tree over the tile's hashes (store.Tile.Inner, computed as the tile
// grows); a proof reads its nodes there and hashes at most 15 below them,
// where a tile stored without them (before the store's schema kept them)
// is hashed whole. Full tiles are cached, in least recently used order,
// with every level once a second proof needs them.
//
// While the log is idle, Run has the published checkpoint cosigned again
// every Config.RefreshInterval (Refresh), so that a fresh checkpoint is
// always served.
//
// # The client side
//
// A Policy is a parsed C2SP tlog-policy file (ParsePolicy): the log's key,
// the witnesses and the quorum of their cosignatures a checkpoint needs,
// a tree of k-of-n groups. Policy.Verifier builds the Verifier that
// enforces it (NewVerifier, one for "k of these n witnesses"). Open checks
// the log's signature and the quorum, and returns the cosignatures that
// verified with their timestamps; a checkpoint without its quorum is a
// *QuorumError that matches ErrNoQuorum and names the groups short and the
// witnesses missing. CheckFresh refuses a checkpoint whose quorum is not
// met by cosignatures younger than a maximum age (ErrStale); without
// witnesses nothing can be proven about freshness (Verifier.Witnessed,
// ErrUnwitnessed), and callers say so.
//
// A Client keeps the last checkpoint it accepted (on disk, one file per
// log origin) and accepts a new one only with a consistency proof and, if
// its policy requires witnesses, only if it is fresh (Client.MaxAge,
// DefaultMaxAge); a rollback or a fork is a *SplitViewError that carries
// both signed checkpoints. VerifyInclusion checks a record's place in an
// accepted checkpoint; Remote fetches checkpoints and proofs over HTTP.
// A Proof is a C2SP tlog-proof, an offline-verifiable inclusion proof with
// its checkpoint (ParseProof, strict; Proof.Verify).
//
// # Witnesses
//
// Package witness is a C2SP tlog-witness; AddCheckpoint here is the log's
// side of its protocol. The log also works with third-party witnesses:
// the module in interop/witnesses tests it against torchwood's
// litewitness and transparency-dev's omniwitness.
//
// The formats and rules are written down in spec/log.md.
package tlog
