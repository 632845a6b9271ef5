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
// # The client side
//
// A Verifier checks a checkpoint's log signature and, if asked, k of n
// witness cosignatures. A Client keeps the last checkpoint it accepted
// (on disk, one file per log origin) and accepts a new one only with a
// consistency proof; a rollback or a fork is a *SplitViewError that carries
// both signed checkpoints. VerifyInclusion checks a record's place in an
// accepted checkpoint; Remote fetches checkpoints and proofs over HTTP.
//
// # Witnesses
//
// Package witness is a C2SP tlog-witness; AddCheckpoint here is the log's
// side of its protocol.
//
// The formats and rules are written down in spec/log.md.
package tlog
