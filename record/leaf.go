package record

import "fmt"

// A Leaf is what the log sequences for a record: its kind and ID, never its
// body. Private records carry a random salt, so their ID reveals nothing.
//
// SPEC: spec/records.md#leaf
type Leaf struct {
	_    struct{} `cbor:",toarray"`
	Kind Kind
	ID   ID
}

// LeafData returns the log entry bytes for a record: the deterministic CBOR
// array [kind, id].
func LeafData(k Kind, id ID) []byte {
	b, err := Marshal(Leaf{Kind: k, ID: id})
	if err != nil {
		panic("record: encoding a leaf cannot fail: " + err.Error())
	}
	return b
}

// ParseLeaf decodes log entry bytes.
func ParseLeaf(b []byte) (Leaf, error) {
	var l Leaf
	if err := Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("log leaf: %w", err)
	}
	if !l.Kind.Known() {
		return l, fmt.Errorf("log leaf: %w %q", ErrUnknownKind, l.Kind)
	}
	return l, nil
}
