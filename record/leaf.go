package record

import (
	"fmt"
	"time"
)

// A Leaf is what the log sequences for a record: its kind and ID, the time
// the log sequenced it, and whether it is private — never its body. Private
// records carry a random salt, so their ID reveals nothing.
//
// The log commits to the sequencing time, so every time rule (a key's
// validity, a grant's window, a deadline) is judged against a time the
// log's checkpoints vouch for, not against the server's word. It commits
// to Private so that a server cannot withhold a public record by calling
// it private: a client that reads the leaves knows which records it must
// be able to fetch.
//
// SPEC: spec/records.md#leaf
type Leaf struct {
	_       struct{} `cbor:",toarray"`
	Kind    Kind
	ID      ID
	Time    int64 // the log's sequencing time, Unix milliseconds (never negative)
	Private bool  // the record carries a salt: it is served only to its parties
}

// Sequenced returns the leaf's sequencing time.
func (l Leaf) Sequenced() time.Time { return time.UnixMilli(l.Time).UTC() }

// LeafData returns the log entry bytes of l: the deterministic CBOR array
// [kind, id, time, private], the encoding Marshal gives l
// (TestLeafDataAgrees, FuzzParseLeaf), written directly: the sequencer
// encodes every leaf it hashes.
func LeafData(l Leaf) []byte {
	b := make([]byte, 0, 1+9+len(l.Kind)+2+len(l.ID)+9+1)
	b = append(b, 0x84)
	b = appendBytes(b, 3, l.Kind)
	b = appendBytes(b, 2, l.ID[:])
	if l.Time >= 0 {
		b = AppendCBORHead(b, 0, uint64(l.Time))
	} else {
		b = AppendCBORHead(b, 1, uint64(-1-l.Time))
	}
	if l.Private {
		return append(b, 0xf5)
	}
	return append(b, 0xf4)
}

// ParseLeaf decodes log entry bytes strictly.
func ParseLeaf(b []byte) (Leaf, error) {
	var l Leaf
	if err := Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("log leaf: %w", err)
	}
	if !l.Kind.Known() {
		return l, fmt.Errorf("log leaf: %w %q", ErrUnknownKind, l.Kind)
	}
	if l.Time < 0 {
		return l, fmt.Errorf("log leaf: %w: negative time %d", ErrMalformedRecord, l.Time)
	}
	return l, nil
}
