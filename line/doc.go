// Package line is pouch's secure line: a live, end-to-end encrypted session
// between two principals, relayed by a server that learns only who talked
// to whom, when, for how long and how many bytes passed.
//
// # The relay
//
// Relay is an http.Handler, mounted by the server at /v1/line. A principal
// asks for a line by opening a WebSocket with a signed line request (who
// asks, to whom, for which relay, when, a fresh nonce) in the
// Pouch-Line-Request header. The relay checks the signature and the key
// against the directory, refuses stale and replayed requests, and waits
// until the other principal asks for a line back. Then it tells both sides
// "paired" and forwards opaque binary WebSocket messages between them. What
// it keeps is a Session: the two handles, start, end and byte counts.
//
// # The line
//
// Over the relayed bytes the two clients run TLS 1.3 with Go's crypto/tls,
// the hybrid post-quantum key exchange X25519MLKEM768 only (a peer that
// offers only classical key exchange is refused), and a self-signed X.509
// certificate on each side whose key is the principal's Ed25519 signing
// key. Each side checks the other's certificate key against the directory:
// a key that is not the office's current key, or a revoked one, fails the
// handshake with a PeerError naming the handle and why. The principal whose
// handle sorts first is the TLS server.
//
// Inside TLS, the two sides exchange length-prefixed deterministic CBOR
// frames: text, pouch and part (a .pouch file handed over, announced with
// its size and streamed in parts of at most MaxPartSize bytes, so that a
// pouch of any size the letter limits allow crosses the line without
// either end holding it whole: SendPouchFrom, Pouch.Read), bye and
// record. When the
// line closes, both ends sign one call record (record.KindLine): the
// participants, start, end, byte counts, the pouches handed over and a
// 32-byte TLS exported keying material value that binds the record to this
// very TLS session. VerifyCall checks a call record; one with a signature
// missing is refused.
//
// Dial does all of it for a client; Start runs the line over any net.Conn
// (the benchmarks use it for a direct TLS connection).
//
// The protocol is written down in spec/line.md.
package line
