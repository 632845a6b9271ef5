// Package agent is pouch's key agent, in the manner of ssh-agent: a local
// process that holds unlocked principals' keys in memory, so that a person
// types a principal's passphrase once per working session instead of once
// per command, and each command is spared the scrypt of decrypting the key
// file (about a second).
//
// # Guarantees
//
// The agent signs (pure Ed25519) and unwraps age file keys for its
// clients; it never sends a private key to anyone. Keys reach it in
// memory only (OpAdd, from "pouch unlock", which decrypted the key file)
// and are never written: not to disk, not to a log. A key unused for the
// idle timeout is forgotten, as is every key on OpLock ("pouch lock") and
// when the agent stops.
//
// The agent listens on a Unix socket only its user can reach: the socket
// file has mode 0600 inside a folder of mode 0700 owned by that user
// (Listen refuses any other folder), and each connecting process's uid is
// read from the kernel (SO_PEERCRED) and refused if it is not the agent's.
// A client checks the agent's uid the same way before it sends anything.
//
// # What it does not protect against
//
// Any process running as the same user can ask the agent to sign any
// message or unwrap any file key as an unlocked principal, as with
// ssh-agent: unlocking trusts every program the user runs for the idle
// timeout. The root user can read the agent's memory. Key bytes are wiped
// when forgotten where Go lets us (the Ed25519 key), but the garbage
// collector may have copied them, and memory may be swapped to disk.
//
// # Protocol
//
// Each message is a 4-byte big-endian length, then that many bytes of
// deterministic CBOR (record.Marshal), decoded strictly (record.Unmarshal)
// and at most MaxMessage bytes. A client sends a Request and reads one
// Response; every message carries Version. The operations are list, add,
// sign, unwrap, lock and stop; refusals carry a code that Error maps back
// to this package's sentinel errors.
//
// The rules are written down in spec/keys.md, section "agent".
package agent
